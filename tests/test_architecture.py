"""The import rules of ARCHITECTURE.md, and the docstring examples of the pure modules."""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "imessenger"
#: The tmux adapter: the one package that imports libtmux or runs the tmux program.
TMUX = PACKAGE / "tmux"
PURE = (
    "protocol",
    "screen",
    "names",
    "policy",
    "errors",
    "agent_setup",
    "hook_events",
    "visible",
)
#: Modules that reach tmux, the database or the process table (with their submodules).
IMPURE = {
    "imessenger.adapters.tmux",
    "imessenger.adapters.store",
    "imessenger.adapters.procfs",
    "imessenger.adapters.caller",
    "imessenger.app.access",
    "imessenger.actions.sessions",
    "imessenger.actions.delivery",
    "imessenger.actions.approval",
    "imessenger.watcher",
    "imessenger.adapters.status_cache",
    "imessenger.adapters.locks",
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


#: Calls that start a program (beside ``subprocess``'s), or find one to start.
STARTS_PROGRAMS = ("os.exec", "os.spawn", "os.posix_spawn", "pty.spawn", "shutil.which")


def reaches(name: str, modules: set[str]) -> bool:
    """True when the module ``name`` is one of ``modules`` or inside one of them."""
    return any(name == module or name.startswith(f"{module}.") for module in modules)


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_tmux_adapter_is_a_package() -> None:
    assert (TMUX / "__init__.py").is_file()
    assert not (PACKAGE / "tmux.py").exists()


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_tmux_package_reaches_libtmux_or_the_tmux_program(path: Path) -> None:
    if path.is_relative_to(TMUX):
        return
    assert not {name for name in imports(path) if name.split(".")[0] == "libtmux"}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            if isinstance(first, ast.List) and first.elts:
                first = first.elts[0]
            is_tmux = isinstance(first, ast.Constant) and first.value == "tmux"
            called = ast.unparse(node.func)
            starts = "subprocess" in called or called.startswith(STARTS_PROGRAMS)
            assert not (is_tmux and starts), f"{path.relative_to(PACKAGE)} runs tmux: {called}"


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_reach_neither_tmux_nor_the_database(name: str) -> None:
    reached = {module for module in imports(PACKAGE / f"{name}.py") if reaches(module, IMPURE)}
    assert not reached, f"{name} imports {sorted(reached)}"


#: Interface modules that only turn the Api's values into text: no click, no terminal.
RENDERERS = ("cli/explain.py",)


@pytest.mark.parametrize("where", RENDERERS)
def test_renderers_are_pure(where: str) -> None:
    reached = {
        module
        for module in imports(PACKAGE / where)
        if module.split(".")[0] in ("click", "curses") or reaches(module, IMPURE)
    }
    assert not reached, f"{where} imports {sorted(reached)}"


def test_the_store_and_the_tmux_package_know_nothing_of_each_other() -> None:
    assert not {
        n for n in imports(PACKAGE / "store.py") if reaches(n, {"imessenger.adapters.tmux"})
    }
    for path in sorted(TMUX.glob("*.py")):
        reached = {n for n in imports(path) if reaches(n, {"imessenger.adapters.store"})}
        assert not reached, f"tmux/{path.name} imports {sorted(reached)}"


@pytest.mark.parametrize("name", ["protocol", "screen", "names", "policy", "visible"])
def test_docstring_examples_of_the_pure_modules(name: str) -> None:
    module = importlib.import_module(f"imessenger.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_module_is_on_the_map() -> None:
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for path in PACKAGE.glob("*.py"):
        if path.stem.startswith("_"):
            continue
        assert f"{path.stem}.py" in text, f"{path.name} is not in ARCHITECTURE.md"
    for folder in PACKAGE.iterdir():
        if (folder / "__init__.py").is_file():
            assert f"{folder.name}/" in text, f"{folder.name}/ is not in ARCHITECTURE.md"


#: The interfaces: they parse, call the Api, and show what it returns.
INTERFACES = sorted((PACKAGE / "cli").glob("*.py")) + [
    PACKAGE / f"{name}.py" for name in ("menu", "dashboard", "demo/tour", "mcp_server", "mcp_stdio")
]
#: What every interface may import of imessenger: the Api, the errors, each other.
INTERFACE_MAY_IMPORT = {
    "imessenger",
    "imessenger.app",
    "imessenger.core.errors",
    "imessenger.interfaces.cli",
    "imessenger.interfaces.menu",
    "imessenger.interfaces.dashboard",
    "imessenger.interfaces.tour",
    "imessenger.interfaces.mcp.server",
    "imessenger.interfaces.mcp.stdio",
}
#: And the few more some may, with the reason.
INTERFACE_EXCEPTIONS = {
    # `imessenger status` for tmux's status bar, answered without click or the Api
    "cli/entry.py": {"imessenger.adapters.status_cache"},
    # a tmux menu is made of tmux menu items, quoted for tmux
    "menu.py": {"imessenger.adapters.tmux"},
    # the header's counts in words, as `imessenger status --plain` prints them
    "dashboard.py": {"imessenger.adapters.status_cache"},
}


def imported_modules(path: Path) -> set[str]:
    """The modules of imessenger that ``path`` imports (``from imessenger import x``: x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "imessenger":
            for alias in node.names:
                name = f"imessenger.{alias.name}"
                found.add(name if importlib.util.find_spec(name) else "imessenger")
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] == "imessenger"}


@pytest.mark.parametrize("path", INTERFACES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_interfaces_call_only_the_api(path: Path) -> None:
    where = str(path.relative_to(PACKAGE))
    allowed = (INTERFACE_MAY_IMPORT - {"imessenger"}) | INTERFACE_EXCEPTIONS.get(where, set())
    stray = {
        name
        for name in imported_modules(path)
        if name != "imessenger" and not reaches(name, allowed)
    }
    assert not stray, f"{where} imports {sorted(stray)}: call imessenger.app instead"


def test_every_package_is_installed() -> None:
    """pyproject.toml lists the packages by hand: a new one must be there, or a wheel lacks it."""
    import tomllib

    listed = set(
        tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
            "setuptools"
        ]["packages"]
    )
    for init in PACKAGE.rglob("__init__.py"):
        name = ".".join(init.parent.relative_to(PACKAGE.parent).parts)
        assert name in listed, f"{name} is missing from [tool.setuptools] packages"
