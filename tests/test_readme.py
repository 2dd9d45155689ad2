"""The README keeps up with the commands: each one is there with an example."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from imessenger.interfaces.cli.isesh import cli as isesh_cli
from imessenger.interfaces.cli.main import cli as imessenger_cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CODE = "\n".join(re.findall(r"```(?:sh|console)?\n(.*?)```", README, flags=re.S))


def command_paths(group: click.Group, prefix: str) -> list[str]:
    ctx = click.Context(group)
    paths = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            paths += command_paths(command, f"{prefix} {name}")
        else:
            paths.append(f"{prefix} {name}")
    return paths


ALL = command_paths(imessenger_cli, "imessenger") + command_paths(isesh_cli, "isesh")


@pytest.mark.parametrize("path", ALL)
def test_every_command_has_help_and_a_readme_example(path: str) -> None:
    words = path.split()
    group = imessenger_cli if words[0] == "imessenger" else isesh_cli
    command: click.Command | None = group
    for word in words[1:]:
        assert isinstance(command, click.Group)
        command = command.get_command(click.Context(command), word)
    assert command is not None
    assert command.help, f"{path} has no help"
    assert "Example" in command.help, f"{path} has no example in its help"
    assert re.search(rf"^(?:\$ )?{re.escape(path)}\b", CODE, flags=re.M), (
        f"{path}: no README example"
    )


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash .ci/run" in README
    assert "`python -m pytest`" in README
    assert re.search(r"^python -m pytest\b", ci, flags=re.M)
