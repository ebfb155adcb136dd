"""The package's import graph: one-way, with the tools on top.

Every import between our modules counts, including imports inside functions
and under ``TYPE_CHECKING`` (a type-only import is still a dependency a reader
has to follow). Importing a submodule also imports its parent packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parent.parent / "src"
PACKAGE = "ome_writers"


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


def _targets(module: str, is_package: bool, node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join([*base, *([node.module] if node.module else [])])
    else:
        prefix = node.module or ""
    return [prefix, *(f"{prefix}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (parents included)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(module, is_package, node):
                parts = target.split(".")
                # the target and the parent packages importing it runs (the
                # root package is left out: every module is below it)
                for k in range(2, len(parts) + 1):
                    name = ".".join(parts[:k])
                    own = module == name or module.startswith(name + ".")
                    if name in modules and not own:
                        deps.add(name)
        graph[module] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_tools_sit_above_the_core() -> None:
    """Nothing but the tools (and the benchmark's module alias) imports them."""
    graph = import_graph()
    tools = f"{PACKAGE}.tools"
    alias = f"{PACKAGE}.benchmark"
    users = {
        module
        for module, deps in graph.items()
        if any(d == tools or d.startswith(tools + ".") for d in deps)
        and not module.startswith(tools)
    }
    assert users == {alias}


# The layers, bottom first: a module imports only from its own layer or below.
LAYERS = [
    ("_version", "errors", "_registry", "_indexing"),
    ("_schema",),
    ("_router",),
    ("_io",),
    ("metadata",),
    ("backends",),
    ("labels", "tables"),
    ("_stream",),
    ("adapters", "_useq"),
    ("reading",),
    ("serve",),
    ("tools", "benchmark"),
]


def layer_of(module: str) -> int | None:
    """The layer of a package module (None: the package root, above all)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def arrows_against_layers(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs where a lower layer imports a higher one."""
    found = []
    for module, deps in sorted(graph.items()):
        level = layer_of(module)
        if level is None:
            continue
        for dep in sorted(deps):
            dep_level = layer_of(dep)
            if dep_level is not None and dep_level > level:
                found.append((module, dep))
    return found


def test_every_module_has_a_layer() -> None:
    for module in import_graph():
        layer_of(module)


def test_no_import_against_the_layer_order() -> None:
    assert arrows_against_layers(import_graph()) == []


def test_the_layer_check_finds_arrows_up() -> None:
    graph = {
        f"{PACKAGE}._schema._x": {f"{PACKAGE}.backends._base"},
        f"{PACKAGE}.backends._base": {f"{PACKAGE}._schema._x"},
    }
    assert arrows_against_layers(graph) == [
        (f"{PACKAGE}._schema._x", f"{PACKAGE}.backends._base")
    ]


def test_format_families_do_not_import_each_other() -> None:
    """The OME-Zarr and OME-TIFF backends share only what sits below them."""
    graph = import_graph()
    families = [f"{PACKAGE}.backends.zarr", f"{PACKAGE}.backends.tiff"]
    for family in families:
        others = [f for f in families if f != family]
        for module, deps in graph.items():
            if module == family or module.startswith(family + "."):
                crossing = {
                    d for d in deps for o in others if d == o or d.startswith(o + ".")
                }
                assert not crossing, (module, crossing)


def test_registry_imports_nothing_of_ours() -> None:
    assert import_graph()[f"{PACKAGE}._registry"] == set()


def test_settings_import_no_backend_module() -> None:
    """The settings read the registry's facts, never a backend."""
    graph = import_graph()
    for module, deps in graph.items():
        if module.startswith(f"{PACKAGE}._schema"):
            assert not {d for d in deps if d.startswith(f"{PACKAGE}.backends")}, module


# The central objects, allowed to be large: the stream every append goes
# through. Every other class stays under the limit.
MAX_CLASS_LINES = 500
CENTRAL_CLASSES = {"OMEStream"}


def long_classes() -> dict[str, int]:
    found = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    found[node.name] = lines
    return found


def test_no_class_over_the_limit_but_the_central_ones() -> None:
    over = {k: v for k, v in long_classes().items() if k not in CENTRAL_CLASSES}
    assert over == {}


def test_the_reader_imports_no_backend() -> None:
    """`open()` reads what a dataset states, not how a backend wrote it."""
    graph = import_graph()
    inside = (f"{PACKAGE}.backends", f"{PACKAGE}._stream")
    for module, deps in graph.items():
        if module.startswith(f"{PACKAGE}.reading"):
            assert not {d for d in deps if d.startswith(inside)}, module
