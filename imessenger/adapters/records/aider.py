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

The usage (:class:`AiderUsage`) is in its tool lines: after each answer Aider writes
``> Tokens: 2.4k sent, 239 received.`` (with ``, N cache write`` and ``, N cache hit``
before ``received`` when the API reported those), and where a run begins, or the model
changes, ``> Model: NAME with ... edit format`` (``> Main model: NAME ...`` beside a weak
model). These counts are Aider's, as it prints them: rounded to a hundred from 1000 on
(``2.4k``) and to a thousand from 10000 on (``12k``); streaming (its default), the API
reports no usage and Aider counts the tokens itself, with the model's tokenizer. Its
"sent" holds the cache writes and hits, which are taken out of the input. Its own
requests (a summary of the chat, a commit message) are not counted there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from imessenger.core.usage import Tally
from imessenger.core.values import Usage

_COUNT = r"(\d+(?:\.\d+)?k?)"
_TOKENS = re.compile(
    rf"> Tokens: {_COUNT} sent(?:, {_COUNT} cache write)?(?:, {_COUNT} cache hit)?, "
    rf"{_COUNT} received\."
)
_MODEL = re.compile(r"> (?:Main )?[Mm]odel: (\S+) with ")


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


def count_of(shown: str) -> int:
    """A count as Aider prints it, as a number: ``"239"`` 239, ``"2.4k"`` 2400, ``"12k"``
    12000."""
    if shown.endswith("k"):
        return round(float(shown[:-1]) * 1000)
    return int(shown)


class AiderUsage:
    """The token counts in an Aider chat history (see the module docstring)."""

    NEEDLES: ClassVar[tuple[bytes, ...]] = (b"> Tokens: ", b"odel: ")

    def __init__(self) -> None:
        self._tally = Tally()
        self._model = ""

    def take(self, line: str) -> None:
        if not line.startswith("> "):
            return
        model = _MODEL.match(line)
        if model is not None:
            self._model = model.group(1)
            return
        found = _TOKENS.match(line)
        if found is None:
            return
        sent, written, hit, received = (count_of(g) if g else 0 for g in found.groups())
        response = Usage(
            input_tokens=max(0, sent - written - hit),
            output_tokens=received,
            cache_read_tokens=hit,
            cache_write_tokens=written,
            model=self._model,
            turns=1,
        )
        self._tally.count(str(len(self._tally)), response)

    def tally(self) -> Tally:
        return self._tally
