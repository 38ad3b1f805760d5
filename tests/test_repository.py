"""The repository carries what its tests need: no test reads a path outside it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.corpus import CORPUS, CORPUS_2

TESTS = Path(__file__).resolve().parent
# The project's shared folder beside the checkout, however it is spelled as a path
# ("../shared", a path joined with "shared", "shared/corpus"); the word alone is a
# feature's (a view shared with the team, a share link).
OUTSIDE = re.compile(r"\.\./shared|/\s*[\"']shared[\"']|[\"']shared/")


def test_no_test_reads_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{number}"
        for path in TESTS.rglob("*.py")
        if path.name != "test_repository.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_the_corpus_is_here_with_its_sources_and_licenses() -> None:
    for folder in (CORPUS, CORPUS_2):
        assert (folder / "SOURCES.md").is_file()
        assert (folder / "LICENSES.md").is_file()
        assert len(list(folder.glob("*.jsonl"))) >= 8


def test_webapp_has_no_import_cycle() -> None:
    """No module of webapp imports, directly or not, a module that imports it back
    (function-level imports count): strongly connected parts of the import graph."""
    import grimp

    graph = grimp.build_graph("webapp")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            part = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(part) > 1:
                cycles.append(sorted(part))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert cycles == []
