"""The tmux server goes away under a running watcher, and another one starts on its socket.

The watcher keeps running, says once that the server cannot be reached, looks for it
again with a backoff, and follows the recorded sessions again once a new server runs
them, even when nothing in the store changed to tell it (a new server's socket often
gets the inode of the old one, so the socket file alone may not tell either).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from libtmux.server import Server
from support import Watching, python_cli, start_demo, wait_for

from imessenger.adapters.tmux import Tmux

StartWatcher = Callable[[], Watching]


def test_the_watcher_outlives_its_tmux_server_and_follows_the_next_one(
    tmux: Tmux, server: Server, watcher: StartWatcher, tmp_path: Path
) -> None:
    start_demo("w1", folder=tmp_path, idle=False)
    watching = watcher()
    wait_for(lambda: watching.state("w1") == "idle", what="w1 followed")

    server.kill()
    wait_for(lambda: watching.state("w1") is None, what="nothing followed without a server")
    wait_for(
        lambda: watching.said("WARNING", "cannot reach the tmux server") == 1,
        what="the server's loss logged",
    )
    wait_for(
        lambda: watching.said("DEBUG", "still cannot reach the tmux server") >= 3,
        what="the watcher looking for a server again",
    )
    assert watching.proc.poll() is None

    # The session comes back on a new server, started by hand (as a person, or a plugin
    # that restores sessions, would): the store does not change.
    demo = [*python_cli("imessenger.demo.agent"), "--startup-ms", "0"]
    tmux.new_session("w1", tmp_path, demo, environment={}, width=120, height=30)
    wait_for(lambda: watching.state("w1") == "idle", what="w1 followed on the new server")
    assert watching.said("WARNING", "cannot reach the tmux server") == 1
    assert watching.said("INFO", "could reach the tmux server again") == 1
    assert "Traceback" not in watching.text()
    assert watching.proc.poll() is None
