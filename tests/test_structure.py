"""Structure checks: no import cycles inside the ``adcgan`` package; files and functions stay small."""
from __future__ import annotations

import ast
from pathlib import Path

import adcgan

PACKAGE_ROOT = Path(adcgan.__file__).resolve().parent


def _module_name(path: Path) -> str:
    """Dotted module name of a source file under the package root."""
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(name: str, modules: set[str]) -> str | None:
    """The longest package module that ``name`` refers to (``a.b.c`` -> ``a.b`` when ``c`` is a symbol)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): imports that never run."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: module level, in functions and classes, not under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                todo.extend(getattr(child, "orelse", []))
            else:
                todo.append(child)
    return found


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Every ``adcgan.*`` name imported in ``tree`` (a module, or a symbol of one)."""
    names: list[str] = []
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
            continue
        prefix = node.module or ""
        if node.level:
            base = module.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        names.append(prefix)
        names.extend(f"{prefix}.{alias.name}" for alias in node.names)
    return [n for n in names if n == "adcgan" or n.startswith("adcgan.")]


def _ancestors(module: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _edges(module: str, target: str) -> set[str]:
    """What importing ``target`` from ``module`` runs: ``target`` and the packages above it.

    A package above ``module`` itself is left out: it is already being imported when
    ``module`` runs, so importing it again is no cycle.
    """
    mine = set(_ancestors(module))
    return {m for m in [*_ancestors(target), target] if m not in mine and m != module}


def import_graph() -> dict[str, set[str]]:
    """``{module: package modules its imports run}`` over every module of ``adcgan``."""
    files = {_module_name(p): p for p in PACKAGE_ROOT.rglob("*.py")}
    modules = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = {_resolve(n, modules) for n in _imported_names(tree, module, path.name == "__init__.py")}
        graph[module] = set().union(*(_edges(module, t) for t in targets if t is not None))
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_import_graph_sees_the_package() -> None:
    graph = import_graph()
    assert "adcgan" in graph and "adcgan.detectors.base" in graph
    assert "adcgan.detectors" in graph["adcgan"]                     # module level
    assert "adcgan.registry" in graph["adcgan.detectors.checkpoint"]  # function level
    assert "adcgan.detectors.base" not in graph["adcgan.registry"]   # TYPE_CHECKING only


def test_find_cycles_reports_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles inside adcgan:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_defaults_come_from_one_place() -> None:
    from adcgan.cli.bench import bench_defaults
    from adcgan.cli.settings import run_defaults
    from adcgan.evaluation.protocols import paper_epochs

    assert run_defaults() == {"detector": "adcgan", "dataset": "fashion-mnist", "scheme": "one-vs-all", "cls": 1,
                              "seed": 0, "test_set": "standard", "preprocess": "paper"}
    assert bench_defaults() == {
        "detectors": "adcgan", "datasets": "fashion-mnist", "schemes": "one-vs-all", "classes": "all", "seeds": "0",
        "preset": "quick", "executor": "local", "workers": 1, "cpus_per_run": 1.0, "gpus_per_run": 0.0,
        "test_set": "standard", "preprocess": "paper"}
    assert paper_epochs("all-vs-one") == (35, 15) and paper_epochs("one-vs-all") == (15, 5)


MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 40  # def line to last line, docstring included


def test_modules_and_functions_stay_small() -> None:
    """The house rule of issue 10: package files <= 300 lines, functions <= 40 lines."""
    too_long = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_FILE_LINES:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.name}:{node.lineno} {node.name}: {n} lines")
    assert not too_long, "over the size limits: " + "; ".join(too_long)
