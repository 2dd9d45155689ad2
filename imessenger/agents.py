"""Agent profiles: how to start, drive, read and stop one kind of agent.

The profiles come from the configuration (``conf/agents.toml`` and the user's file,
tables ``[agents.NAME]``); that file explains every key. This module turns such a
table into a checked :class:`Profile` whose screen patterns are compiled once.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

from imessenger.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from imessenger.screen import Option

logger = logging.getLogger(__name__)

#: The ways of choosing a prompt's option (the ``choose`` key).
CHOOSE_DIGIT = "digit"
CHOOSE_LETTER_ENTER = "letter-enter"
CHOOSE_STYLES = (CHOOSE_DIGIT, CHOOSE_LETTER_ENTER)

#: The placeholder in ``command`` that stands for the Python running imessenger.
PYTHON_PLACEHOLDER = "{python}"

#: Named groups that some pattern keys must define, and what they are for.
_REQUIRED_GROUPS: dict[str, tuple[str, ...]] = {
    "option_patterns": ("key", "label"),
    "inline_option_patterns": ("key",),
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
    """What this module needs of :class:`imessenger.config.Config`."""

    @property
    def values(self) -> dict[str, Any]: ...

    @property
    def sources(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class Profile:
    """One agent profile (``[agents.NAME]``); see conf/agents.toml for each key.

    Construct it with :meth:`from_dict` to have a configuration table checked; the
    constructor itself checks the values and compiles the screen patterns, raising
    ConfigError naming the profile, the key and the reason.
    """

    name: str
    description: str
    command: tuple[str, ...]
    environment: tuple[str, ...]
    submit_keys: tuple[str, ...]
    choose: str
    exit_text: str
    exit_keys: tuple[str, ...]
    startup_ms: int
    queues_when_busy: bool
    submit_retry: bool
    marker_lines: int
    strip_patterns: tuple[str, ...]
    busy_patterns: tuple[str, ...]
    starting_patterns: tuple[str, ...]
    idle_patterns: tuple[str, ...]
    queued_patterns: tuple[str, ...]
    input_patterns: tuple[str, ...]
    input_continuation_patterns: tuple[str, ...]
    input_below_patterns: tuple[str, ...]
    input_placeholder_patterns: tuple[str, ...]
    question_patterns: tuple[str, ...]
    option_patterns: tuple[str, ...]
    inline_option_patterns: tuple[str, ...]
    prompt_footer_patterns: tuple[str, ...]
    prompt_start_patterns: tuple[str, ...]
    subject_fence_patterns: tuple[str, ...]
    subject_patterns: tuple[str, ...]
    yes_once_patterns: tuple[str, ...]
    yes_always_patterns: tuple[str, ...]
    no_patterns: tuple[str, ...]
    _compiled: dict[str, tuple[re.Pattern[str], ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        self._check_values()
        compiled = {key: self._compile(key) for key in pattern_keys()}
        object.__setattr__(self, "_compiled", compiled)

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
                f"must be a table ([agents.{name}]), not {_type_name(data)}",
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
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if not spec.init or spec.name == "name":
                continue
            key = spec.name
            value = data[key]
            where = _where(sources, name, key)
            if key in _STRING_KEYS:
                values[key] = _expect_str(name, key, value, where)
            elif key in _INT_KEYS:
                values[key] = _expect_int(name, key, value, where)
            elif key in _BOOL_KEYS:
                values[key] = _expect_bool(name, key, value, where)
            else:
                values[key] = _expect_strings(name, key, value, where)
        try:
            return cls(name=name, **values)
        except ProfileError as exc:
            # the constructor names profile and key; add the file the key came from
            where = _where(sources, name, exc.key)
            raise ProfileError(name, exc.key, exc.reason, where) from None

    # --- use ------------------------------------------------------------------------

    def patterns(self, key: str) -> tuple[re.Pattern[str], ...]:
        """Return the compiled patterns of one ``*_patterns`` key."""
        return self._compiled[key]

    def argv(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Return the command to run: ``{python}`` replaced, ``[]`` -> the user's $SHELL."""
        if not self.command:
            env = os.environ if environ is None else environ
            return [env.get("SHELL") or "/bin/sh"]
        return [part.replace(PYTHON_PLACEHOLDER, sys.executable) for part in self.command]

    def env(self) -> dict[str, str]:
        """Return the variables the agent is started with (``environment``), by name."""
        return dict(entry.split("=", 1) for entry in self.environment)

    def keys_for(self, option: Option) -> list[str]:
        """Return the tmux keys that choose ``option`` in this agent's prompts."""
        if self.choose == CHOOSE_LETTER_ENTER:
            return [option.key, "Enter"]
        return [option.key]

    # --- checks ---------------------------------------------------------------------

    def _fail(self, key: str, reason: str) -> ProfileError:
        return ProfileError(self.name, key, reason)

    def _check_values(self) -> None:
        if self.choose not in CHOOSE_STYLES:
            raise self._fail("choose", f'"{self.choose}" is not one of: {", ".join(CHOOSE_STYLES)}')
        if not self.submit_keys:
            raise self._fail("submit_keys", "is empty: name the key that submits, e.g. Enter")
        for entry in self.environment:
            key, equals, _ = entry.partition("=")
            if not equals or not key or not key.replace("_", "a").isalnum():
                raise self._fail("environment", f'"{entry}" is not of the form NAME=VALUE')
        if not self.exit_text and not self.exit_keys:
            raise self._fail(
                "exit_keys", 'is empty while exit_text is "": give one of them to stop the agent'
            )
        if self.startup_ms < 0:
            raise self._fail("startup_ms", f"must be 0 or more, not {self.startup_ms}")
        if self.marker_lines < 1:
            raise self._fail("marker_lines", f"must be 1 or more, not {self.marker_lines}")

    def _compile(self, key: str) -> tuple[re.Pattern[str], ...]:
        compiled: list[re.Pattern[str]] = []
        for index, source in enumerate(getattr(self, key), start=1):
            try:
                pattern = re.compile(source)
            except re.error as exc:
                raise self._fail(
                    key, f"pattern {index} ({source!r}) is not a valid regular expression: {exc}"
                ) from None
            for group in _REQUIRED_GROUPS.get(key, ()):
                if group not in pattern.groupindex:
                    raise self._fail(
                        key, f'pattern {index} ({source!r}) has no group named "{group}"'
                    )
            compiled.append(pattern)
        return tuple(compiled)


_STRING_KEYS = frozenset({"description", "choose", "exit_text"})
_INT_KEYS = frozenset({"startup_ms", "marker_lines"})
_BOOL_KEYS = frozenset({"queues_when_busy", "submit_retry"})


def profile_keys() -> tuple[str, ...]:
    """Return the keys every ``[agents.NAME]`` table has, in file order."""
    return tuple(spec.name for spec in fields(Profile) if spec.init and spec.name != "name")


def pattern_keys() -> tuple[str, ...]:
    """Return the keys that hold lists of regular expressions."""
    return tuple(key for key in profile_keys() if key.endswith("_patterns"))


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


def _type_name(value: Any) -> str:
    """Return the TOML name of a value's type."""
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a float"}
    names.update({list: "an array", dict: "a table"})
    return names.get(type(value), type(value).__name__)


def _expect_str(name: str, key: str, value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ProfileError(name, key, f"must be a string, not {_type_name(value)}", where)
    return value


def _expect_int(name: str, key: str, value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProfileError(name, key, f"must be an integer, not {_type_name(value)}", where)
    return value


def _expect_bool(name: str, key: str, value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ProfileError(name, key, f"must be true or false, not {_type_name(value)}", where)
    return value


def _expect_strings(name: str, key: str, value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise ProfileError(
            name, key, f"must be an array of strings, not {_type_name(value)}", where
        )
    for index, item in enumerate(value, start=1):
        if not isinstance(item, str):
            raise ProfileError(
                name, key, f"item {index} must be a string, not {_type_name(item)}", where
            )
    return tuple(value)
