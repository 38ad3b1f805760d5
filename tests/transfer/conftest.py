"""Fixtures of the transfer tests: the shared corpus, a Manager of the app, helpers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.corpus import CORPUS
from webapp.sessions import Manager
from webapp.sessions.models import MessageRow, SessionRow


@pytest.fixture
def corpus() -> Path:
    """The Claude Code corpus in tests/data."""
    return CORPUS


@pytest.fixture
def app_manager(app: Any) -> Iterator[Manager]:
    """The app's Manager, inside an app context."""
    with app.app_context():
        yield app.extensions["sessionboard.manager"]


def raw_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a transcript, read plainly."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def count_rows(manager: Manager, model: Any) -> int:
    """How many rows the table of ``model`` has."""
    with manager.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def stored_messages(manager: Manager) -> list[Any]:
    """Every stored message row."""
    with manager.store.read() as conn:
        return list(conn.execute(select(MessageRow.__table__).order_by(MessageRow.id)))


def stored_sessions(manager: Manager) -> dict[str, Any]:
    """Every stored session row by id."""
    with manager.store.read() as conn:
        return {r.id: r for r in conn.execute(select(SessionRow.__table__))}


def with_a_bad_file(corpus: Path, folder: Path) -> Path:
    """The corpus's transcripts and, sorted among them, one with a bad session id."""
    for path in corpus.glob("*.jsonl"):
        shutil.copy(path, folder / path.name)
    line = {
        "type": "user",
        "uuid": "u1",
        "sessionId": "../sessions/victim",
        "timestamp": "2026-01-01T00:00:00Z",
        "message": {"role": "user", "content": "hello"},
    }
    bad = folder / "claude-code-log__5bad.jsonl"  # after two of the corpus's files
    bad.write_text(json.dumps(line) + "\n", encoding="utf-8")
    return bad
