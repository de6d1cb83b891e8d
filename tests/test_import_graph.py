"""The package's modules import each other without circles, counting imports inside functions (which hide a
circle from the interpreter but not from a reader)."""

import ast
from pathlib import Path

import robustbench_lift

ROOT = Path(robustbench_lift.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere (package `__init__` files left out: they re-export)."""
    modules = {".".join(("robustbench_lift", *f.relative_to(ROOT).with_suffix("").parts)): f
               for f in ROOT.rglob("*.py") if f.name != "__init__.py"}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("robustbench_lift"):
                targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                            for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = targets & modules.keys()
    return graph


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` as a path that returns to its start, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return None

    return next((found for node in sorted(graph) if node not in state and (found := visit(node))), None)


def test_the_search_finds_a_circle():
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b"}, "b": set()}) is None


def test_no_module_imports_itself_through_others():
    graph = _imports()
    assert {"robustbench_lift.models.registry", "robustbench_lift.training.data"} <= graph.keys()
    assert "robustbench_lift.models.sources" in graph["robustbench_lift.models.create"]
    assert _circle(graph) is None
