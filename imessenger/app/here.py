"""The work of every action on this host: one class of actions per concern, composed.

``Here`` does what the door (imessenger.app.api) lets through, on this host's tmux
server and store: it checks no policy and routes no host. Its values are the actions'
own (a live :class:`~imessenger.actions.sessions.SessionView` among them); the door
turns them into the API's plain values.
"""

from __future__ import annotations

from imessenger.app.agent_events import HookActions
from imessenger.app.configuring import ConfigActions
from imessenger.app.managing import SessionActions
from imessenger.app.messages import MessageActions
from imessenger.app.plugin import PluginActions
from imessenger.app.prompts import PromptActions
from imessenger.app.watching import WatchActions


class Here(
    SessionActions,
    MessageActions,
    PromptActions,
    WatchActions,
    PluginActions,
    ConfigActions,
    HookActions,
):
    """The actions on the sessions of this host's tmux server, for the caller of this process.

    ``Here(socket_name)`` finds everything from the environment, as a command does;
    :meth:`over` builds one on services already made (the tour, tests).
    """
