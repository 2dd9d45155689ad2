"""What isesh adds to an agent's command line so that it works with imessenger by itself.

Three things, each per profile and optional (a profile key names the agent's way of
doing it; ``""`` adds nothing):

* ``allow_reply``: the agent runs ``imessenger reply`` (the exact command the envelope
  names, :func:`reply_command`) without asking for permission, and nothing else:

  - ``claude``: a ``permissions.allow`` rule ``Bash(<reply command>:*)`` in the
    ``--settings`` JSON of the session. Claude Code matches the command as typed, so
    ``... && other`` or a ``$(...)`` in the answer still asks.
  - ``gemini``: a policy file (``--policy``) with a ``run_shell_command`` rule for the
    command prefix. Gemini CLI checks each part of a compound command on its own, and
    a redirection still asks.
  - ``demo``: ``--allow <reply command>``.
  - ``opencode``: a ``bash`` rule for the command's prefix in the permission rules of
    OpenCode's main agents (:mod:`imessenger.core.opencode_setup`).

* ``hooks``: the agent reports its own events to ``imessenger hook event KIND``
  (see :mod:`imessenger.core.hook_events`):

  - ``claude``: ``SessionStart``, ``UserPromptSubmit``, ``PermissionRequest`` and
    ``Stop`` hooks in the same ``--settings`` JSON, run in the background (``async``:
    Claude Code does not wait for them); the payload is JSON on stdin.
  - ``aider``: ``--notifications --notifications-command``: run, with no payload and
    the pane's terminal as stdin, when Aider waits for the user again.
  - ``demo``: ``--hook-command``, which acts like Claude Code's hooks.
  - ``codex``: nothing to add: the notify program that pins Codex's record
    (:mod:`imessenger.adapters.records.pinning`) reports each turn's end as well.
  - ``opencode``: a plugin file in the session's own folder, which OpenCode loads from
    the configuration isesh adds (:mod:`imessenger.core.opencode_setup`).

* ``mcp``: the agent starts ``imessenger mcp`` (the tools ``sessions``, ``send``,
  ``reply``, ``inbox``, pre-allowed; ``approve`` and ``deny`` too only for a session
  the policy lets answer prompts):

  - ``claude``: ``--mcp-config`` and ``mcp__imessenger__<tool>`` rules in ``--settings``;
  - ``codex``: ``-c mcp_servers.imessenger.*``, each tool ``approval_mode = "approve"``;
  - ``gemini``: ``mcpServers.imessenger`` in the settings of a Gemini CLI home of the
    session's own (:mod:`imessenger.adapters.gemini_home`: Gemini CLI takes MCP servers from no
    flag), and ``mcpName = "imessenger"`` rules in the session's ``--policy`` file;
  - ``opencode``: ``mcp.imessenger`` and ``imessenger_<tool>`` permission rules in the
    configuration isesh adds.

OpenCode takes all three from no flag: they go in ``Setup.opencode_config``, which the
caller merges into ``OPENCODE_CONFIG_CONTENT`` (imessenger.adapters.opencode_config).

Nothing here touches the user's own settings files: everything goes on the command
line, or in files of the session's own folder in imessenger's data folder. A command
line that already gives ``--settings`` (Claude Code takes one) keeps it, without ours.
Pure functions: the caller writes the files and runs the agent.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imessenger.core import opencode_setup

#: The ways of pre-allowing the reply command, of installing hooks, of registering the
#: imessenger MCP server.
ALLOW_KINDS = ("claude", "gemini", "demo", "opencode")
HOOK_KINDS = ("claude", "codex", "aider", "demo", "opencode")
MCP_KINDS = ("claude", "codex", "gemini", "opencode")

#: The MCP tools every session may use (pre-allowed), and those only approvers may.
MCP_TOOLS = ("sessions", "send", "reply", "inbox")
MCP_APPROVER_TOOLS = ("approve", "deny")

#: The Claude Code hook events isesh installs: start, a message taken, asking, a turn done.
CLAUDE_HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "PermissionRequest", "Stop")
#: How long Claude Code lets a hook run, in seconds (ours takes a fraction of one).
_HOOK_TIMEOUT_S = 10


def own_command() -> list[str]:
    """This installation's ``imessenger``, as an absolute command.

    The script beside the running Python (a virtual environment's or pipx's ``bin``)
    when there is one, else ``python -m imessenger``: an agent whose shell resets
    ``PATH`` still finds it, and a pre-allowed command names exactly one program.
    """
    script = Path(sys.executable).with_name("imessenger")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "imessenger"]


def reply_command() -> str:
    """The reply command as an agent types it: ``<own command> reply``, shell-quoted."""
    return shlex.join([*own_command(), "reply"])


def hook_command(kind: str) -> str:
    """The command an agent's hook runs to report an event, shell-quoted.

    The thin client run as a file by this Python, isolated and without its site
    packages (``-I -S``): it starts in a third of the time, and an agent runs it at
    every event. It runs ``imessenger hook event KIND`` itself when no watcher's
    command server takes it (imessenger.interfaces.cli.thin).
    """
    return shlex.join(hook_argv(kind))


def hook_argv(kind: str) -> list[str]:
    """The command of :func:`hook_command`, as an argv (for an agent that runs it without
    a shell)."""
    import imessenger

    thin = Path(imessenger.__file__).resolve().parent / "interfaces" / "cli" / "thin.py"
    return [sys.executable, "-I", "-S", str(thin), "hook", "event", kind]


@dataclass(frozen=True)
class Setup:
    """What to add to the agent's command line, and the files it names."""

    args: tuple[str, ...] = ()
    #: file name (in the session's own folder) -> its text
    files: dict[str, str] = field(default_factory=dict)
    #: why part of the profile's setup was left out (for the log), or ""
    skipped: str = ""
    #: settings to merge into a Gemini CLI home of the session's own (see
    #: imessenger.adapters.gemini_home); empty: none is needed
    gemini_settings: dict[str, object] = field(default_factory=dict)
    #: OpenCode configuration to merge into OPENCODE_CONFIG_CONTENT (see
    #: imessenger.adapters.opencode_config); empty: none is needed
    opencode_config: dict[str, object] = field(default_factory=dict)


def setup(
    allow_reply: str,
    hooks: str,
    argv: Sequence[str],
    folder: Path,
    *,
    mcp: str = "",
    approver: bool = False,
    socket: str | None = None,
) -> Setup:
    """What isesh adds for a profile's ``allow_reply``, ``hooks`` and ``mcp`` to ``argv``.

    ``folder`` is where the session's own files go (named in the arguments);
    ``approver``: the policy lets this session answer prompts, so the MCP tools
    ``approve`` and ``deny`` are pre-allowed too. ``socket``: the tmux server's socket
    name, given to the MCP server (an agent may start it with an environment of its own).
    """
    args: list[str] = []
    files: dict[str, str] = {}
    skipped = ""
    settings: dict[str, object] = {}
    allowed: list[str] = []
    tools = [*MCP_TOOLS, *(MCP_APPROVER_TOOLS if approver else ())]
    gemini_settings: dict[str, object] = {}
    gemini_rules: list[dict[str, object]] = []
    opencode: dict[str, object] = {}
    if allow_reply == "claude":
        allowed.append(f"Bash({reply_command()}:*)")
    elif allow_reply == "gemini":
        gemini_rules.append(gemini_shell_rule(reply_command()))
    elif allow_reply == "demo":
        args += ["--allow", reply_command()]
    elif allow_reply == "opencode":
        opencode.update(opencode_setup.config(reply_command=reply_command()))
    if hooks == "claude":
        settings["hooks"] = claude_hooks(hook_command("claude"))
    elif hooks == "aider":
        args += ["--notifications", "--notifications-command", hook_command("aider")]
    elif hooks == "demo":
        args += ["--hook-command", hook_command("demo")]
    elif hooks == "opencode":
        files[opencode_setup.PLUGIN_FILE] = opencode_setup.plugin_source(hook_argv("opencode"))
        opencode.update(opencode_setup.config(plugin=opencode_setup.plugin_entry(folder)))
    if mcp == "claude":
        args += ["--mcp-config", json.dumps(mcp_servers(socket), separators=(",", ":"))]
        allowed += [f"mcp__imessenger__{tool}" for tool in tools]
    elif mcp == "codex":
        args += codex_mcp(tools, socket)
    elif mcp == "gemini":
        command = mcp_command(socket)
        server = {"command": command[0], "args": command[1:]}
        gemini_settings["mcpServers"] = {"imessenger": server}
        gemini_rules += [gemini_tool_rule(tool) for tool in tools]
    elif mcp == "opencode":
        asked = [tool for tool in MCP_APPROVER_TOOLS if tool not in tools]
        opencode.update(
            opencode_setup.config(mcp_command=mcp_command(socket), tools=tools, asked=asked)
        )
    if gemini_rules:
        files["policy.toml"] = gemini_policy(gemini_rules)
        args += ["--policy", str(folder / "policy.toml")]
    if allowed:
        settings["permissions"] = {"allow": allowed}
    if settings:
        if any(arg == "--settings" or arg.startswith("--settings=") for arg in argv):
            skipped = "the command line gives its own --settings: no reply rule nor hooks added"
        else:
            args += ["--settings", json.dumps(settings, separators=(",", ":"))]
    return Setup(tuple(args), files, skipped, gemini_settings, opencode)


def mcp_command(socket: str | None = None) -> list[str]:
    """The command that starts this installation's ``imessenger mcp`` on tmux server
    ``socket`` (None: the default one)."""
    return [*own_command(), *(["-L", socket] if socket else []), "mcp"]


def mcp_servers(socket: str | None = None) -> dict[str, dict[str, object]]:
    """The ``mcpServers`` table that starts ``imessenger mcp``."""
    command = mcp_command(socket)
    server = {"type": "stdio", "command": command[0], "args": command[1:]}
    return {"mcpServers": {"imessenger": server}}


def codex_mcp(tools: Sequence[str], socket: str | None = None) -> list[str]:
    """Codex CLI's ``-c`` options for the imessenger MCP server, ``tools`` pre-approved.

    Each value is TOML; a JSON string or array of strings is one too.
    """
    command = mcp_command(socket)
    args = [
        "-c",
        f"mcp_servers.imessenger.command={json.dumps(command[0])}",
        "-c",
        f"mcp_servers.imessenger.args={json.dumps(command[1:])}",
    ]
    for tool in tools:
        args += ["-c", f'mcp_servers.imessenger.tools.{tool}.approval_mode="approve"']
    return args


def claude_hooks(command: str) -> dict[str, list[dict[str, object]]]:
    """Claude Code's ``hooks`` setting: ``command`` for each event isesh follows."""
    # async: Claude Code goes on at once (a hook of ours never decides anything)
    entry = {"type": "command", "command": command, "timeout": _HOOK_TIMEOUT_S, "async": True}
    return {event: [{"matcher": "", "hooks": [entry]}] for event in CLAUDE_HOOK_EVENTS}


def gemini_shell_rule(prefix: str) -> dict[str, object]:
    """A Gemini CLI policy rule that lets shell commands starting with ``prefix`` run."""
    return {
        "toolName": "run_shell_command",
        "commandPrefix": prefix,
        "decision": "allow",
        "priority": 500,
    }


def gemini_tool_rule(tool: str) -> dict[str, object]:
    """A Gemini CLI policy rule that lets the imessenger MCP server's ``tool`` run."""
    return {"mcpName": "imessenger", "toolName": tool, "decision": "allow", "priority": 500}


def gemini_policy(rules: Sequence[dict[str, object]]) -> str:
    """A Gemini CLI policy file of ``rules``."""
    import tomli_w

    return "# written by isesh for one session: what it lets the agent run without asking\n" + (
        tomli_w.dumps({"rule": list(rules)})
    )
