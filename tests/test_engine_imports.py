"""The import structure of `runtime/`: no circles, not even type-only ones, and no private names
borrowed from another module.

A circle closed under `if TYPE_CHECKING:` still means two modules that cannot be understood
(or moved) one without the other; a private name imported across modules is an interface that
nobody declared. The graph is read from the source (every `import` statement, at any depth),
so an import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parent.parent / "runtime"


def module_name(path: Path) -> str:
    parts = path.relative_to(RUNTIME.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(RUNTIME.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module named by `from <node.module> import ...` inside `module`."""
    if node.level == 0:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(module: str) -> list[tuple[str, str | None]]:
    """(imported module, imported name or None) for every import statement of `module`,
    restricted to runtime's own modules; `from pkg import submodule` counts as the submodule."""
    tree = ast.parse(MODULES[module].read_text())
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name in MODULES]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    found.append((f"{source}.{alias.name}", None))
                elif source in MODULES:
                    found.append((source, alias.name))
    return found


def graph() -> dict[str, set[str]]:
    return {m: {target for target, _ in imports_of(m)} - {m} for m in MODULES}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path that starts and ends at the same module, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_engine_is_a_package_of_its_own() -> None:
    assert "runtime.engine" in MODULES
    assert {"runtime.engine.host", "runtime.engine.events", "runtime.engine.codec"} <= set(MODULES)


def test_runtime_import_graph_has_no_circle() -> None:
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()) or [])


def test_the_cycle_finder_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_type_checking_imports(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "TYPE_CHECKING" not in names, f"{module} imports under TYPE_CHECKING"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_imported_from_another_module(module: str) -> None:
    private = [
        f"{source}.{name}"
        for source, name in imports_of(module)
        if name is not None and name.startswith("_") and not name.startswith("__")
    ]
    assert private == [], f"{module} imports private names: {private}"
