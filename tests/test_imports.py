"""The core library's module graph has no circle, counting the imports inside functions too:
each module can be read (and tested) knowing only the modules below it."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "scripts" / "claudex_mcp"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The claudex_mcp modules ``path`` imports, at the top or inside a function."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - (node.level - 1)] if node.level else []
            target = base + (node.module.split(".") if node.module else [])
            if node.level == 0 and (not node.module or not node.module.startswith("claudex_mcp")):
                continue
            for alias in node.names:
                candidate = ".".join(target + [alias.name])
                found.add(candidate if (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists()
                          else ".".join(target))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("claudex_mcp")}
    return {m for m in found if m != module_name(path) and m != "claudex_mcp"}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_the_graph_is_read_correctly():
    edges = graph()
    assert "claudex_mcp.store.registry" in edges["claudex_mcp.store.index"]
    assert "claudex_mcp.install.lifecycle" in edges["claudex_mcp.cli.commands.install"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_circle_among_the_modules():
    assert cycles(graph()) == []
