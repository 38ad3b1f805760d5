"""The migration (down and up on both engines, the triggers with it) and the
payload's pure parts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic import command
from sqlalchemy import inspect, text

from webapp.sessions.schema import alembic_config, upgrade_schema
from webapp.sessions.store import make_engine
from webapp.webhooks import dispatch_settings
from webapp.webhooks.delivery import Event, backoff, payload, sign
from webapp.webhooks.models import SUBSCRIBABLE

TABLES = {"session_events", "webhooks", "webhook_deliveries"}


def test_migration_downgrades_and_upgrades_with_its_triggers(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        command.downgrade(alembic_config(engine), "0008")
        assert not TABLES & set(inspect(engine).get_table_names())
        with engine.begin() as conn:  # no trigger left behind on sessions
            conn.execute(text(
                "INSERT INTO sessions (id, status, request, request_excerpt, response, error, "
                "created_at, last_activity, context, message_count, keep, total_tokens, "
                "cost_nanos) VALUES ('s1', 'running', '', '', '', '', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, '{}', 0, false, 0, 0)"
            ))  # fmt: skip
            conn.execute(text("UPDATE sessions SET status = 'failed' WHERE id = 's1'"))
        upgrade_schema(engine)
        assert TABLES <= set(inspect(engine).get_table_names())
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO webhooks (url, events, secret, format, enabled, base_url, "
                "created_at, created_by) VALUES ('http://x/', ',expired,', 's', 'json', true, "
                "'', CURRENT_TIMESTAMP, 't')"
            ))  # fmt: skip
            conn.execute(text("UPDATE sessions SET status = 'expired' WHERE id = 's1'"))
            kinds = conn.execute(text("SELECT kind FROM session_events")).scalars().all()
            queued = conn.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar()
        assert kinds == ["expired"] and queued == 1
    finally:
        engine.dispose()


def test_0012_matches_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from webapp.models import Base

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [d for d in compare_metadata(context, Base.metadata)
                    if any(t in repr(d) for t in TABLES)]  # fmt: skip
        assert diff == []
    finally:
        engine.dispose()


def test_payload_links_to_the_base_url_and_marks_a_deleted_session() -> None:
    event = Event(7, "failed", "abc/def", datetime(2026, 1, 15, tzinfo=UTC), {"x": 1})
    body = payload(event, None, "https://sb.example/")
    assert body["session"] == {"id": "abc/def", "url": "https://sb.example/sessions/abc%2Fdef",
                               "deleted": True}  # fmt: skip
    assert body["id"] == "evt_7" and body["type"] == "session.failed"
    assert body["created_at"] == "2026-01-15T00:00:00+00:00"


def test_base_url_setting_reaches_the_dispatcher(app: Any) -> None:
    config = dict(app.config, BASE_URL="https://sessions.example.com")
    assert dispatch_settings(config).base_url == "https://sessions.example.com"


def test_signature_is_stripes_scheme() -> None:
    import hashlib
    import hmac

    header = sign("k", b'{"a":1}', 1700000000)
    expected = hmac.new(b"k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_backoff_doubles_with_jitter_and_a_ceiling() -> None:
    from datetime import timedelta

    base = timedelta(seconds=30)
    for attempts, full in ((1, 30), (2, 60), (3, 120)):
        waits = [backoff(attempts, base).total_seconds() for _ in range(50)]
        assert all(full / 2 <= w <= full for w in waits)
        assert len(set(waits)) > 1
    assert backoff(40, base) <= timedelta(hours=6)


def test_event_kinds_agree() -> None:
    from webapp.sessions.events import EVENT_KINDS

    assert set(SUBSCRIBABLE) | {"test"} == set(EVENT_KINDS)
