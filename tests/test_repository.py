"""The repository carries what its tests need: no test reads a path outside it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.corpus import CORPUS, CORPUS_2

TESTS = Path(__file__).resolve().parent
# The project's shared folder beside the checkout, however it is spelled.
OUTSIDE = re.compile(r"\.\./shared|[\"']shared[\"']")


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
