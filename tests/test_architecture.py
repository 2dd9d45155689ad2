"""The import rules of ARCHITECTURE.md, and the docstring examples of the pure modules."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "imessenger"
PURE = ("protocol", "screen", "names", "policy", "errors")
#: Modules that reach tmux, the database or the process table.
IMPURE = {
    "imessenger.tmux",
    "imessenger.store",
    "imessenger.procfs",
    "imessenger.caller",
    "imessenger.access",
    "imessenger.sessions",
    "imessenger.delivery",
    "imessenger.approval",
    "imessenger.watcher",
    "imessenger.status",
    "imessenger.locks",
}


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (also inside functions and TYPE_CHECKING blocks)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_tmux_adapter_reaches_libtmux_or_the_tmux_program(path: Path) -> None:
    if path.name == "tmux.py":
        return
    assert not {name for name in imports(path) if name.split(".")[0] == "libtmux"}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            if isinstance(first, ast.List) and first.elts:
                head = first.elts[0]
                is_tmux = isinstance(head, ast.Constant) and head.value == "tmux"
                called = ast.unparse(node.func)
                assert not (is_tmux and "subprocess" in called), f"{path.name} runs tmux"


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_reach_neither_tmux_nor_the_database(name: str) -> None:
    reached = imports(PACKAGE / f"{name}.py") & IMPURE
    assert not reached, f"{name} imports {sorted(reached)}"


def test_the_store_and_the_tmux_adapter_know_nothing_of_each_other() -> None:
    assert "imessenger.tmux" not in imports(PACKAGE / "store.py")
    assert not {n for n in imports(PACKAGE / "tmux.py") if n.startswith("imessenger.store")}


@pytest.mark.parametrize("name", ["protocol", "screen", "names", "policy"])
def test_docstring_examples_of_the_pure_modules(name: str) -> None:
    module = importlib.import_module(f"imessenger.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_module_is_on_the_map() -> None:
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for path in PACKAGE.glob("*.py"):
        if path.stem.startswith("_") or path.stem == "demo_agent":
            continue
        assert f"{path.stem}.py" in text, f"{path.name} is not in ARCHITECTURE.md"
