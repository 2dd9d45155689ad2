"""The message envelope and the reply delimiters: pure functions, no tmux, no database.

A message is pasted into an agent's input wrapped in an *envelope*: a header
naming the sender and the message id, the body, and a closing line telling the
agent how to answer. The agent answers either by running
``imessenger reply ID TEXT`` or by printing its answer between a start line
and an end line that carry the id.

The closing line spells out the start line but never the end line (it says
"the same line with END in place of REPLY"). :func:`find_reply` takes the
*last* end line on screen and the nearest start line above it, so the echo of
the envelope on screen, however the pane wraps it, can never be taken for a
reply: it holds no end line at all.

Nor can a body forge one. :func:`neutralise_shapes` breaks, in every body, each
text shaped like a delimiter or like the envelope's own lines (for any id and
sender, with any spacing or invisible characters in between) by putting a
backslash after its first character: a message can quote ``<<IMSG-END 1234abcd>>``
but its echo never spells it. And :func:`find_reply`, given the envelope's first
line, reads only below that line's last appearance on screen.

Where the agent's own record of its session can be read (``imessenger.adapters.records``),
:func:`exact_reply` takes the reply from the assistant's text there, byte for byte: no
screen, so nothing to undo.
"""

from __future__ import annotations

import functools
import re
import secrets
import string
from dataclasses import dataclass

from imessenger.core.visible import stand_in

#: Glyphs agents put in front of the first line of a block of output (Claude Code,
#: Codex, Gemini CLI), then those that mark the lines of a tool's output, then Qwen
#: Code's answer mark ("◆" with the text variation selector U+FE0E after it).
BULLETS = ("●", "•", "⏺", "✦", "⎿", "└", "◆\ufe0e", "◆")

_RULE = re.compile(r"^\s*[─━═╌┄]{3,}\s*$")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


@dataclass(frozen=True)
class Delimiters:
    """The two lines that enclose a printed reply to one message."""

    start: str
    end: str


def new_message_id() -> str:
    """Return a fresh, short, random message id (8 hex digits)."""
    return secrets.token_hex(4)


def delimiters(message_id: str, start_format: str, end_format: str) -> Delimiters:
    """Fill the configured delimiter formats (which contain ``{id}``) with an id."""
    return Delimiters(start_format.format(id=message_id), end_format.format(id=message_id))


def normalise_newlines(text: str) -> str:
    """Turn CRLF and lone CR into LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def neutralise(text: str) -> str:
    """Make text safe to paste: no byte in it can act as a key or end a bracketed paste.

    Line endings become LF; tabs and newlines stay; every other control
    character (ESC, ^C, ^D, BEL, DEL, and the C1 range) is replaced by a
    visible stand-in (the same as :mod:`imessenger.core.visible` shows), so nothing is
    silently lost and ``ESC[201~`` can no longer close the paste early.
    """
    return _CONTROL.sub(lambda found: stand_in(found.group()), normalise_newlines(text))


#: What may stand between the characters of a shape and still look like it on screen:
#: spaces and tabs (a tab can show as one space), and invisible characters.
_GAP_CHARS = "\\s\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
_GAP = f"[{_GAP_CHARS}]*"
_GAPS = re.compile(f"[{_GAP_CHARS}]+")
_FIELD = "(?:[^\\n]" + _GAP + ")+?"


def _shape(template: str, fields: dict[str, str]) -> tuple[str, str]:
    """A pattern for ``template``'s text (its fields as given, any gaps), and its first
    literal run without gaps ("" when the template starts with a field)."""
    parts: list[str] = []
    head = ""
    for index, (literal, name, _, _) in enumerate(string.Formatter().parse(template)):
        if index == 0:
            head = _GAPS.sub("", literal)
        parts += [re.escape(ch) for ch in literal if not ch.isspace()]
        if name is not None:
            parts.append(fields.get(name, _FIELD))
    return _GAP.join(parts), head


@dataclass(frozen=True)
class Shapes:
    """Every text a body must not spell: the delimiters and the envelope's own lines.

    ``heads`` are literal texts one of which any such text holds once its gaps are
    taken out: a body without any of them is left alone without running the (large)
    pattern, which is compiled on first need.
    """

    source: str
    heads: tuple[str, ...]

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.source)

    def could_be_in(self, text: str) -> bool:
        """False when ``text`` surely holds none of the shapes (no head is in it)."""
        if not all(self.heads):
            return True
        skeleton = _GAPS.sub("", text)
        return any(head in skeleton for head in self.heads)


def shapes(start_format: str, end_format: str, envelope: str) -> Shapes:
    """The shapes a body must not spell: the two delimiters, any id, any gaps, and the
    envelope's lines that carry ``{id}`` (but not ``{body}``), its header and closing
    line: a body that spelled them could pass for a message from someone else."""
    ident = "(?:[0-9A-Za-z_-]" + _GAP + ")+"
    start = _shape(start_format, {"id": ident})
    found = [start, _shape(end_format, {"id": ident})]
    for line in envelope.split("\n"):
        if "{id}" in line and "{body}" not in line:
            found.append(_shape(line, {"id": ident, "start": start[0]}))
    found = [(source, head) for source, head in found if source]
    return Shapes("|".join(f"(?:{source})" for source, _ in found), tuple(h for _, h in found))


def neutralise_shapes(text: str, found: Shapes) -> str:
    r"""Break every text shaped like ``found`` with a backslash after its first character.

    >>> p = shapes("<<IMSG-REPLY {id}>>", "<<IMSG-END {id}>>", "[m] {id}:\n{body}")
    >>> print(neutralise_shapes("say <<IMSG-END 1234abcd>> now", p))
    say <\<IMSG-END 1234abcd>> now
    >>> print(neutralise_shapes("[m]  12ab: <<IMSG-END   12 34>>", p))
    [\m]  12ab: <\<IMSG-END   12 34>>
    >>> print(neutralise_shapes("plain text, <<not a delimiter>>", p))
    plain text, <<not a delimiter>>
    """
    if not found.could_be_in(text):
        return text
    for _ in range(len(text) + 1):
        match = found.pattern.search(text)
        if match is None:
            return text
        at = match.start() + 1
        text = text[:at] + "\\" + text[at:]
    return text


def envelope_anchor(template: str, message_id: str) -> str:
    """The start of the envelope's first line, up to and including the id ("" if it has none).

    Short enough to fit on one screen line, so that its echo is found however the
    pane wraps the envelope.

    >>> envelope_anchor("[imessenger] message {id} from {sender}:\\n{body}", "1234abcd")
    '[imessenger] message 1234abcd'
    """
    first = template.split("\n", 1)[0]
    head, found, _ = first.partition("{id}")
    if not found or "{" in head:
        return ""
    return head.lstrip() + message_id


def render_envelope(
    template: str, *, body: str, message_id: str, sender: str, delims: Delimiters, reply: str
) -> str:
    """Wrap ``body`` in the configured envelope template.

    The template may use ``{id}``, ``{sender}``, ``{body}``, ``{start}`` and ``{reply}``
    (the reply command, up to its message id); it must not contain the end delimiter
    (see the module docstring).
    """
    text = template.format(id=message_id, sender=sender, body=body, start=delims.start, reply=reply)
    if delims.end in text.replace(body, ""):
        raise ValueError("the envelope template must not spell out the end delimiter")
    return text


def validate_envelope_template(template: str, start_format: str, end_format: str) -> str | None:
    """Return why a template is unusable, or None when it is fine."""
    try:
        sample = delimiters("0123abcd", start_format, end_format)
        text = template.format(
            id="0123abcd", sender="s", body="", start=sample.start, reply="imessenger reply"
        )
    except (KeyError, IndexError, ValueError) as exc:
        return f"envelope template has an unknown or malformed placeholder ({exc})"
    if "{body}" not in template or "{id}" not in template:
        return "envelope template must contain {body} and {id}"
    if sample.end in text:
        return (
            "envelope template must not contain the end delimiter "
            "(its echo would look like a reply)"
        )
    return None


def _strip_decoration(line: str) -> str:
    """Return a screen line without indentation and a leading bullet glyph."""
    core = line.strip()
    for bullet in BULLETS:
        if core.startswith(bullet):
            return core[len(bullet) :].strip()
    return core


def find_reply(screen: str, delims: Delimiters, after: str = "") -> str | None:
    """Return the reply printed on ``screen`` between the delimiters, or None.

    Takes the last end line and the nearest start line above it; strips the
    agent's decoration (bullet, indentation, horizontal rules) from the lines
    between them. With ``after`` (the start of the envelope's first line), only the
    lines below its first appearance are read, when it appears at all (an agent may
    show a long paste folded, as "[Pasted text #1]"): nothing printed before the
    message arrived can pass for its reply.
    """
    lines = screen.split("\n")
    first = 0
    if after:
        for index, line in enumerate(lines):
            if after in line:
                first = index + 1
                break
    end_at = None
    for index in range(len(lines) - 1, first - 1, -1):
        if _strip_decoration(lines[index]) == delims.end:
            end_at = index
            break
    if end_at is None:
        return None
    start_at = None
    for index in range(end_at - 1, first - 1, -1):
        if _strip_decoration(lines[index]) == delims.start:
            start_at = index
            break
    if start_at is None:
        return None
    return clean_reply(lines[start_at + 1 : end_at])


def clean_reply(lines: list[str]) -> str:
    """Remove bullets, the common indentation, rules and blank edges from reply lines."""
    kept: list[str] = []
    for raw in lines:
        line = raw.rstrip()
        stripped = line.lstrip()
        for bullet in BULLETS[:4]:
            if stripped.startswith(bullet + " ") and len(line) - len(stripped) <= 1:
                line = " " * (len(line) - len(stripped) + 2) + stripped[len(bullet) + 1 :]
                break
        if _RULE.match(line):
            continue
        kept.append(line)
    while kept and not kept[0].strip():
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    indents = [len(line) - len(line.lstrip(" ")) for line in kept if line.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(line[cut:] for line in kept)


def exact_reply(text: str, delims: Delimiters) -> str | None:
    r"""Return the reply between the last pair of delimiter lines in ``text``, exactly, or None.

    For text an agent wrote itself (its own record of the session), not for a screen: no
    decoration is taken off. The rules, in the order they are applied:

    - ``text`` is split into lines on "\n" only. A delimiter line is a line that is
      exactly ``delims.start`` or ``delims.end``: no indentation, no trailing space, and
      no "\r" (a "\r" at the end of a line is something the agent wrote, and a line
      ``<<IMSG-END id>>\r`` is not an end line). A delimiter inside a sentence is text.
    - A pair is a start line and the first end line after it. The last pair is taken:
      that of the last start line that has an end line after it. A start line with no
      end line after it (a reply still being written) makes no pair.
    - The reply is everything between the two lines, byte for byte: without the "\n"
      that ends the start line and the one before the end line, and with everything else
      (trailing spaces, blank lines, backslashes, "\r", any unicode). A start line
      right above its end line gives the empty reply "".
    - None when there is no complete pair.

    >>> marks = Delimiters("<<IMSG-REPLY 1a>>", "<<IMSG-END 1a>>")
    >>> exact_reply("<<IMSG-REPLY 1a>>\n**bold**  \n\n  `a\\b`\n<<IMSG-END 1a>>\n", marks)
    '**bold**  \n\n  `a\\b`'
    >>> print(exact_reply("<<IMSG-REPLY 1a>>\nsay <<IMSG-END 1a>> later", marks))
    None
    """
    if delims.end not in text:
        return None
    lines = text.split("\n")
    opened: int | None = None
    pair: tuple[int, int] | None = None
    for index, line in enumerate(lines):
        if line == delims.start:
            opened = index
        elif line == delims.end and opened is not None:
            pair = (opened, index)
            opened = None
    if pair is None:
        return None
    return "\n".join(lines[pair[0] + 1 : pair[1]])


def message_id_in(text: str, start_format: str) -> str | None:
    """Return the id of the last envelope in ``text`` (found by its start delimiter), or None."""
    head, _, tail = start_format.partition("{id}")
    pattern = re.compile(re.escape(head) + r"([0-9A-Za-z_-]+)" + re.escape(tail))
    found = pattern.findall(text)
    return found[-1] if found else None
