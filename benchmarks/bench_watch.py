"""Benchmark ``imessenger watch`` and ``imessenger status``.

Run from the checkout, in the venv::

    python benchmarks/bench_watch.py [--sessions 50] [--idle-seconds 20] [--rounds 40]
                                     [--flood-seconds 10] [--runs 30]

It starts a private tmux server and a temporary data folder, then measures:

* idle CPU: ``--sessions`` demo agents sit idle while the watcher follows them; the CPU
  time (user + system, from /proc) of the watcher, of its tmux control clients and of
  the tmux server over ``--idle-seconds``, as a share of one core; the tmux server is
  also measured over the same time before the watcher starts;
* prompt to notice: a program in one more session draws a demo-style permission prompt
  in one write and records the time; the figure is the time from that write to the
  watcher's inbox notice (the entry's ``created_at``), over ``--rounds`` prompts, with
  the idle sessions around; then the same while another pane prints as fast as it can
  (``--flood-seconds`` of ``seq``), with the watcher's CPU during the flood;
* busy: the CPU of the watcher while every agent is busy (their spinners redraw ten
  times a second) for ``--busy-seconds``;
* ``imessenger status``: the whole process (console script and ``python -m``), against
  ``python -c pass``, and the cache read in-process, over ``--runs`` runs.

Nothing here is a pass/fail test; the figures go in the README.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def share(pids: list[int], seconds: float) -> float:
    """Percent of one core the processes used over ``seconds`` from now."""
    before = sum(cpu_seconds(pid) for pid in pids)
    time.sleep(seconds)
    after = sum(cpu_seconds(pid) for pid in pids)
    return 100 * (after - before) / seconds


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered):.1f}, p90 {p90:.1f}, max {ordered[-1]:.1f}"


def timed(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - began) * 1000)
    return times


def wait(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--busy-seconds", type=float, default=10.0)
    parser.add_argument("--drawer", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drawer is not None:
        drawer(args.drawer)
        return
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is not installed")
    socket = f"imessenger-bench-watch-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="imessenger-bench-") as home:
        os.environ.update(IMESSENGER_HOME=home, IMESSENGER_TMUX_SOCKET=socket)
        for key in ("TMUX", "TMUX_PANE", "IMESSENGER_SESSION", "IMESSENGER_CONFIG"):
            os.environ.pop(key, None)
        os.environ["IMESSENGER_CONFIG"] = write_drawer_profile(Path(home))
        watcher: subprocess.Popen[bytes] | None = None
        try:
            watcher = run(args, Path(home), socket)
        finally:
            if watcher is not None and watcher.poll() is None:
                watcher.terminate()
                watcher.wait(10)
            subprocess.run(["tmux", "-L", socket, "kill-server"], stderr=subprocess.DEVNULL)


def write_drawer_profile(home: Path) -> str:
    """A config file with the profile ``drawn``: the demo's screens, no hooks and no record
    (the drawer takes no options: its prompts are noticed from the screen alone)."""
    import tomli_w

    from imessenger.adapters.config_files import load_config

    table = {**load_config().values["agents"]["demo"], "hooks": "", "allow_reply": "", "record": ""}
    path = home / "config.toml"
    path.write_text(tomli_w.dumps({"agents": {"drawn": table}}), encoding="utf-8")
    return str(path)


def hook_latencies(sessions: Any, store: Any, rounds: int) -> tuple[list[float], list[float]]:
    """The demo agent, whose hooks report asking: from its PermissionRequest hook's start
    to the inbox notice, and from the send's return to it, over ``rounds`` prompts."""
    from imessenger.actions.approval import answer
    from imessenger.core.screen import State
    from imessenger.core.values import Choice, InboxKind

    server = sessions.tmux.label
    from_hook, from_send = [], []
    for n in range(rounds):
        command = f"touch hooked-{n}"
        subprocess.run(
            [sys.executable, "-m", "imessenger", "send", "--no-reply", "hooked", f"ASK[{command}]"],
            check=True,
            capture_output=True,
        )
        sent = time.time()
        title = f'"hooked" is asking: {command}'
        deadline = time.monotonic() + 10
        entry = None
        while entry is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"no notice for {command}")
            time.sleep(0.002)
            prompts = [e for e in store.read_inbox("user", peek=True) if e.kind == InboxKind.PROMPT]
            entry = next((e for e in prompts if e.title == title), None)
        events = store.hook_events(server, "hooked", limit=20)
        [event] = [e for e in events if e.detail == command]
        from_hook.append((entry.created_at - event.at) * 1000)
        from_send.append((entry.created_at - sent) * 1000)
        answer(sessions, "hooked", Choice.YES_ONCE)
        wait(lambda: sessions.view("hooked").state is State.IDLE, 10, "idle again")
    return from_hook, from_send


def run(args: argparse.Namespace, home: Path, socket: str) -> subprocess.Popen[bytes]:
    from imessenger.actions.sessions import Sessions
    from imessenger.adapters.config_files import load_config
    from imessenger.adapters.status_cache import read_status, running_pid
    from imessenger.adapters.store import Store
    from imessenger.adapters.tmux import Tmux
    from imessenger.core.screen import State, classify
    from imessenger.core.values import InboxKind

    config = load_config()
    demo = Sessions(Tmux(socket), Store.open(), config).profiles["demo"]
    idle_text = IDLE_SCREEN.split("\x1b[2J")[1].replace("\r", "")
    prompt_text = PROMPT_SCREEN.format(n=1).split("\x1b[2J")[1].replace("\r", "")
    assert classify(idle_text, demo.grammar).state is State.IDLE
    assert classify(prompt_text, demo.grammar).state is State.ASKING

    store = Store.open()
    tmux = Tmux(socket)
    sessions = Sessions(tmux, store, config)
    print(f"starting {args.sessions} demo agents ...", file=sys.stderr)
    for index in range(args.sessions):
        sessions.start(f"idle-{index:02d}", home, "demo", [])
    drawn = home / "drawn"
    drawn.mkdir()
    draw = [sys.executable, str(Path(__file__).resolve()), "--drawer", str(drawn)]
    sessions.start("drawer", home, "drawn", draw)
    sessions.start("hooked", home, "demo", [])
    names = {f"idle-{i:02d}" for i in range(args.sessions)} | {"drawer", "hooked"}
    wait(
        lambda: all(v.state is State.IDLE for v in sessions.views()) and len(sessions.views()) > 0,
        60,
        "every session idle",
    )
    server_pid = int(tmux.run("display-message", "-p", "#{pid}")[0])
    print("tmux server alone ...", file=sys.stderr)
    server_alone = share([server_pid], args.idle_seconds)

    log = open(home / "watch.log", "wb")  # noqa: SIM115 - kept open for the watcher's life
    watcher = subprocess.Popen(
        [sys.executable, "-m", "imessenger", "watch"], stdout=log, stderr=subprocess.STDOUT
    )
    began = time.monotonic()
    wait(lambda: running_pid(tmux.label) == watcher.pid, 20, "the watcher")

    def following() -> bool:
        seen = read_status(tmux.label).data.get("sessions", [])
        return {s["name"] for s in seen if s["state"] == "idle"} >= names

    wait(following, 60, "the watcher following every session")
    attach_s = time.monotonic() - began
    time.sleep(2)
    print("idle, with the watcher ...", file=sys.stderr)
    clients = children(watcher.pid)
    before = {pid: cpu_seconds(pid) for pid in [watcher.pid, server_pid, *clients]}
    time.sleep(args.idle_seconds)
    used = {pid: cpu_seconds(pid) - before[pid] for pid in before}
    idle_watcher = 100 * used[watcher.pid] / args.idle_seconds
    idle_clients = 100 * sum(used[pid] for pid in clients) / args.idle_seconds
    idle_server = 100 * used[server_pid] / args.idle_seconds

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
                        for e in store.read_inbox("user", peek=True)
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

    print("prompt to notice, through the demo agent's hooks ...", file=sys.stderr)
    from_hook, from_send = hook_latencies(sessions, store, max(5, args.rounds // 4))

    print("prompt to notice while a pane floods ...", file=sys.stderr)
    flood = ["sh", "-c", "while :; do seq 1 100000; done"]
    sessions.start("flood", home, "shell", flood)
    wait(lambda: "flood" in {s["name"] for s in read_status(tmux.label).data["sessions"]}, 20, "")
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
    floor = timed([sys.executable, "-c", "pass"], args.runs, env)
    script = Path(sys.executable).with_name("imessenger")
    console = timed([str(script), "status"], args.runs, env) if script.exists() else []
    module = timed([sys.executable, "-m", "imessenger", "status"], args.runs, env)
    reads = []
    for _ in range(args.runs * 10):
        start = time.perf_counter()
        read_status(tmux.label).line()
        reads.append((time.perf_counter() - start) * 1_000_000)

    print(f"{args.sessions} agents busy ...", file=sys.stderr)
    from imessenger.actions.delivery import Courier

    courier = Courier(sessions)
    for index in range(args.sessions):
        busy_ms = int((args.busy_seconds + 30) * 1000)
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
    before = {pid: cpu_seconds(pid) for pid in [watcher.pid, server_pid, *clients]}
    time.sleep(args.busy_seconds)
    used = {pid: cpu_seconds(pid) - before[pid] for pid in before}
    busy_watcher = 100 * used[watcher.pid] / args.busy_seconds
    busy_clients = 100 * sum(used[pid] for pid in clients) / args.busy_seconds
    busy_server = 100 * used[server_pid] / args.busy_seconds

    print(f"\n## imessenger watch: {args.sessions} idle demo agents + 1 prompt drawer\n")
    print(f"watcher following all {len(names)} sessions {attach_s:.2f} s after its start")
    print(f"\n| idle CPU over {args.idle_seconds:g} s | % of one core |")
    print("| --- | --- |")
    print(f"| watcher (Python) | {idle_watcher:.2f} |")
    print(f"| its {len(children(watcher.pid))} tmux control clients | {idle_clients:.2f} |")
    print(f"| tmux server, with the watcher | {idle_server:.2f} |")
    print(f"| tmux server, before the watcher | {server_alone:.2f} |")
    print(f"\nprompt drawn -> inbox notice, {len(quiet)} prompts (ms): {stats(quiet)}")
    print(f"the same while a pane prints `seq` nonstop, {len(loud)} prompts (ms): {stats(loud)}")
    print(
        f"demo agent with hooks, {len(from_hook)} prompts: its PermissionRequest hook started "
        f"-> notice (ms): {stats(from_hook)}; `send --no-reply` returned -> notice (ms): "
        f"{stats(from_send)}"
    )
    print(
        f"CPU during the flood ({flood_s:.0f} s): watcher {flood_watcher:.1f} %, "
        f"its control clients {flood_clients:.1f} % of one core"
    )
    print(
        f"{args.sessions} agents busy (spinner redrawn 10 times a second), "
        f"{args.busy_seconds:g} s: watcher {busy_watcher:.1f} %, control clients "
        f"{busy_clients:.1f} %, tmux server {busy_server:.1f} % of one core"
    )
    print(f"\n| status, {args.runs} runs | ms (median, p90, max) |")
    print("| --- | --- |")
    print(f"| python -c pass | {stats(floor)} |")
    if console:
        print(f"| imessenger status (console script) | {stats(console)} |")
    print(f"| python -m imessenger status | {stats(module)} |")
    print(f"| read_status + line, in-process (µs) | {stats(reads)} |")
    return watcher


if __name__ == "__main__":
    main()
