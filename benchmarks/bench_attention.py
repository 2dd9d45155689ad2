"""Benchmark how soon ``imessenger watch`` tells a person of each event, from the screen change.

Run from the checkout, in the venv::

    python benchmarks/bench_attention.py [--rounds 20] [--stuck-after-ms 1000] [--quick]

It starts a private tmux server and a temporary data folder (the server killed and the
folder removed at the end; the watcher it starts is stopped by its pid), and a program
(the drawer) that draws demo-style screens on a key, each in one write whose time it
notes: busy (then only its spinner and timer, ten frames a second), idle, idle with an
error line at the end of the transcript, a permission prompt. Its profile is the demo
agent's without hooks or record: the watcher reads it from the screen alone. For each
event, over ``--rounds`` rounds, the figure is the time from the write that makes the
event to the watcher's inbox notice (the entry's ``created_at``):

* ``done``: busy (the watcher sees it), then the idle screen; the watcher waits for that
  screen to stay idle ``TURN_SETTLE_S`` (0.3 s) before it tells, on purpose;
* ``error``: the same, the idle screen ending on an error line;
* ``stuck``: the busy screen, then only the spinner; from the moment the last progress
  was ``--stuck-after-ms`` old (the busy screen's write plus that time);
* ``asking``: the prompt screen;
* ``exited``: a program in a session of its own exits; the watcher waits ``EXIT_GRACE_S``
  (1 s) before it tells, on purpose (``isesh stop`` forgets the session meanwhile).

``--quick`` is ``--rounds 5``. Nothing here is a pass/fail test; the figures go in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import termios
import time
import tty
from collections.abc import Callable
from pathlib import Path

from measure import bench_place, compile_package, machine, row, start_watcher, stop_watcher, table
from measure import wait as wait_until

FOOTER = "demo> \r\n  demo · ? for help"
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
WORDS = "abcdefghijklmnopqrstuvwxyz"


def word(n: int) -> str:
    """A number in letters: screens told apart by their text, not by digits."""
    return WORDS[n % 26] + WORDS[n // 26 % 26] + WORDS[n // 676 % 26]


def screens(n: int) -> dict[str, str]:
    """The drawer's screens, the ``n``-th time it draws each."""
    top = "\x1b[H\x1b[2J"
    return {
        "b": f"{top}❯ work {word(n)}\r\n⠋ Working (0s · esc to interrupt)\r\n{FOOTER}",
        "i": f"{top}❯ work {word(n)}\r\n● done with {word(n)}\r\n{FOOTER}",
        "e": f"{top}❯ work {word(n)}\r\n  ⎿  API Error: 529 overloaded {word(n)}\r\n{FOOTER}",
        "p": (
            f"{top}● ready\r\n Demo wants to run a command\r\n $ touch {word(n)}\r\n"
            " Do you want to proceed?\r\n ❯ 1. Yes\r\n   2. No\r\n Esc to cancel"
        ),
    }


# --- the drawer (runs in a pane: python bench_attention.py --drawer LOG) ----------------------


def drawer(log: Path) -> None:
    """Draw a screen for each key read (b, i, e, p; q quits), noting "KEY TIME" in ``log``;
    while busy, redraw only the spinner and its timer, ten times a second."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    drawn = 0
    busy_since: float | None = None
    try:
        os.write(1, screens(0)["i"].encode())
        while True:
            ready = _readable(fd, 0.1 if busy_since is not None else None)
            if not ready:
                elapsed = time.monotonic() - (busy_since or 0.0)
                frame = SPINNER[int(elapsed * 10) % len(SPINNER)]
                line = f"\x1b[2;1H\x1b[2K{frame} Working ({int(elapsed)}s · esc to interrupt)"
                os.write(1, (line + "\x1b[4;1H").encode())
                continue
            key = os.read(fd, 1).decode(errors="replace")
            if key == "q":
                return
            if key not in "biep":
                continue
            drawn += 1
            text = screens(drawn)[key].encode()
            os.write(1, text)
            at = time.time()
            with open(log, "a") as out:
                out.write(f"{key} {at!r}\n")
            busy_since = time.monotonic() if key == "b" else None
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _readable(fd: int, timeout: float | None) -> bool:
    import select

    return bool(select.select([fd], [], [], timeout)[0])


def exiter(log: Path) -> None:
    """Wait for SIGUSR1, note the time in ``log``, and exit."""
    signal.signal(signal.SIGUSR1, lambda *_: None)
    os.write(1, b"waiting\r\n")
    signal.pause()
    log.write_text(repr(time.time()))


# --- measuring -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--stuck-after-ms", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="small sizes, short times")
    parser.add_argument("--drawer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--exiter", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drawer is not None:
        drawer(args.drawer)
        return
    if args.exiter is not None:
        exiter(args.exiter)
        return
    if args.quick:
        args.rounds = 5
    compile_package()
    with bench_place("attention") as (home, socket, _env):
        os.environ["IMESSENGER_CONFIG"] = write_config(home, args.stuck_after_ms)
        run(args, home, socket)


def write_config(home: Path, stuck_after_ms: int) -> str:
    """A config file with the profile ``drawn`` (the demo's screens, no hooks, no record)
    and the watcher's ``stuck_after_ms``."""
    import tomli_w

    from imessenger.adapters.config_files import load_config

    table = {**load_config().values["agents"]["demo"], "hooks": "", "allow_reply": "", "record": ""}
    path = home / "config.toml"
    config = {"agents": {"drawn": table}, "watch": {"stuck_after_ms": stuck_after_ms}}
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return str(path)


def run(args: argparse.Namespace, home: Path, socket: str) -> None:
    """Measure, with the watcher started here and stopped by its pid before returning."""
    from imessenger.actions.sessions import Sessions
    from imessenger.adapters.config_files import load_config
    from imessenger.adapters.status_cache import read_status
    from imessenger.adapters.store import Store
    from imessenger.adapters.tmux import AgentPane, Tmux
    from imessenger.core.screen import State, classify
    from imessenger.core.values import InboxEntry

    config = load_config()
    tmux = Tmux(socket)
    store = Store.open(server=tmux.label)
    sessions = Sessions(tmux, store, config)
    grammar = sessions.profiles["drawn"].grammar
    for key, state in (
        ("b", State.BUSY),
        ("i", State.IDLE),
        ("e", State.IDLE),
        ("p", State.ASKING),
    ):
        text = screens(1)[key].split("\x1b[2J")[1].replace("\r", "")
        assert classify(text, grammar).state is state, key
    log = home / "drawn.log"
    log.touch()
    me = str(Path(__file__).resolve())
    sessions.start("drawer", home, "drawn", [sys.executable, me, "--drawer", str(log)])
    wait_until(lambda: sessions.view("drawer").state is State.IDLE, 30, "the drawer idle")
    pane = AgentPane.of(tmux, "drawer")
    seen = {"id": 0}

    def state() -> str | None:
        for entry in read_status(tmux.label).data.get("sessions", []):
            if entry["name"] == "drawer":
                return str(entry["state"])
        return None

    def draw(key: str) -> float:
        before = len(log.read_text().splitlines())
        pane.type(key)
        wait_until(lambda: len(log.read_text().splitlines()) > before, 5, f"drawn {key}")
        return float(log.read_text().splitlines()[-1].split()[1])

    def notice(what: Callable[[InboxEntry], bool], label: str) -> InboxEntry:
        found: list[InboxEntry] = []

        def check() -> bool:
            for entry in store.inbox.read("user", peek=True):
                if entry.id > seen["id"]:
                    seen["id"] = entry.id
                    if what(entry):
                        found.append(entry)
            return bool(found)

        wait_until(check, 20, label)
        return found[0]

    def title_has(words: str) -> Callable[[InboxEntry], bool]:
        return lambda entry: words in entry.title

    watcher = start_watcher(home, tmux.label)
    figures: dict[str, list[float]] = {"done": [], "error": [], "stuck": [], "asking": []}
    exited: list[float] = []
    stuck_after = args.stuck_after_ms / 1000
    try:
        wait_until(lambda: state() == "idle", 30, "the watcher following the drawer")
        for n in range(args.rounds):
            print(f"round {n + 1} of {args.rounds} ...", file=sys.stderr)
            for key, event in (("i", "done"), ("e", "error")):
                draw("b")
                wait_until(lambda: state() == "busy", 5, "busy seen")
                at = draw(key)
                entry = notice(title_has("is done" if event == "done" else "failed"), event)
                figures[event].append((entry.created_at - at) * 1000)
                wait_until(lambda: state() == "idle", 5, "idle seen")
            began = draw("b")
            entry = notice(title_has("looks stuck"), "stuck")
            figures["stuck"].append((entry.created_at - began - stuck_after) * 1000)
            draw("i")
            notice(title_has("is done"), "the stalled turn done")
            at = draw("p")
            entry = notice(title_has("is asking"), "asking")
            figures["asking"].append((entry.created_at - at) * 1000)
            draw("i")
            notice(title_has("is done"), "the prompt's turn done")
        for n in range(max(3, args.rounds // 4)):
            name = f"exit-{n}"
            stamp = home / f"{name}.time"
            sessions.start(name, home, "shell", [sys.executable, me, "--exiter", str(stamp)])
            wait_until(lambda n=name: "waiting" in AgentPane.of(tmux, n).look(), 10, "exiter")
            wait_until(
                lambda n=name: n in {s["name"] for s in read_status(tmux.label).data["sessions"]},
                10,
                "the exiter followed",
            )
            pid = tmux.pane(name).pid
            assert pid is not None
            os.kill(pid, signal.SIGUSR1)
            entry = notice(title_has(f'"{name}" exited'), "exited")
            exited.append((entry.created_at - float(stamp.read_text())) * 1000)
        pane.type("q")
    finally:
        stop_watcher(watcher)
    print("\n## imessenger watch: from the screen change to the notice")
    print(f"\n{machine()}; stuck_after_ms {args.stuck_after_ms}")
    rows = [
        row(f"done: idle screen -> notice ({len(figures['done'])} turns)", figures["done"]),
        row(f"error: error screen -> notice ({len(figures['error'])})", figures["error"]),
        row(
            f"stuck: stuck_after_ms after the last progress -> notice ({len(figures['stuck'])})",
            figures["stuck"],
        ),
        row(f"asking: prompt screen -> notice ({len(figures['asking'])})", figures["asking"]),
        row(f"exited: the program's exit -> notice ({len(exited)})", exited),
    ]
    print(table("### latency of each notice", "ms", rows))


if __name__ == "__main__":
    main()
