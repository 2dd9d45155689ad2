"""How ``isesh explain`` shows why a session's screen reads as it does: text or JSON.

The text has four parts: the state (the rule of the classifier that decided it, and
the markers found in the lines it searched), the input box, the prompt, and the
hook events. A screen line is shown with its row (1 is the top of the pane) and in
quotes (a rule drawn with one character as ``"─" × 200``); a pattern as
``key[index] 'source'``, the key of the profile (see conf/agents.toml) and its place
in that key's list, from 0, so that it can be found in the profile and replaced in
one's own config.

Nothing from the pane or the profile reaches the terminal as it is: every text is
shown with :func:`imessenger.core.visible.visible` (ESC as ``␛``, a tab as ``␉``, a line
break inside a text as ``␊``, C1 and invisible characters as ``\\xNN`` or
``\\uNNNN``), and the JSON with :func:`imessenger.core.visible.json_text` (those same
characters as ``\\u`` escapes).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from imessenger.core.visible import json_text, visible

if TYPE_CHECKING:
    from imessenger.app.values import Explained
    from imessenger.core.screen import (
        ErrorTrace,
        Explanation,
        Hit,
        InputTrace,
        MarkerTrace,
        OptionTrace,
        PatternRef,
        PromptTrace,
        ScreenLine,
    )
    from imessenger.core.values import HookEventRecord

#: How long a line made of one character must be to be shown as that character × length.
_RULE = 8
#: The indent of a pattern under the line it matched.
_UNDER = " " * 10


def quoted(text: str) -> str:
    """Return a line of text in double quotes, made visible; a rule drawn with one
    character is written as that character times its length.

    >>> quoted(" ok"), quoted("─" * 80)
    ('" ok"', '"─" × 80')
    """
    if len(text) >= _RULE and text == text[0] * len(text):
        return f'"{visible(text[0])}" × {len(text)}'
    return f'"{visible(text)}"'


def pattern(ref: PatternRef) -> str:
    """Name a pattern as the profile holds it: ``key[index] 'source'``."""
    return f"{ref.key}[{ref.index}] '{visible(ref.source)}'"


def _row(line: ScreenLine | Hit) -> str:
    if line.row == 0:
        return 'row 0  "" (the screen has no line to search: read as one empty line)'
    return f"row {line.row:>2}  {quoted(line.text)}"


def _hit(hit: Hit, label: str = "", note: str = "") -> list[str]:
    """A line and, under it, the pattern that matched it."""
    return [f"  {label:<9} {_row(hit)}{note}", f"  {_UNDER}{pattern(hit.pattern)}"]


# --- text -------------------------------------------------------------------------------


def render(explained: Explained) -> str:
    """Return the explanation of a session as text, one part after the other."""
    explanation = explained.explanation
    lines = _header(explained)
    lines += ["", *_state(explanation, explained.reported_error)]
    if explanation.input is None or explanation.markers is None or explanation.prompt is None:
        lines += ["", "input box, prompt: not read (the pane's program has exited)"]
    else:
        lines += ["", *_input(explanation.input)]
        lines += ["", *_prompt(explanation, explanation.prompt)]
    lines += ["", *_hook_events(explained.hook_events), *_tools(explained.tools)]
    if explained.record:
        lines.append(f"record: {visible(explained.record)}")
    return "\n".join(lines)


def _header(explained: Explained) -> list[str]:
    name, profile = visible(explained.session), visible(explained.profile)
    if not explained.managed:
        how = f', profile "{profile}", guessed from the screen (isesh did not start it)'
    elif explained.agent != explained.profile:
        how = f': its agent "{visible(explained.agent)}" has no profile, read as "{profile}"'
    else:
        how = f', profile "{profile}"'
    lines = [
        f'session "{name}"{how}',
        "  rows count from 1 at the top of the pane; patterns are named key[index] 'pattern',",
        f"  the keys of [agents.{profile}] (index from 0; `imessenger config show "
        f"agents.{profile}` says where each is set)",
    ]
    strip = explained.explanation.strip
    if strip:
        lines.append("  lines are shown as read, after " + ", ".join(pattern(p) for p in strip))
    return lines


#: classify's rules, in its order (see imessenger.core.screen).
_ORDER = "1 exited, 2 prompt, 3 busy, 4 starting, 5 input box or idle, 6 starting or unknown"


def _state(explanation: Explanation, reported: HookEventRecord | None = None) -> list[str]:
    from imessenger.core.screen import Rule

    rule = explanation.rule
    decided = explanation.decided_by
    where = f"row {decided.row}" if decided is not None and decided.row else "the blank screen"
    why = {
        Rule.EXITED: "rule 1: the pane's program has exited (its screen is not read)",
        Rule.PROMPT: f"rule 2: a permission prompt at the bottom, its question on {where}",
        Rule.BUSY: f"rule 3: a busy marker on {where}",
        Rule.STARTING: f"rule 4: a starting marker on {where}",
        Rule.INPUT_BOX: f"rule 5: the input box on {where}",
        Rule.IDLE: f"rule 5: an idle marker on {where}",
        Rule.JUST_STARTED: (
            "rule 6: no prompt, marker or input box, and the agent was started less than "
            "its profile's startup_ms ago"
        ),
        Rule.NO_MARKER: "rule 6: no prompt, marker or input box",
    }[rule]
    lines = [
        f"state: {explanation.screen.state}",
        f"  decided by {why}",
        f"  (the rules, in order: {_ORDER})",
    ]
    if explanation.markers is not None:
        lines += _markers(explanation.markers, explanation.marker_lines, rule)
        lines += _error(explanation.error, reported)
    return lines


def _error(trace: ErrorTrace | None, reported: HookEventRecord | None = None) -> list[str]:
    """The error that ends the transcript (the last turn failed), the one the agent's
    hooks reported, or that none shows."""
    if trace is None and reported is not None:
        return [
            f"  error     the last turn failed, as its hooks said ({visible(reported.event)} "
            f"at {_clock(reported.at)}; no error_patterns line shows it)",
            f"            its text: {quoted(reported.detail)}",
        ]
    if trace is None:
        return [
            "  error     none: no error_patterns line ends the transcript in these lines "
            "(under it only the agent's chrome, or its own wrapped text), and its hooks "
            "reported no error since its last turn began"
        ]
    lines = [f"  error     the last turn failed, on {len(trace.lines)} line(s)"]
    for hit in trace.lines:
        lines += _hit(hit)
    lines += [f"            continued on {_row(line)}" for line in trace.continuation]
    lines.append(f"            its text: {quoted(trace.text)}")
    return lines


#: What decided the state, for the markers that matched too, by rule.
_DECIDER = {
    "prompt": "the prompt",
    "busy": "the busy marker",
    "starting": "the starting marker",
    "input-box": "the input box",
}


def _markers(markers: MarkerTrace, size: int, rule: str) -> list[str]:
    lines = [
        f"  marker window: the last {size} non-blank line{'s' if size > 1 else ''} outside "
        "the input box (marker_lines), bottom first"
    ]
    lines += [f"    {_row(line)}" for line in markers.lines]
    lines += _marker("busy", markers.busy, rule)
    lines += _marker("starting", markers.starting, rule)
    lines += _marker("idle", markers.idle, rule)
    if not markers.queued:
        lines.append("  queued    0: none of queued_patterns matches these lines")
    else:
        lines.append(f"  queued    {markers.queue}: each line a pattern matches counts")
        for hit in markers.queued:
            lines += _hit(hit)
    return lines


def _marker(kind: str, hit: Hit | None, rule: str) -> list[str]:
    if hit is None:
        return [f"  {kind:<9} none of {kind}_patterns matches these lines"]
    decider = _DECIDER.get(rule)
    note = f"  (matches, but {decider} decided)" if decider and rule != kind else ""
    return _hit(hit, kind, note)


def _input(trace: InputTrace) -> list[str]:
    from imessenger.core.screen import InputMiss

    if trace.miss is InputMiss.NO_PATTERNS:
        return ["input box: none (the profile has no input_patterns)"]
    if trace.miss is InputMiss.NO_END:
        return ["input box: none (no line matches input_end_patterns)"]
    if trace.line is None and trace.miss is not InputMiss.NO_LINE:
        # found from its end: no end line has the line under it that the box needs
        return ["input box: none (no line input_end_patterns match has a fitting line under it)"]
    if trace.miss is InputMiss.NO_LINE or trace.line is None:
        return ["input box: none (no line matches input_patterns)"]
    if trace.miss is None:
        text = trace.text or ""
        held = f"holds {quoted(text)}" if text else "empty"
        first = trace.line.row
        rows = f"rows {first}-{first + len(trace.continuation)}" if trace.continuation else ""
        lines = [f"input box: {rows or f'row {first}'}, {held}"]
    else:
        lines = ["input box: none (the last line input_patterns match is not the input box)"]
    lines += _hit(trace.line, "line")
    for hit in trace.continuation:
        lines += _hit(hit, "continued")
    lines += _under(trace)
    if trace.placeholder is not None:
        lines.append(
            f"  {'typed':<9} {quoted(trace.typed)} is the agent's placeholder, so the box is "
            f"empty: {pattern(trace.placeholder)}"
        )
    return lines


def _under(trace: InputTrace) -> list[str]:
    from imessenger.core.screen import InputMiss

    under, miss = trace.under, trace.miss
    if miss is InputMiss.NOTHING_UNDER:
        return [f"  {'under':<9} nothing, and input_below_patterns want a line under it"]
    if miss is InputMiss.UNDER_REFUSED and under is not None:
        return [
            f"  {'under':<9} {_row(under)}",
            f"  {_UNDER}matches none of input_below_patterns",
        ]
    if miss is InputMiss.NOT_LAST and under is not None:
        return [
            f"  {'under':<9} {_row(under)}",
            f"  {_UNDER}the profile has no input_below_patterns: the input must be the last line",
        ]
    if under is None or trace.accepted_by is None:
        return [f"  {'under':<9} nothing (no input_below_patterns: the input is the last line)"]
    return [f"  {'under':<9} {_row(under)}", f"  {_UNDER}{pattern(trace.accepted_by)}"]


def _prompt(explanation: Explanation, trace: PromptTrace) -> list[str]:
    from imessenger.core.screen import PromptMiss

    prompt = explanation.screen.prompt
    miss = trace.miss
    if miss is PromptMiss.NO_PATTERNS:
        return ["prompt: none (the profile has no question_patterns: this agent never asks)"]
    if miss is PromptMiss.NO_QUESTION or trace.question is None:
        return ["prompt: none (no line matches question_patterns)"]
    if prompt is not None:
        lines = [f"prompt: {quoted(prompt.question)} about {quoted(prompt.about())}"]
        lines += _start_and_subject(trace)
    else:
        lines = ["prompt: none", f"  {'because':<9} {_why_not(trace)}"]
    lines += _hit(trace.question, "question")
    for number, option in enumerate(trace.options, start=1):
        lines += _option(number, option)
    for hit in trace.footers:
        lines += _hit(hit, "footer")
    if trace.blocker is not None:
        label = "option" if miss is PromptMiss.UNREADABLE else "below"
        lines += [f"  {label:<9} {_row(trace.blocker)}", f"  {_UNDER}{_blocked(trace)}"]
    return lines


def _why_not(trace: PromptTrace) -> str:
    """Why a question line is no prompt, in words."""
    from imessenger.core.screen import PromptMiss

    asked = trace.question.row if trace.question is not None else 0
    blocker = trace.blocker.row if trace.blocker is not None else 0
    if trace.miss is PromptMiss.UNREADABLE:
        return (
            f"the option on row {blocker}, with the lines that continue its label, "
            "no longer matches option_patterns"
        )
    if trace.miss is PromptMiss.NOT_FOOTER:
        return (
            f"row {blocker}, below the options, is neither blank nor a footer: the question "
            f"on row {asked} is not at the bottom of the screen (a quote in the transcript?)"
        )
    if trace.miss is PromptMiss.INPUT_BELOW:
        return (
            f"the input box (row {blocker}) is below the options: the question on row "
            f"{asked} is in the transcript"
        )
    return (
        f"the question on row {asked} has fewer than two options in or under it "
        "(option_patterns, inline_option_patterns)"
    )


def _blocked(trace: PromptTrace) -> str:
    from imessenger.core.screen import PromptMiss

    if trace.miss is PromptMiss.INPUT_BELOW:
        return "the input box's first line"
    if trace.miss is PromptMiss.UNREADABLE:
        return "with the lines that continue its label, matches none of option_patterns"
    return "matches none of prompt_footer_patterns"


def _option(number: int, trace: OptionTrace) -> list[str]:
    option = trace.option
    lines = _hit(trace.line, f"option {number}")
    for line in trace.continuation:
        lines.append(f"  {'':<9} {_row(line)} (continues the label)")
    selected = ", selected" if option.selected else ""
    said = f"key {option.key}, label {quoted(option.label)}{selected}: {option.meaning}"
    if trace.meaning_by is None:
        said += " (matches none of yes_always_patterns, yes_once_patterns, no_patterns)"
        lines.append(f"  {_UNDER}{said}")
    else:
        lines += [f"  {_UNDER}{said}, by", f"  {_UNDER}  {pattern(trace.meaning_by)}"]
    return lines


def _start_and_subject(trace: PromptTrace) -> list[str]:
    from imessenger.core.screen import Subject

    if trace.start is not None:
        lines = _hit(trace.start, "start")
    else:
        lines = [f"  {'start':<9} the question (no line above it matches prompt_start_patterns)"]
    source = trace.subject_from
    if source is Subject.FENCE:
        lines.append(f"  {'subject':<9} between the first two lines subject_fence_patterns match")
    elif source is Subject.PATTERNS:
        lines.append(f"  {'subject':<9} from the lines subject_patterns match (their first group)")
    else:
        lines.append(f"  {'subject':<9} the lines between the prompt's start and its question")
    marks = {hit.row: hit for hit in trace.subject_marks}
    rows = sorted({*marks, *(line.row for line in trace.subject_lines)})
    shown = {line.row: line for line in trace.subject_lines}
    for row in rows:
        if row in marks:
            lines += [f"    {_row(marks[row])}", f"    {_UNDER}{pattern(marks[row].pattern)}"]
        else:
            lines.append(f"    {_row(shown[row])}")
    if not rows:
        lines.append("    (no line: the subject is empty)")
    return lines


def _hook_events(events: tuple[HookEventRecord, ...]) -> list[str]:
    """The agent's own hook events, each with the watcher's check against the screen."""
    if not events:
        return ["hook events: none recorded"]
    lines = ["hook events (the latest, oldest first; checked by the watcher against the screen):"]
    for event in events:
        at = _clock(event.at)
        said = f"{event.event} -> {event.state or '(says nothing of the state)'}"
        about = f", about {visible(event.detail)}" if event.detail else ""
        check = event.screen or ("not checked (no watcher ran)" if event.state else "")
        lines.append(f"  {at}  {visible(said)}{about}" + (f"  [{visible(check)}]" if check else ""))
    return lines


def _clock(at: float) -> str:
    """The local time of day of ``at`` (epoch seconds), to the millisecond."""
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


def _tools(tools: str) -> list[str]:
    if not tools:
        return []
    if tools == "connected":
        return ["tools: its imessenger MCP server is connected"]
    if tools.startswith("missing: "):
        why = tools.removeprefix("missing: ")
        return [
            f"tools: missing: {visible(why)};",
            "  the session is ready when its screen is, without imessenger's tools",
        ]
    return [
        "tools: its imessenger MCP server is registered but not connected yet: the session",
        "  reads as starting (for up to 30 s after its start) until it is",
    ]


# --- JSON -------------------------------------------------------------------------------


def as_json(explained: Explained) -> str:
    """Return the explanation as JSON: the Api's value whole, and the line that decided."""
    data: dict[str, Any] = dataclasses.asdict(explained)
    decided = explained.explanation.decided_by
    data["explanation"]["decided_by"] = dataclasses.asdict(decided) if decided else None
    return json_text(data)
