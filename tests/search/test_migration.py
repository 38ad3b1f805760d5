"""Migration 0007 makes the search_docs table of the model, fills it from a
database that has sessions already, and undoes it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from tests.conftest import postgres_unavailable
from webapp.sessions import Config, Manager, Message, MessageStore
from webapp.sessions.schema import alembic_config, upgrade_schema
from webapp.sessions.search import Search, parse
from webapp.sessions.search_index import (
    SearchDoc,
    _index_build_watched,
    fts_tail,
    keep_fts_current,
)
from webapp.sessions.store import make_engine

from .test_search import check_index
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


#: PostgreSQL's indexes made by DDL, not by the model: the trigram index and
#: the index of the texts waiting for it.
DDL_INDEXES = ("ix_search_docs_body", "ix_search_docs_unindexed")


def model_diff(engine: Any, tables: str) -> list[Any]:
    """How the database's tables named like ``tables`` differ from the model
    (PostgreSQL keeps the model's foreign keys as triggers, from 0021 on)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return [
            d
            for d in compare_metadata(context, SearchDoc.metadata)
            if tables in repr(d)
            and not any(name in repr(d) for name in DDL_INDEXES)
            and not (engine.dialect.name == "postgresql" and d[0] == "add_fk")
        ]


def foreign_keys(engine: Any) -> list[str]:
    """The foreign keys of the index's tables."""
    found = inspect(engine)
    return sorted(
        fk["name"] for t in ("search_docs", "search_doc_status") for fk in found.get_foreign_keys(t)
    )


@contextmanager
def migrated(
    database_url: str, *, tail_limit: int | None = None
) -> Iterator[tuple[Engine, MessageStore, Manager]]:
    """The engine of a migration test's database, its store and a Manager (the
    tail's bound set when given); the database is at head again after the test,
    for the tests after it."""
    engine = make_engine(database_url)
    try:
        if tail_limit is not None:
            keep_fts_current(engine, tail_limit=tail_limit)
        store = MessageStore(engine, migrate=False)
        yield engine, store, Manager(Config(), store)
    finally:
        upgrade_schema(engine)
        engine.dispose()


def test_0007_fills_the_index_matches_the_model_and_downgrades(
    database_url: str, capfd: Any
) -> None:
    with migrated(database_url) as (engine, store, manager):
        needles(manager)
        # Back to before the index (the sessions stay), then up again: 0007 fills it.
        engine.dispose()
        command.downgrade(alembic_config(engine), "0006")
        assert "search_docs" not in inspect(engine).get_table_names()
        capfd.readouterr()
        upgrade_schema(engine)
        assert "Search index: 6 texts indexed" in capfd.readouterr().err
        assert len(Search(store).hits(parse("needle"), limit=100).hits) == 6
        assert model_diff(engine, "search_docs") == []


def test_0016_puts_the_status_beside_every_text_and_downgrades(
    database_url: str, capfd: Any
) -> None:
    with migrated(database_url) as (engine, store, manager):
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
        assert model_diff(engine, "search_doc") == []


def test_0018_keeps_waiting_texts_and_downgrades(database_url: str) -> None:
    """Down to 0017 with texts waiting for the index, a write there (the old
    triggers), and up again: every text is found, with its status, and the
    tables match the model; at 0017 the trigram index (PostgreSQL) holds every
    text and the documents' status trigger (SQLite) is back."""
    with migrated(database_url, tail_limit=10_000) as (engine, store, manager):
        needles(manager, failing=True)
        with engine.connect() as conn:
            assert fts_tail(conn) > 0
        engine.dispose()
        command.downgrade(alembic_config(engine), "0017")
        columns = {c["name"] for c in inspect(engine).get_columns("search_docs")}
        assert "unindexed" not in columns
        if engine.dialect.name == "postgresql":
            body = next(
                i for i in inspect(engine).get_indexes("search_docs") if i["name"] == DDL_INDEXES[0]
            )
            assert "postgresql_where" not in body["dialect_options"]
        last = needles(manager, failing=True)
        manager.set_running(last)
        engine.dispose()
        upgrade_schema(engine)
        assert model_diff(engine, "search_doc") == []
        assert assert_statuses_follow(store) == 16
        search = Search(store)
        assert len(search.hits(parse("needle"), limit=100).hits) == 16
        failed = search.hits(parse("needle"), statuses=("failed",), limit=100).hits
        assert len(failed) == 9  # two failed sessions of the first three, one of the next
        with engine.connect() as conn:
            assert fts_tail(conn) == 0  # the status check ran the pass


def test_0019_writes_message_documents_at_commit_and_downgrades(database_url: str) -> None:
    """Down to 0018 (SQLite: the row trigger per new message back), a write there,
    and up again: every message has exactly one document, and is found."""
    with migrated(database_url) as (engine, store, manager):
        needles(manager)
        engine.dispose()
        command.downgrade(alembic_config(engine), "0018")
        triggers = "SELECT count(*) FROM sqlite_master WHERE name = 'search_messages_ai'"
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                assert conn.exec_driver_sql(triggers).scalar_one() == 1
        needles(manager)
        engine.dispose()
        upgrade_schema(engine)
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                assert conn.exec_driver_sql(triggers).scalar_one() == 0
        needles(manager)
        with engine.connect() as conn:
            per_message = conn.exec_driver_sql(
                "SELECT count(*), count(DISTINCT message_id) FROM search_docs"
                " WHERE source = 'message'"
            ).one()
        assert tuple(per_message) == (9, 9)
        assert len(Search(store).hits(parse("needle message"), limit=100).hits) == 9


def test_0021_deletes_by_trigger_on_postgresql_and_downgrades(database_url: str) -> None:
    """PostgreSQL: at 0020 the index's tables have the model's three foreign
    keys, from 0021 on none (triggers delete instead); SQLite keeps them. Down
    and up again, a deleted message and session leave nothing in the index."""
    with migrated(database_url) as (engine, store, manager):
        keys = foreign_keys(engine)
        assert len(keys) == (0 if engine.dialect.name == "postgresql" else 3)
        needles(manager)
        engine.dispose()
        command.downgrade(alembic_config(engine), "0020")
        assert len(foreign_keys(engine)) == 3
        last = needles(manager)
        engine.dispose()
        upgrade_schema(engine)
        assert foreign_keys(engine) == keys
        assert model_diff(engine, "search_doc") == []
        assert manager.delete(last)
        store.delete_messages_for_session(needles(manager))
        # three times three sessions of a request and a message; one session and
        # one message gone
        assert len(Search(store).hits(parse("needle"), limit=100).hits) == 18 - 2 - 1
        check_index(store)


def test_a_trigram_index_build_reports_its_progress(postgres_database: str | None) -> None:
    """PostgreSQL builds a GIN index in one statement (0018 rebuilds the trigram
    index so): while it runs, its progress reaches the migration's bar, blocks
    done of blocks in all, as ``pg_stat_progress_create_index`` says."""
    if postgres_database is None:
        postgres_unavailable("no server")
    engine = make_engine(str(postgres_database))
    seen: list[tuple[int, int]] = []
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS build_progress")
            conn.exec_driver_sql("CREATE TABLE build_progress (body text)")
            conn.exec_driver_sql(
                "INSERT INTO build_progress SELECT md5(i::text) || md5((i * 7)::text)"
                " FROM generate_series(1, 200000) AS i"
            )
        with engine.begin() as conn:
            with _index_build_watched(conn, lambda *p: seen.append(p), every=0.02):
                conn.exec_driver_sql("CREATE INDEX ON build_progress USING gin (body gin_trgm_ops)")
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS build_progress")
        engine.dispose()
    assert seen, "no progress while the index was built"
    assert all(0 <= done <= total for done, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_0023_statuses_written_by_the_pass_and_downgrades(database_url: str) -> None:
    """From 0023 on a writer's texts wait without their status row on both
    engines (PostgreSQL's pass writes it as on SQLite); down at 0022,
    PostgreSQL's writer writes every one again (SQLite's does not). Down and up
    again every text keeps its session's status and is found by a status
    filter."""
    with migrated(database_url, tail_limit=10_000) as (engine, store, manager):
        needles(manager, failing=True)
        assert without_status(engine) > 0
        engine.dispose()
        command.downgrade(alembic_config(engine), "0022")
        needles(manager, failing=True)
        # eight texts a time: three requests and messages, two errors
        assert without_status(engine) == (0 if engine.dialect.name == "postgresql" else 16)
        engine.dispose()
        upgrade_schema(engine)
        needles(manager, failing=True)
        assert without_status(engine) > 0
        assert assert_statuses_follow(store) == 3 * 8
        failed = Search(store).hits(parse("needle"), statuses=("failed",), limit=100).hits
        assert len(failed) == 3 * 6  # two failed sessions a time: request, message, error


def without_status(engine: Any) -> int:
    """How many documents have no status row."""
    with engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT count(*) FROM search_docs AS d WHERE NOT EXISTS "
                "(SELECT 1 FROM search_doc_status AS x WHERE x.doc_id = d.id)"
            ).scalar_one()
        )


def test_0024_rebuilds_the_trigram_index_by_block_and_downgrades(
    database_url: str, capfd: Any
) -> None:
    """PostgreSQL: down at 0023 the trigram index is over the texts alone; up
    again, 0024 rebuilds it with the block of ids first and says how long it
    took. The hits are the same at both revisions. SQLite: nothing to do."""
    with migrated(database_url) as (engine, store, manager):
        needles(manager, failing=True)
        check_index(store)
        before = [h.doc_id for h in Search(store).hits(parse("needle"), limit=100).hits]
        assert len(before) == 8  # three requests and messages, two errors
        engine.dispose()
        command.downgrade(alembic_config(engine), "0023")
        postgresql = engine.dialect.name == "postgresql"
        if postgresql:
            assert "/ 8192" not in trigram_index(engine)
        assert [h.doc_id for h in Search(store).hits(parse("needle"), limit=100).hits] == before
        capfd.readouterr()
        engine.dispose()
        upgrade_schema(engine)
        said = capfd.readouterr().err
        assert ("trigram index by block rebuilt in" in said) == postgresql, said
        if postgresql:
            assert "gin (((id / 8192)), body gin_trgm_ops)" in trigram_index(engine)
        assert [h.doc_id for h in Search(store).hits(parse("needle"), limit=100).hits] == before


def trigram_index(engine: Engine) -> str:
    """PostgreSQL: the trigram index's definition."""
    with engine.connect() as conn:
        return str(
            conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = %(name)s",
                {"name": DDL_INDEXES[0]},
            ).scalar_one()
        )
