"""The layers of ARCHITECTURE.md, the import rules that keep them, and the docstring
examples of the pure modules.

The package is in layers, each importing only those below it:

    core  <  adapters  <  actions  <  watcher  <  app  <  interfaces

(``demo``, the demo agent's program, imports only ``core``.) Within the rules: only
the tmux adapter reaches tmux, the store and the tmux adapter know nothing of each
other, the interfaces call nothing but the API (and read core's pure values), and no
module imports, however far round, one that imports it.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "imessenger"
ROOT = PACKAGE.parent
#: The layers, lowest first.
LAYERS = ("core", "adapters", "actions", "watcher", "app", "interfaces")
#: The tmux adapter: the one package that imports libtmux or runs the tmux program.
TMUX = PACKAGE / "adapters" / "tmux"
#: The store (SQLite): a package of its own, one module per table.
STORE = PACKAGE / "adapters" / "store"


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_of(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str:
    """The module of the package that ``name`` (a module, or a name in one) is."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports(path: Path) -> set[str]:
    """The modules of the package that ``path`` imports (inside functions and
    TYPE_CHECKING blocks too): ``from imessenger.x import y`` is imessenger.x.y when that
    is a module, else imessenger.x."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(resolve(a.name) for a in node.names if a.name.startswith("imessenger"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if not node.module.startswith("imessenger"):
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else resolve(node.module))
    found.discard("")
    return found


def all_imports(path: Path) -> set[str]:
    """Every module ``path`` imports, of the package or not."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def ids(module: str) -> str:
    return module.removeprefix("imessenger.")


# --- the layers ---------------------------------------------------------------------------


def test_every_module_is_in_a_layer() -> None:
    stray = [
        m for m in MODULES if m.count(".") >= 1 and layer(m) not in (*LAYERS, "demo", "__main__")
    ]
    assert stray == [], f"modules outside the layers of ARCHITECTURE.md: {stray}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) in LAYERS), ids=ids)
def test_a_layer_imports_only_layers_below_it(module: str) -> None:
    own = LAYERS.index(layer(module))
    above = {
        name
        for name in imports(MODULES[module])
        if layer(name) in LAYERS and LAYERS.index(layer(name)) > own
    }
    assert not above, f"{module} imports {sorted(above)}, of a layer above its own"


#: What the demo agent (a program of its own) may read beside the core: the configuration
#: (for the reply delimiters imessenger is set up with).
DEMO_MAY_IMPORT = {"imessenger.adapters.config_files"}


def test_the_demo_agent_is_a_program_of_its_own() -> None:
    for module in (m for m in MODULES if layer(m) == "demo"):
        beyond = {
            n
            for n in imports(MODULES[module])
            if layer(n) not in ("core", "demo", "") and n not in DEMO_MAY_IMPORT
        }
        assert not beyond, f"{module} imports {sorted(beyond)}"


def test_no_module_imports_one_that_imports_it() -> None:
    """No circle, however far round (a package's __init__ counts as its own module)."""
    graph = {module: imports(path) - {module} for module, path in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert circles == [], f"import circles: {circles}"


# --- tmux, the store, the pure core -------------------------------------------------------

#: Calls that start a program (beside ``subprocess``'s), or find one to start.
STARTS_PROGRAMS = ("os.exec", "os.spawn", "os.posix_spawn", "pty.spawn", "shutil.which")


@pytest.mark.parametrize("module", sorted(MODULES), ids=ids)
def test_only_the_tmux_adapter_reaches_libtmux_or_the_tmux_program(module: str) -> None:
    path = MODULES[module]
    if path.is_relative_to(TMUX):
        return
    assert not {name for name in all_imports(path) if name.split(".")[0] == "libtmux"}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            if isinstance(first, ast.List) and first.elts:
                first = first.elts[0]
            is_tmux = isinstance(first, ast.Constant) and first.value == "tmux"
            called = ast.unparse(node.func)
            starts = "subprocess" in called or called.startswith(STARTS_PROGRAMS)
            assert not (is_tmux and starts), f"{module} runs tmux: {called}"


def test_the_store_and_the_tmux_adapter_know_nothing_of_each_other() -> None:
    for path in sorted(STORE.glob("*.py")):
        reached = {n for n in imports(path) if n.startswith("imessenger.adapters.tmux")}
        assert not reached, f"adapters/store/{path.name} imports {sorted(reached)}"
    for path in sorted(TMUX.glob("*.py")):
        reached = {n for n in imports(path) if n.startswith("imessenger.adapters.store")}
        assert not reached, f"adapters/tmux/{path.name} imports {sorted(reached)}"


#: What the pure core may import besides the standard library: nothing that reaches
#: tmux, the database, the process table or the network.
CORE_MAY_IMPORT = {"tomli_w"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) == "core"), ids=ids)
def test_the_core_is_pure(module: str) -> None:
    import sys

    outside = {
        name.split(".")[0]
        for name in all_imports(MODULES[module])
        if not name.startswith("imessenger")
    }
    third_party = {
        name for name in outside if name not in sys.stdlib_module_names
    } - CORE_MAY_IMPORT
    assert not third_party, f"{module} imports {sorted(third_party)}"
    reaching = {"subprocess", "sqlite3", "socket", "fcntl", "termios"} & outside
    assert not reaching, f"{module} imports {sorted(reaching)}: that is an adapter's work"


PURE_WITH_EXAMPLES = (
    "envelope",
    "screen",
    "names",
    "policy",
    "visible",
    "values",
    "answers",
    "redraws",
    "attention",
    "published",
    "hook_events",
)


@pytest.mark.parametrize("name", PURE_WITH_EXAMPLES)
def test_docstring_examples_of_the_pure_modules(name: str) -> None:
    module = importlib.import_module(f"imessenger.core.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# --- the interfaces ------------------------------------------------------------------------

#: What every interface may import of imessenger besides the other interfaces: the API,
#: its values, and the core's pure modules (values, errors, words, the screen's types).
INTERFACE_MAY_IMPORT = {"imessenger", "imessenger.app.api", "imessenger.app.values"}
#: And the few more some may, with the reason.
INTERFACE_EXCEPTIONS = {
    # `imessenger status` for tmux's status bar, answered without click or the Api
    "imessenger.interfaces.cli.entry": {"imessenger.adapters.status_cache"},
    # the thin client loads nothing but where the command server listens
    "imessenger.interfaces.cli.thin": {"imessenger.adapters.command_socket"},
    # the command server: its socket, the modules it loads before forking, and in each
    # fork the caller read from the client's process
    "imessenger.interfaces.cli.command_server": {
        "imessenger.adapters.caller",
        "imessenger.adapters.command_socket",
        "imessenger.adapters.config_files",
        "imessenger.adapters.tmux.runner",
    },
    # a tmux menu is made of tmux menu items, quoted for tmux
    "imessenger.interfaces.menu": {
        "imessenger.adapters.tmux",
        "imessenger.adapters.tmux.quoting",
        "imessenger.adapters.tmux.runner",
    },
    # the header's counts in words, as `imessenger status --plain` prints them
    "imessenger.interfaces.dashboard": {"imessenger.adapters.status_cache"},
}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) == "interfaces"), ids=ids)
def test_interfaces_call_only_the_api(module: str) -> None:
    allowed = INTERFACE_MAY_IMPORT | INTERFACE_EXCEPTIONS.get(module, set())
    stray = {
        name
        for name in imports(MODULES[module])
        if name not in allowed and layer(name) not in ("core", "interfaces")
    }
    assert not stray, f"{module} imports {sorted(stray)}: call imessenger.app.api instead"


#: Interface modules that only turn the Api's values into text: no click, no terminal.
RENDERERS = ("imessenger.interfaces.cli.explain",)


@pytest.mark.parametrize("module", RENDERERS, ids=ids)
def test_renderers_are_pure(module: str) -> None:
    reached = {
        name
        for name in all_imports(MODULES[module])
        if name.split(".")[0] in ("click", "curses")
        or (name.startswith("imessenger") and layer(resolve(name)) not in ("core", "app"))
    }
    assert not reached, f"{module} imports {sorted(reached)}"


def test_the_api_exposes_no_service_and_re_exports_nothing() -> None:
    from imessenger.app.api import Api

    public = {name for name in vars(Api) if not name.startswith("_")}
    leaks = public & {"tmux", "store", "sessions", "config", "caller", "access"}
    assert not leaks, f"the Api hands out {sorted(leaks)}"
    init = (PACKAGE / "app" / "__init__.py").read_text(encoding="utf-8")
    assert "__getattr__" not in init


# --- the map and the wheel --------------------------------------------------------------------


def test_every_module_is_on_the_map() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for module, path in MODULES.items():
        if path.name == "__init__.py":
            folder = module.split(".")[-1] if module.count(".") else ""
            if folder:
                assert f"{folder}/" in text, f"{folder}/ is not in ARCHITECTURE.md"
        elif not path.stem.startswith("_"):
            assert f"{path.stem}.py" in text, (
                f"{path.relative_to(PACKAGE)} is not in ARCHITECTURE.md"
            )


def test_every_package_is_installed() -> None:
    """pyproject.toml lists the packages by hand: a new one must be there, or a wheel lacks it."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
            "packages"
        ]
    )
    for init in PACKAGE.rglob("__init__.py"):
        name = ".".join(init.parent.relative_to(ROOT).parts)
        assert name in listed, f"{name} is missing from [tool.setuptools] packages"
