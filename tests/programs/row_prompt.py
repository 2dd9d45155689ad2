"""A permission prompt whose options are a row chosen with the arrow keys, as OpenCode's.

Usage: python row_prompt.py OUTPUT_FILE. It draws OpenCode 1.18.33's screens, as
captured in tests/fixtures/opencode-1.18.33/: the prompt (06) with "Allow once" selected;
Right and Left move the selection (round the row), Enter chooses. "Allow always" asks to
confirm (07: "Confirm" selected, "Cancel" goes back to the prompt); Escape rejects. Each
answer is appended to OUTPUT_FILE as a line ("once", "always", "reject"), and the
screen after it (08: idle) is drawn; a key typed at that screen starts the prompt again.
"""

from __future__ import annotations

import os
import sys
import termios
import tty
from pathlib import Path

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "opencode-1.18.33"
PROMPT = ("once", "always", "reject")
CONFIRM = ("confirm", "cancel")


def draw(name: str) -> None:
    lines = (SCREENS / name).read_text(encoding="utf-8").rstrip("\n").split("\n")
    text = "\r\n".join(line.rstrip() for line in lines)
    os.write(1, b"\x1b[2J\x1b[H" + text.encode("utf-8"))


def keys() -> list[str]:
    """The keys of one read: arrows, Enter, Escape, or other bytes."""
    data = os.read(0, 1024)
    if not data:
        raise SystemExit(0)
    found: list[str] = []
    while data:
        for code, key in ((b"\x1b[C", "right"), (b"\x1b[D", "left"), (b"\r", "enter")):
            if data.startswith(code):
                found.append(key)
                data = data[len(code) :]
                break
        else:
            found.append("escape" if data[:1] == b"\x1b" else "other")
            data = data[1:]
    return found


def main() -> None:
    out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    tty.setraw(0, termios.TCSANOW)
    stage, options, selected = "prompt", PROMPT, 0
    draw("06_permission_prompt.txt")
    while True:
        for key in keys():
            if stage == "idle":
                stage, options, selected = "prompt", PROMPT, 0
                draw("06_permission_prompt.txt")
            elif key in ("right", "left"):
                step = 1 if key == "right" else -1
                selected = (selected + step) % len(options)
            elif key == "escape" and stage == "prompt":
                os.write(out, b"reject\n")
                stage = "idle"
                draw("08_after_always.txt")
            elif key == "enter":
                chosen = options[selected]
                if chosen == "always":
                    stage, options, selected = "confirm", CONFIRM, 0
                    draw("07_always_confirm.txt")
                elif chosen == "cancel":
                    stage, options, selected = "prompt", PROMPT, 0
                    draw("06_permission_prompt.txt")
                else:
                    os.write(out, b"always\n" if chosen == "confirm" else f"{chosen}\n".encode())
                    stage = "idle"
                    draw("08_after_always.txt")


if __name__ == "__main__":
    main()
