"""Tests for the configuration: the defaults, the user's file over them, `imessenger config`.

The autouse fixture in conftest.py points HOME, XDG_* and IMESSENGER_HOME at a
temporary folder, so the user file is ``$XDG_CONFIG_HOME/imessenger/config.toml``
there unless a test says otherwise. These tests are of that file itself: each starts
without one (``default_config``: not the tests' usual one, which turns autostart off),
and none starts a session.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from support import write_config

from imessenger.adapters import paths
from imessenger.adapters.config_files import load_config, load_defaults, starter_text
from imessenger.core.config import DEFAULT_SOURCE, FALLBACK_PROFILE, Config, Settings
from imessenger.core.errors import ConfigError
from imessenger.core.policy import Policy
from imessenger.core.usage import Price
from imessenger.interfaces.cli.config import config_group

pytestmark = pytest.mark.default_config

GENERAL_KEYS = {
    "default_agent",
    "send.timeout_ms",
    "send.poll_ms",
    "send.submit_confirm_ms",
    "send.submit_retry_ms",
    "send.ready_timeout_ms",
    "send.queue_while_busy",
    "start.width",
    "start.height",
    "start.history_limit",
    "protocol.reply_start",
    "protocol.reply_end",
    "protocol.envelope",
    "stop.grace_ms",
    "watch.interval_ms",
    "watch.debounce_ms",
    "watch.notify_command",
    "watch.tmux_message",
    "watch.autostart",
    "watch.budget_tokens",
    "watch.notify_on",
    "watch.stuck_after_ms",
    "watch.desktop",
    "watch.bell",
    "watch.notify_when_looking",
    "status.asking",
    "status.unread",
    "status.separator",
    "status.stopped",
    "policy.approvers",
    "policy.readers",
    "policy.managers",
    "policy.raw_senders",
}


def run(*args: str) -> Result:
    """Run `imessenger config ARGS` in-process."""
    return CliRunner().invoke(config_group, list(args), prog_name="imessenger config")


# --- defaults ------------------------------------------------------------------------------


def test_defaults_load_without_a_user_file() -> None:
    config = load_config()
    assert not paths.user_config_path().exists()
    assert config.user_path == paths.user_config_path()
    assert config.settings.send.timeout_ms == 30000
    assert config.settings.protocol.reply_start == "<<IMSG-REPLY {id}>>"
    assert set(config.sources) >= GENERAL_KEYS
    assert set(config.sources) == set(config.flat())
    for key in GENERAL_KEYS:
        assert config.sources[key] == f"{DEFAULT_SOURCE}: conf/imessenger.toml"
    assert config.settings.default_agent in config.values["agents"]


def test_default_profiles_share_one_key_set() -> None:
    values, sources = load_defaults()
    profiles = values["agents"]
    assert {"claude", "codex", "gemini", "aider", "shell", "demo"} <= set(profiles)
    key_sets = {name: frozenset(profile) for name, profile in profiles.items()}
    assert len(set(key_sets.values())) == 1, key_sets
    assert all(
        source == f"{DEFAULT_SOURCE}: conf/agents.toml"
        for key, source in sources.items()
        if key.startswith("agents.")
    )


def test_shipped_envelope_names_sender_id_and_both_ways_to_answer() -> None:
    envelope = load_config().settings.protocol.envelope
    assert "{sender}" in envelope
    assert "{id}" in envelope.splitlines()[0]
    # one absolute command (what allow_reply pre-allows), the answer in single quotes
    assert "`{reply} {id} 'your answer'`" in envelope
    assert "{start}" in envelope
    assert "IMSG-END" not in envelope


def test_config_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, imessenger.core.config; "
        "print(sorted({'click', 'tomli_w', 'libtmux'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# --- the user's file over the defaults -----------------------------------------------------


def test_user_value_overrides_one_key_and_keeps_the_rest() -> None:
    path = write_config("[send]\ntimeout_ms = 1234\n")
    config = load_config()
    assert config.settings.send.timeout_ms == 1234
    assert config.settings.send.poll_s == 0.01
    assert config.values["send"]["poll_ms"] == 10
    assert config.sources["send.timeout_ms"] == str(path)
    assert config.sources["send.poll_ms"] == f"{DEFAULT_SOURCE}: conf/imessenger.toml"
    assert config.sources["watch.interval_ms"] == f"{DEFAULT_SOURCE}: conf/imessenger.toml"


def test_user_list_replaces_the_default_list_and_profile_keys_merge() -> None:
    defaults = load_config()
    path = write_config('[agents.claude]\ncommand = ["claude", "--model", "sonnet"]\n')
    config = load_config()
    claude = config.lookup("agents.claude")
    assert claude["command"] == ["claude", "--model", "sonnet"]
    assert config.sources["agents.claude.command"] == str(path)
    for key, value in defaults.lookup("agents.claude").items():
        if key != "command":
            assert claude[key] == value
            assert config.sources[f"agents.claude.{key}"].startswith(DEFAULT_SOURCE)


def test_explicit_user_path_is_used(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text("[watch]\ninterval_ms = 99\n", encoding="utf-8")
    config = load_config(path)
    assert config.settings.watch.interval_ms == 99
    assert config.user_path == path


def test_imessenger_config_variable_is_respected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "chosen.toml"
    path.write_text("[stop]\ngrace_ms = 42\n", encoding="utf-8")
    monkeypatch.setenv("IMESSENGER_CONFIG", str(path))
    config = load_config()
    assert config.settings.stop.grace_s == 0.042
    assert config.sources["stop.grace_ms"] == str(path)


def test_xdg_config_home_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "imessenger").mkdir(parents=True)
    (xdg / "imessenger" / "config.toml").write_text("[send]\npoll_ms = 7\n", encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert load_config().settings.send.poll_s == 0.007


def test_lookup_names_the_known_keys_of_the_table() -> None:
    with pytest.raises(ConfigError, match=r"send\.timeout\b.*known keys at \[send\]: poll_ms"):
        load_config().lookup("send.timeout")


# --- the typed settings ---------------------------------------------------------------------


def typed(settings: Settings) -> dict[str, Any]:
    """Every typed setting by dotted name, the policy left out."""
    found: dict[str, Any] = {"default_agent": settings.default_agent}
    for table in ("send", "start", "protocol", "stop", "watch", "status"):
        part = getattr(settings, table)
        # StatusFormats is a plain class (imessenger status imports no dataclasses)
        fields = (
            dataclasses.asdict(part)
            if dataclasses.is_dataclass(part)
            else {name: getattr(part, name) for name in part.__slots__}
        )
        for name, value in fields.items():
            found[f"{table}.{name}"] = value
    return found


def key_of(name: str) -> str:
    """The TOML key a typed setting stands for: a name ending in _s is the _ms key."""
    return name.removesuffix("_s") + "_ms" if name.endswith("_s") else name


def toml_value(values: dict[str, Any], name: str) -> Any:
    """What a typed setting must be, from the TOML values: an _ms key in seconds for _s."""
    table, _, key = key_of(name).rpartition(".")
    value = values[table][key] if table else values[key]
    if isinstance(value, list):
        return tuple(value)  # a list of names is typed as a tuple
    return value / 1000 if name.endswith("_s") else value


def test_typed_settings_are_the_shipped_toml_values() -> None:
    general = tomllib.loads(
        (Path(__file__).resolve().parent.parent / "conf" / "imessenger.toml").read_text()
    )
    settings = load_config().settings
    # every general key has its typed setting, and no typed setting lacks its key
    policy_keys = {key for key in GENERAL_KEYS if key.startswith("policy.")}
    assert {key_of(name) for name in typed(settings)} == GENERAL_KEYS - policy_keys
    for name, value in typed(settings).items():
        assert value == toml_value(general, name), name
    assert settings.policy == Policy(**{k: tuple(v) for k, v in general["policy"].items()})
    assert settings.send.poll_s == 0.01
    assert settings.send.timeout_ms == 30000
    assert settings.stop.grace_s == 5.0
    assert settings.watch.interval_ms == 250
    assert settings.watch.debounce_s == 0.015
    assert settings.start.width == 200
    assert settings.status.asking == "⚠ {count} asking"
    assert settings.policy == Policy()


def test_typed_settings_have_their_declared_types() -> None:
    settings = load_config().settings
    assert type(settings.default_agent) is str
    for section in dataclasses.fields(Settings):
        part = getattr(settings, section.name)
        if not dataclasses.is_dataclass(part):
            continue
        for name, hint in typing.get_type_hints(type(part)).items():
            value = getattr(part, name)
            if hint == tuple[str, ...]:
                assert type(value) is tuple
                assert all(type(item) is str for item in value)
            else:
                assert type(value) is hint, (section.name, name, value)


def test_typed_settings_take_the_users_values() -> None:
    path = write_config(
        'default_agent = "codex"\n\n[send]\npoll_ms = 25\nsubmit_retry_ms = 1500\n\n'
        '[watch]\ntmux_message = false\n\n[policy]\napprovers = ["coord*"]\n'
    )
    config = load_config()
    settings = config.settings
    for name, value in typed(settings).items():
        assert value == toml_value(config.values, name), name
    assert settings.default_agent == "codex"
    assert settings.send.poll_s == 0.025
    assert settings.send.submit_retry_s == 1.5
    assert settings.send.timeout_ms == 30000
    assert settings.watch.tmux_message is False
    assert settings.policy == Policy(approvers=("coord*",))
    assert config.sources["send.poll_ms"] == str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            '[send]\npoll_ms = "fast"\n',
            "send.poll_ms must be an integer, got string 'fast'",
            id="string-for-ms",
        ),
        pytest.param(
            "[stop]\ngrace_ms = 2.5\n",
            "stop.grace_ms must be an integer, got float 2.5",
            id="float-for-ms",
        ),
        pytest.param(
            '[watch]\ntmux_message = "yes"\n',
            "watch.tmux_message must be a boolean, got string 'yes'",
            id="string-for-bool",
        ),
        pytest.param(
            "[status]\nasking = 3\n",
            "status.asking must be a string, got integer 3",
            id="integer-for-string",
        ),
        pytest.param(
            '[policy]\napprovers = "coord*"\n',
            "policy.approvers must be an array, got string 'coord*'",
            id="string-for-list",
        ),
        pytest.param(
            '[policy]\nreaders = [""]\n',
            "policy.readers must be a list of session names or globs, got ['']",
            id="empty-policy-name",
        ),
        pytest.param(
            '[watch]\nnotify_on = ["done", "finished"]\n',
            "watch.notify_on[1] is 'finished', not an event; "
            "use some of: asking, exited, done, stuck, error, budget",
            id="unknown-event",
        ),
        pytest.param(
            '[watch]\nbell = "loud"\n',
            "watch.bell is 'loud'; use one of: off, bell, osc9",
            id="unknown-bell",
        ),
        pytest.param(
            "[watch]\nstuck_after_ms = 0\n",
            "watch.stuck_after_ms must be a positive number of milliseconds, got 0",
            id="no-stuck-time",
        ),
    ],
)
def test_a_wrongly_typed_setting_fails_with_the_file_and_key(text: str, message: str) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert str(caught.value) == f"{path}: {message}"


def test_typed_settings_are_frozen() -> None:
    settings = load_config().settings
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.send.poll_s = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.send = settings.send  # type: ignore[misc]


# --- agent profiles added by the user ------------------------------------------------------


def test_new_profile_needs_no_code_and_takes_missing_keys_from_shell() -> None:
    path = write_config('[agents.myagent]\ncommand = ["myagent", "--no-color"]\n')
    config = load_config()
    shell = config.lookup(f"agents.{FALLBACK_PROFILE}")
    mine = config.lookup("agents.myagent")
    assert set(mine) == set(shell)
    assert mine["command"] == ["myagent", "--no-color"]
    assert config.sources["agents.myagent.command"] == str(path)
    for key, value in shell.items():
        if key != "command":
            assert mine[key] == value
            assert config.sources[f"agents.myagent.{key}"].startswith(DEFAULT_SOURCE)
            assert config.sources[f"agents.myagent.{key}"].endswith("(agents.shell)")


def test_new_profile_may_omit_even_its_command() -> None:
    write_config('[agents.login]\ndescription = "my login shell"\n')
    config = load_config()
    assert config.lookup("agents.login.command") == config.lookup("agents.shell.command")
    assert config.lookup("agents.login.description") == "my login shell"


def test_new_profile_takes_the_users_own_shell_changes() -> None:
    path = write_config(
        '[agents.shell]\nsubmit_keys = ["C-m"]\n\n[agents.mine]\ncommand = ["mine"]\n'
    )
    config = load_config()
    assert config.lookup("agents.mine.submit_keys") == ["C-m"]
    assert config.sources["agents.mine.submit_keys"] == f"{path} (agents.shell)"


def test_new_profile_is_found_by_get_profile() -> None:
    agents = pytest.importorskip("imessenger.core.profiles")
    write_config('[agents.myagent]\ncommand = ["myagent"]\ndescription = "mine"\n')
    profile = agents.get_profile(load_config(), "myagent")
    assert profile.name == "myagent"
    assert profile.launch.command == ("myagent",)
    assert profile.description == "mine"


def test_default_agent_may_name_a_new_profile() -> None:
    write_config('default_agent = "mine"\n\n[agents.mine]\ncommand = ["mine"]\n')
    assert load_config().settings.default_agent == "mine"


def test_synthetic_defaults_without_a_shell_profile_need_every_key(tmp_path: Path) -> None:
    defaults = tmp_path / "conf"
    defaults.mkdir()
    general = (Path(__file__).resolve().parent.parent / "conf" / "imessenger.toml").read_text()
    (defaults / "imessenger.toml").write_text(general.replace('"claude"', '"a"'))
    (defaults / "agents.toml").write_text(
        '[agents.a]\ncommand = ["a"]\nratio = 0.5\n', encoding="utf-8"
    )
    user = tmp_path / "user.toml"
    user.write_text('[agents.b]\ncommand = ["b"]\nratio = 2\n', encoding="utf-8")
    config = load_config(user, defaults_dir=defaults)  # an integer is fine for a float
    assert config.lookup("agents.b.ratio") == 2
    user.write_text('[agents.b]\ncommand = ["b"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"agents\.b\.ratio.*no \"shell\" profile"):
        load_config(user, defaults_dir=defaults)


# --- errors name the file, the key and the reason ------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param("[send\ntimeout_ms = 1\n", ["invalid TOML", "line 1"], id="invalid-toml"),
        pytest.param('x = "unterminated\n', ["invalid TOML", "line 1, column"], id="bad-string"),
        pytest.param("colour = 1\n", ['"colour"', "default_agent", "send"], id="unknown-top"),
        pytest.param(
            "[send]\ntimeout = 5\n",
            ['"send.timeout"', "[send]", "timeout_ms", "poll_ms"],
            id="unknown-nested",
        ),
        pytest.param(
            '[agents.claude]\ncomand = ["x"]\n',
            ['"agents.claude.comand"', "[agents.claude]", "command"],
            id="unknown-profile-key",
        ),
        pytest.param(
            '[agents.mine]\ncommand = ["m"]\nflavour = 1\n',
            ['"agents.mine.flavour"', "command"],
            id="unknown-new-profile-key",
        ),
        pytest.param(
            '[send]\ntimeout_ms = "30s"\n',
            ["send.timeout_ms", "an integer", "got string", "30s"],
            id="wrong-type",
        ),
        pytest.param(
            "[send]\ntimeout_ms = true\n",
            ["send.timeout_ms", "an integer", "got boolean true"],
            id="bool-for-int",
        ),
        pytest.param(
            "[send]\ntimeout_ms = 1.5\n",
            ["send.timeout_ms", "an integer", "got float"],
            id="float-for-int",
        ),
        pytest.param("send = 5\n", ["send", "must be a table", "got integer"], id="not-a-table"),
        pytest.param(
            "[agents.claude]\ncommand = [1]\n",
            ["agents.claude.command[0]", "a string", "got integer"],
            id="list-item-type",
        ),
        pytest.param(
            '[agents.claude]\ncommand = "claude"\n',
            ["agents.claude.command", "an array", "got string"],
            id="string-for-list",
        ),
        pytest.param(
            "[send]\ntimeout_ms = -1\n", ["send.timeout_ms", "positive", "-1"], id="negative"
        ),
        pytest.param("[watch]\ninterval_ms = 0\n", ["watch.interval_ms", "positive"], id="zero"),
        pytest.param(
            "[agents.claude]\nstartup_ms = -5\n",
            ["agents.claude.startup_ms", "zero or more"],
            id="negative-profile-ms",
        ),
        pytest.param(
            'default_agent = "nobody"\n',
            ["default_agent", '"nobody"', "known profiles", "claude"],
            id="unknown-default-agent",
        ),
        pytest.param(
            '[agents.claude]\nbusy_patterns = ["(unclosed"]\n',
            ["agents.claude.busy_patterns[0]", "regular expression", "(unclosed"],
            id="bad-pattern",
        ),
        pytest.param(
            '[agents.mine]\nidle_patterns = ["ok", "[z-a]"]\n',
            ["agents.mine.idle_patterns[1]", "regular expression"],
            id="bad-pattern-new-profile",
        ),
        pytest.param(
            '[agents."my agent"]\ncommand = ["x"]\n',
            ['"my agent"', "profile name"],
            id="bad-profile-name",
        ),
        pytest.param(
            '[agents]\nmine = "x"\n', ["agents.mine", "must be a table"], id="profile-not-table"
        ),
        pytest.param(
            '[protocol]\nreply_start = "<<START>>"\n',
            ["protocol.reply_start", "{id}"],
            id="delimiter-without-id",
        ),
        pytest.param(
            '[protocol]\nreply_end = "<<IMSG-REPLY {id}>>"\n',
            ["protocol.reply_end", "differ"],
            id="same-delimiters",
        ),
        pytest.param(
            '[protocol]\nreply_end = "<<END {id} {x}>>"\n',
            ["protocol.reply_end", "placeholder"],
            id="delimiter-other-placeholder",
        ),
        pytest.param(
            '[protocol]\nreply_end = "END {id}\\nMORE"\n',
            ["protocol.reply_end", "single line"],
            id="delimiter-two-lines",
        ),
        pytest.param(
            '[protocol]\nenvelope = "{sender} {id}: {body} (finish with <<IMSG-END {id}>>)"\n',
            ["protocol.envelope", "end delimiter"],
            id="envelope-with-end-delimiter",
        ),
        pytest.param(
            '[protocol]\nenvelope = "from {sender} {id}"\n',
            ["protocol.envelope", "{body}"],
            id="envelope-without-body",
        ),
        pytest.param(
            '[protocol]\nenvelope = "{id} {body} {recipient}"\n',
            ["protocol.envelope", "placeholder"],
            id="envelope-unknown-placeholder",
        ),
    ],
)
def test_invalid_user_file_raises_config_error_naming_file_key_and_reason(
    text: str, fragments: list[str]
) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as caught:
        load_config()
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_file_that_is_not_utf8_is_reported() -> None:
    path = paths.user_config_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b'default_agent = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config()


def test_directory_instead_of_a_file_is_reported() -> None:
    paths.user_config_path().mkdir(parents=True)
    with pytest.raises(ConfigError, match="is a directory"):
        load_config()


# --- imessenger config ---------------------------------------------------------------------


def test_init_writes_a_file_that_loads_to_the_defaults() -> None:
    result = run("init")
    assert result.exit_code == 0, result.output
    path = paths.user_config_path()
    assert str(path) in result.output
    assert path.read_text(encoding="utf-8") == starter_text()
    config = load_config()
    assert config.values == load_config(Path("/nonexistent/imessenger.toml")).values
    assert all(source.startswith(DEFAULT_SOURCE) for source in config.sources.values())


def test_init_refuses_to_overwrite_without_force_and_force_overwrites() -> None:
    assert run("init").exit_code == 0
    path = paths.user_config_path()
    path.write_text("[send]\ntimeout_ms = 5\n", encoding="utf-8")
    again = run("init")
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert "--force" in again.output
    assert path.read_text(encoding="utf-8") == "[send]\ntimeout_ms = 5\n"
    forced = run("init", "--force")
    assert forced.exit_code == 0, forced.output
    assert path.read_text(encoding="utf-8") == starter_text()


def test_init_values_uncommented_are_exactly_the_general_defaults() -> None:
    header, _, body = starter_text().partition("\n\n")
    assert all(line.startswith("#") for line in header.splitlines())
    uncommented = "\n".join(line.removeprefix("# ") for line in body.splitlines())
    general = tomllib.loads(uncommented)
    defaults = load_config().values
    assert general == {key: defaults[key] for key in general}
    # [hosts] and [prices] are open, and empty by default: they have no keys of their own
    assert set(general) == {key.split(".")[0] for key in GENERAL_KEYS} | {"hosts", "prices"}
    path = write_config(uncommented)
    config = load_config()
    assert config.values == defaults
    assert {key for key, source in config.sources.items() if source == str(path)} == GENERAL_KEYS


def test_init_honours_imessenger_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "deep" / "dir" / "mine.toml"
    monkeypatch.setenv("IMESSENGER_CONFIG", str(path))
    assert run("init").exit_code == 0
    assert path.is_file()


def test_show_prints_every_key_with_its_source() -> None:
    path = write_config("[send]\ntimeout_ms = 1234\n")
    result = run("show")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"send.timeout_ms = 1234  # from {path}" in lines
    assert "send.poll_ms = 10  # from default: conf/imessenger.toml" in lines
    assert 'protocol.reply_start = "<<IMSG-REPLY {id}>>"  # from default: conf/imessenger.toml' in (
        lines
    )
    assert any(line.startswith("agents.claude.command = [") for line in lines)
    assert len(lines) == len(load_config().sources)


def test_show_one_table_and_json() -> None:
    path = write_config("[send]\npoll_ms = 3\n")
    result = run("show", "send")
    assert result.exit_code == 0, result.output
    assert all(line.startswith("send.") for line in result.stdout.splitlines())
    assert len(result.stdout.splitlines()) == 6
    as_json = run("show", "send", "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["values"]["poll_ms"] == 3
    assert data["sources"]["send.poll_ms"] == str(path)
    everything = json.loads(run("show", "--json").stdout)
    assert everything["values"] == load_config().values


def test_show_reports_errors_with_exit_1() -> None:
    path = write_config("[send]\ntimeout_ms = true\n")
    result = run("show")
    assert result.exit_code == 1
    assert str(path) in result.output
    assert "send.timeout_ms" in result.output
    path.unlink()
    unknown = run("show", "sned")
    assert unknown.exit_code == 1
    assert "known keys" in unknown.output


def test_path_prints_the_path_and_whether_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run("path")
    assert result.exit_code == 0
    assert result.stdout.strip() == str(paths.user_config_path())
    assert "does not exist" in result.stderr
    assert "config init" in result.stderr
    monkeypatch.setenv("IMESSENGER_CONFIG", str(tmp_path / "x.toml"))
    (tmp_path / "x.toml").write_text("", encoding="utf-8")
    result = run("path")
    assert result.stdout.strip() == str(tmp_path / "x.toml")
    assert "exists (from $IMESSENGER_CONFIG)" in result.stderr


@pytest.mark.parametrize("command", [[], ["show"], ["path"], ["init"]], ids=str)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_command_has_help_with_an_example(command: list[str], flag: str) -> None:
    result = run(*command, flag)
    assert result.exit_code == 0
    assert "Example" in result.output


def test_config_object_is_frozen() -> None:
    config = load_config()
    assert isinstance(config, Config)
    with pytest.raises(AttributeError):
        config.values = {}  # type: ignore[misc]


def test_hosts_are_typed_and_a_bad_one_is_named() -> None:
    write_config(
        '[hosts.buildbox]\ndestination = "me@buildbox"\nssh_args = ["-p", "2222"]\n'
        '[hosts.gpu]\ndestination = "gpu"\ncommand = "~/.local/bin/imessenger"\n'
    )
    hosts = load_config().settings.hosts
    assert hosts["buildbox"].ssh_args == ("-p", "2222")
    assert hosts["buildbox"].command == "imessenger"
    assert hosts["gpu"].command == "~/.local/bin/imessenger"
    for table, says in [
        ('[hosts.x]\nssh_args = ["-v"]\n', "needs destination"),
        ('[hosts.x]\ndestination = "-oProxyCommand=touch pwned"\n', "not one ssh destination"),
        ('[hosts.x]\ndestination = "a b"\n', "not one ssh destination"),
        ('[hosts."a:b"]\ndestination = "a"\n', "not a usable host name"),
        ('[hosts.local]\ndestination = "a"\n', "names this host"),
        ('[hosts.x]\ndestination = "a"\nport = 22\n', 'unknown key "hosts.x.port"'),
    ]:
        write_config(table)
        with pytest.raises(ConfigError, match=says):
            load_config()


def test_prices_are_named_by_any_model_name_and_typed() -> None:
    write_config(
        '[prices."claude-sonnet-4.5*"]\ninput = 3\noutput = 15.0\n'
        '[prices."openai/gpt-5.1"]\ninput = 1.25\noutput = 10\ncache_read = 0.125\n'
    )
    prices = load_config().settings.prices
    assert prices == {
        "claude-sonnet-4.5*": Price(3.0, 15.0),
        "openai/gpt-5.1": Price(1.25, 10.0, cache_read=0.125),
    }
    shown = run("show", "prices")
    assert shown.exit_code == 0, shown.output
    assert 'prices."openai/gpt-5.1".cache_read = 0.125' in shown.output
