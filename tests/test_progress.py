"""Progress bars on long jobs: shown on a terminal, silent when output goes to a pipe or a file (CI, logs)."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = [sys.executable, str(ROOT / "scripts" / "evaluate.py"), "baseline", "--seeds", "2", "--max-steps", "20"]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "scripts")])}


def test_a_suite_shows_no_bar_off_a_terminal():
    done = subprocess.run(SUITE, capture_output=True, text=True, env=ENV, timeout=300, check=True)
    assert done.stdout.splitlines()[-1].startswith("{"), "the figures' JSON is still the last line"
    assert "\r" not in done.stdout + done.stderr and "mortal/Forager-v0:" not in done.stderr, done.stderr


def test_a_suite_shows_its_bar_on_a_terminal():
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0 columns wide
    with subprocess.Popen(SUITE, stdout=follower, stderr=follower, env=ENV) as process:
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the suite ended
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=300) == 0
    os.close(leader)
    text = output.decode(errors="replace")
    assert "mortal/Forager-v0:" in text and "0/2 [" in text, text[-2000:]  # tqdm's "desc: n/total [elapsed<ETA"
