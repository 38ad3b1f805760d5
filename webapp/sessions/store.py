"""MessageStore: all persistence of sessions and messages, on SQLite or PostgreSQL.

The engine and its transactions are in :mod:`.engine`, the table objects and row
conversions in :mod:`.rows`, expiry and retention in :mod:`.retention`, and the
sweeper's lease and purge log in :mod:`.lease`; :class:`MessageStore` is all of it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    String,
    Table,
    and_,
    case,
    delete,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql

from .engine import (
    SQLITE_BUSY_TIMEOUT_S,
    configure_engine,
    database_url,
    engine_options,
    make_engine,
    marker,
    run_sql,
)
from .holds import HoldStore
from .imports import ImportSupport
from .lease import SweepLeaseStore
from .renders import RenderStore
from .retention import RetentionStore
from .rows import (
    PG_ROWS_PER_INSERT,
    BulkRows,
    first_of_each_key,
    idempotency_t,
    lease_t,
    message_values,
    messages_t,
    purge_log_t,
    row_to_message,
    row_to_session,
    session_values,
    sessions_t,
)
from .rows import bulk_insert as insert_bulk_rows
from .rows import bulk_rows as to_bulk_rows
from .types import (
    TERMINAL_STATUSES,
    Message,
    Session,
    Status,
    as_utc,
    check_json,
    check_session_fields,
    excerpt,
    utcnow,
)
from .usage import Labels, UsageEntry

#: The terminal statuses, as stored.
_TERMINAL = sorted(s.value for s in TERMINAL_STATUSES)


class UnknownSessionError(LookupError):
    """The session id is not in the store."""


class DuplicateSessionError(ValueError):
    """A session with that id exists already."""


@dataclass(frozen=True)
class AppendOutcome:
    """What an append did: ``status`` is ``appended``, ``replayed`` (the
    idempotency key was seen: ``response`` is the first answer), ``unknown``,
    ``closed`` (terminal or past expiry) or ``refused`` (its :class:`AppendGuard`
    did not hold); nothing is written unless ``appended``."""

    status: str
    appended: int = 0
    response: dict[str, Any] | None = None


@dataclass(frozen=True)
class AppendGuard:
    """A condition an append also needs, checked in its own transaction by the
    statement that claims the session (so that it costs no statement of its own):
    plain SQL with ``{mark}`` where each of ``params`` goes, e.g. that the API
    token of the request is still live. An append it refuses is ``refused``."""

    condition: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class _Appended:
    """What one append of a group did, and the usage totals it adds."""

    outcome: AppendOutcome
    changes: Sequence[Any] = ()


class _Replayed(Exception):  # noqa: N818  (a signal, not an error)
    """Raised inside an append whose idempotency key is stored already: it undoes
    the append, and :meth:`MessageStore.append_messages` answers ``response``."""

    def __init__(self, response: dict[str, Any] | None) -> None:
        super().__init__("idempotency key seen already")
        self.response = response


@dataclass(frozen=True)
class _AppendSql:
    """The statements of an append as plain SQL for one dialect and one shape
    (sliding expiry or not, guarded or not), made once (:func:`_append_sql`)."""

    dialect: str
    mark: str
    claim: str
    claim_key: str
    exists: str
    seen_key: str
    #: ``SELECT 1`` when the guard holds (None: no guard).
    guard: str | None
    #: Whether the claim is guarded by the session being open (one more time marker).
    guarded_open: bool

    def instant(self, moment: datetime) -> Any:
        """A time as the driver takes it: SQLite's text (the form SQLAlchemy writes,
        which sorts and compares), PostgreSQL's aware datetime."""
        if self.dialect == "sqlite":
            return as_utc(moment).replace(tzinfo=None).isoformat(" ", "microseconds")
        return as_utc(moment)

    def stored_keys(self, n: int) -> str:
        """Which of ``n`` source keys a session holds already."""
        marks = ", ".join([self.mark] * n)
        where = f"session_id = {self.mark} AND source_key IN ({marks})"
        return f"SELECT source_key FROM messages WHERE {where}"  # noqa: S608 (markers only)


@functools.lru_cache(maxsize=32)
def _append_sql(dialect: str, *, sliding: bool, open_: bool, guard: str | None) -> _AppendSql:
    # Only the driver's markers and the Status constants are put in the text.
    p = marker(dialect)
    sets = [f"message_count = message_count + {p}", f"last_activity = {p}"]
    if sliding:
        sets.append(f"expires_at = CASE WHEN expires_at IS NULL THEN NULL ELSE {p} END")
    where = f"id = {p}"
    if open_:
        terminal = ", ".join(f"'{status}'" for status in _TERMINAL)  # constants of Status
        where += f" AND status NOT IN ({terminal}) AND (expires_at IS NULL OR expires_at > {p})"
    if guard is not None:
        where += f" AND ({guard.format(mark=p)})"
    return _AppendSql(
        dialect=dialect,
        mark=p,
        claim=f"UPDATE sessions SET {', '.join(sets)} WHERE {where} RETURNING context",  # noqa: S608
        claim_key=(
            'INSERT INTO idempotency_keys (session_id, "key", response, created_at) '  # noqa: S608
            f'VALUES ({p}, {p}, {p}, {p}) ON CONFLICT (session_id, "key") DO NOTHING'
        ),
        exists=f"SELECT 1 FROM sessions WHERE id = {p}",  # noqa: S608
        guard=None if guard is None else f"SELECT 1 WHERE {guard.format(mark=p)}",  # noqa: S608
        guarded_open=open_,
        seen_key=f'SELECT response FROM idempotency_keys WHERE session_id = {p} AND "key" = {p}',  # noqa: S608
    )


#: PostgreSQL's dialect, for the type names of :func:`_typed_marker`.
_PG_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _typed_marker(table: Table, column: str, mark: str) -> str:
    """A marker of ``column``'s value in a PostgreSQL ``SELECT`` list (which,
    unlike ``VALUES`` of an ``INSERT``, does not take its type from the column):
    cast unless it is a string (text is taken as it is; a ``VARCHAR(n)`` cast
    would cut a longer value instead of refusing it)."""
    kind = table.c[column].type
    if isinstance(kind, String):
        return mark
    return f"CAST({mark} AS {kind.compile(dialect=_PG_DIALECT)})"


@functools.lru_cache(maxsize=64)
def _pg_append_sql(sql: _AppendSql, columns: tuple[str, ...], rows: int, keyed: bool) -> str:
    """PostgreSQL: the claim, the messages' insert and the idempotency key's in
    one statement (data-modifying ``WITH``): one round trip instead of three.
    The inserts happen only if the claim did; it answers whether the claim
    did, the session's context, and whether the key was new (always true
    without one)."""
    p = sql.mark
    row = f"({', '.join(_typed_marker(messages_t, c, p) for c in columns)})"
    names = ", ".join(_PG_DIALECT.identifier_preparer.quote(c) for c in columns)
    parts = [
        f"claim AS ({sql.claim})",
        f"added AS (INSERT INTO messages ({names}) SELECT * FROM (VALUES "  # noqa: S608
        f"{', '.join([row] * rows)}) AS v WHERE EXISTS (SELECT 1 FROM claim))",
    ]
    new_key = "true"
    if keyed:
        marks = ", ".join(
            _typed_marker(idempotency_t, c, p)
            for c in ("session_id", "key", "response", "created_at")
        )
        parts.append(
            'k AS (INSERT INTO idempotency_keys (session_id, "key", response, created_at) '  # noqa: S608
            f"SELECT {marks} WHERE EXISTS (SELECT 1 FROM claim) "
            'ON CONFLICT (session_id, "key") DO NOTHING RETURNING 1)'
        )
        new_key = "EXISTS (SELECT 1 FROM k)"
    return (
        f"WITH {', '.join(parts)} "  # noqa: S608
        f"SELECT EXISTS (SELECT 1 FROM claim), (SELECT context FROM claim), {new_key}"
    )


def _json_value(value: Any) -> Any:
    """A JSON column's value as the driver gives it: text on SQLite, parsed on PostgreSQL."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _stored_response(
    conn: Connection, sql: _AppendSql, session_id: str, key: str
) -> dict[str, Any] | None:
    row = run_sql(conn, sql.seen_key, (session_id, key)).fetchone()
    return None if row is None else _json_value(row[0])


class MessageStore(RetentionStore, SweepLeaseStore, ImportSupport, HoldStore, RenderStore):
    """Persistence of sessions and messages, mirroring the Go ``MessageStore``, with
    expiry and retention, the sweeper's lease, the usage ledger and the messages'
    stored HTML; opened as a
    :class:`~webapp.sessions.engine.Database` (a URL, a SQLite path or an engine)."""

    def _lock_session(self, conn: Connection, session_id: str) -> Row[Any] | None:
        """Read a session row inside a write, locked against other writers."""
        query = select(sessions_t).where(sessions_t.c.id == session_id)
        if self.dialect == "postgresql":
            query = query.with_for_update()
        return conn.execute(query).first()

    # -- bulk loads -------------------------------------------------------------

    def bulk_rows(self, rows: Sequence[dict[str, Any]]) -> BulkRows:
        """Rows (dicts sharing their keys; JSON columns as dicts or lists, datetimes
        aware) turned into this database's plain values for :meth:`bulk_insert`."""
        return to_bulk_rows(rows, dialect=self.dialect)

    def bulk_insert(self, conn: Connection, table: Table, bulk: BulkRows) -> None:
        """Insert many rows through the driver's executemany, in ``conn``'s transaction."""
        insert_bulk_rows(conn, table, bulk)

    def bulk_load(
        self, sessions: BulkRows, messages: BulkRows, usage: Sequence[UsageEntry] = ()
    ) -> None:
        """Insert ready ``sessions`` rows and their ``messages`` rows (made by
        :meth:`bulk_rows`, counts and excerpts filled in), and the ``usage`` of
        those messages (:meth:`usage_entries`), in one transaction: the fast path
        of generated or restored data."""
        with self.write() as conn:
            insert_bulk_rows(conn, sessions_t, sessions)
            insert_bulk_rows(conn, messages_t, messages)
            self.load_usage(conn, usage)

    # -- sessions ----------------------------------------------------------------

    def upsert_session(self, s: Session) -> None:
        """Insert the session, or overwrite its fields if the id exists.

        The message count is derived from the messages and never taken from ``s``.
        """
        values = session_values(s)
        stmt = self._insert(sessions_t).values(**values, message_count=0)
        stmt = stmt.on_conflict_do_update(
            index_elements=[sessions_t.c.id],
            set_={k: stmt.excluded[k] for k in values if k != "id"},
        )
        with self.write() as conn:
            conn.execute(stmt)

    def create_session(self, s: Session) -> None:
        """Insert a new session; raise :class:`DuplicateSessionError` if the id is taken."""
        values = session_values(s)
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
            values = session_values(snapshot)
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
        """How many sessions there are in each status present, from the counters,
        or of those created since ``created_since`` (the rollups and at most half a
        day of sessions: :meth:`created_since_counts`)."""
        if created_since is None:
            return self.status_counts()
        return self.created_since_counts(created_since)

    # -- messages ----------------------------------------------------------------

    def _message_rows(
        self, session_id: str, messages: Sequence[Message], now: datetime, *, checked: bool = False
    ) -> list[dict[str, Any]]:
        return message_values(session_id, messages, now, checked=checked)

    def insert_message(self, session_id: str, msg: Message, *, now: datetime | None = None) -> None:
        """Store one message as it is, with no lifecycle rule (the Go store's
        InsertMessage); raise :class:`UnknownSessionError` if the session is unknown."""
        rows = self._message_rows(session_id, [msg], now or utcnow())
        with self.write() as conn:
            bumped = conn.execute(
                update(sessions_t)
                .where(sessions_t.c.id == session_id)
                .values(message_count=sessions_t.c.message_count + 1)
                .returning(sessions_t.c.context)
            ).first()
            if bumped is None:
                raise UnknownSessionError(session_id)
            conn.execute(insert(messages_t), rows)
            self._record_rows_usage(conn, session_id, rows, bumped.context, None)

    def _record_rows_usage(
        self,
        conn: Connection,
        session_id: str,
        rows: Sequence[dict[str, Any]],
        context: dict[str, Any] | None,
        runner: str | None,
    ) -> None:
        """Put the usage of stored message rows in the ledger, in ``conn``'s transaction."""
        entries = self.usage_entries(session_id, rows, Labels.of(context, runner))
        self.record_usage(conn, entries)

    def append_messages(
        self,
        session_id: str,
        messages: Sequence[Message],
        *,
        now: datetime,
        sliding_timeout: timedelta | None = None,
        idempotency_key: str | None = None,
        require_open: bool = True,
        runner: str | None = None,
        guard: AppendGuard | None = None,
        checked: bool = False,
    ) -> AppendOutcome:
        """Append messages as one transaction, if the session takes them; returns once
        it committed (concurrent appends of this process commit together: see
        :meth:`~.engine.Database.write_grouped`).

        The session row is claimed first with a guarded UPDATE (count, activity,
        sliding expiry), so the check and the insert cannot be separated by another
        writer. Messages whose ``source_key`` is stored already are skipped. The
        usage they carry goes to the ledger in the same transaction, counted for
        ``runner`` (the API token's name) when given, else the context's runner.
        ``guard``: a condition the append also needs (:class:`AppendGuard`).
        ``checked=True``: the caller checked the messages by the domain's rules
        already (the API's schemas apply them), so only their usage is checked
        here; else each is validated (``ValueError``).
        """
        rows = self._message_rows(session_id, messages, now, checked=checked)
        sql = _append_sql(
            self.dialect,
            sliding=sliding_timeout is not None,
            open_=require_open,
            guard=None if guard is None else guard.condition,
        )
        extra = () if guard is None else guard.params

        def append(conn: Connection) -> _Appended:
            return self._append_rows(
                conn, sql, extra, session_id, rows, now, sliding_timeout, idempotency_key, runner
            )

        # Concurrent appends of this process share one transaction (group commit).
        for _attempt in range(2):
            try:
                appended = self.write_grouped(
                    append,
                    key=session_id,
                    name="append",
                    start=self._lock_sessions,
                    finish=self._add_totals,
                )
            except _Replayed as replayed:
                if replayed.response is None:  # the stored key went (purged): once more
                    continue
                return AppendOutcome("replayed", response=replayed.response)
            return appended.outcome
        raise RuntimeError(f"append to {session_id!r}: its idempotency key came and went")

    def _lock_sessions(self, conn: Connection, session_ids: list[str]) -> None:
        """A group of appends locks its sessions' rows first, by id (PostgreSQL;
        SQLite's write lock is whole): with its totals summed last
        (:meth:`_add_totals`), it takes its locks in the order a single append
        and a reprice do, and cannot deadlock with them."""
        if self.dialect == "postgresql" and len(session_ids) > 1:
            c = sessions_t.c
            conn.execute(
                select(c.id).where(c.id.in_(session_ids)).order_by(c.id).with_for_update()
            ).all()

    def _add_totals(self, conn: Connection, appended: list[_Appended]) -> None:
        """The usage totals and rollups of a group of appends, summed once."""
        self.add_totals(conn, [change for a in appended for change in a.changes])

    def _append_rows(
        self,
        conn: Connection,
        sql: _AppendSql,
        guard_params: tuple[Any, ...],
        session_id: str,
        rows: list[dict[str, Any]],
        now: datetime,
        sliding_timeout: timedelta | None,
        idempotency_key: str | None,
        runner: str | None,
    ) -> _Appended:
        """The body of :meth:`append_messages`, in ``conn``'s transaction; the
        usage totals it adds are left to :meth:`_add_totals`.

        Its statements are plain SQL made once per dialect (:class:`_AppendSql`)
        and run through the driver: building, caching and compiling SQLAlchemy
        expressions cost more than the statements themselves. The idempotency
        key is claimed by its insert (``ON CONFLICT DO NOTHING``), last: a key
        seen already raises :class:`_Replayed`, which undoes the append (its
        savepoint or transaction) and answers the stored response."""
        at = sql.instant(now)
        keys = [r["source_key"] for r in rows if r["source_key"] is not None]
        if keys:
            stored = {
                key for (key,) in run_sql(conn, sql.stored_keys(len(keys)), (session_id, *keys))
            }
            rows = first_of_each_key(rows, stored)
        params: list[Any] = [len(rows), at]
        if sliding_timeout is not None:
            params.append(sql.instant(now + sliding_timeout))
        params.append(session_id)
        if sql.guarded_open:
            params.append(at)
        params.extend(guard_params)
        if self.dialect == "postgresql" and 0 < len(rows) <= PG_ROWS_PER_INSERT:
            return self._append_in_one(
                conn, sql, params, session_id, rows, at, idempotency_key, runner, guard_params
            )
        claimed = run_sql(conn, sql.claim, tuple(params)).fetchone()
        if claimed is None:
            outcome = self._not_claimed(conn, sql, guard_params, session_id, idempotency_key)
            return _Appended(outcome)
        changes: list[Any] = []
        if rows:
            # The driver's executemany: SQLAlchemy's per-row type processing cost
            # more than the insert itself (the rows are validated already).
            insert_bulk_rows(conn, messages_t, to_bulk_rows(rows, dialect=self.dialect))
            labels = Labels.of(_json_value(claimed[0]), runner)
            changes = self.record_entries(conn, self.usage_entries(session_id, rows, labels))
        if idempotency_key is not None:
            response = {"appended": len(rows)}
            added = run_sql(
                conn, sql.claim_key, (session_id, idempotency_key, json.dumps(response), at)
            ).rowcount
            if added != 1:  # seen already (a retry, or a racing twin that committed)
                raise _Replayed(_stored_response(conn, sql, session_id, idempotency_key))
        return _Appended(AppendOutcome("appended", appended=len(rows)), changes)

    def _append_in_one(
        self,
        conn: Connection,
        sql: _AppendSql,
        claim_params: list[Any],
        session_id: str,
        rows: list[dict[str, Any]],
        at: Any,
        idempotency_key: str | None,
        runner: str | None,
        guard_params: tuple[Any, ...],
    ) -> _Appended:
        """:meth:`_append_rows` on PostgreSQL: its three statements in one
        (:func:`_pg_append_sql`), then the usage entries the messages carry. For
        at most :data:`~.rows.PG_ROWS_PER_INSERT` messages (the statement's
        parameters stay under the protocol's 65,535; a larger write, an
        import's, takes the three statements)."""
        bulk = to_bulk_rows(rows, dialect=self.dialect)
        params = [*claim_params, *(value for values in bulk.values for value in values)]
        keyed = idempotency_key is not None
        if keyed:
            params += [session_id, idempotency_key, json.dumps({"appended": len(rows)}), at]
        statement = _pg_append_sql(sql, bulk.columns, len(rows), keyed)
        claimed, context, new_key = run_sql(conn, statement, tuple(params)).fetchone()
        if not claimed:
            outcome = self._not_claimed(conn, sql, guard_params, session_id, idempotency_key)
            return _Appended(outcome)
        if not new_key:  # seen already (a retry, or a racing twin that committed)
            assert idempotency_key is not None  # noqa: S101  (only a key can be seen)
            raise _Replayed(_stored_response(conn, sql, session_id, idempotency_key))
        labels = Labels.of(_json_value(context), runner)
        changes = self.record_entries(conn, self.usage_entries(session_id, rows, labels))
        return _Appended(AppendOutcome("appended", appended=len(rows)), changes)

    @staticmethod
    def _not_claimed(
        conn: Connection,
        sql: _AppendSql,
        guard_params: tuple[Any, ...],
        session_id: str,
        idempotency_key: str | None,
    ) -> AppendOutcome:
        """Why a session did not take an append: refused by its guard (asked
        first: a refused caller learns nothing of the session); a retry of an
        append it took before it closed gets that first answer; else it is
        closed or unknown."""
        if sql.guard is not None and run_sql(conn, sql.guard, guard_params).fetchone() is None:
            return AppendOutcome("refused")
        if run_sql(conn, sql.exists, (session_id,)).fetchone() is None:
            return AppendOutcome("unknown")
        if idempotency_key is not None:
            seen = _stored_response(conn, sql, session_id, idempotency_key)
            if seen is not None:
                return AppendOutcome("replayed", response=seen)
        return AppendOutcome("closed")

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


# Re-exported for the modules outside the domain that use them today; the
# read-model work removes those uses (see the import-linter contracts).
__all__ = [
    "SQLITE_BUSY_TIMEOUT_S",
    "AppendGuard",
    "AppendOutcome",
    "BulkRows",
    "DuplicateSessionError",
    "MessageStore",
    "UnknownSessionError",
    "configure_engine",
    "database_url",
    "engine_options",
    "idempotency_t",
    "lease_t",
    "make_engine",
    "messages_t",
    "purge_log_t",
    "row_to_message",
    "row_to_session",
    "sessions_t",
]
