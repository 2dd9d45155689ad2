"""What the tmux plugin shows: the approval menu, the next session to jump to, its conf lines.

The plugin's keys run ``imessenger`` commands (see tmux/imessenger.tmux); those
commands build their menus here. Which sessions are asking comes from the
watcher's status cache when a watcher runs (no pane is read), else from reading
the panes. A menu item's command runs ``imessenger approve-menu --answer`` with the id
of the prompt the menu showed (``--prompt``), which answers through
:func:`imessenger.actions.approval.answer` with all its checks: nothing is pressed when the
session shows another prompt by then.

A menu item's command goes through two rounds of tmux format expansion (when the
menu is built, and in ``run-shell``), so it is escaped twice
(:func:`imessenger.adapters.tmux.format_literal`). A label holds what an agent asks about (from
its screen, or from another host's watcher): tmux shows it literally, ``#{...}`` and
``#(...)`` as they are and control and invisible characters as stand-ins
(:func:`imessenger.adapters.tmux.drawn_literal`, which ``Tmux.display_menu`` applies).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import imessenger
from imessenger.adapters.tmux import MenuItem, control_quote, format_literal
from imessenger.core.errors import UsageError
from imessenger.core.values import Choice

if TYPE_CHECKING:
    from imessenger.app.values import Asking

#: The menu's label for each answer, in the order the menu lists them.
CHOICE_LABELS: dict[Choice, str] = {
    Choice.YES_ONCE: "Yes",
    Choice.YES_ALWAYS: "Yes, don't ask again",
    Choice.NO: "No",
}
#: The keys of the first session's items (later sessions' items have none).
_FIRST_KEYS = {Choice.YES_ONCE: "y", Choice.YES_ALWAYS: "a", Choice.NO: "n"}


@dataclass(frozen=True)
class Menu:
    """A ``display-menu``: its title and its items."""

    title: str
    items: tuple[MenuItem, ...]


def run_shell(argv: list[str], *, quiet: bool = False) -> str:
    """Return a menu item command that runs ``argv`` in the background (``run-shell -b``).

    With ``quiet``, a failure's exit status is not shown: tmux would show it in view mode
    over the pane in front of the user, where the next key goes to the mode (the command
    shows its outcome on the client itself).
    """
    shell = shlex.join(argv) + (" || :" if quiet else "")
    return format_literal(f"run-shell -b {control_quote(format_literal(shell))}")


def approval_menu(asking: Sequence[tuple[Asking, str]], command: list[str], client: str) -> Menu:
    """Build the approval menu: for each asking session (with its tmux id), its answers and
    "Show". An item's command runs ``command`` (imessenger, with its -L) ``approve-menu``."""
    items: list[MenuItem] = []
    for index, (entry, target) in enumerate(asking):
        if index:
            items.append(MenuItem(""))
        items.append(MenuItem(f"-{entry.name} ({entry.agent}): {entry.about}"))
        for choice, label in CHOICE_LABELS.items():
            if choice not in entry.choices:
                continue
            argv = [*command, "approve-menu", "-c", client, "--answer", entry.name, str(choice)]
            if entry.prompt_id:
                argv += ["--prompt", entry.prompt_id]
            key = _FIRST_KEYS[choice] if index == 0 else ""
            items.append(MenuItem(f"  {label}", key, run_shell(argv, quiet=True)))
        if target:  # none for another host's session: its tmux is there
            show = format_literal(f"switch-client -t {control_quote(target)}")
            items.append(MenuItem("  Show", "s" if index == 0 else "", show))
    if not asking:
        items.append(MenuItem("-no session is asking"))
    count = len(asking)
    title = f" imessenger: {count} asking " if count else " imessenger "
    return Menu(title, tuple(items))


def next_in_turn(names: Sequence[str], current: str | None) -> str | None:
    """The name that follows ``current`` in ``names`` (sorted), wrapping; None when empty.

    >>> next_in_turn(["a", "c", "e"], "c"), next_in_turn(["a", "c"], "z"), next_in_turn([], None)
    ('e', 'a', None)
    """
    if not names:
        return None
    later = [name for name in names if current is None or name > current]
    return later[0] if later else names[0]


# --- the plugin's files and conf lines ------------------------------------------------------------


def plugin_file() -> Path:
    """Return the plugin's entry file, ``imessenger.tmux``.

    It is ``tmux/imessenger.tmux`` in a source checkout, or ``imessenger/tmux_plugin/``
    in an installed package. Raises UsageError when neither is there.
    """
    package = Path(imessenger.__file__).resolve().parent
    for folder in (package / "tmux_plugin", package.parent / "tmux"):
        candidate = folder / "imessenger.tmux"
        if candidate.is_file():
            return candidate
    raise UsageError(
        "the tmux plugin (imessenger.tmux) is not installed with this imessenger; "
        "install it with TPM (set -g @plugin ...) or from a source checkout"
    )


def plugin_conf(command: list[str]) -> str:
    """Return the lines that load the plugin from ~/.tmux.conf without TPM."""
    entry = plugin_file()
    return "\n".join(
        [
            "# imessenger's tmux plugin (printed by `imessenger tmux-conf`).",
            "# Put #{imessenger_status} into status-right (or status-left) above these lines,",
            "# for example: set -g status-right '#{imessenger_status} %H:%M'",
            f"set -g @imessenger-command {control_quote(shlex.join(command))}",
            # through sh: an installed copy may have lost its executable bit
            f"run-shell {control_quote('sh ' + shlex.quote(str(entry)))}",
        ]
    )
