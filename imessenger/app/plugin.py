"""What the tmux plugin reads and does here: the sessions asking, tmux's messages and
clients (the menu itself is the menu interface's: imessenger.interfaces.menu)."""

from __future__ import annotations

from pathlib import Path

from imessenger.app.prompts import asking_prompts
from imessenger.app.services import Services
from imessenger.app.values import Asking


class PluginActions(Services):
    """What the key bindings, the popup menu and the dashboard call."""

    def asking(self) -> list[Asking]:
        """The sessions asking, by name, each with the id of its prompt: from the watcher's
        status when it runs (with the other hosts' as HOST:SESSION), else the panes."""
        from imessenger.adapters.status_cache import read_status
        from imessenger.core.names import is_valid_name
        from imessenger.core.values import Choice

        status = read_status(self.server)
        if status.watching:
            published = status.published
            found = []
            entries = [("", e) for e in published.sessions]
            for host, seen in published.hosts.items():
                if seen.reachable and is_valid_name(host):
                    entries += [(f"{host}:", e) for e in seen.sessions]
            for prefix, entry in entries:
                if entry.state != "asking" or not is_valid_name(entry.name):
                    continue
                choices = tuple(Choice(c) for c in entry.choices if c in set(Choice))
                name = prefix + entry.name  # HOST:SESSION for another host's
                about = entry.asking or ""
                found.append(Asking(name, entry.agent, about, choices, entry.prompt_id))
            return sorted(found, key=lambda a: a.name)
        return sorted(
            (
                Asking(
                    p.session,
                    p.agent,
                    p.about(),
                    tuple(o.answer for o in p.options if o.answer is not None),
                    p.id,
                )
                for p in asking_prompts(self.sessions)
            ),
            key=lambda a: a.name,
        )

    def show_message(self, client: str, text: str) -> None:
        """Show ``text`` in the status line of tmux client ``client``."""
        self.tmux.display_message(client, text)

    def show_everywhere(self, text: str) -> None:
        """Show ``text`` in the status line of every client a person looks at (not the
        control clients of the watcher); a client that went meanwhile is skipped."""
        import contextlib

        from imessenger.core.errors import ImessengerError

        for client in self.tmux.clients():
            if not client.control:
                with contextlib.suppress(ImessengerError):
                    self.tmux.display_message(client.name, text)

    def switch(self, client: str, name: str) -> None:
        """Switch tmux client ``client`` to session ``name``."""
        self.tmux.switch_client(client, name)

    def popup_client(self) -> str | None:
        """In a tmux popup (``$TMUX`` set, no pane), the terminal client that opened it.

        That is the terminal client with the latest input: the key that opened the popup.
        """
        import os

        if not os.environ.get("TMUX") or os.environ.get("TMUX_PANE"):
            return None
        terminals = [c for c in self.tmux.clients() if not c.control]
        if not terminals:
            return None
        return max(terminals, key=lambda c: c.activity).name

    def changes_to_watch(self) -> list[Path]:
        """The files whose size and time change when what the dashboard shows changes."""
        from imessenger.adapters.status_cache import status_path

        db = self.store.path
        return [status_path(self.tmux.label), db, db.with_name(db.name + "-wal")]
