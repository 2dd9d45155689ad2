"""What the benchmarks share: a private tmux server and data folder, timed processes, CPU.

Standard library only (and imessenger itself). Every figure is a median and a 90th
percentile; a whole-process time is set against a floor measured in the same run, the
runs of both interleaved so that a change of the machine's load falls on both.

:func:`bench_place` gives a temporary data folder and a private tmux socket name, and at
its end kills that tmux server (``kill-server`` on the socket, never a process by name)
and removes its socket file and the folder; :func:`start_watcher` and
:func:`stop_watcher` start and stop a watcher by its pid.
"""

from __future__ import annotations

import compileall
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

#: What a caller's environment says of where it runs, dropped so that the benchmark's
#: commands run as the user of the private server, whatever shell the bench runs in.
_DROPPED = ("TMUX", "TMUX_PANE", "IMESSENGER_SESSION", "IMESSENGER_CONFIG")
TICK = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value ``fraction`` of the way up the sorted ``values`` (nearest rank below)."""
    ordered = sorted(values)
    return ordered[int(fraction * (len(ordered) - 1))]


def row(label: str, values: Sequence[float], floor: Sequence[float] | None = None) -> str:
    """A Markdown row: label, median, p90 and, given a floor, the median's ratio to it."""
    median = statistics.median(values)
    ratio = f"{median / statistics.median(floor):.1f}x" if floor else ""
    return f"| {label} | {median:.1f} | {percentile(values, 0.9):.1f} | {ratio} |"


def table(heading: str, unit: str, rows: Sequence[str]) -> str:
    """A Markdown table of :func:`row` rows under a ``heading`` line."""
    lines = [
        f"\n{heading}\n",
        f"| measurement | median {unit} | p90 {unit} | vs floor |",
        "| --- | --- | --- | --- |",
        *rows,
    ]
    return "\n".join(lines)


def timed(argv: Sequence[str], env: dict[str, str], stdin: str | None = None) -> float:
    """Run a command to completion; its wall time in ms (fail loudly on an error)."""
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True)
    elapsed = (time.perf_counter() - began) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{list(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def wait(check: Callable[[], object], seconds: float, what: str) -> None:
    """Wait until ``check()`` is true, looking every 10 ms; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def machine() -> str:
    """One line on what the figures were measured on: Python, tmux, cores, load."""
    tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"python {sys.version.split()[0]}; {tmux}; {os.cpu_count()} cores; "
        f"load average {load}; {time.strftime('%Y-%m-%d %H:%M')}"
    )


def console_script() -> Path | None:
    """The ``imessenger`` console script beside this Python (the venv's), if any."""
    script = Path(sys.executable).with_name("imessenger")
    return script if script.is_file() else None


def compile_package() -> None:
    """Write imessenger's bytecode now, as an installation does: a checkout run with
    PYTHONDONTWRITEBYTECODE would compile every module at every command."""
    import imessenger

    compileall.compile_dir(str(Path(imessenger.__file__).parent), quiet=1)


@contextlib.contextmanager
def bench_place(name: str) -> Iterator[tuple[Path, str, dict[str, str]]]:
    """A temporary data folder, a private tmux socket name and the environment that
    points imessenger at both (also set in this process's ``os.environ``); the tmux
    server on that socket is killed and the folder removed at the end."""
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is not installed")
    socket = f"imessenger-bench-{name}-{os.getpid()}"
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix=f"imessenger-bench-{name}-") as folder:
        for key in _DROPPED:
            os.environ.pop(key, None)
        os.environ.update(IMESSENGER_HOME=folder, IMESSENGER_TMUX_SOCKET=socket)
        try:
            yield Path(folder), socket, dict(os.environ)
        finally:
            kill_server(socket)
            os.environ.clear()
            os.environ.update(saved)


def kill_server(socket: str) -> None:
    """Kill the tmux server on ``socket`` and remove its socket file, which tmux leaves
    behind (also when the server ended by itself, its last session gone)."""
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
    folder = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
    path = folder / socket
    if path.is_socket():
        path.unlink()


def start_watcher(home: Path, server: str) -> subprocess.Popen[bytes]:
    """Start ``python -m imessenger watch`` (its output in ``home``/watch.log) and wait
    until it has published its pid."""
    from imessenger.adapters.status_cache import running_pid

    with open(home / "watch.log", "ab") as log:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "imessenger", "watch"], stdout=log, stderr=subprocess.STDOUT
        )
    wait(lambda: running_pid(server) == watcher.pid or watcher.poll() is not None, 20, "watcher")
    if watcher.poll() is not None:
        raise SystemExit(f"the watcher exited ({watcher.returncode}): see {home}/watch.log")
    return watcher


def stop_watcher(watcher: subprocess.Popen[bytes] | None) -> None:
    """Stop a watcher this bench started (SIGTERM to its pid), and wait for it."""
    if watcher is not None and watcher.poll() is None:
        watcher.terminate()
        try:
            watcher.wait(10)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait(10)


# --- CPU, from /proc ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The pids of the processes whose parent is ``pid``."""
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


def cpu_shares(
    groups: dict[str, Sequence[int]], seconds: float, step: float = 1.0
) -> dict[str, list[float]]:
    """Sample each group of processes every ``step`` seconds for ``seconds``: for each
    group, the percent of one core it used in each step (clock ticks are 10 ms, so a
    1 s step reads to 1 % of a core; their mean reads finer)."""
    shares: dict[str, list[float]] = {name: [] for name in groups}
    last = {name: sum(cpu_seconds(p) for p in pids) for name, pids in groups.items()}
    began = time.monotonic()
    steps = max(1, round(seconds / step))
    for n in range(1, steps + 1):
        time.sleep(max(0.0, began + n * step - time.monotonic()))
        for name, pids in groups.items():
            now = sum(cpu_seconds(p) for p in pids)
            shares[name].append(100 * (now - last[name]) / step)
            last[name] = now
    return shares


def cpu_row(label: str, samples: Sequence[float]) -> str:
    """A Markdown row of CPU samples: label, mean, median, p90 (percent of one core)."""
    mean = statistics.fmean(samples)
    return (
        f"| {label} | {mean:.2f} | {statistics.median(samples):.1f} "
        f"| {percentile(samples, 0.9):.1f} |"
    )
