"""Benchmark ``isesh restore``: how long bringing back 10 sessions takes.

Run from the checkout, in the venv::

    python benchmarks/bench_restore.py [--sessions 10] [--runs 5] [--quick]

It starts a private tmux server and a temporary data folder, with autostart off (the
watcher's start is not what is timed), starts ``--sessions`` demo agents with ``isesh
start``, each given one message so that each has a conversation to resume, then, ``--runs``
times: kills the tmux server (the agents end with it) and times, whole process:

* ``isesh restore``, until it returns: every session started again, each demo agent
  resuming its record (``--resume``), recorded and remembered;
* restore to ready: until every restored session reads idle (the demo agent's own start,
  300 ms, is in it);
* ``isesh restore`` again with every session running (nothing to do): what running it
  twice costs;

and, as the floor of the same run, ``python -c pass`` and one ``isesh start`` of a demo
agent (the cost of one session's start, done 10 times by a restore). ``--quick`` is
``--runs 2``. Nothing here is a pass/fail test; the figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from measure import bench_place, compile_package, kill_server, machine, row, table, timed, wait


def isesh(*args: str) -> list[str]:
    return [sys.executable, "-m", "imessenger.interfaces.cli.isesh", *args]


def states(env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(isesh("list", "--json"), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {}
    return {row["name"]: row["state"] for row in json.loads(done.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    compile_package()
    with bench_place("restore") as (home, socket, env):
        config = home / "config.toml"
        config.write_text("[watch]\nautostart = false\n")
        env = {**env, "IMESSENGER_CONFIG": str(config)}
        work = home / "work"
        work.mkdir()
        names = [f"w{n}" for n in range(1, args.sessions + 1)]
        for name in names:
            timed(isesh("start", name, "-d", str(work), "--agent", "demo"), env)
        wait(lambda: set(states(env).values()) == {"idle"}, 30, "every session idle")
        for name in names:
            timed([sys.executable, "-m", "imessenger", "send", name, f"note of {name}"], env)

        floor, one_start, restore, ready, again = [], [], [], [], []
        for _ in range(runs):
            floor.append(timed([sys.executable, "-c", "pass"], env))
            kill_server(socket)
            began = time.perf_counter()
            done = subprocess.run(isesh("restore"), env=env, capture_output=True, text=True)
            restore.append((time.perf_counter() - began) * 1000)
            if done.returncode != 0 or done.stdout.count(": resumed") != len(names):
                raise SystemExit(f"restore failed: {done.stdout}{done.stderr}")
            wait(lambda: set(states(env).values()) == {"idle"}, 30, "every session idle")
            ready.append((time.perf_counter() - began) * 1000)
            again.append(timed(isesh("restore"), env))
            extra = isesh("start", "extra", "-d", str(work), "--agent", "demo")
            one_start.append(timed(extra, env))
            timed(isesh("stop", "extra", "--force"), env)
            timed(isesh("forget", "extra"), env)

        print(f"\n{machine()}")
        print(
            table(
                f"isesh restore of {len(names)} demo sessions after kill-server ({runs} runs)",
                "ms",
                [
                    row("python -c pass (floor)", floor),
                    row("isesh start, one demo session", one_start, floor),
                    row(f"isesh restore, {len(names)} sessions", restore, floor),
                    row("restore until every session reads idle", ready, floor),
                    row("isesh restore again, all running", again, floor),
                ],
            )
        )
        print(f"\nper session: {sum(restore) / len(restore) / len(names):.1f} ms")


if __name__ == "__main__":
    main()
