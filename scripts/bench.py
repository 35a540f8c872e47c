"""Speed and memory figures of one suite, each measured side by side with its reference in one run.

    python scripts/bench.py SUITE [--options]

Prints a readable table, then, as the last line of stdout, one JSON object with the suite's figures.
`python scripts/bench.py` lists the suites; `... SUITE --help` lists a suite's options.
"""

import sys

import suites

if __name__ == "__main__":
    suites.main("bench", sys.argv[1:])
