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
  - ``qwen``: a ``permissions.allow`` rule ``Bash(<reply command> *)`` in the settings
    of the session's own (below). Qwen Code checks each part of a compound command.
  - ``copilot``: ``--allow-tool=shell(<program>:*)`` and ``--add-dir`` of the program's
    folder. Copilot CLI 1.0.102 matches a command by its program alone (subcommands only
    for git and gh), so the rule lets every ``imessenger`` command run (each one still
    checked by imessenger's policy), and asks for a path outside the session's folder
    before it looks at rules. A chained command still asks. Nothing is added when
    imessenger runs as ``python -m imessenger`` (the rule would let any Python run).
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
  - ``qwen``: the same four events as Claude Code's, in Claude Code's shape, in the
    settings of the session's own.
  - ``codex``: nothing to add: the notify program that pins Codex's record
    (:mod:`imessenger.adapters.records.pinning`) reports each turn's end as well.
  - ``copilot``: a plugin of the session's own (``--plugin-dir``) whose
    ``hooks/hooks.json`` names ``UserPromptSubmit``, ``PermissionRequest`` and ``Stop``
    (Copilot CLI gives hooks named the Claude Code way a payload of that shape). Copilot
    waits for each hook, and takes a ``PermissionRequest`` hook that fails for "deny":
    the command ends with ``|| true``. They run in the foreground all the same (a hook
    in the background would return at once, but its event could reach the store after
    the next one: a late "busy" would close the "asking" after it).
  - ``opencode``: a plugin file in the session's own folder, which OpenCode loads from
    the configuration isesh adds (:mod:`imessenger.core.opencode_setup`).

* ``mcp``: the agent starts ``imessenger mcp`` (the tools ``sessions``, ``send``,
  ``reply``, ``inbox``, pre-allowed; ``approve`` and ``deny`` too only for a session
  the policy lets answer prompts):

  - ``claude``: ``--mcp-config`` and ``mcp__imessenger__<tool>`` rules in ``--settings``;
  - ``codex``: ``-c mcp_servers.imessenger.*``, each tool ``approval_mode = "approve"``;
  - ``gemini``: ``mcpServers.imessenger`` in the settings of a Gemini CLI home of the
    session's own (:mod:`imessenger.adapters.gemini_home`: Gemini CLI takes MCP servers from no
    flag), and ``mcpName = "imessenger"`` rules in the session's ``--policy`` file.
  - ``qwen``: ``mcpServers.imessenger`` in the settings of the session's own, with
    ``alwaysLoadTools`` (Qwen Code otherwise hides an MCP server's tools behind its
    ``tool_search``: the model would see ``send`` only after a search), and
    ``mcp__imessenger__<tool>`` rules in ``permissions.allow``.
  - ``copilot``: ``--additional-mcp-config`` (added to the user's servers) and an
    ``--allow-tool=imessenger(<tool>)`` for each tool.
  - ``opencode``: ``mcp.imessenger`` and ``imessenger_<tool>`` permission rules in the
    configuration isesh adds.

Qwen Code takes hooks, allow rules and MCP servers from no flag but ``--mcp-config``:
they go in a settings file of the session's own (``qwen_settings``, written by
:mod:`imessenger.adapters.qwen_settings` as the system settings of that one run,
beside the user's own, which Qwen Code still reads). It always turns Qwen Code's
follow-up suggestions off there: a suggestion is drawn in the input box as text
typed, and Enter takes it.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imessenger.core import opencode_setup

#: The ways of pre-allowing the reply command, of installing hooks, of registering the
#: imessenger MCP server.
ALLOW_KINDS = ("claude", "gemini", "demo", "qwen", "copilot", "opencode")
HOOK_KINDS = ("claude", "codex", "aider", "demo", "qwen", "copilot", "opencode")
MCP_KINDS = ("claude", "codex", "gemini", "qwen", "copilot", "opencode")

#: The MCP tools every session may use (pre-allowed), and those only approvers may.
MCP_TOOLS = ("sessions", "send", "reply", "inbox")
MCP_APPROVER_TOOLS = ("approve", "deny")

#: The Claude Code hook events isesh installs: start, a message taken, asking, a turn done.
CLAUDE_HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "PermissionRequest", "Stop")
#: The Copilot CLI hook events isesh installs (its SessionStart comes only with the first
#: message, so it says nothing of the start).
COPILOT_HOOK_EVENTS = ("UserPromptSubmit", "PermissionRequest", "Stop")
#: The folder, in the session's own folder, of the Copilot CLI plugin that holds its hooks.
COPILOT_PLUGIN = "copilot-plugin"
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
    #: settings for the Qwen Code settings file of the session's own (see
    #: imessenger.adapters.qwen_settings); empty: none is needed
    qwen_settings: dict[str, object] = field(default_factory=dict)
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
    qwen_allowed: list[str] = []
    qwen_settings: dict[str, object] = {}
    opencode: dict[str, object] = {}
    if allow_reply == "claude":
        allowed.append(f"Bash({reply_command()}:*)")
    elif allow_reply == "gemini":
        gemini_rules.append(gemini_shell_rule(reply_command()))
    elif allow_reply == "demo":
        args += ["--allow", reply_command()]
    elif allow_reply == "qwen":
        qwen_allowed.append(f"Bash({reply_command()} *)")
    elif allow_reply == "copilot":
        args += copilot_allow_reply()
    elif allow_reply == "opencode":
        opencode.update(opencode_setup.config(reply_command=reply_command()))
    if hooks == "claude":
        settings["hooks"] = claude_hooks(hook_command("claude"))
    elif hooks == "aider":
        args += ["--notifications", "--notifications-command", hook_command("aider")]
    elif hooks == "demo":
        args += ["--hook-command", hook_command("demo")]
    elif hooks == "qwen":
        qwen_settings["hooks"] = claude_hooks(hook_command("qwen"))
    elif hooks == "copilot":
        files.update(copilot_plugin(hook_command("copilot")))
        args += ["--plugin-dir", str(folder / COPILOT_PLUGIN)]
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
    elif mcp == "qwen":
        command = mcp_command(socket)
        qwen_settings["mcpServers"] = {
            "imessenger": {"command": command[0], "args": command[1:], "alwaysLoadTools": True}
        }
        qwen_allowed += [f"mcp__imessenger__{tool}" for tool in tools]
    elif mcp == "copilot":
        args += ["--additional-mcp-config", json.dumps(mcp_servers(socket), separators=(",", ":"))]
        args += [f"--allow-tool=imessenger({tool})" for tool in tools]
    elif mcp == "opencode":
        asked = [tool for tool in MCP_APPROVER_TOOLS if tool not in tools]
        opencode.update(
            opencode_setup.config(mcp_command=mcp_command(socket), tools=tools, asked=asked)
        )
    if qwen_allowed:
        qwen_settings["permissions"] = {"allow": qwen_allowed}
    if "qwen" in (allow_reply, hooks, mcp):
        qwen_settings["ui"] = {"enableFollowupSuggestions": False}
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
    return Setup(tuple(args), files, skipped, gemini_settings, qwen_settings, opencode)


def tools_missing(
    mcp: str, argv: Sequence[str], environment: Mapping[str, str], files_dir: str
) -> str:
    """Why an agent process run as ``argv`` with ``environment`` cannot start imessenger's
    MCP server that isesh registered the ``mcp`` way (its command line or its environment
    lost what registers it), in words; "" when nothing says it cannot."""
    if mcp == "claude" and "--mcp-config" not in argv:
        return "its command line lost --mcp-config, which registers imessenger's MCP server"
    if mcp == "codex" and not any(a.startswith("mcp_servers.imessenger.command=") for a in argv):
        return "its command line lost the -c mcp_servers.imessenger options"
    if mcp == "gemini":
        home = environment.get("GEMINI_CLI_HOME", "")
        if not files_dir or not home.startswith(files_dir):
            return (
                "its environment lost GEMINI_CLI_HOME, the session's Gemini CLI home that "
                "registers imessenger's MCP server"
            )
    if mcp == "opencode" and '"imessenger"' not in environment.get("OPENCODE_CONFIG_CONTENT", ""):
        return (
            "its environment lost OPENCODE_CONFIG_CONTENT, the configuration that registers "
            "imessenger's MCP server"
        )
    return ""


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


def copilot_allow_reply() -> list[str]:
    """Copilot CLI's options that let the agent run this installation's ``imessenger``
    without asking ([] when it runs as ``python -m imessenger``: see the module docstring)."""
    program = own_command()
    if len(program) != 1:
        return []
    return ["--add-dir", str(Path(program[0]).parent), f"--allow-tool=shell({program[0]}:*)"]


def copilot_plugin(command: str) -> dict[str, str]:
    """The files of the Copilot CLI plugin that runs ``command`` at each event isesh
    follows, by their names in the session's own folder."""
    # a failing PermissionRequest hook denies the request: ours never fails
    entry = {"type": "command", "bash": f"{command} || true", "timeoutSec": _HOOK_TIMEOUT_S}
    hooks = {"version": 1, "hooks": {event: [entry] for event in COPILOT_HOOK_EVENTS}}
    manifest = {
        "name": "imessenger",
        "description": "isesh's hooks for one session: they report its events to imessenger",
        "version": "1.0.0",
    }
    return {
        f"{COPILOT_PLUGIN}/plugin.json": json.dumps(manifest, indent=2) + "\n",
        f"{COPILOT_PLUGIN}/hooks/hooks.json": json.dumps(hooks, indent=2) + "\n",
    }


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
