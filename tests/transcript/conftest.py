"""The corpus, parsed once per test run, without a database."""

from __future__ import annotations

import pytest

from tests.corpus import CORPUS, CORPUS_2
from webapp.claude import ParsedSession, parse_paths


@pytest.fixture(scope="session")
def corpus_sessions() -> dict[str, ParsedSession]:
    """Every session of both corpus folders, by id (subagents linked to parents)."""
    return {s.id: s for s in parse_paths([CORPUS, CORPUS_2]).sessions}
