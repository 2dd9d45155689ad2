"""Benchmark ``imessenger send``: whole-process times and reply-detection latency.

Run from the checkout, in the venv: ``python benchmarks/bench_send.py [--runs 30]``.

It starts a private tmux server and a temporary data folder, then measures,
each as the median (and 90th percentile) of ``--runs`` runs:

* floor: ``python -c pass`` followed by one ``tmux display-message`` (the least
  any tool that starts Python and asks tmux something can cost);
* ``send --no-reply`` of a 1 KB message to the demo agent (whole process);
* ``send`` to a target that prints the reply at once (whole process);
* reply detection: the target prints the reply's end line 300 ms after the
  message arrives; the time from that print to ``send`` having returned.

Nothing here is a pass/fail test; the figures go in the README.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(argv: list[str], env: dict[str, str]) -> float:
    """Run a command to completion; return its wall time in ms (fail loudly on error)."""
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = (time.perf_counter() - began) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def wait_idle(env: dict[str, str], name: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        out = subprocess.run(
            [sys.executable, "-m", "imessenger.interfaces.cli.isesh", "list", "--json"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        if f'"name": "{name}"' in out and '"state": "idle"' in out.split(f'"name": "{name}"')[1]:
            return
        time.sleep(0.05)
    raise SystemExit(f"{name} did not become idle")


def summary(label: str, values: list[float], floor: float | None) -> str:
    values = sorted(values)
    median = statistics.median(values)
    p90 = values[int(0.9 * (len(values) - 1))]
    ratio = f"{median / floor:.1f}x" if floor else "-"
    return f"| {label} | {median:.1f} | {p90:.1f} | {ratio} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    # An installed package has its bytecode written at install time; a checkout run
    # with PYTHONDONTWRITEBYTECODE would compile every module at every command.
    import compileall

    import imessenger

    compileall.compile_dir(str(Path(imessenger.__file__).parent), quiet=1)
    tmux = shutil.which("tmux")
    if tmux is None:
        raise SystemExit("tmux is not installed")
    socket = f"imessenger-bench-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="imessenger-bench-") as home:
        env = dict(os.environ)
        env.update(IMESSENGER_HOME=home, IMESSENGER_TMUX_SOCKET=socket)
        for key in ("TMUX", "TMUX_PANE", "IMESSENGER_SESSION", "IMESSENGER_CONFIG"):
            env.pop(key, None)
        times_file = Path(home) / "printed.txt"
        isesh = [sys.executable, "-m", "imessenger.interfaces.cli.isesh"]
        send = [sys.executable, "-m", "imessenger", "send"]
        try:
            demo = [
                sys.executable,
                "-m",
                "imessenger.demo.agent",
                "--startup-ms",
                "0",
                "--busy-ms",
                "0",
            ]
            run([*isesh, "start", "demo", "--agent", "demo", "--", *demo], env)
            target = [sys.executable, str(HERE / "reply_target.py"), str(times_file)]
            run([*isesh, "start", "quick", "--agent", "shell", "--", *target], env)
            slow = [*target, "--pause-ms", "300"]
            run([*isesh, "start", "slow", "--agent", "shell", "--", *slow], env)
            wait_idle(env, "demo")

            floor = [
                run([sys.executable, "-c", "pass"], env)
                + run([tmux, "-L", socket, "display-message", "-p", "x"], env)
                for _ in range(args.runs)
            ]
            kilobyte = ("0123456789abcdef" * 64)[:1024]
            no_reply = [run([*send, "demo", "--no-reply", kilobyte], env) for _ in range(args.runs)]
            with_reply = [run([*send, "quick", "hello"], env) for _ in range(args.runs)]
            latency = []
            for _ in range(args.runs):
                run([*send, "slow", "hello"], env)
                returned = time.time()
                printed = float(times_file.read_text().split()[-1])
                latency.append((returned - printed) * 1000)
        finally:
            subprocess.run([tmux, "-L", socket, "kill-server"], capture_output=True)
    base = statistics.median(floor)
    print(f"runs: {args.runs}; python {sys.version.split()[0]}; {os.cpu_count()} cores")
    print("| measurement | median ms | p90 ms | vs floor |")
    print("| --- | --- | --- | --- |")
    print(summary("floor: python -c pass + tmux display-message", floor, None))
    print(summary("send --no-reply, 1 KB, demo agent", no_reply, base))
    print(summary("send, reply printed at once", with_reply, base))
    print(summary("reply detection (end line printed -> send returned)", latency, None))


if __name__ == "__main__":
    main()
