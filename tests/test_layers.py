"""The layers, read off the source: imports go one way and private names stay home.

An AST pass over curation/ and mlcore/ (migrations aside) builds the import graph, module
level and function level alike, and checks the rules in shared/STYLE.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("curation", "mlcore")
WRITES = {"save", "delete", "update", "create", "bulk_create", "bulk_update", "get_or_create"}
WRITES |= {"update_or_create", "executemany", "execute"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            found[_module_name(path)] = (path, ast.parse(path.read_text(), str(path)))
    return found


MODULES = _modules()


def _imports(name: str, tree: ast.Module) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in the module."""
    out = []
    package = name if MODULES[name][0].name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:  # `from package import module`
                    out.append((sub, [], node.lineno))
                else:
                    out.append((base, [alias.name], node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    return {
        name: {mod for mod, _, _ in _imports(name, tree) if mod in MODULES and mod != name}
        for name, (_, tree) in MODULES.items()
    }


def _top_level_graph() -> dict[str, set[str]]:
    """Imports executed when the module is imported (not those inside functions)."""
    graph = {}
    for name, (_, tree) in MODULES.items():
        body = ast.Module(body=[n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)])
        graph[name] = {m for m, _, _ in _imports(name, body) if m in MODULES and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_circle():
    assert _cycle(_graph()) is None


def test_the_modules_import_in_any_order():
    """No circle even among module-level imports (what Python runs at import time)."""
    assert _cycle(_top_level_graph()) is None


def test_no_private_name_crosses_a_module():
    crossings = []
    for name, (path, tree) in MODULES.items():
        for mod, names, line in _imports(name, tree):
            if mod.split(".")[0] not in PACKAGES:
                continue
            crossings += [f"{path.name}:{line} {mod}.{n}" for n in names if n.startswith("_")]
        for node in ast.walk(tree):  # module._name, e.g. quality._attach_current(...)
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and _is_our_module(name, tree, node.value.id)
            ):
                crossings.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert crossings == []


def _is_our_module(name: str, tree: ast.Module, alias: str) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                if (a.asname or a.name) == alias and f"{node.module}.{a.name}" in MODULES:
                    return True
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname == alias and a.name in MODULES:
                    return True
    return False


@pytest.mark.parametrize("prefix", ["curation.services", "curation.queries", "curation.storage"])
def test_services_and_the_read_side_never_import_tasks(prefix):
    importers = [
        name
        for name, deps in _graph().items()
        if name.startswith(prefix) and "curation.tasks" in deps
    ]
    assert importers == []


def test_mlcore_never_imports_the_web_side():
    found = []
    for name, (_, tree) in MODULES.items():
        if name.startswith("mlcore"):
            for mod, _, line in _imports(name, tree):
                if mod.split(".")[0] in {"curation", "config", "django", "rest_framework"}:
                    found.append(f"{name}:{line} {mod}")
    assert found == []


def test_the_read_side_imports_no_service_and_calls_no_write():
    found = []
    for name, (_, tree) in MODULES.items():
        if not name.startswith("curation.queries"):
            continue
        found += [
            f"{name}:{line} imports {mod}"
            for mod, _, line in _imports(name, tree)
            if mod.startswith("curation.services")
        ]
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in WRITES
            ):
                found.append(f"{name}:{node.lineno} calls .{node.func.attr}()")
    assert found == []


def test_the_checks_see_the_modules_they_are_about():
    """Guard against a path change that would make every rule above pass vacuously."""
    graph = _graph()
    assert "curation.services.runs.execute" in graph
    assert "curation.queries.quality" in graph
    assert "curation.services.queue" in graph["curation.services.import_jobs"]
    assert "curation.services.runs.execute" in graph["curation.tasks"]
    assert _cycle({"a": {"b"}, "b": {"a"}}) is not None
