"""AgentPane: one pane of one tmux server, and everything done to it.

A handle holds a :class:`Tmux` and what tmux last said of the pane (a
:class:`PaneInfo`). Like libtmux's ``Pane.cmd``, every command it runs is aimed
at the pane's id and goes through :meth:`Tmux.run` naming the pane's session, so
that a pane that is gone raises NoSuchSession listing the sessions there are.

* Looking: :meth:`AgentPane.look` captures the screen and scrollback;
  :meth:`AgentPane.look_growing` says, in the same tmux call, how long the
  scrollback has grown, for a caller following a pane that prints.
* Writing: :meth:`AgentPane.paste` pastes text from a buffer that tmux fills from
  its stdin (never through tmux's command parser, never through a file), and
  refuses while a person is in a mode in the pane; :meth:`AgentPane.press` presses
  keys, and :meth:`AgentPane.press_if_showing` presses them only while the screen
  still shows what they were meant for; :meth:`AgentPane.type` types a few literal
  characters.
* Whether the program took its input: :meth:`AgentPane.unread_input`, read from
  the terminal without tmux.
* ``in_mode`` and ``dead`` are as tmux last said; :meth:`AgentPane.refresh` asks
  again.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import os
import secrets
import termios
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imessenger.adapters.tmux.info import PaneInfo
from imessenger.adapters.tmux.quoting import (
    control_quote,
    format_literal,
    searched_literal,
    whole_word,
)
from imessenger.core.errors import NoSuchSession, NoTmuxServer, PaneInMode, TmuxCommandFailed

if TYPE_CHECKING:
    from imessenger.adapters.tmux.runner import Tmux

#: The codes that open and close a bracketed paste.
_PASTE_START, _PASTE_END = "\x1b[200~", "\x1b[201~"
#: What a paste prints when tmux found the pane in a mode and pasted nothing.
_IN_MODE = "imessenger-pane-in-mode"
#: What a guarded key press prints when the pane no longer showed what it was meant for.
_CHANGED = "imessenger-screen-changed"
#: How long tmux waits before it checks the screen for a guarded key (a timer of its own).
_CHECK_DELAY_S = "0.001"


@dataclass(frozen=True)
class AgentPane:
    """One pane of one tmux server: what tmux last said of it, and what can be done to it."""

    tmux: Tmux
    info: PaneInfo

    @classmethod
    def of(cls, tmux: Tmux, session: str) -> AgentPane:
        """The active pane of ``session``; NoSuchSession (or NoTmuxServer) when there is none."""
        return cls(tmux, tmux.pane(session))

    def refresh(self) -> AgentPane:
        """The active pane of this pane's session, as tmux says now; NoSuchSession when gone."""
        return AgentPane.of(self.tmux, self.info.session)

    @property
    def in_mode(self) -> bool:
        """A person was in a tmux mode in the pane (copy mode), when tmux last said."""
        return self.info.in_mode

    @property
    def dead(self) -> bool:
        """The pane's program had exited, when tmux last said."""
        return self.info.dead

    def _cmd(self, command: str, *args: str) -> list[str]:
        """Run one tmux command aimed at this pane (``-t`` its id) and return its output."""
        return self.tmux.run(command, "-t", self.info.pane_id, *args, session=self.info.session)

    # -- looking ------------------------------------------------------------------

    def look(self, history: int = 0) -> str:
        """Return the pane's text: the visible screen plus ``history`` lines of scrollback."""
        scrollback = ["-S", str(-history)] if history else []
        return "\n".join(self._cmd("capture-pane", "-p", *scrollback))

    def look_growing(self, history: int) -> tuple[str, int]:
        """Look like :meth:`look` and return the pane's scrollback length too.

        One tmux call: a caller following a pane that prints can size its next
        look to what was added since the last one.
        """
        pane = self.info
        lines = self.tmux.run(
            "capture-pane", "-p", "-t", pane.pane_id, "-S", str(-max(history, 0)), ";",
            "display-message", "-p", "-t", pane.pane_id, "#{history_size}",
            session=pane.session,
        )  # fmt: skip
        if not lines or not lines[-1].isdigit():
            raise NoSuchSession(pane.session, self.tmux.session_names())
        return "\n".join(lines[:-1]), int(lines[-1])

    # -- writing ------------------------------------------------------------------

    def paste(self, text: str, submit_keys: Sequence[str] = (), *, brackets: bool = False) -> None:
        """Paste ``text`` into the pane as a bracketed paste, then press ``submit_keys``.

        tmux adds the bracket codes only for a program that asked for them. With
        ``brackets``, they are part of the pasted text: for an agent that reads
        bracketed pastes without asking (Gemini CLI 0.61.0), and otherwise takes a
        paste for keys typed fast, losing every "?" and some line breaks. ``text``
        itself holds no ESC (see imessenger.core.envelope.neutralise), so it cannot end
        the paste early.

        The text reaches tmux on its stdin (``load-buffer -``, never a file a killed
        process could leave behind) into a buffer whose name is unique to this call
        (buffers are server-wide), deleted by the paste itself. Text and keys travel
        in one tmux invocation, so no other client can come between.

        Nothing is pasted or pressed while the pane is in a mode (a person scrolled
        back in copy mode): tmux would paste without the bracket codes, and each line
        break would submit a piece of the text. tmux checks that itself, in the same
        invocation (``if-shell -F``), and PaneInMode is raised.
        """
        pane = self.info
        buffer = f"imessenger-{os.getpid()}-{secrets.token_hex(4)}"
        target = control_quote(pane.pane_id)
        act: list[str] = []
        if text:
            # -p: tmux adds the bracket codes for a program that asked; never twice
            bracketing = "" if brackets else "-p "
            act.append(f"paste-buffer {bracketing}-d -b {buffer} -t {target}")
        if brackets and text:
            text = f"{_PASTE_START}{text}{_PASTE_END}"
        if submit_keys:
            act.append(" ".join(["send-keys", "-t", target, *map(control_quote, submit_keys)]))
        if not act:
            return
        refuse = f"display-message -p {_IN_MODE}"
        if text:
            refuse = f"delete-buffer -b {buffer} ; {refuse}"
        args = ["load-buffer", "-b", buffer, "-", ";"] if text else []
        args += ["if-shell", "-F", "-t", pane.pane_id, "#{pane_in_mode}", refuse, " ; ".join(act)]
        try:
            out = self.tmux.run(
                *args, session=pane.session, input=text.encode("utf-8") if text else None
            )
        except Exception:
            if text:
                self._drop_buffer(buffer)
            raise
        if _IN_MODE in out:
            raise PaneInMode(pane.session)

    def _drop_buffer(self, buffer: str) -> None:
        with contextlib.suppress(TmuxCommandFailed, NoTmuxServer):
            self.tmux.run("delete-buffer", "-b", buffer)

    def press(self, keys: Sequence[str]) -> None:
        """Press tmux keys (``Enter``, ``Escape``, ``1``, ``C-c``) in the pane."""
        self._cmd("send-keys", *map(whole_word, keys))

    def press_if_showing(
        self, keys: Sequence[str], screen: Sequence[str], rows: Sequence[int]
    ) -> bool:
        """Press ``keys`` only while the pane still shows what ``screen`` showed at ``rows``.

        ``screen`` is the visible screen as last read, a line a row from the top, and
        ``rows`` the rows that must be unchanged (an agent's input box holding a message:
        a permission prompt that opened since would have covered it). tmux checks and
        presses in one command (``if-shell -F``), so no output of the agent is taken in
        between. And it checks from a timer (``run-shell -d``): tmux reads what its panes
        printed before it runs its timers, so a prompt the agent drew before the command
        arrived is on tmux's screen when it checks, even when tmux had no processor
        time to read it until then. The window left is the agent's own, between
        deciding to draw and writing. Each row is checked with ``#{C:...}``, which gives
        the first row of the screen that holds a text; a row whose line also appears
        higher up is checked as that higher row (it is the best tmux can tell). Nothing
        is pressed while a person is in a mode in the pane. Returns whether the keys
        were pressed.
        """
        checks = ["#{==:#{pane_in_mode},0}"]
        for row in rows:
            line = screen[row].rstrip() if 0 <= row < len(screen) else ""
            if not line:
                continue
            first = next(index for index, text in enumerate(screen) if line in text)
            checks.append(f"#{{==:#{{C:{searched_literal(line)}}},{first + 1}}}")
        condition = checks[-1]
        for check in reversed(checks[:-1]):
            condition = f"#{{&&:{check},{condition}}}"
        target = control_quote(self.info.pane_id)
        act = " ".join(["send-keys", "-t", target, *map(control_quote, keys)])
        check = " ".join(
            [
                "if-shell -F -t",
                target,
                control_quote(condition),
                control_quote(act),
                control_quote(f"display-message -p {_CHANGED}"),
            ]
        )
        # run-shell expands its command as a format once before it runs it: escaped here
        out = self._cmd("run-shell", "-d", _CHECK_DELAY_S, "-C", format_literal(check))
        return _CHANGED not in out

    def type(self, text: str) -> None:
        """Type short literal text (a few characters, for example ``/exit``) into the pane."""
        self._cmd("send-keys", "-l", "--", whole_word(text))

    # -- the terminal -------------------------------------------------------------

    def unread_input(self) -> int | None:
        """How many bytes of pasted text and keys the pane's program has not read yet.

        Read from the terminal's input queue, without taking anything from it. None
        when it cannot be told (no terminal, a dead pane, or a terminal this user may
        not open). An agent that has not read a key has neither taken nor dropped it:
        it is only slow.
        """
        if not self.info.tty or self.info.dead:
            return None
        try:
            fd = os.open(self.info.tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            count = array.array("i", [0])
            fcntl.ioctl(fd, termios.FIONREAD, count, True)
            return count[0]
        except OSError:
            return None
        finally:
            os.close(fd)
