"""The import graph of pipeline/ and flows/, read from the source: every import counted, those
inside functions too (a lazy import is still a dependency). Only `if TYPE_CHECKING:` blocks are
left out: they name types for the reader and the type checker, and never run."""

from __future__ import annotations

import ast
from pathlib import Path


def module_imports(repo: Path) -> dict[str, set[str]]:
    """Each module of pipeline/ and flows/ -> the modules of those packages it imports."""
    trees = {}
    for package in ("pipeline", "flows"):
        for path in (repo / package).rglob("*.py"):
            name = ".".join(path.relative_to(repo).with_suffix("").parts).removesuffix(".__init__")
            trees[name] = ast.parse(path.read_text(), str(path))

    def known(name: str) -> str | None:
        while name and name not in trees:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, tree in trees.items():
        found = set()
        for node in _run_time_nodes(tree):
            if isinstance(node, ast.Import):
                found |= {known(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {known(f"{node.module}.{alias.name}") or known(node.module) for alias in node.names}
        graph[name] = found - {None, name}
    return graph


def _run_time_nodes(tree: ast.AST):
    """Every node of `tree` but those under an `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from (n for child in node.orelse for n in ast.walk(child))
            continue
        yield node
        yield from _run_time_nodes(node)


def import_cycles(repo: Path) -> list[list[str]]:
    """The groups of modules that import each other, directly or around a cycle (Tarjan)."""
    graph = module_imports(repo)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles
