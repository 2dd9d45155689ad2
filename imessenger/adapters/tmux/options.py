"""The session options isesh sets on the sessions it starts, and the commands that set them.

They name the agent's session, and the data folder and config file it was started
with; :mod:`imessenger.adapters.caller` reads them back (see
:class:`imessenger.adapters.tmux.info.PaneOwner`).
"""

from __future__ import annotations

from collections.abc import Mapping

from imessenger.adapters.tmux.quoting import whole_word

AGENT_OPTION = "@imessenger-agent"
HOME_OPTION = "@imessenger-home"
CONFIG_OPTION = "@imessenger-config"


def session_options(name: str, options: Mapping[str, str]) -> list[str]:
    """The ``; set-option`` commands that give session ``name`` these user options.

    Option values are never format-expanded by ``set-option`` (without ``-F``), so
    they are passed as they are, but for a final ``;`` (see :func:`whole_word`).
    """
    args: list[str] = []
    for key, value in options.items():
        args += [";", "set-option", "-t", f"={name}:", whole_word(key), whole_word(value)]
    return args
