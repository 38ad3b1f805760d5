"""MessageStore: all persistence of sessions and messages, on SQLite or PostgreSQL.

Every write runs in one transaction; on SQLite that transaction starts with
``BEGIN IMMEDIATE`` so concurrent writers queue on the busy timeout instead of
failing half-way with "database is locked". Errors raise; nothing is swallowed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Row,
    Table,
    and_,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from .models import IdempotencyKey, MessageRow, PurgeLogEntry, SessionRow, SweeperLease
from .types import (
    TERMINAL_STATUSES,
    Message,
    Session,
    Status,
    SweepResult,
    as_utc,
    check_json,
    check_session_fields,
    excerpt,
)

log = logging.getLogger(__name__)

sessions_t = cast(Table, SessionRow.__table__)
messages_t = cast(Table, MessageRow.__table__)
idempotency_t = cast(Table, IdempotencyKey.__table__)
lease_t = cast(Table, SweeperLease.__table__)
purge_log_t = cast(Table, PurgeLogEntry.__table__)

#: How long a SQLite writer waits for the write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30.0
_TERMINAL = [s.value for s in TERMINAL_STATUSES]


class UnknownSessionError(LookupError):
    """The session id is not in the store."""


class DuplicateSessionError(ValueError):
    """A session with that id exists already."""


@dataclass(frozen=True)
class AppendOutcome:
    """What an append did: ``status`` is ``appended``, ``replayed`` (the
    idempotency key was seen: ``response`` is the first answer), ``unknown`` or
    ``closed`` (terminal or past expiry); nothing is written unless ``appended``."""

    status: str
    appended: int = 0
    response: dict[str, Any] | None = None


@dataclass(frozen=True)
class BulkRows:
    """Rows ready for the driver: column names and one tuple of plain values a row."""

    columns: tuple[str, ...]
    values: list[tuple[Any, ...]]


def database_url(url_or_path: str | os.PathLike[str]) -> str:
    """Turn a SQLAlchemy URL or a SQLite file path (or ``:memory:``) into a URL."""
    text = os.fspath(url_or_path)
    if text == ":memory:":
        return "sqlite://"
    if "://" not in text:
        return f"sqlite:///{os.path.abspath(text)}"
    if text.startswith(("postgresql://", "postgres://")):
        # psycopg 3 is the driver we ship; SQLAlchemy's default would be psycopg2.
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def engine_options(url: str, *, busy_timeout: float = SQLITE_BUSY_TIMEOUT_S) -> dict[str, Any]:
    """Keyword arguments for ``create_engine`` that suit the URL's database.

    ``busy_timeout``: seconds a SQLite connection waits for the write lock (the
    driver's ``timeout``, i.e. ``sqlite3_busy_timeout``) before it gives up.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        options: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": busy_timeout}
        }
        if parsed.database in (None, "", ":memory:"):
            options["poolclass"] = StaticPool
        return options
    return {"pool_pre_ping": True}


def make_engine(url_or_path: str | os.PathLike[str]) -> Engine:
    """Create an engine for ``url_or_path`` with Sessionboard's connection rules."""
    url = database_url(url_or_path)
    engine = create_engine(url, **engine_options(url))
    configure_engine(engine)
    return engine


def configure_engine(engine: Engine) -> None:
    """Apply the per-connection rules: on SQLite WAL, foreign keys, durable commits,
    and transactions that begin as the caller asks (``sqlite_begin`` option)."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_sessionboard_configured", False):
        return
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk before the API acknowledges it.
        cursor.execute("PRAGMA synchronous=FULL")
        # 32 MiB of page cache (the default is 2 MiB): index pages of a big
        # database stay in memory; it is a ceiling, taken only as pages are read.
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    engine._sessionboard_configured = True  # type: ignore[attr-defined]


def row_to_session(row: Row[Any]) -> Session:
    """A ``sessions`` row as a :class:`Session` (messages not loaded)."""
    m = row._mapping
    return Session(
        id=m["id"],
        status=Status(m["status"]),
        request=m["request"] or "",
        response=m["response"] or "",
        error=m["error"] or "",
        created_at=m["created_at"],
        last_activity=m["last_activity"],
        expires_at=m["expires_at"],
        context=dict(m["context"] or {}),
        message_count=m["message_count"],
        keep=bool(m["keep"]),
        parent_id=m["parent_id"],
    )


def row_to_message(row: Row[Any]) -> Message:
    """A ``messages`` row as a :class:`Message`."""
    m = row._mapping
    return Message(
        role=m["role"],
        content=m["content"],
        summary=m["summary"] or "",
        timestamp=m["timestamp"],
        meta=m["meta"],
        source_key=m["source_key"],
        id=m["id"],
    )


def _session_values(s: Session) -> dict[str, Any]:
    status = Status(s.status)
    s.validate()
    if not isinstance(s.context, dict):
        raise ValueError("session context must be a JSON object")
    return {
        "id": s.id,
        "status": status.value,
        "request": s.request or "",
        "request_excerpt": excerpt(s.request),
        "response": s.response or "",
        "error": s.error or "",
        "created_at": as_utc(s.created_at),
        "last_activity": as_utc(s.last_activity),
        "expires_at": as_utc(s.expires_at) if s.expires_at is not None else None,
        "context": s.context,
        "keep": bool(s.keep),
        "parent_id": s.parent_id,
    }


class MessageStore:
    """Persistence of sessions and messages, mirroring the Go ``MessageStore``.

    ``url_or_path`` is a SQLAlchemy URL, a SQLite file path, ``":memory:"``, or an
    existing :class:`Engine` (the web app shares Flask-SQLAlchemy's). With
    ``migrate=True`` the schema is brought up to date through the Alembic migrations.
    """

    def __init__(
        self, url_or_path: str | os.PathLike[str] | Engine = ":memory:", *, migrate: bool = True
    ) -> None:
        if isinstance(url_or_path, Engine):
            self.engine = url_or_path
            configure_engine(self.engine)
            self._owns_engine = False
        else:
            self.engine = make_engine(url_or_path)
            self._owns_engine = True
        self.dialect = self.engine.dialect.name
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._closed = False
        if migrate:
            from .schema import upgrade_schema

            upgrade_schema(self.engine)

    # -- plumbing ---------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success."""
        with self._writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection; its snapshot ends when the block ends."""
        with self.engine.connect() as conn:
            yield conn

    def _insert(self, table: Any) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def bulk_rows(self, rows: Sequence[dict[str, Any]]) -> BulkRows:
        """Rows (dicts sharing their keys; JSON columns as dicts or lists, datetimes
        aware) turned into the driver's plain values for :meth:`bulk_insert`."""
        if not rows:
            return BulkRows((), [])
        columns = tuple(rows[0])
        sqlite_dialect = self.dialect == "sqlite"

        def as_text(value: datetime) -> Any:
            value = as_utc(value)
            return value.replace(tzinfo=None).isoformat(" ") if sqlite_dialect else value

        # A converter for each column whose values need one, chosen by its type.
        converters: list[tuple[int, Callable[[Any], Any]]] = []
        for i, column in enumerate(columns):
            sample = next((r[column] for r in rows if r[column] is not None), None)
            if isinstance(sample, dict | list):
                converters.append((i, json.dumps))
            elif isinstance(sample, datetime):
                converters.append((i, as_text))
        pick = itemgetter(*columns)
        values = []
        for row in rows:
            plain = list(pick(row))
            for i, convert in converters:
                if plain[i] is not None:
                    plain[i] = convert(plain[i])
            values.append(tuple(plain))
        return BulkRows(columns, values)

    def bulk_insert(self, conn: Connection, table: Table, bulk: BulkRows) -> None:
        """Insert many rows through the driver's executemany, in ``conn``'s transaction.

        For bulk loads (``sessionboard demo``): it skips SQLAlchemy's per-row type
        processing, which costs more than the insert itself.
        """
        if not bulk.values:
            return
        quote = self.engine.dialect.identifier_preparer.quote
        marker = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in bulk.columns)}) "  # noqa: S608
            f"VALUES ({', '.join([marker] * len(bulk.columns))})"
        )
        conn.exec_driver_sql(sql, bulk.values)

    def _lock_session(self, conn: Connection, session_id: str) -> Row[Any] | None:
        """Read a session row inside a write, locked against other writers."""
        query = select(sessions_t).where(sessions_t.c.id == session_id)
        if self.dialect == "postgresql":
            query = query.with_for_update()
        return conn.execute(query).first()

    # -- sessions ----------------------------------------------------------------

    def upsert_session(self, s: Session) -> None:
        """Insert the session, or overwrite its fields if the id exists.

        The message count is derived from the messages and never taken from ``s``.
        """
        values = _session_values(s)
        stmt = self._insert(sessions_t).values(**values, message_count=0)
        stmt = stmt.on_conflict_do_update(
            index_elements=[sessions_t.c.id],
            set_={k: stmt.excluded[k] for k in values if k != "id"},
        )
        with self.write() as conn:
            conn.execute(stmt)

    def create_session(self, s: Session) -> None:
        """Insert a new session; raise :class:`DuplicateSessionError` if the id is taken."""
        values = _session_values(s)
        stmt = self._insert(sessions_t).values(**values, message_count=0)
        stmt = stmt.on_conflict_do_nothing(index_elements=[sessions_t.c.id]).returning(
            sessions_t.c.id
        )
        with self.write() as conn:
            if conn.execute(stmt).first() is None:
                raise DuplicateSessionError(f"session {s.id!r} exists already")

    def get_session(self, session_id: str) -> Session | None:
        """The session without its messages, or None."""
        with self.read() as conn:
            row = conn.execute(select(sessions_t).where(sessions_t.c.id == session_id)).first()
        return row_to_session(row) if row is not None else None

    def load_sessions(self) -> list[Session]:
        """Every session, newest activity first, without messages."""
        return self.list_sessions()

    def list_sessions(
        self, status: Iterable[str] | str | None = None, limit: int | None = None
    ) -> list[Session]:
        """Sessions, newest ``last_activity`` first, optionally of some statuses."""
        query = select(sessions_t).order_by(
            sessions_t.c.last_activity.desc(), sessions_t.c.id.desc()
        )
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            query = query.where(sessions_t.c.status.in_([Status(s).value for s in wanted]))
        if limit is not None:
            query = query.limit(limit)
        with self.read() as conn:
            return [row_to_session(r) for r in conn.execute(query)]

    def delete_session(self, session_id: str) -> bool:
        """Remove a session and (by cascade) its messages; True if it existed."""
        with self.write() as conn:
            result = conn.execute(delete(sessions_t).where(sessions_t.c.id == session_id))
            return result.rowcount == 1

    def clear_all_sessions(self) -> int:
        """Remove every session and message; return how many sessions there were."""
        with self.write() as conn:
            conn.execute(delete(messages_t))
            return conn.execute(delete(sessions_t)).rowcount

    def update_session(
        self,
        session_id: str,
        fn: Callable[[Session], None],
        *,
        now: datetime,
        sliding_timeout: timedelta | None = None,
    ) -> Session | None:
        """Read, let ``fn`` change, and write back a session in one locked transaction.

        ``last_activity`` becomes ``now``; with ``sliding_timeout`` a session that
        expires moves its expiry to ``now + sliding_timeout``. None if unknown.
        """
        with self.write() as conn:
            row = self._lock_session(conn, session_id)
            if row is None:
                return None
            snapshot = row_to_session(row)
            fn(snapshot)
            snapshot.id = session_id
            snapshot.last_activity = now
            if sliding_timeout is not None and snapshot.expires_at is not None:
                snapshot.expires_at = now + sliding_timeout
            values = _session_values(snapshot)
            del values["id"]
            conn.execute(update(sessions_t).where(sessions_t.c.id == session_id).values(values))
            return snapshot

    def change_session(
        self,
        session_id: str,
        values: dict[str, Any],
        *,
        now: datetime,
        sliding_timeout: timedelta | None = None,
        guard: str | None = "open",
        touch: bool = True,
    ) -> bool:
        """Set some fields of a session in one guarded statement.

        ``guard="open"``: only while the session takes changes (not terminal, not
        past ``expires_at``); ``"live"``: only while not terminal; None: always.
        ``touch=False`` leaves ``last_activity`` (a reviewer's or admin's change
        is not the agent's activity). Returns whether the change applied (False
        too for an unknown id).
        """
        c = sessions_t.c
        values = dict(values)
        if "status" in values:
            values["status"] = Status(values["status"]).value
        if "request" in values:
            values["request_excerpt"] = excerpt(values["request"])
        check_session_fields(values)
        if touch:
            values["last_activity"] = now
        if touch and sliding_timeout is not None and "expires_at" not in values:
            values["expires_at"] = case(
                (c.expires_at.is_(None), None), else_=literal(now + sliding_timeout)
            )
        stmt = update(sessions_t).where(c.id == session_id).values(values)
        if guard in ("open", "live"):
            stmt = stmt.where(c.status.not_in(_TERMINAL))
        if guard == "open":
            stmt = stmt.where(or_(c.expires_at.is_(None), c.expires_at > now))
        with self.write() as conn:
            return conn.execute(stmt).rowcount == 1

    def set_context_value(
        self,
        session_id: str,
        key: str,
        value: Any,
        *,
        now: datetime,
        sliding_timeout: timedelta | None = None,
    ) -> bool:
        """Set one context key (read-merge-write under the row lock); False if unknown."""
        check_json(value, f"context value for {key!r}")
        return (
            self.update_session(
                session_id,
                lambda s: s.context.__setitem__(key, value),
                now=now,
                sliding_timeout=sliding_timeout,
            )
            is not None
        )

    def count_by_status(self, created_since: datetime | None = None) -> dict[str, int]:
        """How many sessions there are in each status present (GROUP BY on an index)."""
        query = select(sessions_t.c.status, func.count()).group_by(sessions_t.c.status)
        if created_since is not None:
            query = query.where(sessions_t.c.created_at >= created_since)
        with self.read() as conn:
            return {status: n for status, n in conn.execute(query)}

    # -- messages ----------------------------------------------------------------

    def _message_rows(
        self, session_id: str, messages: Sequence[Message], now: datetime
    ) -> list[dict[str, Any]]:
        rows = []
        for msg in messages:
            msg.validate()
            rows.append(
                {
                    "session_id": session_id,
                    "role": msg.role,
                    "content": msg.content,
                    "summary": msg.summary or "",
                    "timestamp": as_utc(msg.timestamp) if msg.timestamp else now,
                    "meta": msg.meta,
                    "source_key": msg.source_key,
                }
            )
        return rows

    def insert_message(self, session_id: str, msg: Message, *, now: datetime | None = None) -> None:
        """Store one message as it is, with no lifecycle rule (the Go store's
        InsertMessage); raise :class:`UnknownSessionError` if the session is unknown."""
        from .types import utcnow

        rows = self._message_rows(session_id, [msg], now or utcnow())
        with self.write() as conn:
            bumped = conn.execute(
                update(sessions_t)
                .where(sessions_t.c.id == session_id)
                .values(message_count=sessions_t.c.message_count + 1)
            )
            if bumped.rowcount != 1:
                raise UnknownSessionError(session_id)
            conn.execute(insert(messages_t), rows)

    def append_messages(
        self,
        session_id: str,
        messages: Sequence[Message],
        *,
        now: datetime,
        sliding_timeout: timedelta | None = None,
        idempotency_key: str | None = None,
        require_open: bool = True,
    ) -> AppendOutcome:
        """Append messages as one transaction, if the session takes them.

        The session row is claimed first with a guarded UPDATE (count, activity,
        sliding expiry), so the check and the insert cannot be separated by another
        writer. Messages whose ``source_key`` is stored already are skipped.
        """
        rows = self._message_rows(session_id, messages, now)
        c = sessions_t.c
        with self.write() as conn:
            if idempotency_key is not None:
                seen = conn.execute(
                    select(idempotency_t.c.response).where(
                        idempotency_t.c.session_id == session_id,
                        idempotency_t.c.key == idempotency_key,
                    )
                ).scalar()
                if seen is not None:
                    return AppendOutcome("replayed", response=seen)
            keys = [r["source_key"] for r in rows if r["source_key"] is not None]
            if keys:
                stored = set(
                    conn.execute(
                        select(messages_t.c.source_key).where(
                            messages_t.c.session_id == session_id,
                            messages_t.c.source_key.in_(keys),
                        )
                    ).scalars()
                )
                fresh, seen_keys = [], set()
                for r in rows:
                    key = r["source_key"]
                    if key is None or (key not in stored and key not in seen_keys):
                        fresh.append(r)
                        if key is not None:
                            seen_keys.add(key)
                rows = fresh
            values: dict[str, Any] = {
                "message_count": c.message_count + len(rows),
                "last_activity": now,
            }
            if sliding_timeout is not None:
                values["expires_at"] = case(
                    (c.expires_at.is_(None), None), else_=literal(now + sliding_timeout)
                )
            stmt = update(sessions_t).where(c.id == session_id).values(values)
            if require_open:
                stmt = stmt.where(
                    c.status.not_in(_TERMINAL), or_(c.expires_at.is_(None), c.expires_at > now)
                )
            if conn.execute(stmt).rowcount != 1:
                exists = conn.execute(select(c.id).where(c.id == session_id)).first()
                return AppendOutcome("closed" if exists else "unknown")
            if rows:
                conn.execute(insert(messages_t), rows)
            if idempotency_key is not None:
                response = {"appended": len(rows)}
                conn.execute(
                    insert(idempotency_t).values(
                        session_id=session_id,
                        key=idempotency_key,
                        response=response,
                        created_at=now,
                    )
                )
            return AppendOutcome("appended", appended=len(rows))

    def get_messages(
        self, session_id: str, *, after: Message | None = None, limit: int | None = None
    ) -> list[Message]:
        """A session's messages in chronological order (timestamp, then id).

        ``after`` is the last message of the previous page (a stored one, with its
        id): the page goes on from its (timestamp, id), even if it was purged since.
        """
        m = messages_t.c
        query = select(messages_t).where(m.session_id == session_id).order_by(m.timestamp, m.id)
        if after is not None:
            if after.id is None or after.timestamp is None:
                raise ValueError("after must be a stored message (with id and timestamp)")
            at = as_utc(after.timestamp)
            query = query.where(or_(m.timestamp > at, and_(m.timestamp == at, m.id > after.id)))
        if limit is not None:
            query = query.limit(limit)
        with self.read() as conn:
            return [row_to_message(r) for r in conn.execute(query)]

    def delete_messages_for_session(self, session_id: str) -> int:
        """Remove a session's messages; return how many."""
        with self.write() as conn:
            n = conn.execute(delete(messages_t).where(messages_t.c.session_id == session_id))
            conn.execute(
                update(sessions_t).where(sessions_t.c.id == session_id).values(message_count=0)
            )
            return n.rowcount

    def clear_all_messages(self) -> int:
        """Remove every message of every session; return how many."""
        with self.write() as conn:
            n = conn.execute(delete(messages_t)).rowcount
            conn.execute(update(sessions_t).values(message_count=0))
            return n

    # -- expiry and retention (set-based, in bounded batches) -------------------

    def expire_due(self, now: datetime, *, batch_size: int = 5000) -> int:
        """Mark pending or running sessions past ``expires_at`` as expired."""
        c = sessions_t.c
        due = (
            select(c.id)
            .where(c.status.in_(["pending", "running"]), c.expires_at <= now)
            .limit(batch_size)
        )
        total = 0
        while True:
            with self.write() as conn:
                ids = select(due.subquery().c.id)
                n = conn.execute(
                    update(sessions_t)
                    .where(c.id.in_(ids))
                    .values(status=Status.EXPIRED.value)
                    .execution_options(synchronize_session=False)
                ).rowcount
            total += n
            if n < batch_size:
                return total

    def count_expire_due(self, now: datetime) -> int:
        """How many sessions :meth:`expire_due` would expire at ``now``."""
        c = sessions_t.c
        query = select(func.count()).where(
            c.status.in_(["pending", "running"]), c.expires_at <= now
        )
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())

    def _purgeable_messages(self, cutoff: datetime) -> Any:
        """Messages older than ``cutoff`` whose session a reviewer did not keep."""
        m, c = messages_t.c, sessions_t.c
        kept = select(literal(1)).where(c.id == m.session_id, c.keep.is_(True)).exists()
        return and_(m.timestamp < cutoff, ~kept)

    def purge_older_than(self, cutoff: datetime, *, batch_size: int = 5000) -> int:
        """Delete messages older than ``cutoff`` (except in kept sessions), keeping
        each session's message count right; return how many were deleted.

        Batches are time slices: each ends at the ``batch_size``-th purgeable
        message after the previous slice (found in a read, without the write
        lock), so every write touches about ``batch_size`` rows through the
        timestamp index, and kept sessions' old messages are stepped over once.
        """
        m, c = messages_t.c, sessions_t.c
        total = 0
        lower: datetime | None = None
        while True:
            after_lower = m.timestamp > lower if lower is not None else literal(True)
            purgeable = self._purgeable_messages(cutoff)
            with self.read() as conn:
                # Found outside the write: stepping over kept sessions' old
                # messages must not hold the write lock.
                batch = (
                    select(m.timestamp.label("ts"))
                    .where(purgeable, after_lower)
                    .order_by(m.timestamp)
                    .limit(batch_size)
                    .subquery()
                )
                bound = conn.execute(select(func.max(batch.c.ts))).scalar()
            if bound is None:
                return total
            with self.write() as conn:
                time_slice = and_(m.timestamp < cutoff, after_lower, m.timestamp <= bound)
                gone = (
                    select(func.count())
                    .select_from(messages_t)
                    .where(m.session_id == c.id, time_slice)
                    .scalar_subquery()
                )
                conn.execute(
                    update(sessions_t)
                    .where(c.keep.is_(False), c.id.in_(select(m.session_id).where(time_slice)))
                    .values(message_count=c.message_count - gone)
                    .execution_options(synchronize_session=False)
                )
                total += conn.execute(delete(messages_t).where(time_slice, purgeable)).rowcount
            lower = bound

    def count_purgeable_messages(self, cutoff: datetime) -> int:
        """How many messages :meth:`purge_older_than` would delete."""
        query = select(func.count()).select_from(messages_t).where(self._purgeable_messages(cutoff))
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())

    def _purgeable_sessions(self, cutoff: datetime) -> Any:
        c = sessions_t.c
        return and_(
            c.last_activity < cutoff,
            c.status != Status.RUNNING.value,
            c.expires_at.is_not(None),
            c.keep.is_(False),
        )

    def purge_sessions_older_than(self, cutoff: datetime, *, batch_size: int = 5000) -> int:
        """Delete sessions inactive since before ``cutoff``, except running ones,
        ones that never expire and ones a reviewer kept; return how many."""
        c = sessions_t.c
        total = 0
        while True:
            with self.write() as conn:
                ids = select(c.id).where(self._purgeable_sessions(cutoff)).limit(batch_size)
                n = conn.execute(
                    delete(sessions_t).where(c.id.in_(select(ids.subquery().c.id)))
                ).rowcount
            total += n
            if n < batch_size:
                return total

    def count_purgeable_sessions(self, cutoff: datetime) -> int:
        """How many sessions :meth:`purge_sessions_older_than` would delete."""
        query = select(func.count()).select_from(sessions_t).where(self._purgeable_sessions(cutoff))
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())

    # -- the sweeper's lease and log --------------------------------------------

    def claim_sweep(
        self,
        holder: str,
        *,
        now: datetime,
        interval: timedelta,
        lease_ttl: timedelta,
        name: str = "sweeper",
    ) -> bool:
        """Claim the next sweep if it is due and the lease is ours or free.

        One conditional UPDATE decides, so however many processes ask, exactly one
        gets each interval. The holder keeps the lease by claiming or by
        :meth:`renew_lease`; when it stops renewing, the lease lapses after
        ``lease_ttl`` and another process takes over.
        """
        lt = lease_t.c
        with self.write() as conn:
            conn.execute(
                self._insert(lease_t)
                .values(name=name, holder=None, lease_expires_at=None, next_sweep_at=None)
                .on_conflict_do_nothing(index_elements=[lt.name])
            )
            result: CursorResult[Any] = conn.execute(
                update(lease_t)
                .where(
                    lt.name == name,
                    or_(lt.next_sweep_at.is_(None), lt.next_sweep_at <= now),
                    or_(
                        lt.holder.is_(None),
                        lt.holder == holder,
                        lt.lease_expires_at.is_(None),
                        lt.lease_expires_at <= now,
                    ),
                )
                .values(
                    holder=holder, lease_expires_at=now + lease_ttl, next_sweep_at=now + interval
                )
            )
            return result.rowcount == 1

    def renew_lease(
        self, holder: str, *, now: datetime, lease_ttl: timedelta, name: str = "sweeper"
    ) -> bool:
        """Extend the lease if ``holder`` has it; True if it does."""
        lt = lease_t.c
        with self.write() as conn:
            result = conn.execute(
                update(lease_t)
                .where(lt.name == name, lt.holder == holder, lt.lease_expires_at > now)
                .values(lease_expires_at=now + lease_ttl)
            )
            return result.rowcount == 1

    def release_lease(self, holder: str, *, name: str = "sweeper") -> None:
        """Give the lease up so another process can take it at once."""
        lt = lease_t.c
        with self.write() as conn:
            conn.execute(
                update(lease_t)
                .where(lt.name == name, lt.holder == holder)
                .values(holder=None, lease_expires_at=None)
            )

    def lease_holder(self, *, now: datetime, name: str = "sweeper") -> str | None:
        """Who holds a live lease at ``now``, if anyone."""
        lt = lease_t.c
        with self.read() as conn:
            return conn.execute(
                select(lt.holder).where(lt.name == name, lt.lease_expires_at > now)
            ).scalar()

    def record_sweep(self, result: SweepResult, *, trigger: str, holder: str = "") -> None:
        """Append a pass to the purge log."""
        with self.write() as conn:
            conn.execute(
                insert(purge_log_t).values(
                    ran_at=result.ran_at,
                    trigger=trigger,
                    holder=holder,
                    expired_sessions=result.expired_sessions,
                    purged_messages=result.purged_messages,
                    purged_sessions=result.purged_sessions,
                    message_cutoff=result.message_cutoff,
                    session_cutoff=result.session_cutoff,
                )
            )

    def purge_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest purge log entries, newest first."""
        p = purge_log_t.c
        with self.read() as conn:
            rows = conn.execute(
                select(purge_log_t).order_by(p.ran_at.desc(), p.id.desc()).limit(limit)
            )
            return [dict(r._mapping) for r in rows]

    # -- life ----------------------------------------------------------------------

    def close(self) -> None:
        """Release the connections (only of an engine this store created)."""
        if not self._closed and self._owns_engine:
            self.engine.dispose()
        self._closed = True
