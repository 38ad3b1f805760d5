"""The demo's bulk load puts its usage in the ledger; the migration makes the
tables the models declare."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from tests.usage.conftest import assert_in_step, entries, stored_rollups
from webapp.demo import generate
from webapp.sessions import MessageStore
from webapp.sessions.models import Base
from webapp.sessions.queries import ReadModel
from webapp.sessions.rows import messages_t
from webapp.sessions.schema import alembic_config

USAGE_TABLES = {"usage_entries", "session_usage", "usage_rollups"}


def test_the_demo_load_fills_the_ledger_in_step(store: MessageStore) -> None:
    now = datetime(2026, 1, 15, 12, tzinfo=UTC)
    totals = generate(
        store,
        60,
        now=now,
        timeout=timedelta(minutes=30),
        retention=timedelta(days=7),
        batch_size=25,
    )
    assert totals["subagents"] > 0
    ledger = entries(store)
    with store.read() as conn:
        metas = conn.execute(select(messages_t.c.meta)).scalars()
        carrying = sum(1 for meta in metas if meta and "usage" in meta)
    assert len(ledger) == carrying > 0
    assert all(e.cost_nanos is not None for e in ledger)  # the demo's models have prices
    assert {dimension for dimension, *_ in stored_rollups(store)} == {
        "model",
        "project",
        "runner",
        "user",
    }
    assert_in_step(store)
    parent = next(e.session_id for e in ledger if e.session_id)
    assert ReadModel(store).session_usage(parent)


def test_the_migration_makes_the_usage_tables_as_declared(store: MessageStore) -> None:
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    about_usage = [
        d
        for d in differences
        if any(name in repr(d) for name in (*USAGE_TABLES, "total_tokens", "cost_nanos"))
    ]
    assert about_usage == []


def test_the_migration_puts_stored_usage_in_the_ledger(store: MessageStore) -> None:
    """A database made before the ledger: its messages' usage is counted on upgrade."""
    config = alembic_config(store.engine)
    command.downgrade(config, "0005")
    at = datetime(2026, 1, 15, 12, tzinfo=UTC)
    meta = {"model": "claude-haiku-4-5", "usage": {"input_tokens": 10, "output_tokens": 100}}
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sessions (id, status, request, request_excerpt, response, error,"
                " created_at, last_activity, context, message_count, keep)"
                " VALUES ('s1', 'completed', '', '', '', '', :at, :at, :context, 2, false)"
            ),
            {"at": at.replace(tzinfo=None), "context": json.dumps({"project_path": "/src/app"})},
        )
        for n, message_meta in enumerate([meta, {"model": "claude-haiku-4-5"}]):
            conn.execute(
                text(
                    "INSERT INTO messages (session_id, role, content, summary, timestamp, meta)"
                    " VALUES ('s1', 'assistant', 'x', '', :at, :meta)"
                ),
                {
                    "at": (at + timedelta(seconds=n)).replace(tzinfo=None),
                    "meta": json.dumps(message_meta),
                },
            )
    command.upgrade(config, "head")
    [entry] = entries(store)
    assert (entry.session_id, entry.output, entry.cost_nanos, entry.project) == (
        "s1",
        100,
        10 * 1_000 + 100 * 5_000,
        "/src/app",
    )
    assert_in_step(store)
