"""Rows of the webhooks feature: the subscriptions and their deliveries, and the
triggers that turn the domain's events into deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Connection, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.sessions.events import install_status_events, uninstall_status_events
from webapp.sessions.models import Base, BigId

#: The event kinds a webhook can subscribe to (``test`` goes only to the one tested).
SUBSCRIBABLE = ("failed", "expired", "flagged", "assigned")


class Webhook(Base):
    """A URL that hears about the events it subscribes to.

    ``events`` is stored as ``,failed,expired,`` so a search for ``,kind,`` finds
    the subscribers of a kind on both engines. The secret signs every delivery, so
    it is kept as given (not hashed) and shown once, when the webhook is added.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(200))
    #: ``json`` (Sessionboard's payload) or ``slack`` (``{"text": ...}``).
    format: Mapped[str] = mapped_column(String(8), default="json")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The site's address as the admin who added it saw it (deep links when no
    #: BASE_URL setting is given); empty from the command line.
    base_url: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))


class WebhookDelivery(Base):
    """One event for one webhook: its state, attempts, and the last response.

    ``state`` is ``pending`` (due at ``next_at``; NULL: at once), ``delivered`` or
    ``failed`` (gave up after the last attempt). A dispatcher claims a due
    delivery by setting ``holder`` and ``lease_until`` in one conditional UPDATE,
    so each is sent by one process; a holder that dies lets its lease lapse and
    another process sends it.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("session_events.id", ondelete="CASCADE")
    )
    webhook_id: Mapped[int] = mapped_column(Integer, ForeignKey("webhooks.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None]
    holder: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    #: The HTTP status of the last attempt (None: no answer, see ``last_error``).
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: The first bytes of the last response's body, as text.
    last_response: Mapped[str] = mapped_column(Text, default="")
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("uq_webhook_deliveries_event", "event_id", "webhook_id", unique=True),
        Index("ix_webhook_deliveries_due", "state", "next_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    )


# -- triggers: events become deliveries -------------------------------------------------


def _subscribes(dialect: str, kind: str) -> str:
    """SQL: webhook ``w``'s events hold the kind ``kind`` (an SQL expression).
    (No ``LIKE '%...'``: psycopg reads ``%`` in a driver statement as a placeholder.)"""
    find = "strpos" if dialect == "postgresql" else "instr"
    return f"{find}(w.events, ',' || {kind} || ',') > 0"


def status_guard(dialect: str) -> str:
    """SQL: some enabled webhook subscribes to the status that arrived."""
    return (
        "EXISTS (SELECT 1 FROM webhooks AS w WHERE w.enabled AND "  # noqa: S608
        f"{_subscribes(dialect, 'NEW.status')})"
    )


def _fan_out_statements(dialect: str) -> list[str]:
    fan_out = (
        "INSERT INTO webhook_deliveries (event_id, webhook_id, state, attempts, next_at, "  # noqa: S608
        "last_error, last_response) SELECT NEW.id, w.id, 'pending', 0, NULL, '', '' "
        f"FROM webhooks AS w WHERE w.enabled AND {_subscribes(dialect, 'NEW.kind')};"
    )
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION webhook_fan_out() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN {fan_out} RETURN NULL; END $$",
            "DROP TRIGGER IF EXISTS webhook_fan_out ON session_events",
            "CREATE TRIGGER webhook_fan_out AFTER INSERT ON session_events FOR EACH ROW "
            "WHEN (NEW.kind <> 'test') EXECUTE FUNCTION webhook_fan_out()",
        ]
    return [
        "DROP TRIGGER IF EXISTS webhook_fan_out",
        "CREATE TRIGGER webhook_fan_out AFTER INSERT ON session_events "
        f"WHEN NEW.kind <> 'test' BEGIN {fan_out} END",
    ]


def install_triggers(conn: Connection) -> None:
    """The triggers in ``conn``'s transaction: failed and expired sessions are
    recorded while a webhook listens, and every event (but ``test``) becomes one
    pending delivery per enabled webhook subscribed to its kind."""
    install_status_events(conn, status_guard(conn.dialect.name))
    for statement in _fan_out_statements(conn.dialect.name):
        conn.exec_driver_sql(statement)


def uninstall_triggers(conn: Connection) -> None:
    """Drop the triggers (the migration's downgrade)."""
    uninstall_status_events(conn)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS webhook_fan_out ON session_events")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS webhook_fan_out()")
    else:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS webhook_fan_out")
