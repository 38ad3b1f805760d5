"""ORM rows for sessions, messages, usage, the sweeper lease and the purge log.

The declarative ``Base`` lives here, free of Flask, so the domain works in a script;
``webapp.extensions`` hands the same ``Base`` to Flask-SQLAlchemy, so every model
of the app shares one ``MetaData`` and one set of migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every engine.

    SQLite has no time zones: values are stored as naive UTC text, whose fixed
    format sorts in time order. PostgreSQL stores ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON everywhere, JSONB on PostgreSQL (indexable, compact).
JSONType = JSON().with_variant(JSONB(), "postgresql")
#: 64-bit ids on PostgreSQL; SQLite's INTEGER PRIMARY KEY is already 64-bit rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """The declarative base of every Sessionboard model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class SessionRow(Base):
    """One agent session. ``message_count`` and ``request_excerpt`` are kept in step
    with every write so lists never read message content."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    request: Mapped[str] = mapped_column(Text, default="")
    request_excerpt: Mapped[str] = mapped_column(String(200), default="")
    response: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    last_activity: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    keep: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="SET NULL"), index=True
    )
    #: Every token of the session's responses (own, not its subagents'), and what
    #: the priced ones cost in nano-dollars: kept in step with ``session_usage``
    #: for sorting the list by tokens or cost.
    total_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        Index("ix_sessions_status_activity", "status", "last_activity", "id"),
        Index("ix_sessions_activity", "last_activity", "id"),
        Index("ix_sessions_created", "created_at", "id"),
        Index("ix_sessions_status_created", "status", "created_at", "id"),
        # Covers the stats page's aggregates over a time window: no row is read.
        Index("ix_sessions_stats", "created_at", "status", "last_activity", "message_count"),
        Index("ix_sessions_cost", "cost_nanos", "id"),
        Index("ix_sessions_tokens", "total_tokens", "id"),
        # The sweep's reads: sessions due to expire, and sessions not kept by age.
        Index("ix_sessions_status_expires", "status", "expires_at", "id"),
        Index("ix_sessions_keep_created", "keep", "created_at", "id"),
        # Migration 0009 adds expression indexes: per known context key (see
        # queries.CONTEXT_KEYS) on (key's value, last_activity, id) and (value,
        # created_at, id); (UTC creation day, last_activity, id); (duration in ms,
        # id). Dialect-specific SQL, so they live in the migration only.
    )


class MessageRow(Base):
    """One transcript message."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    timestamp: Mapped[datetime]
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: Set by importers and retried API calls so the same message is stored once.
    source_key: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_messages_session_time", "session_id", "timestamp", "id"),
        Index("ix_messages_timestamp", "timestamp"),
        Index("uq_messages_session_source", "session_id", "source_key", unique=True),
    )


class MessageHtml(Base):
    """A message's text as the transcript draws it: the sanitised HTML of its
    markdown (``webapp.rendering``), stored once so a page read renders nothing.

    ``version`` names the renderer that made it (a read ignores another
    version's HTML) and ``digest`` the exact text it was made from (the content
    as the transcript reads it, cut at ``TRUNCATE_CHARS``): a reader uses the
    HTML only for the very text it would render, so a rewritten (redacted) text
    never gets it. It goes with its message (``ON DELETE CASCADE``)."""

    __tablename__ = "message_html"

    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    version: Mapped[str] = mapped_column(String(200))
    digest: Mapped[bytes] = mapped_column(LargeBinary(16))
    html: Mapped[str] = mapped_column(Text)


class IdempotencyKey(Base):
    """The first answer to a retried append, per session and ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"

    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: The JSON body of the first answer, returned again to a retry.
    response: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]


class SweeperLease(Base):
    """The lease that lets one process at a time sweep, and when the next pass is due."""

    __tablename__ = "sweeper_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    next_sweep_at: Mapped[datetime | None]


class SessionHold(Base):
    """Something that keeps a session from retention until ``until`` (a live share
    link, say): one row per holder. The sweep ends holds past their ``until``."""

    __tablename__ = "session_holds"

    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    #: Who holds it, e.g. ``share:12``.
    holder: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime]

    __table_args__ = (Index("ix_session_holds_until", "until"),)


class PurgeLogEntry(Base):
    """What one sweep pass expired and purged, and under which rule."""

    __tablename__ = "purge_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ran_at: Mapped[datetime] = mapped_column(index=True)
    trigger: Mapped[str] = mapped_column(String(32))
    holder: Mapped[str] = mapped_column(String(200), default="")
    expired_sessions: Mapped[int] = mapped_column(Integer, default=0)
    purged_messages: Mapped[int] = mapped_column(Integer, default=0)
    purged_sessions: Mapped[int] = mapped_column(Integer, default=0)
    message_cutoff: Mapped[datetime | None]
    session_cutoff: Mapped[datetime | None]


class TokenColumns:
    """Tokens by kind, named as :class:`~webapp.sessions.pricing.Usage`'s fields."""

    input: Mapped[int] = mapped_column(BigInteger, default=0)
    output: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_read: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_5m: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_1h: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageSums(TokenColumns):
    """Tokens summed over ``responses`` responses, ``priced`` of which had a price,
    and what the priced ones cost in nano-dollars."""

    cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    responses: Mapped[int] = mapped_column(Integer, default=0)
    priced: Mapped[int] = mapped_column(Integer, default=0)


class UsageEntryRow(TokenColumns, Base):
    """What one API response used and cost: the ledger's line. It outlives its
    message (retention purges messages, not usage) and goes with its session.

    ``cost_nanos`` is None when the model has no price; ``cost_source`` says where a
    cost came from: ``table`` (the price table) or ``runner`` (``meta.cost_usd``).
    ``project``, ``runner`` and ``user_name`` are the session's at the time of the
    write, so the rollups can be restated (reprice) without reading the session.
    """

    __tablename__ = "usage_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE")
    )
    at: Mapped[datetime]
    model: Mapped[str] = mapped_column(String(200), default="")
    cost_nanos: Mapped[int | None] = mapped_column(BigInteger)
    cost_source: Mapped[str] = mapped_column(String(8), default="table")
    project: Mapped[str] = mapped_column(String(500), default="")
    runner: Mapped[str] = mapped_column(String(200), default="")
    user_name: Mapped[str] = mapped_column(String(200), default="")
    #: The message's ``source_key``, by which an importer restates a response.
    source_key: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_usage_entries_at", "at", "id"),
        Index("ix_usage_entries_session_source", "session_id", "source_key"),
    )


class SessionUsageRow(UsageSums, Base):
    """A session's usage totals for one model (its own responses, not its
    subagents'). ``cost_nanos`` sums the priced responses; ``priced`` of
    ``responses`` had a price (none priced: the cost is "no price")."""

    __tablename__ = "session_usage"

    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(200), primary_key=True)

    # The sessions that used a model (the list's model filter).
    __table_args__ = (Index("ix_session_usage_model", "model", "session_id"),)


class UsageRollupRow(UsageSums, Base):
    """Usage summed per period, dimension, key and model, kept in step with every
    write: the ``model`` dimension per hour (key ""; days and 5-hour blocks are
    read from it), ``project``, ``runner`` and ``user`` per day. Deleting or
    purging sessions leaves it as it is: it is the ledger of what was used."""

    __tablename__ = "usage_rollups"

    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]


class SessionCount(Base):
    """A change to the number of sessions in a status: the migration's triggers add
    one row per create, status change and delete, and the sweep folds them into one
    row a status, so ``SUM(n)`` per status is the count without counting sessions.

    Rows are only ever inserted (and folded), never updated in place: concurrent
    writers never wait on, or deadlock over, a shared counter row."""

    __tablename__ = "session_counts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(BigInteger)


class SessionRollup(Base):
    """Sessions per UTC creation day, status, duration bucket and message-count
    bucket (the stats page's charts), as changes kept by the same triggers."""

    __tablename__ = "session_rollup"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    status: Mapped[str] = mapped_column(String(16))
    duration_bucket: Mapped[int] = mapped_column(Integer)
    message_bucket: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(BigInteger)


class ErrorRollup(Base):
    """Failed sessions (with an error) per UTC creation day and error, as changes
    kept by the same triggers: the stats page's most frequent errors."""

    __tablename__ = "error_rollup"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    error: Mapped[str] = mapped_column(Text)
    n: Mapped[int] = mapped_column(BigInteger)


class RollupPause(Base):
    """One row (``id`` 1): whether the per-row rollup trigger on SQLite's
    ``sessions`` updates is paused. Only the sweep sets it, inside its own write
    transaction and back to 0 before the commit, while it writes a slice's change
    rows summed per key itself (migration 0014)."""

    __tablename__ = "rollup_pause"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    paused: Mapped[int] = mapped_column(Integer)
