"""Following one record file as it grows, and the shapes of what is read from it.

See the package's docstring (:mod:`imessenger.adapters.records`) for the rules.
"""

from __future__ import annotations

import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Generic, Protocol, TypeVar

from imessenger.core.envelope import Delimiters, exact_reply
from imessenger.core.usage import Tally
from imessenger.core.values import Usage

logger = logging.getLogger(__name__)

#: How many of the bytes read last are read again, to tell that the file was not rewritten.
_SEAL_BYTES = 64


class Transcript(Protocol):
    """What one agent's record holds for the reader: the assistant's texts so far."""

    def take(self, line: str) -> None:
        """Take the next complete line of the record (without its "\\n")."""

    def texts(self) -> Sequence[str]:
        """The assistant's texts so far, oldest first."""


class JsonTranscript(ABC):
    """A record in JSON Lines: each line one JSON value, handed to :meth:`take_entry`.

    A blank line is ignored; a line that is not JSON is skipped and logged at debug level.
    """

    def take(self, line: str) -> None:
        if not line.strip():
            return
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError) as error:
            logger.debug("skipped a line of a record that is not JSON (%s): %.80r", error, line)
            return
        self.take_entry(entry)

    @abstractmethod
    def take_entry(self, entry: object) -> None:
        """Take one entry of the record (any JSON value: check its shape)."""

    @abstractmethod
    def texts(self) -> Sequence[str]:
        """The assistant's texts so far, oldest first."""


class UsageCounter(Protocol):
    """What one agent's record holds for the usage reader: its model's responses, each
    counted once (see :mod:`imessenger.adapters.records.usage`). A line that holds none
    of its ``NEEDLES`` holds no usage: it is not handed to it."""

    NEEDLES: ClassVar[tuple[bytes, ...]]

    def take(self, line: str) -> None:
        """Take the next complete line of the record (without its "\\n")."""

    def tally(self) -> Tally:
        """The responses counted so far."""


class JsonUsage(ABC):
    """A record in JSON Lines read for its usage. Only a line that :meth:`may_hold` usage
    is parsed (a transcript is mostly lines that cannot: the cheap test keeps a big one
    cheap to read); one that is not JSON is skipped."""

    #: what a line that may hold usage holds (see :class:`UsageCounter`)
    NEEDLES: ClassVar[tuple[bytes, ...]] = ()

    def __init__(self) -> None:
        self._tally = Tally()
        #: how many responses were counted under no key of the record's own
        self._unnamed = 0

    def take(self, line: str) -> None:
        if not self.may_hold(line):
            return
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError) as error:
            logger.debug("skipped a line of a record that is not JSON (%s): %.80r", error, line)
            return
        self.take_entry(entry)

    @abstractmethod
    def may_hold(self, line: str) -> bool:
        """Whether ``line`` may hold usage (False only when it surely holds none)."""

    @abstractmethod
    def take_entry(self, entry: object) -> None:
        """Take one entry of the record (any JSON value: check its shape)."""

    def count(self, key: object, response: Usage) -> None:
        """Count one response under ``key`` (a text the record gives it), or under a key of
        its own when the record gives none."""
        if not isinstance(key, str) or not key:
            self._unnamed += 1
            key = f"\0{self._unnamed}"
        self._tally.count(key, response)

    def tally(self) -> Tally:
        return self._tally


def tokens(table: Mapping[str, object], key: str) -> int:
    """The count ``table`` holds at ``key``: a whole number of 0 or more, else 0."""
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


class Lines(Protocol):
    """What takes the complete lines of a followed file, one by one."""

    def take(self, line: str) -> None:
        """Take the next complete line of the record (without its "\\n")."""


T = TypeVar("T", bound=Lines)


class Follower(Generic[T]):
    """Follows one record file as it grows, handing each complete line to what ``sink``
    makes (a new one each time the file is read again from its start): the rules of the
    package's docstring, but the reply. :meth:`catch_up` reads what is new and returns the
    sink, which holds everything read so far."""

    def __init__(self, path: Path, sink: Callable[[], T], needles: tuple[bytes, ...] = ()) -> None:
        self.path = path
        #: with needles, only the lines that hold one of them are handed on (found in the
        #: bytes, the others never decoded): a big record is read at the speed of a search
        self._needles = needles
        self._new_sink = sink
        self._sink = sink()
        self._file: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._seal = b""

    def catch_up(self) -> T:
        """Read what was appended since the last call (all of it, after a rewrite), and
        return the sink. Raises OSError when the file cannot be read (the next call tries
        again from where this one was)."""
        self._catch_up()
        return self._sink

    def _start_again(self) -> None:
        """Forget everything read: the next read starts at the beginning of the file."""
        self._sink = self._new_sink()
        self._file = None
        self._offset = 0
        self._partial = b""
        self._seal = b""

    def _catch_up(self) -> None:
        """Read what was appended since the last call (all of it, after a rewrite)."""
        for _ in range(2):  # the second time, after a rewrite found in the first
            try:
                info = os.stat(self.path)
            except FileNotFoundError:
                if self._file is not None:
                    self._start_again()
                return
            identity = (info.st_dev, info.st_ino)
            if self._file is not None and (identity != self._file or info.st_size < self._offset):
                logger.debug("the record %s was replaced or truncated: reading it again", self.path)
                self._start_again()
            self._file = identity
            if info.st_size == self._offset:
                return
            back = len(self._seal)
            with open(self.path, "rb") as record:
                record.seek(self._offset - back)
                data = record.read()
            if data[:back] == self._seal:
                self._take(data[back:])
                self._seal = data[-_SEAL_BYTES:]
                return
            logger.debug("the record %s was rewritten: reading it again", self.path)
            self._start_again()

    def _take(self, appended: bytes) -> None:
        """Hand the complete lines of ``appended`` to the sink; keep the last, partial one."""
        self._offset += len(appended)
        data = self._partial + appended
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        for raw in self._lines(data[:end]):
            line = raw.decode("utf-8", errors="replace")
            try:
                self._sink.take(line)
            except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:
                logger.debug("skipped a line of %s of an unexpected shape: %s", self.path, error)

    def _lines(self, complete: bytes) -> list[bytes]:
        """The lines of ``complete`` (lines that each end with "\\n") to hand on, in order:
        all of them, or with needles those that hold one."""
        if not self._needles:
            return complete.split(b"\n")[:-1]
        found: dict[int, int] = {}  # where each line that holds a needle starts, and ends
        for needle in self._needles:
            at = complete.find(needle)
            while at >= 0:
                start = complete.rfind(b"\n", 0, at) + 1
                stop = complete.find(b"\n", at)  # there is one: each line is complete
                found[start] = stop
                at = complete.find(needle, stop)
        return [complete[start : found[start]] for start in sorted(found)]


class RecordReader(Follower[Transcript]):
    """Follows one agent's record file and finds the newest exact reply in it.

    ``transcript`` makes an empty :class:`Transcript` of the agent's kind (a new one each
    time the file is read again from its start). See the module docstring for the rules.
    """

    def reply(self, delims: Delimiters) -> str | None:
        """The newest reply between ``delims`` in the assistant's texts so far, or None."""
        try:
            transcript = self.catch_up()
        except OSError as error:
            logger.debug("cannot read the record %s: %s", self.path, error)
            return None
        for text in reversed(transcript.texts()):
            if delims.end in text:
                found = exact_reply(text, delims)
                if found is not None:
                    return found
        return None
