"""Agent profiles: how to launch, drive and read one kind of agent.

The profiles come from the configuration (``conf/agents.toml`` and the user's file,
tables ``[agents.NAME]``); that file explains every key. This module turns such a
table into a checked :class:`Profile` of three parts: its :class:`Launch` (how to
start the agent and ask it to stop), its :class:`Drive` (how to submit a message and
choose a prompt's option) and its :class:`imessenger.core.screen.ScreenGrammar` (how to
read its screen), whose patterns are compiled once, there.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from imessenger.core import agent_setup
from imessenger.core.config import TOML_TYPE_NAMES, article, type_name
from imessenger.core.errors import ConfigError, UsageError
from imessenger.core.screen import PATTERN_KEYS, GrammarError, Meaning, Option, ScreenGrammar

logger = logging.getLogger(__name__)

#: The ways of choosing a prompt's option (the ``choose`` key).
CHOOSE_DIGIT = "digit"
CHOOSE_LETTER_ENTER = "letter-enter"
#: the digit, but Escape for the option that means "no": GitHub Copilot CLI's "No" is a
#: field for words to the model, which its digit only selects (and Enter on it, empty,
#: does nothing); Escape cancels the prompt
CHOOSE_DIGIT_ESCAPE_NO = "digit-escape-no"
#: the highlight moved to the option with the arrow keys, then Enter: OpenCode's row
CHOOSE_ARROWS = "arrows"
CHOOSE_STYLES = (CHOOSE_DIGIT, CHOOSE_LETTER_ENTER, CHOOSE_DIGIT_ESCAPE_NO, CHOOSE_ARROWS)

#: The placeholder in ``command`` that stands for the Python running imessenger.
PYTHON_PLACEHOLDER = "{python}"

#: Every key of an ``[agents.NAME]`` table, in file order, with its TOML type (a
#: ``list`` is an array of strings).
_KEY_TYPES: dict[str, type] = {
    "description": str,
    "command": list,
    "environment": list,
    "submit_keys": list,
    "choose": str,
    "exit_text": str,
    "exit_keys": list,
    "startup_ms": int,
    "record": str,
    "allow_reply": str,
    "hooks": str,
    "mcp": str,
    "queues_when_busy": bool,
    "submit_retry": bool,
    "bracket_pastes": bool,
    "marker_lines": int,
    **dict.fromkeys(PATTERN_KEYS, list),
}


class ProfileError(ConfigError):
    """An agent profile is invalid; the message names the profile, the key and the reason."""

    def __init__(self, profile: str, key: str | None, reason: str, where: str = "") -> None:
        named = f'key "{key}": ' if key else ""
        super().__init__(f'agent profile "{profile}": {named}{reason}{where}')
        self.profile = profile
        self.key = key
        self.reason = reason


class _ConfigLike(Protocol):
    """What this module needs of :class:`imessenger.core.config.Config`."""

    @property
    def values(self) -> dict[str, Any]: ...

    @property
    def sources(self) -> dict[str, str]: ...


#: The agent kinds whose records can be read (a profile's ``record``; see
#: imessenger.adapters.records).
RECORD_KINDS = ("claude", "codex", "gemini", "aider", "demo", "qwen", "copilot", "opencode")


@dataclass(frozen=True)
class Launch:
    """How to start an agent and ask it to stop (``command`` ... ``startup_ms``)."""

    command: tuple[str, ...]
    environment: tuple[str, ...]
    exit_text: str
    exit_keys: tuple[str, ...]
    startup_ms: int
    #: the kind of record the agent keeps of its answers, read for exact replies
    #: ("" when none is read; see imessenger.adapters.records)
    record: str
    #: how the agent is told to run the reply command without asking ("": it asks);
    #: how its hooks report its events ("": none); see imessenger.core.agent_setup
    allow_reply: str = ""
    hooks: str = ""
    #: how the imessenger MCP server is registered with the agent ("": it is not)
    mcp: str = ""

    def argv(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Return the command to run: ``{python}`` replaced, ``[]`` -> the user's $SHELL."""
        if not self.command:
            env = os.environ if environ is None else environ
            return [env.get("SHELL") or "/bin/sh"]
        return [part.replace(PYTHON_PLACEHOLDER, sys.executable) for part in self.command]

    def env(self) -> dict[str, str]:
        """Return the variables the agent is started with (``environment``), by name."""
        return dict(entry.split("=", 1) for entry in self.environment)

    def starting(self, age_s: float) -> bool:
        """True when an agent started ``age_s`` seconds ago may still be starting."""
        return age_s < self.startup_ms / 1000


@dataclass(frozen=True)
class Drive:
    """How to drive an agent: submit a message, choose an option, send while it is busy."""

    submit_keys: tuple[str, ...]
    choose: str
    queues_when_busy: bool
    submit_retry: bool
    #: the paste carries its own bracket codes (the agent reads them but never asks)
    bracket_pastes: bool

    def keys_for(self, option: Option, options: Sequence[Option] = ()) -> list[str]:
        """Return the tmux keys that choose ``option`` of a prompt's ``options``.

        "arrows" moves the highlight from the selected option (the first, when none is
        marked: where the agent puts it when the prompt opens) to ``option`` with Right
        or Left, then presses Enter; it needs ``options``, in screen order.
        """
        if self.choose == CHOOSE_LETTER_ENTER:
            return [option.key, "Enter"]
        if self.choose == CHOOSE_DIGIT_ESCAPE_NO and option.meaning is Meaning.NO:
            return ["Escape"]
        if self.choose == CHOOSE_ARROWS:
            place = list(options).index(option)
            at = next((index for index, o in enumerate(options) if o.selected), 0)
            step = "Right" if place >= at else "Left"
            return [step] * abs(place - at) + ["Enter"]
        return [option.key]


@dataclass(frozen=True)
class Profile:
    """One agent profile (``[agents.NAME]``); see conf/agents.toml for each key.

    Construct it with :meth:`from_dict` to have a configuration table checked; the
    constructor itself checks the values of its launch and drive parts (the grammar
    checks its own), raising ConfigError naming the profile, the key and the reason.
    """

    name: str
    description: str
    launch: Launch
    drive: Drive
    grammar: ScreenGrammar

    def __post_init__(self) -> None:
        self._check_values()

    # --- construction ---------------------------------------------------------------

    @classmethod
    def from_dict(
        cls, name: str, data: Mapping[str, Any], sources: Mapping[str, str] | None = None
    ) -> Profile:
        """Build a profile from one ``[agents.NAME]`` table.

        ``sources`` maps dotted keys (``agents.NAME.KEY``) to the file they came from,
        for the error messages. Raises ConfigError for a missing or unknown key, a value
        of the wrong type, or a pattern that is not a valid regular expression.
        """
        if not isinstance(data, Mapping):
            raise ProfileError(
                name,
                None,
                f"must be a table ([agents.{name}]), not {_a_type(data)}",
                _where(sources, name),
            )
        known = profile_keys()
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ProfileError(
                name,
                unknown[0],
                f"is not a profile key (unknown: {', '.join(unknown)}); "
                f"the keys are: {', '.join(known)}",
                _where(sources, name, unknown[0]),
            )
        missing = [key for key in known if key not in data]
        if missing:
            raise ProfileError(
                name,
                missing[0],
                f"is missing (missing: {', '.join(missing)}); "
                f"every profile needs all of: {', '.join(known)}",
                _where(sources, name),
            )
        values = {
            key: _expect(name, key, data[key], kind, _where(sources, name, key))
            for key, kind in _KEY_TYPES.items()
        }
        try:
            return cls(
                name=name,
                description=values["description"],
                launch=Launch(
                    command=values["command"],
                    environment=values["environment"],
                    exit_text=values["exit_text"],
                    exit_keys=values["exit_keys"],
                    startup_ms=values["startup_ms"],
                    record=values["record"],
                    allow_reply=values["allow_reply"],
                    hooks=values["hooks"],
                    mcp=values["mcp"],
                ),
                drive=Drive(
                    submit_keys=values["submit_keys"],
                    choose=values["choose"],
                    queues_when_busy=values["queues_when_busy"],
                    submit_retry=values["submit_retry"],
                    bracket_pastes=values["bracket_pastes"],
                ),
                grammar=ScreenGrammar.compile(
                    values["marker_lines"], {key: values[key] for key in PATTERN_KEYS}
                ),
            )
        except GrammarError as exc:
            raise ProfileError(name, exc.key, exc.reason, _where(sources, name, exc.key)) from None
        except ProfileError as exc:
            # the constructor names profile and key; add the file the key came from
            where = _where(sources, name, exc.key)
            raise ProfileError(name, exc.key, exc.reason, where) from None

    # --- checks ---------------------------------------------------------------------

    def _fail(self, key: str, reason: str) -> ProfileError:
        return ProfileError(self.name, key, reason)

    def _check_values(self) -> None:
        drive, launch = self.drive, self.launch
        if drive.choose not in CHOOSE_STYLES:
            raise self._fail(
                "choose", f'"{drive.choose}" is not one of: {", ".join(CHOOSE_STYLES)}'
            )
        if not drive.submit_keys:
            raise self._fail("submit_keys", "is empty: name the key that submits, e.g. Enter")
        for entry in launch.environment:
            key, equals, _ = entry.partition("=")
            if not equals or not key or not key.replace("_", "a").isalnum():
                raise self._fail("environment", f'"{entry}" is not of the form NAME=VALUE')
        if not launch.exit_text and not launch.exit_keys:
            raise self._fail(
                "exit_keys", 'is empty while exit_text is "": give one of them to stop the agent'
            )
        if launch.startup_ms < 0:
            raise self._fail("startup_ms", f"must be 0 or more, not {launch.startup_ms}")
        for key, value, kinds in (
            ("record", launch.record, RECORD_KINDS),
            ("allow_reply", launch.allow_reply, agent_setup.ALLOW_KINDS),
            ("hooks", launch.hooks, agent_setup.HOOK_KINDS),
            ("mcp", launch.mcp, agent_setup.MCP_KINDS),
        ):
            if value not in ("", *kinds):
                raise self._fail(key, f'"{value}" is not one of: "", {", ".join(kinds)}')


def profile_keys() -> tuple[str, ...]:
    """Return the keys every ``[agents.NAME]`` table has, in file order."""
    return tuple(_KEY_TYPES)


def load_profiles(config: _ConfigLike) -> dict[str, Profile]:
    """Return every profile in ``config.values["agents"]`` by name.

    Raises ConfigError when there is no ``agents`` table or a profile is invalid.
    """
    tables = config.values.get("agents")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(
            "the configuration has no agent profiles ([agents.NAME] tables); "
            "the shipped conf/agents.toml is missing: reinstall imessenger"
        )
    sources = getattr(config, "sources", None)
    return {name: Profile.from_dict(name, table, sources) for name, table in tables.items()}


def get_profile(config: _ConfigLike, name: str) -> Profile:
    """Return the profile called ``name``.

    Raises UsageError listing the known profiles when there is none by that name, and
    ConfigError when that profile is invalid.
    """
    tables = config.values.get("agents")
    known = sorted(tables) if isinstance(tables, dict) else []
    if name not in known:
        listing = ", ".join(known) if known else "(none)"
        raise UsageError(
            f'no agent profile named "{name}"; known profiles: {listing} '
            f"(add one as an [agents.{name}] table in your config file)"
        )
    assert isinstance(tables, dict)
    return Profile.from_dict(name, tables[name], getattr(config, "sources", None))


# --- helpers ----------------------------------------------------------------------------


def _where(sources: Mapping[str, str] | None, name: str, key: str | None = None) -> str:
    """Return " (in FILE)" for a profile key when the sources know it, else ""."""
    if not sources:
        return ""
    prefix = f"agents.{name}"
    source = sources.get(f"{prefix}.{key}") if key else None
    if source is None:
        source = next(
            (where for dotted, where in sources.items() if dotted.startswith(prefix + ".")), None
        )
    return f" (in {source})" if source else ""


def _a_type(value: Any) -> str:
    """Return the TOML name of a value's type with its article ("a string")."""
    return article(type_name(value))


def _expect(name: str, key: str, value: Any, kind: type, where: str) -> Any:
    """Return ``value`` (an array as a tuple) when it has the TOML type ``kind``.

    Raises ProfileError naming the profile, the key and the type found.
    """
    if kind is list:
        if not isinstance(value, list | tuple):
            raise ProfileError(
                name, key, f"must be an array of strings, not {_a_type(value)}", where
            )
        for index, item in enumerate(value, start=1):
            if not isinstance(item, str):
                raise ProfileError(
                    name, key, f"item {index} must be a string, not {_a_type(item)}", where
                )
        return tuple(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = "true or false" if kind is bool else article(TOML_TYPE_NAMES[kind])
        raise ProfileError(name, key, f"must be {expected}, not {_a_type(value)}", where)
    return value
