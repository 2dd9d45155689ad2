"""Agent profiles: the shipped ones load, bad ones are refused with a clear message."""

from __future__ import annotations

import copy
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from imessenger.core.errors import ConfigError, UsageError
from imessenger.core.profiles import (
    Drive,
    Launch,
    Profile,
    ProfileError,
    get_profile,
    load_profiles,
    profile_keys,
)
from imessenger.core.screen import PATTERN_KEYS, Meaning, Option, ScreenGrammar, State, classify

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NAMES = [
    "claude",
    "codex",
    "gemini",
    "aider",
    "shell",
    "demo",
    "qwen",
    "copilot",
    "opencode",
]


def default_tables() -> dict[str, dict[str, Any]]:
    """The ``[agents.NAME]`` tables of conf/agents.toml, read with tomllib."""
    with (ROOT / "conf" / "agents.toml").open("rb") as handle:
        tables: dict[str, dict[str, Any]] = tomllib.load(handle)["agents"]
    return tables


@dataclass(frozen=True)
class PlainConfig:
    """Just the part of imessenger.core.config.Config that the profiles read."""

    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)


def config_with(tables: dict[str, dict[str, Any]], **sources: str) -> PlainConfig:
    return PlainConfig({"agents": tables}, dict(sources))


# --- the shipped profiles ---------------------------------------------------------------


def test_every_default_profile_loads() -> None:
    profiles = load_profiles(config_with(default_tables()))
    assert list(profiles) == DEFAULT_NAMES
    for name, profile in profiles.items():
        assert profile.name == name
        assert profile.description


@pytest.mark.parametrize("name", DEFAULT_NAMES)
def test_every_default_profile_has_every_key(name: str) -> None:
    assert list(default_tables()[name]) == list(profile_keys())


def test_default_commands_and_ways_to_exit() -> None:
    profiles = load_profiles(config_with(default_tables()))
    table = {
        name: (p.launch.command, p.drive.choose, p.launch.exit_text, p.launch.exit_keys)
        for name, p in profiles.items()
    }
    assert table == {
        "claude": (("claude",), "digit", "/exit", ("C-c", "C-c")),
        "codex": (("codex", "--no-daemon", "--no-alt-screen"), "digit", "/quit", ("C-c", "C-c")),
        "gemini": (("gemini",), "digit", "/quit", ("C-c", "C-c")),
        "aider": (("aider",), "letter-enter", "/exit", ("C-c", "C-c")),
        "shell": ((), "digit", "", ("C-d",)),
        "demo": (("{python}", "-m", "imessenger.demo.agent"), "digit", "/exit", ("C-d",)),
        "qwen": (("qwen",), "digit", "/quit", ("C-c", "C-c")),
        "copilot": (("copilot",), "digit-escape-no", "/exit", ("C-c", "C-c")),
        "opencode": (("opencode",), "arrows", "/exit", ("C-c", "C-c")),
    }


def test_only_claude_demo_copilot_and_opencode_queue_while_busy() -> None:
    profiles = load_profiles(config_with(default_tables()))
    queueing = [name for name, p in profiles.items() if p.drive.queues_when_busy]
    assert queueing == ["claude", "demo", "copilot", "opencode"]


def test_profiles_load_through_the_config_module(tmp_path: Path) -> None:
    from imessenger.adapters.config_files import load_config

    user = tmp_path / "config.toml"
    user.write_text('[agents.top]\ncommand = ["top"]\n', encoding="utf-8")
    profiles = load_profiles(load_config(user))
    assert set(profiles) == {*DEFAULT_NAMES, "top"}
    # a new profile takes its other keys from "shell": idle whenever it shows something
    top = profiles["top"]
    assert top.launch.command == ("top",)
    assert classify("Tasks: 12 total", top.grammar).state == State.IDLE


# --- commands and keys --------------------------------------------------------------------


def test_python_placeholder_is_this_python() -> None:
    demo = Profile.from_dict("demo", default_tables()["demo"])
    assert demo.launch.argv() == [sys.executable, "-m", "imessenger.demo.agent"]


def test_empty_command_runs_the_users_shell() -> None:
    shell = Profile.from_dict("shell", default_tables()["shell"])
    assert shell.launch.argv({"SHELL": "/usr/bin/zsh"}) == ["/usr/bin/zsh"]
    assert shell.launch.argv({}) == ["/bin/sh"]


def test_keys_for_digit_is_the_digit_alone() -> None:
    claude = Profile.from_dict("claude", default_tables()["claude"])
    assert claude.drive.keys_for(Option("1", "Yes", Meaning.YES_ONCE, True)) == ["1"]


def test_keys_for_letter_enter_is_letter_then_enter() -> None:
    aider = Profile.from_dict("aider", default_tables()["aider"])
    assert aider.drive.keys_for(Option("y", "Yes", Meaning.YES_ONCE, True)) == ["y", "Enter"]


def test_keys_for_digit_escape_no_is_escape_for_no_and_the_digit_else() -> None:
    # Copilot CLI: its "No, and tell Copilot what to do differently" takes words; its
    # digit only selects it, Escape answers no
    copilot = Profile.from_dict("copilot", default_tables()["copilot"])
    no = Option("3", "No, and tell Copilot what to do differently", Meaning.NO, False)
    assert copilot.drive.keys_for(no) == ["Escape"]
    assert copilot.drive.keys_for(Option("1", "Yes", Meaning.YES_ONCE, True)) == ["1"]
    always = Option("2", "Yes, and don't ask again", Meaning.YES_ALWAYS, False)
    assert copilot.drive.keys_for(always) == ["2"]


def test_the_profile_keeps_its_launch_drive_and_grammar_apart() -> None:
    table = default_tables()["claude"]
    claude = Profile.from_dict("claude", table)
    assert (claude.name, claude.description) == ("claude", "Claude Code")
    assert claude.launch == Launch(
        command=("claude",),
        environment=("CLAUDE_CODE_DISABLE_ALTERNATE_SCREEN=1",),
        exit_text="/exit",
        exit_keys=("C-c", "C-c"),
        startup_ms=8000,
        record="claude",
        allow_reply="claude",
        hooks="claude",
        mcp="claude",
    )
    assert claude.drive == Drive(
        submit_keys=("Enter",),
        choose="digit",
        queues_when_busy=True,
        submit_retry=True,
        bracket_pastes=False,
    )
    assert isinstance(claude.grammar, ScreenGrammar)
    assert claude.grammar.marker_lines == table["marker_lines"]
    for key in PATTERN_KEYS:
        compiled = getattr(claude.grammar, key)
        assert all(isinstance(pattern, re.Pattern) for pattern in compiled)
        assert [pattern.pattern for pattern in compiled] == table[key]
    assert set(PATTERN_KEYS) <= set(profile_keys())
    assert all(key.endswith("_patterns") for key in PATTERN_KEYS)


def test_a_record_kind_must_be_known() -> None:
    table = {**default_tables()["claude"], "record": "transcript"}
    with pytest.raises(ProfileError, match='"transcript" is not one of: "", claude'):
        Profile.from_dict("claude", table)


def test_environment_and_startup() -> None:
    claude = Profile.from_dict("claude", default_tables()["claude"])
    assert claude.launch.env() == {"CLAUDE_CODE_DISABLE_ALTERNATE_SCREEN": "1"}
    assert claude.launch.starting(7.9)
    assert not claude.launch.starting(8.0)


# --- refusing bad profiles ------------------------------------------------------------------


def broken(key: str, value: Any, name: str = "claude") -> dict[str, dict[str, Any]]:
    tables = copy.deepcopy(default_tables())
    tables[name][key] = value
    return tables


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("busy_patterns", ["ok", "[unclosed"], "pattern 2 ('[unclosed') is not a valid regular"),
        ("question_patterns", ["(?P<question>"], "is not a valid regular expression"),
        ("option_patterns", [r"^(\d+)\. (.*)$"], 'has no group named "key"'),
        ("startup_ms", "fast", "must be an integer, not a string"),
        ("startup_ms", True, "must be an integer, not a boolean"),
        ("startup_ms", -1, "must be 0 or more"),
        ("marker_lines", 0, "must be 1 or more"),
        ("command", "claude", "must be an array of strings, not a string"),
        ("submit_keys", ["Enter", 13], "item 2 must be a string, not an integer"),
        ("submit_keys", [], "is empty"),
        ("description", ["x"], "must be a string, not an array"),
        ("choose", "number", '"number" is not one of: digit, letter-enter'),
        ("idle_patterns", "ok", "must be an array of strings"),
        ("queues_when_busy", "yes", "must be true or false, not a string"),
        ("queues_when_busy", 1, "must be true or false, not an integer"),
    ],
)
def test_bad_value_names_profile_key_and_reason(key: str, value: Any, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_profiles(config_with(broken(key, value)))
    message = str(caught.value)
    assert message.startswith(f'agent profile "claude": key "{key}": ')
    assert reason in message
    assert isinstance(caught.value, ProfileError)
    assert caught.value.key == key


def test_error_says_which_file_the_key_came_from() -> None:
    config = PlainConfig(
        {"agents": broken("busy_patterns", ["("])},
        {"agents.claude.busy_patterns": "/home/me/.config/imessenger/config.toml"},
    )
    with pytest.raises(ConfigError, match=r"\(in /home/me/\.config/imessenger/config\.toml\)"):
        load_profiles(config)


def test_nothing_to_exit_with_is_refused() -> None:
    tables = broken("exit_text", "")
    tables["claude"]["exit_keys"] = []
    with pytest.raises(ConfigError, match=r'"claude": key "exit_keys": is empty'):
        load_profiles(config_with(tables))


def test_missing_key_is_named() -> None:
    tables = default_tables()
    del tables["codex"]["busy_patterns"]
    with pytest.raises(ConfigError, match=r'"codex": key "busy_patterns": is missing'):
        load_profiles(config_with(tables))


def test_unknown_key_is_named() -> None:
    tables = broken("busy_patern", ["x"], name="gemini")
    with pytest.raises(ConfigError, match=r'"gemini": key "busy_patern": is not a profile key'):
        load_profiles(config_with(tables))


def test_profile_that_is_not_a_table() -> None:
    tables: dict[str, Any] = default_tables()
    tables["odd"] = "claude"
    with pytest.raises(ConfigError, match=r'"odd": must be a table'):
        load_profiles(config_with(tables))


def test_no_agents_table() -> None:
    with pytest.raises(ConfigError, match="no agent profiles"):
        load_profiles(PlainConfig({}))


# --- looking a profile up -------------------------------------------------------------------


def test_get_profile_by_name() -> None:
    profile = get_profile(config_with(default_tables()), "codex")
    assert profile.launch.command == ("codex", "--no-daemon", "--no-alt-screen")


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        get_profile(config_with(default_tables()), "claud")
    message = str(caught.value)
    assert 'no agent profile named "claud"' in message
    assert ", ".join(sorted(DEFAULT_NAMES)) in message


def test_get_profile_checks_only_that_profile() -> None:
    tables = broken("busy_patterns", ["("], name="gemini")
    assert get_profile(config_with(tables), "claude").name == "claude"
    with pytest.raises(ConfigError, match='"gemini"'):
        get_profile(config_with(tables), "gemini")


@pytest.mark.parametrize(
    ("key", "value", "listed"),
    [
        ("allow_reply", "codex", '"", claude, gemini, demo'),
        ("hooks", "gemini", '"", claude, codex, aider, demo'),
    ],
)
def test_the_ways_of_allowing_the_reply_and_of_hooks_must_be_known(
    key: str, value: str, listed: str
) -> None:
    table = {**default_tables()["claude"], key: value}
    with pytest.raises(ProfileError, match=f'{key}.*"{value}" is not one of: {listed}'):
        Profile.from_dict("claude", table)
