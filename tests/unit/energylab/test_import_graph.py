"""The layers of the code base, read from its imports: no cycle, and apps import only downwards.

The graph is every import a module runs (at its top or inside a function; not those under
``TYPE_CHECKING``) between the project's own modules, tests, migrations and management commands
left out. A cycle means neither module can be understood, or changed, without the other: the
lower one takes a callback, or the shared piece moves down.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("energylab", "collectors", "access", "events")
#: the only modules of events/ that collectors/ may import: its models and the ingest entry point
COLLECTORS_MAY_IMPORT_FROM_EVENTS = {"events.models", "events.ingest.buffer"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            if {"tests", "migrations", "management"} & set(parts):
                continue
            found[_module_name(path)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(name: str, path: Path) -> set[str]:
    """Every module (or module.attribute) the file imports when it runs.

    ``from package import module`` counts as importing the module, not the package: the parent
    package's ``__init__`` runs for any of its modules, so counting it would make a cycle of
    every package that imports its own modules (even lazily, as collectors.drivers does).
    """
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    imported: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if _is_type_checking(node.test):
                for child in node.orelse:
                    self.visit(child)
            else:
                self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            imported.update(alias.name for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            imported.add(module)
            imported.update(f"{module}.{alias.name}" for alias in node.names)

    Visitor().visit(ast.parse(path.read_text(), str(path)))
    return imported


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        imported = {m for m in _runtime_imports(name, path) if m in modules and m != name}
        # A package that was only the "from" of a module import is not imported for its own sake.
        graph[name] = {
            m for m in imported if not any(other.startswith(f"{m}.") for other in imported)
        }
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_reads_the_project() -> None:
    graph = _graph()
    assert "collectors.metrics" in graph["collectors.polling"]  # a top-level import
    assert "events.ingest.buffer" in graph["collectors.polling"]
    assert "events.models" in graph["events.metrics"]  # imported inside a function: counts too


def test_no_module_imports_itself_through_others() -> None:
    assert _cycles(_graph()) == []


def test_a_cycle_is_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_project_plumbing_imports_no_app() -> None:
    graph = _graph()
    plumbing = [name for name in graph if name.split(".")[0] == "energylab"]
    wiring = {
        "energylab.urls",
        "energylab.celery",
        "energylab.wsgi",
        "energylab.testing",
        "energylab.api.testing",  # fixtures make tokens (access)
    }
    assert {
        (name, target)
        for name in plumbing
        if name not in wiring
        for target in graph[name]
        if target.split(".")[0] != "energylab"
    } == set()


def test_collectors_import_only_the_models_and_the_ingest_entry_of_events() -> None:
    graph = _graph()
    assert {
        target
        for name, targets in graph.items()
        if name.startswith("collectors.")
        for target in targets
        if target.startswith("events.")
    } <= COLLECTORS_MAY_IMPORT_FROM_EVENTS
