"""The domain's event outbox: what happened to a session, written in the same
transaction as the change itself, for features that act on it later (webhooks).

- ``session_events`` holds one row per event: ``kind`` (``failed``, ``expired``,
  ``flagged``, ``assigned``, ``test``), the session it is about (no foreign key:
  an event outlives a deleted session), when, and a JSON ``data`` object.
- :func:`record_event` appends one in the caller's transaction (a feature's
  ``get_database().write()``): the change and its event commit together or not
  at all.
- A status change to ``failed`` or ``expired`` is recorded by a trigger on
  ``sessions`` (:func:`install_status_events`), in the writing statement's own
  transaction, whichever path changed it: the API, the Manager, the sweeper's
  set-based expiry, a dashboard action, an import. The trigger fires only when
  ``guard`` (an SQL condition the consumer gives, e.g. "some webhook listens")
  holds, so the outbox costs nothing while nobody listens.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Index, String, Table, insert
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, BigId
from .types import check_json

#: The kinds of event the outbox knows; ``test`` is a consumer's own test event.
EVENT_KINDS = ("failed", "expired", "flagged", "assigned", "test")
#: The statuses whose arrival the trigger records, as event kinds of the same name.
STATUS_EVENTS = ("failed", "expired")


class SessionEvent(Base):
    """One thing that happened to a session, recorded with the change."""

    __tablename__ = "session_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: The session (None for a test event); no foreign key: the event outlives it.
    session_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_session_events_at", "at", "id"),)


session_events_t = cast(Table, SessionEvent.__table__)


def record_event(
    conn: Connection,
    kind: str,
    session_id: str | None,
    data: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> int:
    """Append an event in ``conn``'s transaction (a feature's open write) and
    return its id. ``kind`` is one of :data:`EVENT_KINDS`; ``data`` a JSON object."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(EVENT_KINDS)}")
    data = data or {}
    check_json(data, "event data")
    row = conn.execute(
        insert(session_events_t)
        .values(kind=kind, session_id=session_id, at=at or datetime.now(UTC), data=data)
        .returning(session_events_t.c.id)
    )
    return int(row.scalar_one())


# -- the status trigger ---------------------------------------------------------------

_KINDS_SQL = ", ".join(f"'{k}'" for k in STATUS_EVENTS)


def _sqlite_statements(guard: str) -> list[str]:
    # SQLite keeps times as naive UTC text ("YYYY-MM-DD HH:MM:SS.ffffff"), as
    # UTCDateTime writes them; strftime's %f gives milliseconds, enough here.
    return [
        "CREATE TRIGGER IF NOT EXISTS session_events_status AFTER UPDATE OF status ON sessions "  # noqa: S608
        f"WHEN NEW.status IN ({_KINDS_SQL}) AND OLD.status IS NOT NEW.status AND ({guard}) "
        "BEGIN INSERT INTO session_events (kind, session_id, at, data) VALUES (NEW.status, "
        "NEW.id, strftime('%Y-%m-%d %H:%M:%f000', 'now'), "
        "json_object('status', NEW.status, 'previous', OLD.status)); END",
    ]


def _pg_statements(guard: str) -> list[str]:
    # A trigger's WHEN cannot hold a subquery on PostgreSQL: the row trigger's
    # WHEN picks the rows whose status arrived, the function checks the guard.
    return [
        "CREATE OR REPLACE FUNCTION session_events_status() RETURNS trigger "  # noqa: S608
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"IF {guard} THEN "
        "INSERT INTO session_events (kind, session_id, at, data) VALUES (NEW.status, NEW.id, "
        "clock_timestamp(), jsonb_build_object('status', NEW.status, 'previous', OLD.status)); "
        "END IF; RETURN NULL; END $$",
        "DROP TRIGGER IF EXISTS session_events_status ON sessions",
        "CREATE TRIGGER session_events_status AFTER UPDATE OF status ON sessions FOR EACH ROW "
        f"WHEN (NEW.status IN ({_KINDS_SQL}) AND OLD.status IS DISTINCT FROM NEW.status) "
        "EXECUTE FUNCTION session_events_status()",
    ]


def install_status_events(conn: Connection, guard: str) -> None:
    """Create the trigger that records failed and expired sessions while the SQL
    condition ``guard`` holds (the consumer's "someone listens"), in ``conn``'s
    transaction. Installing it again replaces it."""
    uninstall_status_events(conn)
    statements = (
        _pg_statements(guard) if conn.dialect.name == "postgresql" else _sqlite_statements(guard)
    )
    for statement in statements:
        conn.exec_driver_sql(statement)


def uninstall_status_events(conn: Connection) -> None:
    """Drop the status trigger (a migration's downgrade)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS session_events_status ON sessions")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS session_events_status()")
    else:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS session_events_status")
