"""What isesh gives OpenCode for one session: configuration and a plugin, pure.

OpenCode (1.18.33) takes no flag for hooks, MCP servers or permission rules; it reads
them from its configuration, which it merges from several places. isesh adds one layer
of its own for the session: ``OPENCODE_CONFIG_CONTENT``, a JSON text in the agent's
environment that OpenCode merges over the user's files (global, project), which it
still reads as usual (see imessenger.adapters.opencode_config for the merge with a
``OPENCODE_CONFIG_CONTENT`` the user sets). No configuration folder is made: OpenCode
runs ``npm install @opencode-ai/plugin`` in the background in each new one, and
nothing OpenCode writes ends up in a folder of the session's.

* ``hooks = "opencode"``: ``"plugin": ["file://<session folder>/opencode-plugin.js"]``,
  a plugin loaded from that file (no package to install) that reports the session's
  events to ``imessenger hook event opencode`` (JSON on stdin, a process per event, not
  waited for): ``session.created`` and the ``chat.message`` hook (a message taken, with
  its text) of the user's session, ``permission.asked`` and ``permission.replied`` of
  any, ``session.idle`` of the user's session. Sessions a subagent works in (their
  ``parentID`` is set) are not the user's. A turn of the user's session that fails
  (OpenCode's ``session.error``, ``{"sessionID", "error": {"name", "data": {"message",
  ...}}}``, a moment before its ``session.idle``) is reported as ``session.error``, with
  the error, in the place of that ``session.idle``: one event says that the turn ended
  and on what error, whereas two, each from a process of its own, could be recorded in
  either order. A turn begun since (``chat.message``) drops an error not reported yet.
  Only those events: every other one would start a process for nothing.
* ``allow_reply = "opencode"``: a ``bash`` rule ``"<reply command> *": "allow"`` in the
  ``permission`` of OpenCode's two main agents, ``build`` and ``plan``
  (``agent.<name>.permission``). OpenCode checks an agent's rules after the
  configuration's, and the last rule that matches decides; it matches each command of a
  compound one on its own, so ``... && other`` still asks for the other. The rule is
  not put in the configuration's own ``permission.bash``, where it would replace a
  ``"bash": "ask"`` of the user's (a text merged with a table is replaced by it).
* ``mcp = "opencode"``: ``"mcp": {"imessenger": {"type": "local", "command": [...]}}``;
  OpenCode offers its tools as ``imessenger_<tool>``, and asks before one when a
  ``permission`` rule with the tool's name says ``ask``: the tools the policy lets the
  session use are ``allow``, ``approve`` and ``deny`` otherwise ``ask``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

#: The name of the plugin's file in the session's own folder.
PLUGIN_FILE = "opencode-plugin.js"
#: OpenCode's two main agents, which get the reply command's rule.
MAIN_AGENTS = ("build", "plan")

_PLUGIN = """\
// Written by isesh for one OpenCode session: reports its events to imessenger
// (`imessenger hook event opencode`, JSON on stdin). Removed with the session.
import { spawn } from "node:child_process";

const COMMAND = %(command)s;
// sessions a subagent works in: not the user's conversation
const children = new Set();
// the error a turn of the user's session failed on: reported when the turn ends (idle)
const failed = new Map();

function report(type, properties) {
  try {
    const child = spawn(COMMAND[0], COMMAND.slice(1), {
      stdio: ["pipe", "ignore", "ignore"],
    });
    child.on("error", () => {});
    child.stdin.on("error", () => {});
    child.stdin.end(JSON.stringify({ type, properties }));
    child.unref();
  } catch (error) {
    // a hook never stops OpenCode
  }
}

export default async () => ({
  event: async ({ event }) => {
    const properties = event.properties ?? {};
    if (event.type === "session.created") {
      const info = properties.info ?? {};
      if (info.parentID) {
        children.add(info.id);
        return;
      }
      report(event.type, { sessionID: info.id });
    } else if (event.type === "permission.asked" || event.type === "permission.replied") {
      report(event.type, properties);
    } else if (event.type === "session.error") {
      const id = properties.sessionID;
      if (id && !children.has(id)) failed.set(id, properties.error ?? {});
    } else if (event.type === "session.idle" && !children.has(properties.sessionID)) {
      const id = properties.sessionID;
      if (failed.has(id)) {
        const error = failed.get(id);
        failed.delete(id);
        report("session.error", { sessionID: id, error });
      } else {
        report(event.type, properties);
      }
    }
  },
  "chat.message": async (input, output) => {
    if (children.has(input.sessionID)) return;
    failed.delete(input.sessionID);
    const text = (output.parts ?? [])
      .filter((part) => part.type === "text" && typeof part.text === "string")
      .map((part) => part.text)
      .join("\\n");
    report("chat.message", { sessionID: input.sessionID, text });
  },
});
"""


def plugin_source(command: Sequence[str]) -> str:
    """The plugin's JavaScript: it runs ``command`` (an argv) for each event it reports."""
    return _PLUGIN % {"command": json.dumps(list(command))}


def plugin_entry(folder: Path) -> str:
    """How the configuration names the plugin in ``folder``: a file URL."""
    return (folder / PLUGIN_FILE).as_uri()


def reply_rules(reply_command: str) -> dict[str, object]:
    """``agent.<name>.permission`` for the main agents: the reply command runs unasked."""
    rule = {"bash": {f"{reply_command} *": "allow"}}
    return {name: {"permission": rule} for name in MAIN_AGENTS}


def tool_rules(tools: Sequence[str], asked: Sequence[str]) -> dict[str, str]:
    """``permission`` rules for imessenger's MCP tools: ``tools`` run unasked, the
    ``asked`` ones only after the user allowed them."""
    rules = {f"imessenger_{tool}": "allow" for tool in tools}
    rules.update({f"imessenger_{tool}": "ask" for tool in asked})
    return rules


def config(
    *,
    plugin: str = "",
    reply_command: str = "",
    mcp_command: Sequence[str] = (),
    tools: Sequence[str] = (),
    asked: Sequence[str] = (),
) -> dict[str, object]:
    """The configuration isesh adds for a session: the ``plugin`` (its file URL), the
    reply command's rule, the MCP server ``mcp_command`` and its tools' rules; each
    left out when not given."""
    added: dict[str, object] = {}
    if plugin:
        added["plugin"] = [plugin]
    if reply_command:
        added["agent"] = reply_rules(reply_command)
    if mcp_command:
        added["mcp"] = {"imessenger": {"type": "local", "command": list(mcp_command)}}
        added["permission"] = tool_rules(tools, asked)
    return added
