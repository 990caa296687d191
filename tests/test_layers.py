"""The layer rule (docs/architecture.md "Layers"), checked on every module of the four packages.

Each module of `runtime/`, `adapters/`, `infra/` and `local_emulator/` is parsed (never
imported) and every import it makes is collected: top-level ones, imports inside functions,
imports under `if TYPE_CHECKING:`, `importlib.import_module("...")` / `__import__("...")` with a
literal name, and `"package.module:attribute"` factory strings (a name-based import in
disguise). `steplane.runtime...` counts as `runtime...`. Then three rules hold:

1. Imports only point down the layers of `LAYERS` (or stay within one layer).
2. No import cycle between modules, type-only imports included.
3. No `from x import _private` across modules: a private name is private to its module.

A failure names the module, the line, the import and the rule it breaks.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Lowest layer first. A module may import its own layer and the layers listed before it, never
# one after it. A name covers that module or package and everything under it; the longest name
# that covers a module wins, so `runtime.engine.events` sits in the core although
# `runtime.engine` is above it, and `runtime` (the package and every module not named here)
# is the top of the runtime. Every name must exist: a renamed module fails
# `test_the_layer_table_matches_the_tree` until the table follows it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # What every layer shares: errors, values, ids, the event model and the World protocol.
    (
        "runtime core",
        (
            "runtime.errors",
            "runtime.durations",
            "runtime.ids",
            "runtime.serde",
            "runtime.type_registry",
            "runtime.engine.events",
            "runtime.world",
        ),
    ),
    # What workflow code calls while it runs: the engine drives it, it never drives the engine.
    (
        "runtime author API",
        (
            "runtime.definitions",
            "runtime.context",
            "runtime.registry",
            "runtime.deployment",
            "runtime.hook_handle",
            "runtime.hooks",
            "runtime.streams",
            "runtime.timers",
            "runtime.locks",
            "runtime.schedules",
        ),
    ),
    # Replay, invocations, the function host, lifecycle writes, encryption, messages, recovery.
    ("runtime engine", ("runtime.engine",)),
    # Starting and inspecting runs from outside (runs, Client), the current World, `runtime`.
    ("runtime client", ("runtime",)),
    # Worlds (memory, aws) and entry points (Lambda handler, HTTP app).
    ("adapters", ("adapters",)),
    # The CloudFormation template and `deploy()`.
    ("infra", ("infra",)),
    # The emulator, moto embedding, the CLI. Nothing imports it but itself, bench/ and tests/.
    ("local_emulator", ("local_emulator",)),
)

PACKAGES = ("runtime", "adapters", "infra", "local_emulator")
NAMESPACE = "steplane."  # `steplane.runtime.x` is `runtime.x`
ROOT = Path(__file__).resolve().parent.parent

FACTORY_STRING = re.compile(
    r"^(?:steplane\.)?(?:" + "|".join(PACKAGES) + r")(?:\.\w+)*:\w+(?:\.\w+)*$"
)


@dataclass(frozen=True)
class Import:
    """One import a module makes: what it names, where, and how it was written."""

    module: str  # the importing module
    line: int
    target: str  # the module imported (its longest prefix that is a known module)
    names: tuple[str, ...]  # names taken from it by `from target import ...`
    text: str  # the import as written, for messages

    def where(self) -> str:
        return f"{self.module} (line {self.line}): {self.text}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the four packages, by dotted name."""
    return {
        module_name(root, path): path
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
    }


def strip_namespace(name: str) -> str:
    return name[len(NAMESPACE) :] if name.startswith(NAMESPACE) else name


def resolve(name: str, known: set[str]) -> str | None:
    """The longest prefix of `name` that is one of our modules; None for anything else."""
    parts = strip_namespace(name).split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def _docstring_nodes(tree: ast.Module) -> set[int]:
    """The ids of docstring constants: a docstring mentioning `mod:attr` imports nothing."""
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                nodes.add(id(body[0].value))
    return nodes


def imports_of(module: str, path: Path, known: set[str]) -> Iterator[Import]:
    """Every import of one of our modules that `module` makes, wherever it sits in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    docstrings = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = resolve(alias.name, known)
                if target is not None:
                    yield Import(module, node.lineno, target, (), f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            yield from _from_import(module, package, node, known)
        elif isinstance(node, ast.Call) and _is_import_call(node):
            argument = node.args[0] if node.args else None
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                target = resolve(argument.value, known)
                if target is not None:
                    text = f"{ast.unparse(node.func)}({argument.value!r})"
                    yield Import(module, node.lineno, target, (), text)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and FACTORY_STRING.match(node.value)
        ):
            target = resolve(node.value.partition(":")[0], known)
            if target is not None:
                yield Import(module, node.lineno, target, (), f"name-based {node.value!r}")


def _is_import_call(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}


def _from_import(module: str, package: str, node: ast.ImportFrom, known: set[str]):
    if node.level:
        base = package.split(".")
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    written = "." * node.level + (node.module or "")
    text = f"from {written} import {', '.join(alias.name for alias in node.names)}"
    target = resolve(source, known)
    if target is None:
        return
    attributes = []
    for alias in node.names:
        submodule = resolve(f"{source}.{alias.name}", known)
        if submodule is not None and submodule != target:
            yield Import(module, node.lineno, submodule, (), text)  # `from pkg import module`
        else:
            attributes.append(alias.name)
    if attributes:
        yield Import(module, node.lineno, target, tuple(attributes), text)


def layer_of(module: str) -> int:
    """Index into LAYERS of the longest layer name covering `module`."""
    best, best_length = None, -1
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            covers = module == name or module.startswith(name + ".")
            if covers and len(name) > best_length:
                best, best_length = index, len(name)
    assert best is not None, f"{module} is in no layer of LAYERS: add it to the table"
    return best


def all_imports(root: Path = ROOT) -> list[Import]:
    modules = discover(root)
    known = set(modules)
    return [found for name, path in modules.items() for found in imports_of(name, path, known)]


def upward_imports(imports: list[Import]) -> dict[Import, str]:
    """Each import of a higher layer, with what to say about it."""
    problems = {}
    for found in imports:
        own, other = layer_of(found.module), layer_of(found.target)
        if other > own:
            problems[found] = (
                f"{found.where()}\n    imports {found.target} ({LAYERS[other][0]}) from "
                f"{LAYERS[own][0]}: imports must point down the layers"
            )
    return problems


def private_imports(imports: list[Import]) -> dict[Import, str]:
    """Each import of another module's private names, with what to say about it."""
    problems = {}
    for found in imports:
        private = [name for name in found.names if name.startswith("_") and not _dunder(name)]
        if private and found.target != found.module:
            problems[found] = (
                f"{found.where()}\n    takes {', '.join(private)} from {found.target}: "
                "a private name is not imported across modules"
            )
    return problems


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def import_cycles(imports: list[Import]) -> list[tuple[set[str], list[Import]]]:
    """Each group of modules that import each other, with one cycle (the imports closing it)."""
    edges: dict[str, dict[str, Import]] = {}
    for found in imports:
        if found.target != found.module:
            edges.setdefault(found.module, {}).setdefault(found.target, found)
    return [
        (group, _cycle_within(group, edges))
        for group in _strongly_connected(edges)
        if len(group) > 1
    ]


def _strongly_connected(edges: dict[str, dict[str, Import]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (the graph is a few hundred modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, {})))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def _cycle_within(group: set[str], edges: dict[str, dict[str, Import]]) -> list[Import]:
    """A shortest cycle through the group's first module, found breadth first."""
    start = min(group)
    previous: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target, found in sorted(edges.get(node, {}).items()):
                if target == start:
                    path = [found]
                    while path[0].module != start:
                        path.insert(0, previous[path[0].module])
                    return path
                if target in group and target not in previous:
                    previous[target] = found
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(group)}")


def _fail_unless_none(rule: str, problems: Iterable[str]) -> None:
    problems = list(problems)
    if problems:
        pytest.fail(
            f"{len(problems)} break(s) of the rule: {rule}\n\n" + "\n\n".join(problems),
            pytrace=False,
        )


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports()


def test_the_layer_table_matches_the_tree(imports: list[Import]) -> None:
    modules = discover()
    assert {module.split(".")[0] for module in modules} == set(PACKAGES)
    assert len(imports) > len(modules)  # the parser sees the imports: the rules are not vacuous
    for module in modules:
        layer_of(module)
    missing = [
        f"LAYERS names {name!r} ({layer}), which is no module or package of the tree"
        for layer, names in LAYERS
        for name in names
        if name not in modules
    ]
    _fail_unless_none("every name in LAYERS exists", missing)


def test_imports_point_down_the_layers(imports: list[Import]) -> None:
    _fail_unless_none("imports only point down the layers", upward_imports(imports).values())


def test_no_import_cycles(imports: list[Import]) -> None:
    problems = [
        f"cycle among {', '.join(sorted(group))}; for example "
        + " -> ".join([cycle[0].module, *(found.target for found in cycle)])
        + "".join(f"\n    {found.where()}" for found in cycle)
        for group, cycle in import_cycles(imports)
    ]
    _fail_unless_none("no import cycles (type-only imports count)", problems)


def test_no_private_names_across_modules(imports: list[Import]) -> None:
    problems = private_imports(imports).values()
    _fail_unless_none("no private names imported across modules", problems)


SAMPLE = {
    "runtime/__init__.py": "",
    "runtime/errors.py": "",
    "runtime/engine/__init__.py": "",
    "runtime/engine/host.py": (
        "from typing import TYPE_CHECKING\n"
        "from ..errors import _hidden\n"
        "if TYPE_CHECKING:\n"
        "    from runtime.engine.loop import Loop\n"
    ),
    "runtime/engine/loop.py": "def f():\n    from steplane.runtime.engine import host\n",
    "runtime/config.py": (
        '"""Docstrings may say adapters.memory:MemoryWorld."""\n'
        'WORLDS = {"memory": "adapters.memory:MemoryWorld"}\n'
    ),
    "runtime/world.py": "import importlib\nimportlib.import_module('infra.template')\n",
    "adapters/__init__.py": "",
    "adapters/memory.py": "from local_emulator import Emulator\n",
    "infra/__init__.py": "",
    "infra/template.py": "",
    "local_emulator/__init__.py": "Emulator = None\n",
}


def test_the_checker_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The rules above pass only if the parser finds hidden imports: prove it on a sample."""
    for relative, source in SAMPLE.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(source)
    found = all_imports(tmp_path)
    assert {(i.module, i.target) for i in upward_imports(found)} == {
        ("runtime.config", "adapters.memory"),  # a factory string, not its docstring
        ("runtime.world", "infra.template"),  # importlib.import_module
        ("adapters.memory", "local_emulator"),
    }
    [(group, cycle)] = import_cycles(found)  # a type-only and a function-level import close it
    assert group == {i.module for i in cycle} == {"runtime.engine.host", "runtime.engine.loop"}
    [private] = private_imports(found)
    assert (private.module, private.line, private.names) == ("runtime.engine.host", 2, ("_hidden",))
