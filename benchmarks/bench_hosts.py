"""Benchmark a session on another host: ``send --no-reply`` over ssh against a local one.

Run from the checkout, in the venv, as root (it borrows the test suite's remote host:
a second local user behind a real sshd on 127.0.0.1, see tests/remote_host.py)::

    python benchmarks/bench_hosts.py [--runs 20] [--quick]

In one run, each as the median (and 90th percentile) of ``--runs`` runs:

* ``send --no-reply`` of a 1 KB message to the demo agent here (whole process);
* the same to the demo agent on the other host (``box:w2``), over the shared connection;
* the ssh round trip alone (``ssh HOST true``), with the connection shared
  (ControlMaster, as imessenger runs it) and without (a new login each time):
  the added cost of a remote call, and what sharing saves.

Nothing here is a pass/fail test; the figures go in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from measure import kill_server  # noqa: E402
from remote_host import remote_host_running  # noqa: E402

from imessenger.adapters import ssh  # noqa: E402
from imessenger.core.targets import Host  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Run a command to completion; its wall time in ms (fail loudly on error)."""
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = (time.perf_counter() - began) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def idle(env: dict[str, str], name: str, *, host: str | None = None) -> None:
    """Wait until ``isesh list`` shows the session idle."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listing = subprocess.run(
            [sys.executable, "-m", "imessenger.interfaces.cli.isesh", "list", "--json"],
            env=env, capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        rows = json.loads(listing or "[]")
        if any(r["name"] == name and r["host"] == host and r["state"] == "idle" for r in rows):
            return
        time.sleep(0.05)
    raise SystemExit(f"{name} did not become idle")


def summary(label: str, values: list[float]) -> str:
    values = sorted(values)
    p90 = values[int(0.9 * (len(values) - 1))]
    return f"{label:<52} median {statistics.median(values):7.1f} ms   p90 {p90:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="--runs 5")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    with remote_host_running() as remote, tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "IMESSENGER_HOME": str(home / "data"),
            "IMESSENGER_TMUX_SOCKET": f"bench-hosts-{os.getpid()}",
        }
        host = Host("box", remote.destination, tuple(remote.ssh_args), remote.command)
        config = home / ".config" / "imessenger" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(
            f"[hosts.box]\ndestination = {json.dumps(host.destination)}\n"
            f"ssh_args = {json.dumps(list(host.ssh_args))}\n"
            f"command = {json.dumps(host.command)}\n",
            encoding="utf-8",
        )
        isesh = [sys.executable, "-m", "imessenger.interfaces.cli.isesh"]
        imessenger = [sys.executable, "-m", "imessenger"]
        try:
            timed([*isesh, "start", "w1", "--agent", "demo"], env)
            timed([*isesh, "start", "box:w2", "--agent", "demo"], env)
            idle(env, "w1")
            idle(env, "w2", host="box")
            message = "x" * 1024
            local, remote_send = [], []
            for _ in range(runs):
                local.append(timed([*imessenger, "send", "--no-reply", "w1", message], env))
                idle(env, "w1")
                remote_send.append(
                    timed([*imessenger, "send", "--no-reply", "box:w2", message], env)
                )
                idle(env, "w2", host="box")
            shared_argv = ssh.ssh_argv(host, "true")
            alone_argv = ssh.ssh_argv(host, "true", share=False)
            timed(shared_argv, env)  # opens the shared connection
            shared = [timed(shared_argv, env) for _ in range(runs)]
            alone = [timed(alone_argv, env) for _ in range(runs)]
        finally:
            subprocess.run([*isesh, "stop", "--force", "w1"], env=env, capture_output=True)
            subprocess.run([*isesh, "stop", "--force", "box:w2"], env=env, capture_output=True)
            ssh.close(host)
            kill_server(env["IMESSENGER_TMUX_SOCKET"])
        print(f"{runs} runs each; the other host is this machine (127.0.0.1), so the link is free")
        print(summary("send --no-reply, 1 KB, local session", local))
        print(summary("send --no-reply, 1 KB, session on the other host", remote_send))
        print(summary("ssh round trip, connection shared (ControlMaster)", shared))
        print(summary("ssh round trip, a new connection each time", alone))
        added = statistics.median(remote_send) - statistics.median(local)
        print(f"added by the other host: {added:.1f} ms at the median")


if __name__ == "__main__":
    main()
