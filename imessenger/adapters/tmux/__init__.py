"""The tmux adapter: the only package that talks to tmux.

What is where:

* ``runner.py``: :class:`Tmux`, one server. Every command goes through
  :meth:`Tmux.run` (socket flag, error checks) or, for a long-lived control
  client, :meth:`Tmux.argv`; the version check; sessions found by exact name,
  started and ended; the clients' status line and menus (:class:`MenuItem`).
* ``pane.py``: :class:`AgentPane`, one pane of one server: look, paste, press,
  type, unread input, in mode, dead.
* ``patience.py``: :class:`Patience`, how long to wait for a pane's program to act
  on its input (slow is not deaf).
* ``control.py``: :class:`ControlClient`, a control-mode client per followed
  session (the watcher's), the :class:`ControlEvent` it reports, and the
  :class:`ControlReader` whose one thread reads them all.
* ``output_watch.py``: :class:`OutputWatch`, a control client of its own for one
  wait (``send``'s for a reply): woken when the session prints, the pane read through it.
* ``info.py``: :class:`PaneInfo`, :class:`PaneOwner`, :class:`ClientInfo`: what
  tmux reports, read from the lines its formats print.
* ``options.py``: the session options isesh sets (``AGENT_OPTION`` and others).
* ``quoting.py``: the pure functions that keep a string literal for one reader.

Text is never handed to tmux's command parser: pastes go through a buffer that
``load-buffer -`` fills from the tmux client's stdin, so nothing in a message is
read as a tmux command or written to a file, and there is no limit on its size.

What tmux reads into the other strings imessenger hands it (checked on tmux 3.3a),
and how each is kept literal; a string from a person or an agent reaches tmux only
in one of these ways:

* Every argv word ending in ``;`` ends a tmux command, and the words after it form
  the next command: :func:`whole_word` writes a final ``;`` as ``\\;``.
* ``new-session -c`` expands formats (``#(...)`` runs a shell command):
  :func:`format_literal` doubles ``#`` (but right before ``[``). ``-e`` values and
  the program's argv after ``--`` are taken as they are, but a one-word argv would
  be run by the default shell, so :meth:`Tmux.new_session` runs it through ``env``.
  ``set-option`` takes values as they are.
* ``display-message`` and menu labels and titles are expanded as formats (the
  message with ``strftime`` too) and then drawn, where ``#[...]`` is a style, and
  where a control character is dropped, a bidirectional override goes on to the
  terminal, and a C1 character in a menu hangs the server: :func:`drawn_literal`.
* A target is an id tmux gave (``%3`` pane, ``$3`` session), looked up by exact name
  in Python, or ``=NAME`` with a name :func:`imessenger.core.names.check_name` passed: as
  a target, a name can be read as an id (``$0``), a client, a prefix or a pattern.
"""

from __future__ import annotations

from imessenger.adapters.tmux.control import (
    CLIENT_EXIT,
    FLOODED,
    OUTPUT,
    PANE_DEAD,
    SESSIONS_CHANGED,
    ControlClient,
    ControlEvent,
    ControlReader,
)
from imessenger.adapters.tmux.info import PaneInfo, PaneOwner
from imessenger.adapters.tmux.options import AGENT_OPTION, CONFIG_OPTION, HOME_OPTION
from imessenger.adapters.tmux.output_watch import OutputWatch
from imessenger.adapters.tmux.pane import AgentPane
from imessenger.adapters.tmux.patience import Patience
from imessenger.adapters.tmux.quoting import control_quote, drawn_literal, format_literal
from imessenger.adapters.tmux.runner import SOCKET_ENV, MenuItem, Tmux

__all__ = [
    "AGENT_OPTION",
    "CLIENT_EXIT",
    "CONFIG_OPTION",
    "FLOODED",
    "HOME_OPTION",
    "OUTPUT",
    "PANE_DEAD",
    "SESSIONS_CHANGED",
    "SOCKET_ENV",
    "AgentPane",
    "ControlClient",
    "ControlEvent",
    "ControlReader",
    "MenuItem",
    "OutputWatch",
    "PaneInfo",
    "PaneOwner",
    "Patience",
    "Tmux",
    "control_quote",
    "drawn_literal",
    "format_literal",
]
