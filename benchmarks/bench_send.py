"""Benchmark ``imessenger send``: whole-process times and reply-detection latency.

Run from the checkout, in the venv: ``python benchmarks/bench_send.py [--runs 30] [--quick]``.

It starts a private tmux server and a temporary data folder with a demo agent that
answers at once and two targets that print a reply (``reply_target.py``), then
measures, each as the median (and 90th percentile) of ``--runs`` runs, the runs of a
figure and of its floor interleaved:

without a watcher:

* floor: ``python -c pass`` followed by one ``tmux display-message`` (the least any
  tool that starts Python and asks tmux something can cost);
* ``send --no-reply`` of a 1 KB message to the demo agent (whole process);
* ``send`` to a target that prints the reply at once (whole process);
* reply detection: the target prints the reply's end line 300 ms after the message
  arrives; the time from that print to ``send`` having returned;

with a watcher running (``imessenger watch``, stopped by its pid at the end):

* floor: ``python -c pass`` with the same interpreter;
* ``send --raw --no-reply`` of one short line to the idle demo agent, through the
  venv's console script ``imessenger`` and through ``python -m imessenger``;
* reply detection, as above.

Before each send to the demo agent it waits until the agent is idle again, and 100 ms
more for the watcher to have read its screen: each send finds an idle session.
``--quick`` is ``--runs 10``. Nothing here is a pass/fail test; the figures go in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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

HERE = Path(__file__).resolve().parent
KILOBYTE = ("0123456789abcdef" * 64)[:1024]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 runs")
    args = parser.parse_args()
    runs = 10 if args.quick else args.runs
    compile_package()
    script = console_script()
    if script is None:
        raise SystemExit(f"no imessenger console script beside {sys.executable}")
    with bench_place("send") as (home, socket, env):
        from imessenger.actions.sessions import Sessions
        from imessenger.adapters.config_files import load_config
        from imessenger.adapters.store import Store
        from imessenger.adapters.tmux import Tmux
        from imessenger.core.screen import State

        tmux = Tmux(socket)
        sessions = Sessions(tmux, Store.open(server=tmux.label), load_config())
        times_file = home / "printed.txt"
        agent = [sys.executable, "-m", "imessenger.demo.agent", "--startup-ms", "0"]
        sessions.start("demo", home, "demo", [*agent, "--busy-ms", "0"])
        target = [sys.executable, str(HERE / "reply_target.py"), str(times_file)]
        sessions.start("quick", home, "shell", target)
        sessions.start("slow", home, "shell", [*target, "--pause-ms", "300"])

        def demo_idle() -> None:
            wait(lambda: sessions.view("demo").state is State.IDLE, 20, "the demo agent idle")
            time.sleep(0.1)

        def send(argv: list[str]) -> float:
            demo_idle()
            return timed(argv, env)

        def reply_detection() -> float:
            timed([sys.executable, "-m", "imessenger", "send", "slow", "hello"], env)
            returned = time.time()
            printed = float(times_file.read_text().split()[-1])
            return (returned - printed) * 1000

        demo_idle()
        module = [sys.executable, "-m", "imessenger", "send"]
        floor: list[float] = []
        no_reply: list[float] = []
        raw_alone: list[float] = []
        with_reply: list[float] = []
        latency: list[float] = []
        print(f"{runs} runs without a watcher ...", file=sys.stderr)
        for n in range(runs):
            floor.append(
                timed([sys.executable, "-c", "pass"], env)
                + timed(["tmux", "-L", socket, "display-message", "-p", "x"], env)
            )
            no_reply.append(send([*module, "demo", "--no-reply", KILOBYTE]))
            raw_alone.append(send([*module, "demo", "--raw", "--no-reply", f"ping {n}"]))
            with_reply.append(timed([*module, "quick", "hello"], env))
            latency.append(reply_detection())

        print(f"{runs} runs with a watcher ...", file=sys.stderr)
        watcher = start_watcher(home, tmux.label)
        try:
            python: list[float] = []
            raw_script: list[float] = []
            raw_module: list[float] = []
            watched_latency: list[float] = []
            for n in range(runs):
                python.append(timed([sys.executable, "-c", "pass"], env))
                line = f"ping {n}"
                raw_script.append(send([str(script), "send", "demo", "--raw", "--no-reply", line]))
                raw_module.append(send([*module, "demo", "--raw", "--no-reply", line]))
                watched_latency.append(reply_detection())
        finally:
            stop_watcher(watcher)

    print(f"runs: {runs}; {machine()}")
    print(
        table(
            "### send, no watcher",
            "ms",
            [
                row("floor: python -c pass + tmux display-message", floor),
                row("send --no-reply, 1 KB, demo agent", no_reply, floor),
                row("python -m imessenger send --raw --no-reply, demo agent", raw_alone, floor),
                row("send, reply printed at once", with_reply, floor),
                row("reply detection (end line printed -> send returned)", latency),
            ],
        )
    )
    print(
        table(
            "### send, a watcher running",
            "ms",
            [
                row("floor: python -c pass", python),
                row("imessenger send --raw --no-reply (console script)", raw_script, python),
                row("python -m imessenger send --raw --no-reply", raw_module, python),
                row("reply detection (end line printed -> send returned)", watched_latency),
            ],
        )
    )


if __name__ == "__main__":
    main()
