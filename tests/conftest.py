"""Fixtures shared by the tests: an isolated home for every test, and helpers on real tmux.

Every test runs with HOME, the XDG folders and IMESSENGER_HOME in its own
temporary folder, and without the caller's tmux variables, so no test reads
or writes the developer's data or talks to their tmux server. Its user config file
turns ``[watch] autostart`` off (``tests_configuration``; not for a test marked
``default_config``), so that no command starts a watcher the test did not. Tests that
need tmux take libtmux's ``server`` fixture (a private socket per test,
killed afterwards) through the ``tmux`` fixture here; ``store`` is the store of the
test's data folder, opened for that server, ``sessions`` the sessions of the server;
``watcher`` starts ``imessenger watch`` processes (``watching``: one, for the whole
test). Tests that need a remote host take ``remote_host``: a second local user behind a
real sshd on 127.0.0.1, made once per session (remote_host.py), as new for each test.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from libtmux.server import Server
from remote_host import RemoteHost, remote_host_running

from imessenger.actions.sessions import Sessions
from imessenger.adapters.config_files import load_config
from imessenger.adapters.status_cache import running_pid
from imessenger.adapters.store import Store
from imessenger.adapters.tmux import Tmux

if TYPE_CHECKING:
    from support import Watching

# The shared helpers assert too: show what their assertions compared, as in test files.
pytest.register_assert_rewrite("support", "scenarios", "real_agents")

_SCRUBBED = (
    "IMESSENGER_CONFIG",
    "IMESSENGER_SESSION",
    "IMESSENGER_TMUX_SOCKET",
    "TMUX",
    "TMUX_PANE",
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME, XDG and IMESSENGER_HOME at a temporary folder for each test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("IMESSENGER_HOME", str(tmp_path / "data"))
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(autouse=True)
def tests_configuration(isolated_home: Path, request: pytest.FixtureRequest) -> None:
    """The user's config file of every test says ``[watch] autostart = false`` (and
    ``support.write_config`` keeps it so): no command starts a watcher by itself, so that a
    test runs only the watchers it starts and stops. A test marked ``default_config``
    starts with no user file instead: the shipped defaults, autostart on."""
    import support  # once its asserts are rewritten

    support.SUITE.autostart_off = request.node.get_closest_marker("default_config") is None
    if support.SUITE.autostart_off:
        support.write_config("")


@pytest.fixture
def tmux(server: Server, monkeypatch: pytest.MonkeyPatch) -> Tmux:
    """A Tmux adapter on this test's private server; the CLIs find it through the environment."""
    assert server.socket_name
    monkeypatch.setenv("IMESSENGER_TMUX_SOCKET", server.socket_name)
    return Tmux(server.socket_name)


@pytest.fixture
def store(tmux: Tmux) -> Iterator[Store]:
    """The store of the test's data folder (IMESSENGER_HOME), opened for the test's tmux
    server, closed after the test."""
    with Store.open(server=tmux.label) as opened:
        yield opened


@pytest.fixture
def sessions(tmux: Tmux, store: Store) -> Sessions:
    """The sessions of this test's tmux server, on the test's store."""
    return Sessions(tmux, store, load_config())


@pytest.fixture
def watcher(tmux: Tmux, tmp_path: Path) -> Iterator[Callable[[], Watching]]:
    """Start ``imessenger watch -v`` (as many times as asked), each with its log in the
    test's folder (outside any disk a test fills); at the end, terminate each one (by its
    pid) and print its log."""
    from support import Watching, python_cli, wait_for  # once its asserts are rewritten

    started: list[Watching] = []

    def start() -> Watching:
        log = tmp_path / f"watch-{len(started)}.log"
        with open(log, "wb") as output:
            proc = subprocess.Popen(
                [*python_cli(), "watch", "-v"], stdout=output, stderr=subprocess.STDOUT
            )
        started.append(Watching(proc, log, tmux.label))
        wait_for(lambda: running_pid(tmux.label) == proc.pid, what="the watcher to start")
        return started[-1]

    yield start
    for watching in started:
        proc = watching.proc
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        print(f"--- {watching.log.name} (exit {proc.returncode})\n{watching.text()}")


@pytest.fixture
def watching(watcher: Callable[[], Watching]) -> Watching:
    """A watcher started for the test (see ``watcher``)."""
    return watcher()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Refuse to run a grouped test when xdist's groups are not in effect (``--dist
    loadgroup`` ends a grouped test's id with ``@GROUP``): two real agents, or two tests of
    the one remote host, would run at once and fail as if the product did."""
    grouped = item.get_closest_marker("xdist_group") is not None
    if grouped and getattr(item.config.option, "loadgroup", False) and "@" not in item.nodeid:
        pytest.fail(
            "pytest-xdist did not keep this test in its group: this pytest and pytest-xdist "
            "do not work together (pytest-xdist issue 1386); install the versions "
            "pyproject.toml asks for: pip install -e '.[test]'",
            pytrace=False,
        )


@pytest.fixture
def anyio_backend() -> str:
    """The event loop of the tests marked ``pytest.mark.anyio``."""
    return "asyncio"


@pytest.fixture(scope="session")
def remote_host_session() -> Iterator[RemoteHost]:
    """The remote host of the whole session: made at first use, removed at the end."""
    with remote_host_running() as host:
        yield host


@pytest.fixture
def remote_host(remote_host_session: RemoteHost) -> Iterator[RemoteHost]:
    """The remote host, as new for each test: afterwards its sshd runs again (if the test
    stopped it) and ``reset()`` ends its processes and empties its home."""
    yield remote_host_session
    remote_host_session.start_sshd()
    remote_host_session.reset()
