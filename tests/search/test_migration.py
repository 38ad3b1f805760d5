"""Migration 0007 makes the search_docs table of the model, fills it from a
database that has sessions already, and undoes it."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from webapp.sessions import Config, Manager, Message, MessageStore
from webapp.sessions.schema import alembic_config, upgrade_schema
from webapp.sessions.search import Search, parse
from webapp.sessions.search_index import SearchDoc
from webapp.sessions.store import make_engine

from .test_statuses import assert_statuses_follow


def needles(manager: Manager, *, failing: bool = False) -> str:
    """Three running sessions with a "needle" request and message (the last two
    failed when ``failing``); returns the last one's id."""
    for i in range(3):
        session = manager.create(f"needle request {i}")
        manager.set_running(session.id)
        manager.append_message(session.id, Message("user", f"needle message {i}"))
        if failing and i:
            manager.set_failed(session.id, "needle failed")
    return session.id


def test_0007_fills_the_index_matches_the_model_and_downgrades(
    database_url: str, capfd: Any
) -> None:
    engine = make_engine(database_url)
    try:
        store = MessageStore(engine, migrate=False)
        needles(Manager(Config(), store))
        # Back to before the index (the sessions stay), then up again: 0007 fills it.
        engine.dispose()
        command.downgrade(alembic_config(engine), "0006")
        assert "search_docs" not in inspect(engine).get_table_names()
        capfd.readouterr()
        upgrade_schema(engine)
        assert "Search index: 6 texts indexed" in capfd.readouterr().err
        assert len(Search(store).hits(parse("needle"), limit=100).hits) == 6
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [
                d
                for d in compare_metadata(context, SearchDoc.metadata)
                if "search_docs" in repr(d) and "ix_search_docs_body" not in repr(d)
            ]
        assert diff == []
    finally:
        upgrade_schema(engine)  # the database stays at head for the tests after this one
        engine.dispose()


def test_0016_puts_the_status_beside_every_text_and_downgrades(
    database_url: str, capfd: Any
) -> None:
    engine = make_engine(database_url)
    try:
        store = MessageStore(engine, migrate=False)
        manager = Manager(Config(), store)
        last = needles(manager, failing=True)
        engine.dispose()
        command.downgrade(alembic_config(engine), "0015")
        assert "search_doc_status" not in inspect(engine).get_table_names()
        # Written without the table and its triggers: the migration must fill it.
        manager.set_running(last)
        capfd.readouterr()
        upgrade_schema(engine)
        assert "Search index: statuses beside the texts in" in capfd.readouterr().err
        assert assert_statuses_follow(store) == 8
        failed = Search(store).hits(parse("needle"), statuses=("failed",), limit=100).hits
        assert len(failed) == 3  # the second session's texts; the third runs again
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [
                d for d in compare_metadata(context, SearchDoc.metadata) if "search_doc" in repr(d)
            ]
        assert [d for d in diff if "ix_search_docs_body" not in repr(d)] == []
    finally:
        upgrade_schema(engine)
        engine.dispose()
