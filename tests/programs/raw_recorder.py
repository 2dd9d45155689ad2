"""A program that reads its terminal raw, as agent UIs do, and records every byte.

Usage: python raw_recorder.py OUTPUT_FILE. It asks for bracketed paste, like the
agents, and appends whatever arrives to OUTPUT_FILE until it is killed.
"""

from __future__ import annotations

import os
import sys
import termios
import tty


def main() -> None:
    out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    tty.setraw(0, termios.TCSANOW)
    os.write(1, b"\x1b[?2004h")
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            return
        os.write(out, chunk)


if __name__ == "__main__":
    main()
