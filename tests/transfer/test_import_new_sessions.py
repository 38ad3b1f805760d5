"""New transcript sessions are written in bulk (``NewSessions``): the rows they
leave are the rows ``create_session`` and ``append_messages`` left, one session
at a time, on both backends."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from tests.conftest import FakeClock, _reset_postgres
from webapp.sessions import Config, Manager, Message, MessageStore, Session
from webapp.transfer import importer as importer_module
from webapp.transfer.importer import Importer
from webapp.transfer.newsessions import NewSessions


class OneByOne(NewSessions):
    """The reference: each new session written at once, as before the bulk write."""

    def add(self, session: Session, messages: list[Message]) -> int:
        self.store.create_session(session)
        return Importer._append(self.store, session, messages)


#: The rollups' change rows, compared by their sums per key: a session written
#: with its messages makes one change row, one created then appended to three.
ROLLUPS = {
    "session_counts": "status",
    "session_rollup": "day, status, duration_bucket, message_bucket",
    "error_rollup": "day, error",
}


def _rows(store: MessageStore) -> dict[str, list[Any]]:
    """Every row of every table but Alembic's and FTS5's own (its segments); the
    search documents without their ids (a session's documents are written with
    its row, so before its messages' in bulk), the rollups by their sums."""
    with store.read() as conn:
        names = [n for n in inspect(conn).get_table_names() if "fts" not in n]
        names.remove("alembic_version")
        tables = {}
        for name in names:
            columns = [c["name"] for c in inspect(conn).get_columns(name)]
            if name == "search_docs":
                columns.remove("id")
            query = f"SELECT {', '.join(columns)} FROM {name}"  # noqa: S608 (the schema's names)
            if name in ROLLUPS:
                keys = ROLLUPS[name]
                query = f"SELECT {keys}, sum(n) FROM {name} GROUP BY {keys} HAVING sum(n) <> 0"  # noqa: S608
            tables[name] = sorted((tuple(row) for row in conn.execute(text(query))), key=repr)
        return tables


def _import(url: str, corpus: Path, clock: FakeClock) -> tuple[list[str], dict[str, list[Any]]]:
    store = MessageStore(url, migrate=False)
    manager = Manager(Config(), store, clock=clock)
    try:
        importer = Importer(manager, keep=True)
        plans = importer.plan([corpus])
        return importer.run(plans).describe(), _rows(store)
    finally:
        manager.stop()
        store.close()


def test_new_sessions_in_bulk_store_what_one_at_a_time_stores(
    database_url: str,
    sqlite_template: Path,
    corpus: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer_module, "NewSessions", OneByOne)
    before = _import(database_url, corpus, clock)
    if database_url.startswith("sqlite"):
        shutil.copyfile(sqlite_template, database_url.removeprefix("sqlite:///"))
    else:
        _reset_postgres(database_url)
    monkeypatch.setattr(importer_module, "NewSessions", NewSessions)
    loads: list[int] = []
    bulk_load = MessageStore.bulk_load

    def counted(store: MessageStore, *args: Any) -> None:
        loads.append(1)
        bulk_load(store, *args)

    monkeypatch.setattr(MessageStore, "bulk_load", counted)
    after = _import(database_url, corpus, clock)
    assert loads  # the new sessions went in bulk
    assert after == before
    rows = after[1]
    assert rows["sessions"] and rows["messages"] and rows["usage_entries"]
    assert rows["imported_files"]
