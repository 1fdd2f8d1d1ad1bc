"""engine/'s import graph has no circles (issue 20): every import counts, at module level, inside a
function, or under TYPE_CHECKING, because each is a dependency a reader has to follow."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

from tests.support.paths import ROOT

ENGINE = ROOT / "engine"


def module_names(root: Path = ENGINE) -> dict[str, Path]:
    names = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports_of(name: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    """The engine modules `name` imports. `from package import module` depends on the module only
    (as import-linter counts it): a package's __init__ may name its submodules."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{alias.name}" for alias in node.names} & set(modules)
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(base)
    return {dep for dep in found if dep in modules and dep != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def paths(graph: Mapping[str, set[str]], group: list[str]) -> Iterator[str]:
    for module in group:
        for dep in sorted(graph[module] & set(group)):
            yield f"{module} -> {dep}"


def test_engine_has_no_import_circles() -> None:
    graph = import_graph()
    assert len(graph) > 50 and "engine.catalog" in graph["engine.claim"]
    found = circles(graph)
    assert not found, "import circles:\n" + "\n".join(
        f"{group}: {', '.join(paths(graph, group))}" for group in found
    )


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_deferred_and_type_checking_imports_count(tmp_path: Path) -> None:
    package = tmp_path / "engine"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from engine.b import B\n"
    )
    (package / "b.py").write_text("def f():\n    from engine import a\n    return a\n")
    modules = module_names(package)
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert graph["engine.a"] == {"engine.b"} and graph["engine.b"] == {"engine.a"}
    assert circles(graph) == [["engine.a", "engine.b"]]


EDGES: Final = ("engine.api", "engine.portal", "engine.cli", "engine.aws")
"""The edges: HTTP (API + webhook), the portal, the command line, the Lambda handlers."""
MAY_IMPORT_EDGES: Final = {
    "engine.app": ("engine.api", "engine.portal"),  # joins the API, the webhook and the portal
    "engine.cli": ("engine.app",),  # `dbvend serve`
    "engine.aws": ("engine.app",),  # the API's Lambda handler
}
"""Besides its own modules, what each edge (or the composition root) may import of the others."""


def edge_of(module: str) -> str | None:
    for edge in (*EDGES, "engine.app"):
        if module == edge or module.startswith(edge + "."):
            return edge
    return None


def edge_breaches(graph: Mapping[str, set[str]]) -> list[str]:
    found = []
    for module, deps in sorted(graph.items()):
        own = edge_of(module)
        allowed = MAY_IMPORT_EDGES.get(own or "", ())
        for dep in sorted(deps):
            target = edge_of(dep)
            if target is not None and target != own and target not in allowed:
                found.append(f"{module} -> {dep}")
    return found


def test_the_edges_are_imported_only_by_the_composition_root() -> None:
    graph = import_graph()
    assert {"engine.app", "engine.services", "engine.api", "engine.portal", "engine.aws"} <= set(graph)
    assert not edge_breaches(graph), "imports of an edge from outside it:\n" + "\n".join(edge_breaches(graph))


def test_the_edge_rule_finds_a_breach() -> None:
    graph = {
        "engine.lifecycle": {"engine.api.deps"},
        "engine.app": {"engine.api", "engine.portal"},
        "engine.portal.pages": {"engine.api.databases"},
        "engine.cli.ci": {"engine.cli.support", "engine.app"},
    }
    assert edge_breaches(graph) == [
        "engine.lifecycle -> engine.api.deps",
        "engine.portal.pages -> engine.api.databases",
    ]


def test_the_store_does_not_import_the_queue() -> None:
    """The queue owns its table and may use the store; the store knows nothing of the queue."""
    graph = import_graph()
    assert "engine.store.ledger" in graph
    found = sorted(
        f"{module} -> {dep}"
        for module, deps in graph.items()
        if module.startswith("engine.store")
        for dep in deps
        if dep.startswith("engine.queue")
    )
    assert found == []


MOST_LINES: Final = 500  # issue 20: a module a newcomer reads whole


def test_no_module_is_longer_than_a_reader_reads_whole() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in module_names().values()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MOST_LINES
    }
    assert long == {}, f"split these by what they hold: {long}"
