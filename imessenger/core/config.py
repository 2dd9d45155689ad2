"""imessenger's configuration: shipped defaults, overridden key by key by the user's file.

The defaults are two TOML files in the ``imessenger.conf`` package (``conf/`` in the
source tree): ``imessenger.toml`` (general settings) and ``agents.toml`` (agent
profiles, ``[agents.NAME]``), read by :mod:`imessenger.adapters.config_files`, as is the
user's file, which may hold keys of both. This module is pure: it checks, merges and types
what was read. Merging is deep for tables; a list or a scalar in
the user's file replaces the default value as a whole.

The defaults are the schema: the user's file may only set keys the defaults have,
with the same TOML type (an integer where a float is expected is fine; a boolean is
never an integer). The one open table is ``agents``: a user may add a profile
``[agents.NAME]`` without any code. Its keys are checked against the keys of the
default profiles, and every key it leaves out is taken from the ``shell`` profile
(a plain program: never busy, never asking), as the user's file has it. Screen
patterns (keys ending in ``_patterns``) that the user's file sets must compile as
regular expressions.

Every problem raises :class:`imessenger.core.errors.ConfigError` naming the file, the
dotted key and what is wrong. Once the merged values pass, the general settings are
typed once, into :class:`Settings` (``config.settings.send.poll_s``): a name ending
in ``_s`` holds the setting's ``_ms`` value in seconds, and ``[policy]`` becomes an
:class:`imessenger.core.policy.Policy` (whose entries must not be empty). The agent
profiles are typed by :mod:`imessenger.core.profiles`, one by one, when they are used.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imessenger.core.attention import EVENTS, check_bell, notify_on
from imessenger.core.envelope import validate_envelope_template
from imessenger.core.errors import ConfigError
from imessenger.core.policy import Policy
from imessenger.core.screen import PatternError, compile_patterns
from imessenger.core.status_line import StatusFormats
from imessenger.core.targets import HOST_KEYS, Host
from imessenger.core.usage import PRICE_KEYS, Price

logger = logging.getLogger(__name__)

#: The default files, in the order they are read.
GENERAL_FILE = "imessenger.toml"
AGENTS_FILE = "agents.toml"
DEFAULT_FILES = (GENERAL_FILE, AGENTS_FILE)

#: ``Config.sources`` values for keys that come from the shipped defaults start with this.
DEFAULT_SOURCE = "default"

#: The profile of a plain program (never busy, never asking): a new ``[agents.NAME]``
#: takes its missing keys from it, and a session whose agent has no profile reads with it.
FALLBACK_PROFILE = "shell"

#: The shape of a ``[hosts.NAME]`` table (its values give the TOML types).
HOST_SHAPE: dict[str, Any] = {**HOST_KEYS, "destination": "", "ssh_args": [""]}
#: The shape of a ``[prices."MODEL"]`` table: a price per million tokens each.
PRICE_SHAPE: dict[str, Any] = dict.fromkeys(PRICE_KEYS, 0.0)
#: The open tables whose entries are named by anything (a model's name has dots and
#: slashes), not by the profile and host alphabet.
_FREELY_NAMED = ("prices",)

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

#: The TOML name of each Python type a TOML value can have.
TOML_TYPE_NAMES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "float",
    bool: "boolean",
    list: "array",
    dict: "table",
}


# --- the typed settings ------------------------------------------------------------------


@dataclass(frozen=True)
class SendSettings:
    """``[send]``: waiting for a reply, and for a pasted message to be taken."""

    timeout_ms: int
    poll_s: float
    submit_confirm_s: float
    submit_retry_s: float
    ready_timeout_s: float
    #: submit to a busy agent that queues messages, at once (see conf/imessenger.toml)
    queue_while_busy: bool = False


@dataclass(frozen=True)
class StartSettings:
    """``[start]``: the window of a new session (columns, rows) and its scrollback (lines)."""

    width: int
    height: int
    history_limit: int


@dataclass(frozen=True)
class ProtocolSettings:
    """``[protocol]``: the reply delimiter formats and the envelope template, checked."""

    reply_start: str
    reply_end: str
    envelope: str


@dataclass(frozen=True)
class StopSettings:
    """``[stop]``: how long an agent may take to exit before it is killed."""

    grace_s: float


@dataclass(frozen=True)
class WatchSettings:
    """``[watch]``: the watcher's pace, and how it tells a person what needs them."""

    interval_ms: int
    debounce_s: float
    notify_command: str
    tmux_message: bool
    #: start the watcher from the commands that need it, when none runs
    autostart: bool
    #: the tokens past which a session gets one notice (0: none)
    budget_tokens: int = 0
    #: busy this long without progress reads as stuck
    stuck_after_s: float = 600.0
    #: the events told on every channel (imessenger.core.attention.EVENTS)
    notify_on: tuple[str, ...] = EVENTS
    #: a desktop notification (notify-send) for each notice
    desktop: bool = False
    #: how the attached terminals are alerted: "off", "bell" or "osc9"
    bell: str = "off"
    #: done, stuck and error are told even while a client shows the session's pane
    notify_when_looking: bool = False


@dataclass(frozen=True)
class Settings:
    """The general settings, typed; the tables of conf/imessenger.toml explain each."""

    default_agent: str
    send: SendSettings
    start: StartSettings
    protocol: ProtocolSettings
    stop: StopSettings
    watch: WatchSettings
    status: StatusFormats
    policy: Policy
    hosts: dict[str, Host]
    #: ``[prices."MODEL"]``: what a model's tokens cost, by model name or glob
    prices: dict[str, Price] = field(default_factory=dict)


# --- the configuration ---------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The merged configuration.

    ``values`` holds the merged nested tables; ``sources`` maps every dotted leaf key
    (``"send.timeout_ms"``) to where its value came from: ``"default: conf/NAME.toml"``
    or the path of the user's file. ``settings`` are the general settings, typed.
    ``user_path`` is the user file that was consulted (it need not exist).
    """

    values: dict[str, Any]
    sources: dict[str, str]
    settings: Settings
    user_path: Path | None = None

    def lookup(self, dotted: str) -> Any:
        """Return the value (or table) at a dotted key, e.g. ``"send.timeout_ms"``.

        Raises ConfigError naming the known keys of the table where the lookup failed.
        """
        node: Any = self.values
        walked: list[str] = []
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                where = f"[{'.'.join(walked)}]" if walked else "the top level"
                known = ", ".join(sorted(node)) if isinstance(node, dict) else "(not a table)"
                raise ConfigError(
                    f'no configuration key "{dotted}"; known keys at {where}: {known}'
                )
            node = node[part]
            walked.append(part)
        return node

    def flat(self) -> dict[str, Any]:
        """Return every leaf value by its dotted key, in file order."""
        return dict(_leaves(self.values))


# --- the shape the defaults give ---------------------------------------------------------


@dataclass
class _Leaf:
    """A value that is not a table: the TOML types it may have (and its items', for arrays)."""

    types: set[type]
    items: set[type]


@dataclass
class _Table:
    """A table with fixed keys, or (``entries`` set) an open table of same-shaped tables."""

    keys: dict[str, _Leaf | _Table]
    entries: _Table | None = None


def _shape_of(value: Any) -> _Leaf | _Table:
    """Return the shape of one default value."""
    if isinstance(value, dict):
        return _Table({key: _shape_of(item) for key, item in value.items()})
    if isinstance(value, list):
        return _Leaf({list}, {type(item) for item in value})
    return _Leaf({type(value)}, set())


def _unite(first: _Leaf | _Table, second: _Leaf | _Table, where: str) -> _Leaf | _Table:
    """Return a shape that accepts what either shape accepts."""
    if isinstance(first, _Table) and isinstance(second, _Table):
        keys = dict(first.keys)
        for key, shape in second.keys.items():
            keys[key] = _unite(keys[key], shape, f"{where}.{key}") if key in keys else shape
        return _Table(keys)
    if isinstance(first, _Leaf) and isinstance(second, _Leaf):
        return _Leaf(first.types | second.types, first.items | second.items)
    raise ConfigError(
        f"{DEFAULT_SOURCE}: {where} is a table in one default profile and a value in another; "
        "the shipped agents.toml is broken: reinstall imessenger"
    )


def _schema(defaults: dict[str, Any]) -> _Table:
    """Return the shape user files must follow; ``agents`` is open to new profiles,
    ``hosts`` to hosts."""
    schema = _shape_of(defaults)
    assert isinstance(schema, _Table)
    profiles = defaults.get("agents")
    if isinstance(profiles, dict):
        profile_shape: _Leaf | _Table = _Table({})
        for name, profile in profiles.items():
            profile_shape = _unite(profile_shape, _shape_of(profile), f"agents.{name}")
        assert isinstance(profile_shape, _Table)
        schema.keys["agents"] = _Table({}, entries=profile_shape)
    # Open too, with no default entry: the hosts a user reaches over ssh.
    host_shape = _shape_of(HOST_SHAPE)
    assert isinstance(host_shape, _Table)
    schema.keys["hosts"] = _Table({}, entries=host_shape)
    # And the prices of the models a user gives (an estimate of what a session cost).
    price_shape = _shape_of(PRICE_SHAPE)
    assert isinstance(price_shape, _Table)
    schema.keys["prices"] = _Table({}, entries=price_shape)
    return schema


# --- reading files -----------------------------------------------------------------------


def dotted_key(prefix: str, key: str) -> str:
    """Join a dotted prefix and a key, quoting keys that are not bare TOML keys."""
    part = key if _BARE_KEY.match(key) else '"' + key.replace('"', '\\"') + '"'
    return f"{prefix}.{part}" if prefix else part


def type_name(value: Any) -> str:
    """Return the TOML name of a value's type ("string", "integer"...)."""
    return TOML_TYPE_NAMES.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """Return a short rendering of a value for an error message."""
    text = repr(value) if not isinstance(value, bool) else str(value).lower()
    return text if len(text) <= 60 else text[:57] + "..."


def parse_toml(data: bytes, where: str) -> dict[str, Any]:
    """Parse TOML bytes; raise ConfigError naming ``where`` and tomllib's reason."""
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text ({exc}); save it as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {exc}") from exc


# --- checking the user's file --------------------------------------------------------------


def _check_value(value: Any, shape: _Leaf, key: str, where: str) -> None:
    """Raise ConfigError unless ``value`` has one of the shape's types."""

    def fits(item: Any, types: set[type]) -> bool:
        kind = type(item)
        return kind in types or (kind is int and float in types)

    if not fits(value, shape.types):
        expected = " or ".join(sorted(TOML_TYPE_NAMES.get(t, t.__name__) for t in shape.types))
        raise ConfigError(
            f"{where}: {key} must be {article(expected)}, got {type_name(value)} {_shown(value)}"
        )
    if isinstance(value, list) and shape.items:
        for index, item in enumerate(value):
            if not fits(item, shape.items):
                expected = " or ".join(
                    sorted(TOML_TYPE_NAMES.get(t, t.__name__) for t in shape.items)
                )
                raise ConfigError(
                    f"{where}: {key}[{index}] must be {article(expected)}, "
                    f"got {type_name(item)} {_shown(item)}"
                )


def article(noun: str) -> str:
    """Return the noun with "a" or "an" in front."""
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _check_table(table: dict[str, Any], schema: _Table, prefix: str, where: str) -> None:
    """Raise ConfigError for the first unknown key or wrongly typed value in ``table``."""
    for key, value in table.items():
        dotted = dotted_key(prefix, key)
        if schema.entries is not None:
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{where}: {dotted} must be a table ([{dotted}]), "
                    f"got {type_name(value)} {_shown(value)}"
                )
            if prefix not in _FREELY_NAMED and not _PROFILE_NAME.match(key):
                raise ConfigError(
                    f'{where}: [{dotted}]: "{key}" is not a usable '
                    f"{'host' if prefix == 'hosts' else 'profile'} name; "
                    "use letters, digits, '-' and '_' (starting with a letter or digit)"
                )
            _check_table(value, schema.entries, dotted, where)
            continue
        shape = schema.keys.get(key)
        if shape is None:
            table_name = f"[{prefix}]" if prefix else "the top level"
            known = ", ".join(sorted(schema.keys)) or "(none)"
            raise ConfigError(
                f'{where}: unknown key "{dotted}"; known keys in {table_name}: {known} '
                "(check the spelling; `imessenger config show` lists every setting)"
            )
        if isinstance(shape, _Table):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{where}: {dotted} must be a table ([{dotted}]), "
                    f"got {type_name(value)} {_shown(value)}"
                )
            _check_table(value, shape, dotted, where)
        else:
            _check_value(value, shape, dotted, where)


# --- merging -------------------------------------------------------------------------------


def _leaves(table: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (dotted key, value) for every non-table value, depth first."""
    for key, value in table.items():
        dotted = dotted_key(prefix, key)
        if isinstance(value, dict):
            yield from _leaves(value, dotted)
        else:
            yield dotted, value


def _merge(
    base: dict[str, Any],
    override: dict[str, Any],
    sources: dict[str, str],
    source: str,
    prefix: str = "",
) -> dict[str, Any]:
    """Return ``base`` updated by ``override``: tables merge, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, sources, source, dotted_key(prefix, key))
        else:
            merged[key] = value
            for leaf, _ in _leaves({key: value}, prefix):
                sources[leaf] = source
    return merged


def _complete_new_profiles(
    values: dict[str, Any],
    user: dict[str, Any],
    defaults: dict[str, Any],
    sources: dict[str, str],
    where: str,
) -> None:
    """Fill the keys each new user profile leaves out from the fallback profile, in place.

    Runs on the merged values, so the user's own changes to the fallback profile carry over.
    """
    default_profiles: dict[str, Any] = defaults.get("agents", {})
    new = [name for name in user.get("agents", {}) if name not in default_profiles]
    if not new:
        return
    profiles: dict[str, Any] = values["agents"]
    fallback = profiles.get(FALLBACK_PROFILE)
    for name in new:
        if isinstance(fallback, dict):
            profiles[name] = _fill(
                profiles[name], fallback, f"agents.{name}", f"agents.{FALLBACK_PROFILE}", sources
            )
            continue
        required = sorted({key for profile in default_profiles.values() for key in profile})
        missing = [key for key in required if key not in profiles[name]]
        if missing:
            keys = ", ".join(dotted_key(f"agents.{name}", key) for key in missing)
            raise ConfigError(
                f"{where}: new profile [agents.{name}] must set {keys} "
                f'(there is no "{FALLBACK_PROFILE}" profile to take missing keys from)'
            )


def _fill(
    given: dict[str, Any],
    fallback: dict[str, Any],
    prefix: str,
    fallback_prefix: str,
    sources: dict[str, str],
) -> dict[str, Any]:
    """Return ``given`` with the keys it lacks copied from ``fallback`` (tables deeply)."""
    filled = dict(given)
    for key, value in fallback.items():
        if key not in filled:
            filled[key] = value
            for leaf, _ in _leaves({key: value}, prefix):
                origin = sources.get(fallback_prefix + leaf[len(prefix) :], DEFAULT_SOURCE)
                sources[leaf] = f"{origin} ({fallback_prefix})"
        elif isinstance(value, dict) and isinstance(filled[key], dict):
            filled[key] = _fill(
                filled[key],
                value,
                dotted_key(prefix, key),
                dotted_key(fallback_prefix, key),
                sources,
            )
    return filled


# --- checking the merged values ------------------------------------------------------------


def _check_merged(values: dict[str, Any], sources: dict[str, str]) -> None:
    """Raise ConfigError for values that have the right type but cannot work."""

    def origin(key: str) -> str:
        return sources.get(key, DEFAULT_SOURCE)

    for key, value in _leaves(values):
        if key.endswith("_ms") and isinstance(value, int) and not isinstance(value, bool):
            in_profile = key.startswith("agents.")
            if value < 0 or (value == 0 and not in_profile):
                need = "zero or more" if in_profile else "a positive number of milliseconds"
                raise ConfigError(f"{origin(key)}: {key} must be {need}, got {value}")
        if key == "watch.budget_tokens" and isinstance(value, int) and value < 0:
            raise ConfigError(
                f"{origin(key)}: {key} must be a number of tokens, or 0 for no budget; got {value}"
            )
        if key.startswith("agents.") and key.endswith("_patterns") and isinstance(value, list):
            if origin(key).startswith(DEFAULT_SOURCE):
                continue  # the shipped patterns are tested with the screens they match
            try:
                compile_patterns(key, value)
            except PatternError as exc:
                raise ConfigError(
                    f"{origin(key)}: {key}[{exc.index}] is not a valid regular expression "
                    f"({exc.cause}): {exc.source!r}"
                ) from exc

    profiles = values.get("agents", {})
    default_agent = values.get("default_agent")
    if (
        isinstance(default_agent, str)
        and isinstance(profiles, dict)
        and default_agent not in profiles
    ):
        known = ", ".join(sorted(profiles)) or "(none)"
        raise ConfigError(
            f"{origin('default_agent')}: default_agent: no agent profile named "
            f'"{default_agent}"; known profiles: {known}'
        )

    protocol = values.get("protocol", {})
    start = protocol.get("reply_start")
    end = protocol.get("reply_end")
    if isinstance(start, str) and isinstance(end, str):
        for key, fmt in (("protocol.reply_start", start), ("protocol.reply_end", end)):
            reason = _delimiter_problem(fmt)
            if reason:
                raise ConfigError(f"{origin(key)}: {key}: {reason}, got {fmt!r}")
        if start.format(id="0123abcd") == end.format(id="0123abcd"):
            raise ConfigError(
                f"{origin('protocol.reply_end')}: protocol.reply_end must differ from "
                f"protocol.reply_start, both are {end!r}"
            )
        envelope = protocol.get("envelope")
        if isinstance(envelope, str):
            reason = validate_envelope_template(envelope, start, end)
            if reason:
                raise ConfigError(f"{origin('protocol.envelope')}: protocol.envelope: {reason}")


def _delimiter_problem(fmt: str) -> str | None:
    """Return why a reply delimiter format is unusable, or None."""
    if fmt.count("{id}") != 1:
        return "must contain {id} exactly once"
    try:
        filled = fmt.format(id="0123abcd")
    except (KeyError, IndexError, ValueError):
        return "may hold no placeholder but {id} (write a literal brace twice: {{ }})"
    if "\n" in filled or "\r" in filled:
        return "must be a single line"
    if filled != filled.strip():
        return "must not start or end with whitespace"
    return None


# --- typing the settings ------------------------------------------------------------------


def _origin(sources: dict[str, str], key: str) -> str:
    """Where the value of a dotted key came from (a file, or the defaults)."""
    return sources.get(key, DEFAULT_SOURCE)


def _settings(values: dict[str, Any], where: str, sources: dict[str, str]) -> Settings:
    """Type the checked general settings; ``where`` names the user's file for the policy,
    ``sources`` where each key came from.

    Raises ConfigError for a ``[policy]`` entry that names no session, a
    ``watch.notify_on`` entry that names no event and a ``watch.bell`` it does not know.
    """
    send, start, protocol = values["send"], values["start"], values["protocol"]
    watch, status = values["watch"], values["status"]
    return Settings(
        default_agent=values["default_agent"],
        send=SendSettings(
            timeout_ms=send["timeout_ms"],
            poll_s=send["poll_ms"] / 1000,
            submit_confirm_s=send["submit_confirm_ms"] / 1000,
            submit_retry_s=send["submit_retry_ms"] / 1000,
            ready_timeout_s=send["ready_timeout_ms"] / 1000,
            queue_while_busy=send["queue_while_busy"],
        ),
        start=StartSettings(
            width=start["width"], height=start["height"], history_limit=start["history_limit"]
        ),
        protocol=ProtocolSettings(
            reply_start=protocol["reply_start"],
            reply_end=protocol["reply_end"],
            envelope=protocol["envelope"],
        ),
        stop=StopSettings(grace_s=values["stop"]["grace_ms"] / 1000),
        watch=WatchSettings(
            interval_ms=watch["interval_ms"],
            debounce_s=watch["debounce_ms"] / 1000,
            notify_command=watch["notify_command"],
            tmux_message=watch["tmux_message"],
            autostart=watch["autostart"],
            budget_tokens=watch["budget_tokens"],
            stuck_after_s=watch["stuck_after_ms"] / 1000,
            notify_on=notify_on(watch["notify_on"], _origin(sources, "watch.notify_on")),
            desktop=watch["desktop"],
            bell=check_bell(watch["bell"], _origin(sources, "watch.bell")),
            notify_when_looking=watch["notify_when_looking"],
        ),
        status=StatusFormats(
            asking=status["asking"],
            unread=status["unread"],
            separator=status["separator"],
            stopped=status["stopped"],
        ),
        policy=Policy.from_table(values["policy"], where),
        hosts={
            name: Host.from_table(name, table, where)
            for name, table in values.get("hosts", {}).items()
        },
        prices={
            model: Price.from_table(model, table, where)
            for model, table in values.get("prices", {}).items()
        },
    )


# --- the starter file ------------------------------------------------------------------------


# --- the entry point -------------------------------------------------------------------------


def build_config(
    defaults: dict[str, Any],
    sources: dict[str, str],
    user: dict[str, Any] | None,
    user_path: Path,
) -> Config:
    """Check the user's table (None: no file) against the defaults, merge it over them and
    type the result. ``sources`` says where each default came from (it is completed
    with the user's keys). Raises ConfigError naming file, key and reason."""
    values = defaults
    if user is not None:
        where = str(user_path)
        _check_table(user, _schema(defaults), "", where)
        values = _merge(defaults, user, sources, where)
        _complete_new_profiles(values, user, defaults, sources, where)
    _check_merged(values, sources)
    settings = _settings(values, str(user_path), sources)
    return Config(values=values, sources=sources, settings=settings, user_path=user_path)


def merge_defaults(
    files: list[tuple[str, str, dict[str, Any]]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """The shipped default files, ``(name, where, table)`` each, merged into one table, and
    where each key came from. Raises ConfigError when two files set the same key."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, where, table in files:
        clash = sorted(set(table) & set(values))
        if clash:
            raise ConfigError(
                f"{where}: sets {', '.join(clash)}, which another default file sets too; "
                "reinstall imessenger"
            )
        values.update(table)
        label = f"{DEFAULT_SOURCE}: conf/{name}"
        for key, _ in _leaves(table):
            sources[key] = label
    return values, sources
