"""Quality figures (accuracy, recall, survival) of one suite.

    python scripts/evaluate.py SUITE [--options]

Prints a readable table, then, as the last line of stdout, one JSON object with the suite's figures.
`python scripts/evaluate.py` lists the suites; `... SUITE --help` lists a suite's options.
"""

import sys

import suites

if __name__ == "__main__":
    suites.main("evaluate", sys.argv[1:])
