"""The package's layout holds its rules: imports point down the data flow, modules stay small.

Read from the source with `ast`, so nothing of the package is imported or run.
See docs/architecture.md for the picture these rules keep true.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "parmap"

#: The layers, bottom first: a module may import (at any time, lazily too) only from its
#: own layer or the ones below it. The public face and the demo sit on top.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"parmap._public", "parmap._errors", "parmap._options"}),
    frozenset({"parmap._worker"}),
    frozenset({"parmap._report"}),
    frozenset({"parmap._journal", "parmap._backends"}),
    frozenset({"parmap._run"}),
    frozenset({"parmap._api"}),
    frozenset({"parmap._amap", "parmap._decorators"}),
    frozenset({"parmap", "parmap.__main__"}),
)
MAX_LINES = 450
#: Floors of the house: the public face, then at most 8 rooms (packages, or modules at the
#: top) one under another along the longest chain of imports.
MAX_FLOORS = 9


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The parmap modules `name` imports, lazily or not, typing-only imports included."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def layer_of(name: str) -> int:
    for level, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return level
    msg = f"{name} belongs to no layer of LAYERS: add it there"
    raise AssertionError(msg)


def test_every_module_has_a_layer() -> None:
    """Each module sits in one of the layers (a new package must be placed on purpose)."""
    for name in MODULES:
        layer_of(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name: str) -> None:
    """A module imports only from its own layer or below: nothing imports its caller."""
    upward = {other for other in GRAPH[name] if layer_of(other) > layer_of(name)}
    assert not upward, f"{name} imports upward: {sorted(upward)}"


def test_no_import_circles() -> None:
    """No module reaches itself through its imports (typing-only and lazy imports count)."""
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(GRAPH[name]):
            if other == name.rpartition(".")[0]:
                continue  # a module's own package __init__ is loaded before it: not a circle
            if state.get(other) == 1:
                cycle = [*path[path.index(other) :], other] if other in path else [name, other]
                msg = f"import circle: {' -> '.join(cycle)}"
                raise AssertionError(msg)
            if other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in sorted(MODULES):
        if name not in state:
            visit(name, [name])


def room_of(name: str) -> str:
    """The top-level package or module `name` is in: ``parmap._run.plan`` -> ``parmap._run``."""
    return ".".join(name.split(".")[:2])


def test_import_graph_is_shallow() -> None:
    """Rooms (top-level packages and modules) import each other at most MAX_FLOORS deep."""
    rooms: dict[str, set[str]] = {}
    for name, others in GRAPH.items():
        here = room_of(name)
        rooms.setdefault(here, set()).update(room_of(o) for o in others if room_of(o) != here)
    depth: dict[str, int] = {}

    def floors(room: str) -> int:
        if room not in depth:
            depth[room] = 0  # circles are another test's business
            depth[room] = 1 + max((floors(o) for o in rooms[room]), default=0)
        return depth[room]

    assert max(floors(room) for room in rooms) <= MAX_FLOORS


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_are_small_and_say_their_job(name: str) -> None:
    """Every module is under MAX_LINES lines and opens with a docstring saying its job."""
    text = MODULES[name].read_text()
    assert len(text.splitlines()) <= MAX_LINES, f"{name}: split it"
    docstring = ast.get_docstring(ast.parse(text))
    assert docstring, f"{name} has no docstring"
    assert docstring.splitlines()[0].strip(), f"{name}: the first line says its job"


def test_the_worker_side_imports_only_itself() -> None:
    """What a worker process loads (parmap._worker) needs nothing of the parent's machinery."""
    for name in MODULES:
        if name.startswith("parmap._worker"):
            assert all(layer_of(other) <= layer_of(name) for other in GRAPH[name]), name
