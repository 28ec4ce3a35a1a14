"""Tests of the package structure: no import cycle between subpackages, FastAPI in the server.

The graph's nodes are the top-level parts of ``src/prism``: subpackages (``sensing``,
``procedure``, ...) and top-level modules (``errors``, ``settings``, ...). An edge
``a -> b`` means some file of ``a`` imports from ``b``: every ``import`` and ``from``
statement counts, wherever it is (inside a function, under ``TYPE_CHECKING``), and
relative imports are resolved. A lower layer never imports a higher one, so the graph has
no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "prism"

Edges = dict[tuple[str, str], list[str]]
"""(importer, imported) -> the files and modules that make the edge."""


def _module_parts(path: Path, src: Path) -> tuple[list[str], bool]:
    """Dotted name of a source file as parts, and whether it is a package's __init__."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        return parts[:-1], True
    return parts, False


def _imported_modules(
    tree: ast.AST, parts: list[str], is_package: bool, root: str = ROOT
) -> Iterator[tuple[int, str]]:
    """(line, module) for every module an import statement of ``tree`` names, relative
    ones made absolute; ``from prism import errors`` names ``prism.errors``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = parts if is_package else parts[:-1]
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module == root or not node.module:  # the imported names may be modules
                yield from ((node.lineno, f"{module}.{alias.name}") for alias in node.names)
            else:
                yield node.lineno, module


def import_graph(src: Path, root: str = ROOT) -> Edges:
    """The import edges between the top-level parts of package ``root`` under ``src``."""
    package = src / root
    tops = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    # subpackages, namespace packages (no __init__.py) included
    tops |= {p.name for p in package.iterdir() if p.is_dir() and any(p.rglob("*.py"))}
    edges: Edges = {}
    for path in sorted(package.rglob("*.py")):
        parts, is_package = _module_parts(path, src)
        source = parts[1] if len(parts) > 1 else root
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _imported_modules(tree, parts, is_package, root):
            names = module.split(".")
            if names[0] != root or len(names) < 2 or names[1] not in tops:
                continue
            target = names[1]
            if target != source:
                where = f"{path.relative_to(package)}:{line} imports {module}"
                edges.setdefault((source, target), []).append(where)
    return edges


def find_cycle(edges: Edges) -> list[str] | None:
    """A cycle of the graph as ``[a, b, ..., a]``, or None (graphlib finds it)."""
    imports: dict[str, set[str]] = {}
    for source, target in edges:
        imports.setdefault(source, set()).add(target)
    try:
        TopologicalSorter(imports).prepare()
    except CycleError as error:
        return list(error.args[1])
    return None


def describe_cycle(cycle: list[str], edges: Edges) -> str:
    """The cycle and, for each of its edges, the imports that make it."""
    lines = [" -> ".join(cycle)]
    # graphlib lists a cycle against the dependency direction: b depends on a
    for importer, imported in zip(cycle[1:], cycle[:-1], strict=True):
        lines.append(f"  {importer} -> {imported}:")
        lines.extend(f"    {where}" for where in edges[(importer, imported)][:5])
    return "\n".join(lines)


def test_no_import_cycle_between_subpackages() -> None:
    edges = import_graph(SRC)
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle between subpackages of prism:\n" + describe_cycle(
        cycle, edges
    )


def test_fastapi_is_imported_only_by_the_server() -> None:
    package = SRC / ROOT
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] == "server":
            continue
        parts, is_package = _module_parts(path, SRC)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [
            f"{relative}:{line} imports {module}"
            for line, module in _imported_modules(tree, parts, is_package)
            if module.split(".")[0] == "fastapi"
        ]
    assert not found, "FastAPI belongs to prism.server:\n" + "\n".join(found)


def test_the_graph_sees_every_kind_of_import() -> None:
    edges = import_graph(SRC)
    assert ("tracker", "procedure") in edges  # absolute, at the top
    assert ("cli", "sensing") in edges  # inside a function
    assert ("cli", "evaluation") in edges  # a namespace package (no __init__.py)
    assert ("procedure", "errors") in edges  # a top-level module is a node
    assert ("procedure", "data") not in edges  # learning takes sessions, not a loader
    assert ("sensing", "evaluation") not in edges  # sensing scores itself


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A package ``toy`` where ``a`` and ``b`` import each other (``b`` relatively, in a
    function) and ``c`` imports ``a`` with ``from toy import a``."""
    files = {
        "toy/__init__.py": "",
        "toy/util.py": "",
        "toy/a/__init__.py": "from toy.b.mod import thing\nimport toy.util\n",
        "toy/b/__init__.py": "",
        "toy/b/mod.py": "def f():\n    from ..a import x\n    from . import sibling\n",
        "toy/c.py": "from toy import a\nfrom toy.spaces.mod import y\n",
        "toy/spaces/mod.py": "",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_relative_imports_and_cycles_are_found(toy: Path) -> None:
    edges = import_graph(toy, "toy")
    assert set(edges) == {("a", "b"), ("a", "util"), ("b", "a"), ("c", "a"), ("c", "spaces")}
    assert edges[("b", "a")] == ["b/mod.py:2 imports toy.a"]
    cycle = find_cycle(edges)
    assert cycle is not None and sorted(cycle[:-1]) == ["a", "b"] and cycle[0] == cycle[-1]
    message = describe_cycle(cycle, edges)
    assert "b/mod.py:2 imports toy.a" in message
    assert "a/__init__.py:1 imports toy.b.mod" in message
