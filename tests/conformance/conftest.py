"""Fixtures of the conformance suite: the real agents, installed once, against fake models.

Each test gets a fake model server on 127.0.0.1 (see fake_model.py), a working folder,
the agent's configuration in the test's own $HOME, and a private tmux server; at the end
the tmux server is killed and every process the agent started is gone. real_agents.py
installs the agents (once per checkout) and says what happens where they cannot run.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import fake_anthropic
import fake_chat
import fake_copilot
import fake_gemini
import fake_openai
import fake_opencode
import fake_qwen
import pytest
from fake_model import FakeModelServer, Script
from real_agents import (
    AIDER_PACKAGE,
    AIDER_VERSION,
    CACHE,
    CLAUDE_PACKAGE,
    CLAUDE_VERSION,
    CODEX_PACKAGE,
    CODEX_VERSION,
    COPILOT_PACKAGE,
    COPILOT_VERSION,
    FAKE_KEY,
    GEMINI_NODE,
    GEMINI_PACKAGE,
    GEMINI_VERSION,
    OPENCODE_PACKAGE,
    OPENCODE_VERSION,
    QWEN_PACKAGE,
    QWEN_VERSION,
    Agent,
    npm_install,
    pip_install,
    profile_command,
    stop_everything,
)
from support import write_config

from imessenger.adapters.tmux import Tmux

#: Variables of the caller's environment that would steer the agents elsewhere.
_FOREIGN_PREFIXES = (
    "AIDER_",
    "ANTHROPIC_",
    "CLAUDE",
    "CODEX_",
    "GEMINI_",
    "GOOGLE_",
    "LITELLM_",
    "OPENAI_",
    "OPENCODE_",
)

#: Variables that tell a program it runs under CI: Gemini CLI then starts without its
#: interactive UI and exits at once (CI runs these tests with CI=true).
_CI_MARKERS = ("CI", "CONTINUOUS_INTEGRATION")

#: Aider's offline flags: the fake model through LiteLLM's "openai/" provider, the "diff"
#: edit format (under "whole", the default for an unknown model, a ```bash block is taken
#: for a malformed file listing and never offered to run), no git, no update check, no
#: release notes, no analytics, no warning about the unknown model.
AIDER_FLAGS = (
    "--model",
    "openai/fake-model",
    "--edit-format",
    "diff",
    "--no-check-update",
    "--no-show-release-notes",
    "--analytics-disable",
    "--no-git",
    "--no-show-model-warnings",
)


def _unsetenv(
    monkeypatch: pytest.MonkeyPatch, prefixes: tuple[str, ...], names: tuple[str, ...] = ()
) -> None:
    """Take the variables that start with one of ``prefixes``, or are ``names``, out of
    the test's environment."""
    for name in list(os.environ):
        if name.startswith(prefixes) or name in names:
            monkeypatch.delenv(name)


@dataclass
class AgentSetup:
    """What every agent fixture sets up alike: the test's home, working folder and tmux
    server, the environment (the caller's agent settings already out), a fake model
    server that follows ``script``, and last the agent, whose :meth:`run` stops all it
    started afterwards."""

    home: Path
    workdir: Path
    tmux: Tmux
    monkeypatch: pytest.MonkeyPatch
    script: Script = field(default_factory=Script)
    server: FakeModelServer | None = None

    def serve(self, fake: Callable[[Script], FakeModelServer]) -> FakeModelServer:
        """Start the fake model server (a fake module's ``serve``) that follows the script."""
        self.server = fake(self.script)
        return self.server

    def setenv(self, **values: str) -> None:
        """Set these variables for the test (and the tmux server it starts)."""
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)

    def unsetenv(self, prefixes: tuple[str, ...], names: tuple[str, ...] = ()) -> None:
        """Take more of the caller's variables out (see :func:`_unsetenv`)."""
        _unsetenv(self.monkeypatch, prefixes, names)

    def run(self, profile: str, argv: list[str], *, isesh_stop: bool = False) -> Iterator[Agent]:
        """Yield the agent; afterwards stop everything it started, its model server last
        (``isesh_stop``: with ``isesh stop --force`` first)."""
        assert self.server is not None, "the fake model server is started first (serve)"
        agent = Agent(profile, argv, self.workdir, self.script, self.server, self.tmux)
        try:
            yield agent
        finally:
            try:
                stop_everything(self.tmux, isesh_stop=isesh_stop)
            finally:
                self.script.release_all()
                self.server.stop()


@pytest.fixture(scope="session")
def claude_program() -> Path:
    """The Claude Code program, installed once per checkout."""
    return npm_install(CLAUDE_PACKAGE, CLAUDE_VERSION, "claude")


@pytest.fixture(scope="session")
def codex_program() -> Path:
    """The Codex CLI program, installed once per checkout."""
    return npm_install(CODEX_PACKAGE, CODEX_VERSION, "codex")


@pytest.fixture(scope="session")
def gemini_program() -> Path:
    """The Gemini CLI program, installed once per checkout."""
    return npm_install(GEMINI_PACKAGE, GEMINI_VERSION, "gemini", node=GEMINI_NODE)


@pytest.fixture(scope="session")
def aider_program() -> Path:
    """The Aider program, installed once per checkout into a virtual environment."""
    return pip_install(AIDER_PACKAGE, AIDER_VERSION, "aider")


@pytest.fixture
def agent_environment(monkeypatch: pytest.MonkeyPatch, tmux: Tmux) -> None:
    """Keep the caller's agent settings away from the agents the tests start."""
    _unsetenv(monkeypatch, (*_FOREIGN_PREFIXES, "CI_"), _CI_MARKERS)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("TERM", "xterm-256color")
    assert not tmux.is_running(), "the agent's settings must be set before tmux starts"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def agent_setup(
    agent_environment: None,
    isolated_home: Path,
    workdir: Path,
    tmux: Tmux,
    monkeypatch: pytest.MonkeyPatch,
) -> AgentSetup:
    """The setup each agent fixture starts from (see :class:`AgentSetup`)."""
    return AgentSetup(isolated_home, workdir, tmux, monkeypatch)


@pytest.fixture
def claude(claude_program: Path, agent_setup: AgentSetup) -> Iterator[Agent]:
    """Claude Code against a fake Messages API, configured as docs/agents.md says."""
    setup = agent_setup
    server = setup.serve(fake_anthropic.serve)
    settings = {
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": CLAUDE_VERSION,
        "theme": "dark",
        "hasSeenAutoDefaultNudge": True,
        # started before, as on a user's machine: Claude Code 2.1.332 then draws its
        # "fullscreen" UI on the alternate screen (the very first start does not)
        "firstStartVersion": CLAUDE_VERSION,
        "customApiKeyResponses": {"approved": [FAKE_KEY[-20:]], "rejected": []},
        "projects": {str(setup.workdir): {"hasTrustDialogAccepted": True}},
    }
    (setup.home / ".claude.json").write_text(json.dumps(settings))
    (setup.home / ".claude").mkdir()
    permissions = {"permissions": {"defaultMode": "default", "disableAutoMode": "disable"}}
    (setup.home / ".claude" / "settings.json").write_text(json.dumps(permissions))
    setup.setenv(
        ANTHROPIC_BASE_URL=server.url,
        ANTHROPIC_API_KEY=FAKE_KEY,
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        DISABLE_AUTOUPDATER="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )
    yield from setup.run("claude", profile_command("claude", claude_program))


@pytest.fixture
def codex(codex_program: Path, agent_setup: AgentSetup, tmp_path: Path) -> Iterator[Agent]:
    """Codex CLI against a fake Responses API, configured as docs/agents.md says."""
    setup = agent_setup
    server = setup.serve(fake_openai.serve)
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(
        f"""\
model = "fake-model"
model_provider = "fake"
approval_policy = "on-request"
sandbox_mode = "workspace-write"

[model_providers.fake]
name = "fake"
base_url = "{server.url}/v1"
env_key = "IMESSENGER_FAKE_KEY"
wire_api = "responses"

[projects."{setup.workdir}"]
trust_level = "trusted"
"""
    )
    setup.setenv(CODEX_HOME=str(home), IMESSENGER_FAKE_KEY=FAKE_KEY)
    yield from setup.run("codex", profile_command("codex", codex_program))


@pytest.fixture
def gemini(gemini_program: Path, agent_setup: AgentSetup) -> Iterator[Agent]:
    """Gemini CLI against a fake Gemini API, with an API key and no folder trust."""
    setup = agent_setup
    server = setup.serve(fake_gemini.serve)
    settings = {
        "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
    }
    (setup.home / ".gemini").mkdir()
    (setup.home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    # http is allowed for 127.0.0.1 only
    setup.setenv(GOOGLE_GEMINI_BASE_URL=server.url, GEMINI_API_KEY=FAKE_KEY)
    # once it has answered, Gemini CLI 0.61.0 outlives a killed tmux server;
    # `isesh stop --force` ends its process group
    yield from setup.run("gemini", profile_command("gemini", gemini_program), isesh_stop=True)


@pytest.fixture
def aider(aider_program: Path, agent_setup: AgentSetup) -> Iterator[Agent]:
    """Aider against a fake OpenAI Chat Completions API (through LiteLLM), offline."""
    setup = agent_setup
    server = setup.serve(fake_chat.serve)
    setup.setenv(
        OPENAI_API_BASE=f"{server.url}/v1",
        OPENAI_API_KEY=FAKE_KEY,
        # LiteLLM's model prices from the package, not from the network
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    # and Aider's own copy of them, fresh (a day), so that it fetches nothing at start
    caches = setup.home / ".aider" / "caches"
    caches.mkdir(parents=True)
    info = {
        "max_tokens": 8192,
        "max_input_tokens": 128000,
        "max_output_tokens": 8192,
        "input_cost_per_token": 0,
        "output_cost_per_token": 0,
        "litellm_provider": "openai",
        "mode": "chat",
    }
    prices = {"openai/fake-model": info, "fake-model": info}
    (caches / "model_prices_and_context_window.json").write_text(json.dumps(prices))
    yield from setup.run("aider", [*profile_command("aider", aider_program), *AIDER_FLAGS])


@pytest.fixture(scope="session")
def qwen_program() -> Path:
    """The Qwen Code program, installed once per checkout."""
    return npm_install(QWEN_PACKAGE, QWEN_VERSION, "qwen")


#: The user's own Qwen Code settings of the tests (docs/agents.md says why each): an
#: OpenAI-compatible API key, no update check, no usage statistics nor telemetry,
#: permission prompts ("default"; Qwen Code's own default lets a classifier model
#: approve), grep without the bundled ripgrep (installed without its x bit), and no
#: memory extraction after each turn (more model requests).
QWEN_SETTINGS = {
    "security": {"auth": {"selectedType": "openai"}},
    "general": {"enableAutoUpdate": False},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "tools": {"approvalMode": "default", "useRipgrep": False},
    "memory": {"enableManagedAutoMemory": False},
}


@pytest.fixture
def qwen(qwen_program: Path, agent_setup: AgentSetup) -> Iterator[Agent]:
    """Qwen Code against a fake OpenAI Chat Completions API with tool calls, offline."""
    setup = agent_setup
    setup.unsetenv(("QWEN_",))
    server = setup.serve(fake_qwen.serve)
    (setup.home / ".qwen").mkdir()
    (setup.home / ".qwen" / "settings.json").write_text(json.dumps(QWEN_SETTINGS))
    setup.setenv(
        OPENAI_BASE_URL=f"{server.url}/v1",
        OPENAI_API_KEY=FAKE_KEY,
        OPENAI_MODEL="fake-model",
        # no system settings of the machine's: the session's own file starts empty
        QWEN_CODE_SYSTEM_SETTINGS_PATH=str(setup.home / "qwen-system.json"),
    )
    yield from setup.run("qwen", profile_command("qwen", qwen_program))


#: Where Copilot CLI unpacks its package at its first start (``$XDG_CACHE_HOME/copilot``,
#: about 240 MB and 7 s): once for every test, not in each test's own home.
COPILOT_CACHE = CACHE / f"github-copilot-{COPILOT_VERSION}-xdg-cache"

#: The caller's variables that would log Copilot CLI in, or steer it elsewhere.
_COPILOT_FOREIGN = ("GH_TOKEN", "GITHUB_TOKEN", "GH_HOST")


@pytest.fixture(scope="session")
def copilot_program() -> Path:
    """GitHub Copilot CLI, installed once per checkout, its package unpacked once.

    The program npm installs is a node script that runs the native program of the
    platform's package; the tests run that one directly, which starts a second sooner.
    """
    loader = npm_install(COPILOT_PACKAGE, COPILOT_VERSION, "copilot")
    # npm installs the one platform package that fits (@github/copilot-linux-x64...)
    natives = sorted((loader.parent.parent / "@github").glob("copilot-*/copilot"))
    program = natives[0] if len(natives) == 1 else loader
    with open(f"{COPILOT_CACHE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (COPILOT_CACHE / "copilot" / "pkg").is_dir():
            environment = {**os.environ, "XDG_CACHE_HOME": str(COPILOT_CACHE)}
            environment["COPILOT_OFFLINE"] = "true"
            subprocess.run(
                [str(program), "help", "providers"],
                env=environment,
                capture_output=True,
                timeout=300,
                check=False,
            )
    return program


@pytest.fixture
def copilot(copilot_program: Path, agent_setup: AgentSetup) -> Iterator[Agent]:
    """GitHub Copilot CLI against a fake Chat Completions API (bring your own key), offline,
    configured as docs/agents.md says."""
    setup = agent_setup
    setup.unsetenv(("COPILOT_",), _COPILOT_FOREIGN)
    server = setup.serve(fake_copilot.serve)
    home = setup.home / ".copilot"
    home.mkdir()
    # the folder trusted (else a dialog asks first); the reply delimiters shown as written
    (home / "config.json").write_text(json.dumps({"trustedFolders": [str(setup.workdir)]}))
    (home / "settings.json").write_text(json.dumps({"renderMarkdown": False}))
    setup.setenv(
        COPILOT_PROVIDER_BASE_URL=f"{server.url}/v1",
        COPILOT_PROVIDER_API_KEY=FAKE_KEY,
        COPILOT_MODEL="fake-model",
        COPILOT_PROVIDER_MAX_PROMPT_TOKENS="100000",
        COPILOT_PROVIDER_MAX_OUTPUT_TOKENS="8000",
        COPILOT_OFFLINE="true",
        COPILOT_AUTO_UPDATE="false",
        XDG_CACHE_HOME=str(COPILOT_CACHE),
    )
    yield from setup.run("copilot", profile_command("copilot", copilot_program))


@pytest.fixture(scope="session")
def opencode_program() -> Path:
    """The OpenCode program, installed once per checkout."""
    return npm_install(OPENCODE_PACKAGE, OPENCODE_VERSION, "opencode")


def opencode_offline(home: Path, server_url: str) -> None:
    """Configure OpenCode in ``home`` as a user would to run it offline against the fake
    model (see docs/agents.md): a provider for the fake Chat Completions API, shell
    commands asked about, no update, no sharing; and a config folder that OpenCode does
    not install its plugin package into (it holds node_modules and a lock that lists it)."""
    config = home / ".config" / "opencode"
    (config / "node_modules").mkdir(parents=True)
    lock = {"lockfileVersion": 3, "packages": {"": {"dependencies": {"@opencode-ai/plugin": "*"}}}}
    (config / "package-lock.json").write_text(json.dumps(lock))
    settings = {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "model": "fake/fake-model",
        "small_model": "fake/fake-model",
        "enabled_providers": ["fake"],
        "permission": {"bash": "ask"},
        "provider": {
            "fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake",
                "options": {"baseURL": f"{server_url}/v1", "apiKey": FAKE_KEY},
                "models": {"fake-model": {"name": "Fake model", "tool_call": True}},
            }
        },
    }
    (config / "opencode.json").write_text(json.dumps(settings, indent=2))


@pytest.fixture
def opencode(opencode_program: Path, agent_setup: AgentSetup) -> Iterator[Agent]:
    """OpenCode against a fake OpenAI Chat Completions API (with tool calls), offline."""
    setup = agent_setup
    server = setup.serve(fake_opencode.serve)
    opencode_offline(setup.home, server.url)
    # on a busy machine it draws its first screen late, and opens its session at the
    # first message seconds after the Enter (the text stays in its box meanwhile): wait
    # for both as a user on such a machine would (docs/agents.md, OpenCode)
    write_config("[send]\nready_timeout_ms = 60000\nsubmit_confirm_ms = 15000\n")
    setup.setenv(
        XDG_STATE_HOME=str(setup.home / ".local" / "state"),
        XDG_CACHE_HOME=str(setup.home / ".cache"),
        OPENCODE_DISABLE_MODELS_FETCH="1",
        OPENCODE_DISABLE_AUTOUPDATE="1",
        OPENCODE_DISABLE_LSP_DOWNLOAD="1",
    )
    yield from setup.run("opencode", profile_command("opencode", opencode_program))
