"""Benchmark the agents' hooks: ``imessenger hook event`` and the hook-to-notice time.

Run from the checkout, in the venv::

    python benchmarks/bench_hooks.py [--runs 30] [--rounds 20] [--quick]

It starts a private tmux server, a temporary data folder and a watcher (stopped by
its pid at the end), then measures:

* ``imessenger hook event claude``, whole process, run as the user (not from an agent's
  pane, so nothing is recorded: the cost of starting, reading the payload and finding
  who calls), with a Claude Code payload on stdin, a ``PermissionRequest`` and a
  ``Stop`` one, through the venv's console script and through ``python -m
  imessenger``; against ``python -c pass`` with the same interpreter, the runs
  interleaved, ``--runs`` of each;
* hook to notice: a demo agent started by isesh (profile ``demo``, whose hooks isesh
  wires as Claude Code's: ``--hook-command``) is sent ``ASK[command]`` ``--rounds``
  times; each time it draws its permission prompt and runs its ``PermissionRequest``
  hook. The figure is the time from the hook command's start to the inbox notice's
  ``created_at``, split in the hook's own run (start to end: the event is in the
  store when it ends) and the rest (the hook's end to the notice: the watcher).

To time the hook, the agent runs under ``--agent TIMES -- ARGS``: this script, which
puts ``date`` before and after the hook command isesh gave it (``s=$(date ...);
COMMAND; echo "$s $(date ...)" >> TIMES``) and execs the demo agent. The start is
read about a millisecond after the shell starts, the end about one after the hook
ends; each line is matched to the event whose hook process started nearest to it.

``--quick`` is ``--runs 10 --rounds 8``. Nothing here is a pass/fail test; the figures
go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from measure import (
    bench_place,
    compile_package,
    console_script,
    machine,
    row,
    start_watcher,
    stop_watcher,
    table,
    timed,
    wait,
)

HERE = Path(__file__).resolve()
SESSION_ID = "5f0c2a1e-8d3b-4c6e-9a7f-2b1d0e4c6a88"


def agent(times: str, args: list[str]) -> None:
    """Exec the demo agent with ``args``, its hook command timed into the file ``times``."""
    args = list(args)
    if "--hook-command" not in args:
        raise SystemExit("no --hook-command given: is the profile's hooks setting demo?")
    at = len(args) - 1 - args[::-1].index("--hook-command")  # the last one counts
    stamp = "date +%s.%N"
    args[at + 1] = f's=$({stamp}); {args[at + 1]}; echo "$s $({stamp})" >> {shlex.quote(times)}'
    os.execv(sys.executable, [sys.executable, "-m", "imessenger.demo.agent", *args])


def claude_payloads(folder: Path) -> dict[str, str]:
    """A PermissionRequest and a Stop payload, with the fields Claude Code gives."""
    common = {
        "session_id": SESSION_ID,
        "transcript_path": str(folder / "claude-projects" / f"{SESSION_ID}.jsonl"),
        "cwd": str(folder),
        "permission_mode": "default",
    }
    asking = {
        **common,
        "hook_event_name": "PermissionRequest",
        "tool_name": "Bash",
        "tool_input": {"command": "npm test -- --watch=false", "description": "Run the tests"},
        "permission_suggestions": [
            {
                "type": "addRules",
                "rules": [{"toolName": "Bash", "ruleContent": "npm test:*"}],
                "behavior": "allow",
                "destination": "localSettings",
            }
        ],
    }
    stop = {**common, "hook_event_name": "Stop", "stop_hook_active": False}
    return {"PermissionRequest": json.dumps(asking), "Stop": json.dumps(stop)}


def hook_process(runs: int, folder: Path, env: dict[str, str], script: Path) -> list[str]:
    """``imessenger hook event claude`` as whole processes, against ``python -c pass``."""
    payloads = claude_payloads(folder)
    kinds = {
        "imessenger hook event claude (console script)": [str(script)],
        "python -m imessenger hook event claude": [sys.executable, "-m", "imessenger"],
    }
    floor: list[float] = []
    times: dict[str, list[float]] = {}
    for _ in range(runs):
        floor.append(timed([sys.executable, "-c", "pass"], env))
        for label, command in kinds.items():
            for event, payload in payloads.items():
                argv = [*command, "hook", "event", "claude"]
                times.setdefault(f"{label}, {event}", []).append(timed(argv, env, payload))
    return [
        row("floor: python -c pass", floor),
        *(row(label, values, floor) for label, values in times.items()),
    ]


def start_agent(home: Path, tmux: Any) -> tuple[Any, Any, Path]:
    """Start the demo agent ``hooked`` with its hooks timed; its sessions, store and times."""
    from imessenger.actions.sessions import Sessions
    from imessenger.adapters.config_files import load_config
    from imessenger.adapters.store import Store
    from imessenger.core.screen import State

    store = Store.open(server=tmux.label)
    sessions = Sessions(tmux, store, load_config())
    times = home / "hook-times.txt"
    timed_agent = [sys.executable, str(HERE), "--agent", str(times), "--"]
    sessions.start("hooked", home, "demo", [*timed_agent, "--startup-ms", "0", "--busy-ms", "300"])
    wait(lambda: sessions.view("hooked").state is State.IDLE, 30, "the demo agent idle")
    return sessions, store, times


def hook_lines(times: Path) -> list[tuple[float, float]]:
    """The hooks run so far: (started, ended), from the agent's times file."""
    if not times.exists():
        return []
    return [
        (float(a), float(b)) for a, b in (line.split() for line in times.read_text().splitlines())
    ]


def nearest_hook(times: Path, at: float) -> tuple[float, float] | None:
    """The hook run whose start is nearest ``at`` (within 100 ms), once it has ended."""
    near = [line for line in hook_lines(times) if abs(line[0] - at) < 0.1]
    return min(near, key=lambda line: abs(line[0] - at)) if near else None


def prompt_notice(store: Any, title: str) -> Any:
    """The user's prompt notice titled ``title``, or None."""
    from imessenger.core.values import InboxKind

    entries = store.inbox.read("user", peek=True)
    return next((e for e in entries if e.kind == InboxKind.PROMPT and e.title == title), None)


def one_prompt(
    n: int, sessions: Any, store: Any, times: Path, env: dict[str, str]
) -> tuple[float, ...]:
    """Have the agent ask once: (hook started -> notice, hook started -> event stored,
    event stored -> notice, the hook's whole run, send returned -> notice), in ms; then
    answer and wait for its Stop hook."""
    from imessenger.core.screen import State

    command = f"touch hooked-{n}"
    send = [sys.executable, "-m", "imessenger", "send", "--no-reply", "hooked"]
    timed([*send, f"ASK[{command}]"], env)
    sent = time.time()
    title = f'"hooked" is asking: {command}'
    deadline = time.monotonic() + 10
    events: list[Any] = []
    while not events:  # looked for every 2 ms: when it was stored, to about 2 ms
        if time.monotonic() > deadline:
            raise SystemExit(f"no hook event for {command}")
        time.sleep(0.002)
        events = [e for e in store.hook_events.recent("hooked", limit=20) if e.detail == command]
    stored = time.time()
    wait(lambda: prompt_notice(store, title), 10, f"the notice of {command}")
    notice = prompt_notice(store, title).created_at
    # the hook's shell writes its line when the hook is over: it may still be running
    wait(lambda: nearest_hook(times, events[0].at), 10, "the PermissionRequest hook's end")
    began, ended = nearest_hook(times, events[0].at) or (0.0, 0.0)
    timed([sys.executable, "-m", "imessenger", "approve", "hooked"], env)
    wait(lambda: sessions.view("hooked").state is State.IDLE, 10, "the agent idle again")
    # its SessionStart hook, then per prompt: UserPromptSubmit, PermissionRequest, Stop
    wait(lambda: len(hook_lines(times)) >= 1 + 3 * (n + 1), 10, "the Stop hook's end")
    ms = 1000
    return (
        (notice - began) * ms,
        (stored - began) * ms,
        (notice - stored) * ms,
        (ended - began) * ms,
        (notice - sent) * ms,
    )


def hook_to_notice(
    rounds: int, sessions: Any, store: Any, times: Path, env: dict[str, str]
) -> list[str]:
    """The demo agent's PermissionRequest hook started -> its inbox notice, ``rounds`` times."""
    wait(lambda: len(hook_lines(times)) >= 1, 10, "the SessionStart hook's end")
    from_hook, to_store, from_store, hook_run, from_send = zip(
        *(one_prompt(n, sessions, store, times, env) for n in range(rounds)), strict=True
    )
    return [
        row("PermissionRequest hook started -> inbox notice", from_hook),
        row("of which hook started -> event in the store (seen within 2 ms)", to_store),
        row("of which event in the store -> inbox notice (the watcher)", from_store),
        row("the hook's whole run (started -> its process ended)", hook_run),
        row("send --no-reply returned -> inbox notice", from_send),
    ]


def main() -> None:
    if sys.argv[1:2] == ["--agent"]:  # in the pane: python bench_hooks.py --agent TIMES -- ...
        agent(sys.argv[2], sys.argv[4:] if sys.argv[3:4] == ["--"] else sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of each whole process")
    parser.add_argument("--rounds", type=int, default=20, help="prompts, for hook -> notice")
    parser.add_argument("--quick", action="store_true", help="--runs 10 --rounds 8")
    args = parser.parse_args()
    runs, rounds = (10, 8) if args.quick else (args.runs, args.rounds)
    compile_package()
    script = console_script()
    if script is None:
        raise SystemExit(f"no imessenger console script beside {sys.executable}")
    with bench_place("hooks") as (home, socket, env):
        from imessenger.adapters.tmux import Tmux

        tmux = Tmux(socket)
        sessions, store, times = start_agent(home, tmux)
        watcher = start_watcher(home, tmux.label)
        try:
            print(f"hook event, {runs} runs ...", file=sys.stderr)
            process = hook_process(runs, home, env, script)
            print(f"hook -> notice, {rounds} prompts ...", file=sys.stderr)
            notice = hook_to_notice(rounds, sessions, store, times, env)
        finally:
            stop_watcher(watcher)
    print(f"{machine()}; a watcher running")
    print(table(f"### hook event, whole process, {runs} runs", "ms", process))
    print(table(f"### hook -> notice, {rounds} prompts", "ms", notice))


if __name__ == "__main__":
    main()
