"""Benchmark ``imessenger watch`` and ``imessenger status``.

Run from the checkout, in the venv::

    python benchmarks/bench_watch.py [--sessions 50] [--idle-seconds 20] [--rounds 40]
                                     [--flood-seconds 10] [--runs 30] [--busy-seconds 10]
                                     [--quick]

It starts a private tmux server and a temporary data folder (the server killed and
the folder removed at the end; the watcher it starts is stopped by its pid), then
measures:

* idle CPU: ``--sessions`` demo agents sit idle; the CPU time (user + system, from
  /proc) of the tmux server over ``--idle-seconds`` without a watcher, then of the
  watcher, its tmux control clients and the tmux server over as long with the watcher
  following them, each a share of one core sampled every second. What the watcher costs
  is its own CPU, its control clients' and what it adds to the server (the server's
  CPU with the watcher minus without);
* prompt to notice: a program in one more session draws a demo-style permission prompt
  in one write and records the time; the figure is the time from that write to the
  watcher's inbox notice (the entry's ``created_at``), over ``--rounds`` prompts, with
  the idle sessions around; then the same while another pane prints as fast as it can
  (``--flood-seconds`` of ``seq``), with the watcher's CPU during the flood;
* ``imessenger status``: the whole process (console script and ``python -m``), against
  ``python -c pass``, and the cache read in-process, over ``--runs`` runs;
* busy CPU: every agent is made busy (its spinner redrawn ten times a second); the
  same shares as idle over ``--busy-seconds`` with the watcher, then the watcher is
  stopped and the tmux server alone is measured over as long, the agents still busy.

``--quick`` is ``--sessions 10 --idle-seconds 5 --rounds 10 --flood-seconds 3 --runs 10
--busy-seconds 5``. The prompt-to-notice time through an agent's hooks is
bench_hooks.py's. Nothing here is a pass/fail test; the figures go in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from measure import (
    alive,
    bench_place,
    children,
    compile_package,
    console_script,
    cpu_row,
    cpu_seconds,
    cpu_shares,
    machine,
    row,
    start_watcher,
    stop_watcher,
    table,
    wait,
)

HERE = Path(__file__).resolve().parent
IDLE_SCREEN = "\x1b[H\x1b[2J● ready\r\n\r\ndemo> \r\n  demo · ? for help"
PROMPT_SCREEN = (
    "\x1b[H\x1b[2J● ready\r\n\r\n Demo wants to run a command\r\n $ touch file-{n}\r\n"
    " Do you want to proceed?\r\n ❯ 1. Yes\r\n   2. Yes, and don't ask again for: touch\r\n"
    "   3. No\r\n Esc to cancel"
)


# --- the prompt drawer (runs in a pane: python bench_watch.py --drawer DIR) --------------------


def drawer(folder: Path) -> None:
    """Show an idle demo screen; each SIGUSR1 toggles a prompt, whose drawing time is kept."""
    state = {"n": 0, "asking": False}

    def toggle(signum: int, frame: object) -> None:
        if state["asking"]:
            os.write(1, IDLE_SCREEN.encode())
        else:
            state["n"] += 1
            text = PROMPT_SCREEN.format(n=state["n"]).encode()
            drawn = time.time()
            os.write(1, text)
            (folder / f"drawn-{state['n']}").write_text(repr(drawn))
        state["asking"] = not state["asking"]

    signal.signal(signal.SIGUSR1, toggle)
    os.write(1, IDLE_SCREEN.encode())
    while True:
        signal.pause()


# --- measuring -------------------------------------------------------------------------------


def timed_runs(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Wall times of ``runs`` runs of a command, in ms."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - began) * 1000)
    return times


def watcher_cost(
    title: str, watched: dict[str, list[float]], alone: Sequence[float], clients: int
) -> str:
    """A Markdown table of what the watcher costs, from per-second CPU samples: the
    watcher, its control clients, the tmux server with it and without it, what it adds
    to the server (with minus without) and all it costs together."""
    baseline = statistics.fmean(alone)
    added = [share - baseline for share in watched["server"]]
    total = [
        w + c + a for w, c, a in zip(watched["watcher"], watched["clients"], added, strict=True)
    ]
    return "\n".join(
        [
            f"\n{title}\n",
            "| % of one core | mean | median | p90 |",
            "| --- | --- | --- | --- |",
            cpu_row("watcher (Python)", watched["watcher"]),
            cpu_row(f"its {clients} tmux control clients", watched["clients"]),
            cpu_row("tmux server, the watcher running", watched["server"]),
            cpu_row("tmux server, no watcher (same run)", alone),
            cpu_row("**added to the tmux server** (with minus without)", added),
            cpu_row("**watcher + control clients + added to the server**", total),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--busy-seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="small sizes, short times")
    parser.add_argument("--drawer", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drawer is not None:
        drawer(args.drawer)
        return
    if args.quick:
        args.sessions, args.idle_seconds, args.rounds = 10, 5.0, 10
        args.flood_seconds, args.runs, args.busy_seconds = 3.0, 10, 5.0
    compile_package()
    with bench_place("watch") as (home, socket, _env):
        os.environ["IMESSENGER_CONFIG"] = write_drawer_profile(home)
        run(args, home, socket)


def write_drawer_profile(home: Path) -> str:
    """A config file with the profile ``drawn``: the demo's screens, no hooks and no record
    (the drawer takes no options: its prompts are noticed from the screen alone)."""
    import tomli_w

    from imessenger.adapters.config_files import load_config

    table = {**load_config().values["agents"]["demo"], "hooks": "", "allow_reply": "", "record": ""}
    path = home / "config.toml"
    path.write_text(tomli_w.dumps({"agents": {"drawn": table}}), encoding="utf-8")
    return str(path)


def run(args: argparse.Namespace, home: Path, socket: str) -> None:
    """Measure, with the watcher started here and stopped by its pid before returning."""
    from imessenger.actions.delivery import Courier
    from imessenger.actions.sessions import Sessions
    from imessenger.adapters.config_files import load_config
    from imessenger.adapters.status_cache import read_status
    from imessenger.adapters.store import Store
    from imessenger.adapters.tmux import Tmux
    from imessenger.core.screen import State, classify
    from imessenger.core.values import InboxKind

    config = load_config()
    tmux = Tmux(socket)
    store = Store.open(server=tmux.label)
    sessions = Sessions(tmux, store, config)
    demo = sessions.profiles["demo"]
    idle_text = IDLE_SCREEN.split("\x1b[2J")[1].replace("\r", "")
    prompt_text = PROMPT_SCREEN.format(n=1).split("\x1b[2J")[1].replace("\r", "")
    assert classify(idle_text, demo.grammar).state is State.IDLE
    assert classify(prompt_text, demo.grammar).state is State.ASKING

    print(f"starting {args.sessions} demo agents ...", file=sys.stderr)
    for index in range(args.sessions):
        sessions.start(f"idle-{index:02d}", home, "demo", [])
    drawn = home / "drawn"
    drawn.mkdir()
    draw = [sys.executable, str(Path(__file__).resolve()), "--drawer", str(drawn)]
    sessions.start("drawer", home, "drawn", draw)
    names = {f"idle-{i:02d}" for i in range(args.sessions)} | {"drawer"}
    wait(
        lambda: all(v.state is State.IDLE for v in sessions.views()) and len(sessions.views()) > 0,
        60,
        "every session idle",
    )
    server_pid = int(tmux.run("display-message", "-p", "#{pid}")[0])
    print("idle, no watcher ...", file=sys.stderr)
    idle_alone = cpu_shares({"server": [server_pid]}, args.idle_seconds)["server"]

    watcher = start_watcher(home, tmux.label)
    try:
        began = time.monotonic()

        def following() -> bool:
            seen = read_status(tmux.label).data.get("sessions", [])
            return {s["name"] for s in seen if s["state"] == "idle"} >= names

        wait(following, 60, "the watcher following every session")
        attach_s = time.monotonic() - began
        time.sleep(2)
        print("idle, with the watcher ...", file=sys.stderr)
        clients = children(watcher.pid)
        groups = {"watcher": [watcher.pid], "clients": clients, "server": [server_pid]}
        idle_watched = cpu_shares(groups, args.idle_seconds)
        idle_clients = len(clients)

        pane_pid = tmux.pane("drawer").pid
        assert pane_pid is not None

        def latencies(rounds: int, start: int) -> list[float]:
            found = []
            for n in range(start, start + rounds):
                os.kill(pane_pid, signal.SIGUSR1)  # draw prompt n
                title = f'"drawer" is asking: touch file-{n}'
                marker = drawn / f"drawn-{n}"
                wait(marker.exists, 5, "the prompt drawn")
                deadline = time.monotonic() + 5
                entry = None
                while entry is None and time.monotonic() < deadline:
                    entry = next(
                        (
                            e
                            for e in store.inbox.read("user", peek=True)
                            if e.kind == InboxKind.PROMPT and e.title == title
                        ),
                        None,
                    )
                    time.sleep(0.002)
                if entry is None:
                    raise SystemExit(f"no notice for prompt {n}")
                found.append((entry.created_at - float(marker.read_text())) * 1000)
                os.kill(pane_pid, signal.SIGUSR1)  # back to idle
                time.sleep(0.2)
            return found

        print("prompt to notice ...", file=sys.stderr)
        quiet = latencies(args.rounds, 1)

        print("prompt to notice while a pane floods ...", file=sys.stderr)
        flood = ["sh", "-c", "while :; do seq 1 100000; done"]
        sessions.start("flood", home, "shell", flood)
        wait(
            lambda: "flood" in {s["name"] for s in read_status(tmux.label).data["sessions"]},
            20,
            "the watcher following the flood",
        )
        watcher_before = cpu_seconds(watcher.pid)
        clients = children(watcher.pid)
        clients_before = sum(cpu_seconds(pid) for pid in clients)
        flood_began = time.monotonic()
        loud = latencies(max(5, int(args.flood_seconds / 0.25)), args.rounds + 1)
        while time.monotonic() - flood_began < args.flood_seconds:
            time.sleep(0.1)
        flood_s = time.monotonic() - flood_began
        flood_watcher = 100 * (cpu_seconds(watcher.pid) - watcher_before) / flood_s
        flood_clients = 100 * (sum(cpu_seconds(p) for p in clients) - clients_before) / flood_s
        tmux.kill_session("flood")

        print("imessenger status ...", file=sys.stderr)
        env = dict(os.environ)
        floor, console, module = [], [], []
        script = console_script()
        for _ in range(args.runs):
            floor += timed_runs([sys.executable, "-c", "pass"], 1, env)
            if script is not None:
                console += timed_runs([str(script), "status"], 1, env)
            module += timed_runs([sys.executable, "-m", "imessenger", "status"], 1, env)
        reads = []
        for _ in range(args.runs * 10):
            start = time.perf_counter()
            read_status(tmux.label).line()
            reads.append((time.perf_counter() - start) * 1_000_000)

        print(f"{args.sessions} agents busy ...", file=sys.stderr)
        courier = Courier(sessions)
        busy_ms = int((2 * args.busy_seconds + 30) * 1000)  # busy through both measures
        for index in range(args.sessions):
            courier.send(f"idle-{index:02d}", f"BUSY[{busy_ms}] work", sender="bench", wait=False)
        wait(
            lambda: (
                sum(s["state"] == "busy" for s in read_status(tmux.label).data["sessions"])
                >= args.sessions
            ),
            30,
            "every agent busy",
        )
        clients = children(watcher.pid)
        groups = {"watcher": [watcher.pid], "clients": clients, "server": [server_pid]}
        busy_watched = cpu_shares(groups, args.busy_seconds)
        busy_clients = len(clients)
    finally:
        stop_watcher(watcher)
    wait(lambda: not any(alive(pid) for pid in clients), 10, "the control clients to end")
    print("busy, no watcher ...", file=sys.stderr)
    busy_alone = cpu_shares({"server": [server_pid]}, args.busy_seconds)["server"]
    still_busy = sum(
        sessions.view(f"idle-{i:02d}").state is State.BUSY for i in range(args.sessions)
    )
    if still_busy < args.sessions:
        raise SystemExit(f"only {still_busy} agents still busy after the measures")

    print(f"\n## imessenger watch: {args.sessions} demo agents + 1 prompt drawer")
    print(f"\n{machine()}")
    print(f"\nthe watcher followed all {len(names)} sessions {attach_s:.2f} s after its start")
    print(
        watcher_cost(
            f"### {args.sessions} agents idle, {args.idle_seconds:g} s each way",
            idle_watched,
            idle_alone,
            idle_clients,
        )
    )
    print(
        watcher_cost(
            f"### {args.sessions} agents busy (spinners redrawn 10 times a second), "
            f"{args.busy_seconds:g} s each way",
            busy_watched,
            busy_alone,
            busy_clients,
        )
    )
    print(
        table(
            "### prompt drawn -> inbox notice",
            "ms",
            [
                row(f"{len(quiet)} prompts, the other sessions idle", quiet),
                row(f"{len(loud)} prompts while a pane prints `seq` nonstop", loud),
            ],
        )
    )
    print(
        f"\nCPU during the flood ({flood_s:.0f} s): watcher {flood_watcher:.1f} %, "
        f"its control clients {flood_clients:.1f} % of one core"
    )
    status_rows = [row("floor: python -c pass", floor)]
    if console:
        status_rows.append(row("imessenger status (console script)", console, floor))
    status_rows += [
        row("python -m imessenger status", module, floor),
        row("read_status + line, in-process (in µs, not ms)", reads),
    ]
    print(table(f"### imessenger status, {args.runs} runs", "ms", status_rows))


if __name__ == "__main__":
    main()
