"""Aider's chat history: the Markdown file it was given with ``--chat-history-file``.

Aider (0.86.2) appends the session to that file (any path chosen at start, created at
once; it is only ever appended to, so give each session a fresh one). Its layout:

- ``# aider chat started at <time>`` where a run begins;
- each line the user gave, as ``#### `` and the line;
- each tool or info line (questions, their answers, token counts), as ``> `` and the
  line;
- each answer of the model as it came, with only the whitespace at its two ends
  stripped (``"\\n" + answer.strip() + "\\n\\n"``).

So the assistant's text is the whole file. A delimiter line counts only when it is a
line of its own, exactly: no line Aider writes for the user or for a tool can be one,
since every such line starts with ``#### `` or ``> `` (the envelope's closing line,
which spells the start delimiter, is a user line). Only an answer can hold a bare
delimiter line, and the reply between two of them lies inside the answer, where the
strip does not reach: it is byte-exact. (Aider writes the file with
``errors="ignore"``: a character it cannot encode is left out.)
"""

from __future__ import annotations

from collections.abc import Sequence


class AiderHistory:
    """The whole chat history as one text (see the module docstring)."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._text: str | None = ""

    def take(self, line: str) -> None:
        self._lines.append(line)
        self._text = None

    def texts(self) -> Sequence[str]:
        if self._text is None:
            self._text = "\n".join(self._lines)
        return [self._text] if self._lines else []
