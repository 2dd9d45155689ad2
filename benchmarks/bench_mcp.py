"""Benchmark ``imessenger mcp``: the time from a ``send`` tool call to its result.

Run from the checkout, in the venv: ``python benchmarks/bench_mcp.py [--runs 20] [--quick]``.

It starts a private tmux server and a temporary data folder with demo agents that answer
at once (``--busy-ms 0``), a fresh one for each series (the demo agent takes longer to
show a message taken the more it has received), then measures, each as the median (and
90th percentile) of ``--runs`` calls of ``send`` with ``wait`` (the reply returned):

* floor: ``Api.send`` called directly, in this process (no MCP at all);
* the ``send`` tool over the SDK's in-process client (the 2026 protocol, no framing);
* the ``send`` tool over stdio, ``python -m imessenger mcp`` as its own process, with
  the handshake the agents use; and how long that server takes to start and connect
  (five starts).

The in-process client shares this process (and its GIL) with the server's worker
threads; over stdio the server has a process of its own, as with an agent.

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
from collections.abc import Awaitable, Callable
from typing import Any

from measure import kill_server


def summary(label: str, values: list[float]) -> str:
    values = sorted(values)
    p90 = values[int(0.9 * (len(values) - 1))]
    return f"| {label} | {statistics.median(values):.1f} | {p90:.1f} |"


async def timed(runs: int, call: Callable[[int], Awaitable[Any]]) -> list[float]:
    """Run ``call`` ``runs`` times (after one warm-up); return each wall time in ms."""
    await call(-1)
    times = []
    for run in range(runs):
        began = time.perf_counter()
        await call(run)
        times.append((time.perf_counter() - began) * 1000)
    return times


async def measure(runs: int) -> list[str]:
    import anyio.to_thread
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from imessenger.app.api import Api
    from imessenger.interfaces.mcp.server import build_server

    def expect(result: Any, body: str) -> None:
        if result.is_error or result.structured_content["reply"] != body:
            raise SystemExit(f"unexpected result: {result}")

    api = Api()

    async def direct(run: int) -> None:
        body = f"direct {run}"
        sent = await anyio.to_thread.run_sync(lambda: api.send("direct", body))
        if sent.reply != body:
            raise SystemExit(f"unexpected reply: {sent}")

    rows = [summary("floor: Api.send in this process, no MCP", await timed(runs, direct))]
    async with Client(build_server(api)) as client:

        async def in_process(run: int) -> None:
            body = f"in-process {run}"
            expect(await client.call_tool("send", {"target": "inproc", "message": body}), body)

        rows.append(summary("send tool, in-process client", await timed(runs, in_process)))
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "imessenger", "mcp"], env=dict(os.environ)
    )
    starts = []
    for _ in range(5):
        began = time.perf_counter()
        async with Client(server, mode="legacy") as client:
            starts.append((time.perf_counter() - began) * 1000)
    async with Client(server, mode="legacy") as client:

        async def over_stdio(run: int) -> None:
            body = f"stdio {run}"
            expect(await client.call_tool("send", {"target": "stdio", "message": body}), body)

        rows.append(summary("send tool, over stdio", await timed(runs, over_stdio)))
    rows.append(summary("stdio: server started, handshake done (5 starts)", starts))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="--runs 5")
    args = parser.parse_args()
    if args.quick:
        args.runs = 5
    import anyio

    tmux = shutil.which("tmux")
    if tmux is None:
        raise SystemExit("tmux is not installed")
    socket = f"imessenger-bench-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="imessenger-bench-") as home:
        os.environ.update(IMESSENGER_HOME=home, IMESSENGER_TMUX_SOCKET=socket)
        for key in ("TMUX", "TMUX_PANE", "IMESSENGER_SESSION", "IMESSENGER_CONFIG"):
            os.environ.pop(key, None)
        demo = [sys.executable, "-m", "imessenger.demo.agent", "--startup-ms", "0"]
        isesh = [sys.executable, "-m", "imessenger.interfaces.cli.isesh"]
        try:
            for name in ("direct", "inproc", "stdio"):
                subprocess.run(
                    [*isesh, "start", name, "--agent", "demo", "--", *demo, "--busy-ms", "0"],
                    check=True,
                    capture_output=True,
                )
            time.sleep(0.5)  # the demo agent's first screen
            rows = anyio.run(measure, args.runs)
        finally:
            kill_server(socket)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"runs: {args.runs}; python {sys.version.split()[0]}; {os.cpu_count()} cores; "
        f"load average {load}"
    )
    print("| measurement | median ms | p90 ms |")
    print("| --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
