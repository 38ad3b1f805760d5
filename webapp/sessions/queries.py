"""The read model: every read of sessions and messages that the pages, the API,
exports and the review inbox make, as typed rows.

Features never build SQL over the ``sessions`` and ``messages`` tables: they
describe what they want (a :class:`SessionFilter`, a sort, a keyset position)
and get dataclasses back. A feature that narrows by its own tables (review:
verdicts, tags) hands in an :class:`IdSet`, a query of session ids over its own
tables, so it never names ours.

Every list and transcript query is a keyset query on an index: sessions on
``(status, <time>, id)`` / ``(<time>, id)``, messages on ``(session_id, timestamp,
id)``. Nothing here uses OFFSET, and the session list never reads message content.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    FunctionElement,
    Select,
    String,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from .rows import row_to_session, sessions_t
from .stats import StatsReads
from .store import MessageStore
from .transcripts import TranscriptReads, session_exists
from .types import Session, Status

T = TypeVar("T")

#: Sessions the review inbox offers: finished ones (a running one is not ready).
FINISHED_STATUSES = (Status.COMPLETED, Status.FAILED, Status.EXPIRED, Status.CLOSED)
#: Shown first in the inbox: the agent failed or never finished.
URGENT_STATUSES = (Status.FAILED, Status.EXPIRED)
#: The context keys the app knows: a filter on one of them reads an expression index
#: on (the key's value, the sort column, id) made by migration 0009; a filter on
#: any other key reads the list's index and tests each row.
CONTEXT_KEYS = ("project_path", "git_branch", "model", "runner", "user")


class ContextValue(FunctionElement[str]):
    """A known context key's value as text, written exactly as migration 0009's
    expression indexes are (``json_extract(context, '$.key')`` on SQLite,
    ``context ->> 'key'`` on PostgreSQL), so the planner can use them."""

    type = String()
    inherit_cache = True
    name = "context_value"


def _context_parts(element: ContextValue, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    column, key = element.clauses.clauses
    return compiler.process(column, **kw), str(key.name)


@compiles(ContextValue, "sqlite")
def _sqlite_context_value(element: ContextValue, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _context_parts(element, compiler, **kw)
    return f"json_extract({column}, '$.{key}')"


@compiles(ContextValue, "postgresql")
def _postgres_context_value(element: ContextValue, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = _context_parts(element, compiler, **kw)
    return f"({column} ->> '{key}')"


class CreatedDay(FunctionElement[Any]):
    """The UTC day a session was created, written exactly as migration 0009's
    index ``ix_sessions_day_activity`` is: ``substr(created_at, 1, 10)`` (text) on
    SQLite, ``timezone('UTC', created_at)::date`` on PostgreSQL."""

    inherit_cache = True
    name = "created_day"


@compiles(CreatedDay, "sqlite")
def _sqlite_created_day(element: CreatedDay, compiler: SQLCompiler, **kw: Any) -> str:
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(CreatedDay, "postgresql")
def _postgres_created_day(element: CreatedDay, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(timezone('UTC', {compiler.process(element.clauses, **kw)}))::date"


#: The most days a creation range sorted by activity is read as, one day at a time.
MAX_DAY_PARTS = 62


def context_value(key: str) -> ColumnElement[Any]:
    """The SQL for a context key's value as text: indexable for :data:`CONTEXT_KEYS`."""
    if key in CONTEXT_KEYS:
        # Safe to write into the SQL: one of our own fixed names.
        return ContextValue(sessions_t.c.context, literal_column(key))
    value: ColumnElement[Any] = sessions_t.c.context[key].as_string()
    return value


class Sort(enum.StrEnum):
    """The orders a session list offers, newest first."""

    ACTIVITY = "activity"
    CREATED = "created"


@dataclass(frozen=True)
class IdSet:
    """Sessions a feature picks with its own tables: ``query`` selects one column of
    session ids; ``negate`` keeps the sessions it does *not* select."""

    query: Select[Any]
    negate: bool = False


@dataclass(frozen=True)
class SessionFilter:
    """What a session list shows. Empty fields do not narrow.

    ``context_value`` None with a ``context_key`` keeps the sessions that have the key.
    ``created_before`` is exclusive.
    """

    statuses: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_before: datetime | None = None
    context_key: str = ""
    context_value: str | None = None
    text: str = ""
    error: str = ""
    within: tuple[IdSet, ...] = ()

    def conditions(self) -> list[ColumnElement[bool]]:
        """The filter as SQL conditions on the sessions table."""
        c = sessions_t.c
        where: list[ColumnElement[bool]] = []
        if self.statuses:
            where.append(c.status.in_(self.statuses))
        if self.created_from is not None:
            where.append(c.created_at >= self.created_from)
        if self.created_before is not None:
            where.append(c.created_at < self.created_before)
        if self.context_key:
            value = context_value(self.context_key)
            where.append(
                value.is_not(None) if self.context_value is None else value == self.context_value
            )
        if self.text:
            # A substring LIKE: exact, but a scan of the filtered rows.
            pattern = like_pattern(self.text)
            where.append(
                or_(c.request.ilike(pattern, escape="\\"), c.response.ilike(pattern, escape="\\"))
            )
        if self.error:
            where.append(c.error == self.error)
        for ids in self.within:
            picked = c.id.in_(ids.query)
            where.append(~picked if ids.negate else picked)
        return where


def like_pattern(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere (``escape="\\"``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def day_range(
    first: datetime | None, last: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """``(created_from, created_before)`` covering the UTC days of ``first`` to
    ``last`` inclusive, for a filter given in calendar days."""
    start = datetime.combine(first.date(), time(), UTC) if first else None
    end = datetime.combine(last.date() + timedelta(days=1), time(), UTC) if last else None
    return start, end


@dataclass(frozen=True)
class Keyset:
    """A position in a list: the sort column's value and the id of one row."""

    at: datetime
    id: str

    def encode(self) -> str:
        """``<iso time>~<id>``: readable, and safe in a URL once quoted."""
        return f"{self.at.isoformat()}~{self.id}"

    @classmethod
    def decode(cls, text: str | None) -> Keyset | None:
        """The position in ``text``, or None when it is missing or malformed."""
        if not text or "~" not in text:
            return None
        at, _, sid = text.partition("~")
        try:
            parsed = datetime.fromisoformat(at)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return cls(parsed.astimezone(UTC), sid)


@dataclass(frozen=True)
class SessionSummary:
    """A session as a list shows it: no request, response or context."""

    id: str
    status: str
    request_excerpt: str
    created_at: datetime
    last_activity: datetime
    expires_at: datetime | None
    message_count: int
    keep: bool
    parent_id: str | None


@dataclass(frozen=True)
class Page(Generic[T]):
    """Rows of a list and the positions of the pages around them (None: no more)."""

    rows: list[T]
    older: Keyset | None = None
    newer: Keyset | None = None


@dataclass(frozen=True)
class InboxRow:
    """A session awaiting review."""

    id: str
    status: str
    request_excerpt: str
    created_at: datetime
    message_count: int

    @property
    def urgent(self) -> bool:
        """Failed or expired: shown first."""
        return self.status in URGENT_STATUSES


_SUMMARY_COLUMNS = (
    sessions_t.c.id,
    sessions_t.c.status,
    sessions_t.c.request_excerpt,
    sessions_t.c.created_at,
    sessions_t.c.last_activity,
    sessions_t.c.expires_at,
    sessions_t.c.message_count,
    sessions_t.c.keep,
    sessions_t.c.parent_id,
)
_SORT_COLUMNS = {Sort.CREATED: sessions_t.c.created_at, Sort.ACTIVITY: sessions_t.c.last_activity}
_INBOX_COLUMNS = (
    sessions_t.c.id,
    sessions_t.c.status,
    sessions_t.c.request_excerpt,
    sessions_t.c.created_at,
    sessions_t.c.message_count,
)


class ReadModel(TranscriptReads, StatsReads):
    """The queries, over one store's engine. Read-only: nothing here writes."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store

    # -- session lists ---------------------------------------------------------------

    def _page(
        self,
        columns: Sequence[Any],
        where: SessionFilter,
        sort: Sort,
        older: Keyset | None,
        newer: Keyset | None,
        limit: int,
    ) -> tuple[list[Any], Keyset | None, Keyset | None]:
        c = sessions_t.c
        column = _SORT_COLUMNS[sort]
        query = select(*columns).where(*where.conditions())
        key = tuple_(column, c.id)
        if newer is not None:
            query = query.where(key > tuple_(literal(newer.at, column.type), literal(newer.id)))
            query = query.order_by(column.asc(), c.id.asc())
        else:
            if older is not None:
                query = query.where(key < tuple_(literal(older.at, column.type), literal(older.id)))
            query = query.order_by(column.desc(), c.id.desc())
        query = query.limit(limit + 1)
        with self.store.read() as conn:
            parts = self._partitions(conn, where, sort)
            if parts is None:
                rows = list(conn.execute(query))
            else:
                # One index-ordered read per part, merged: no sort of every match.
                rows = [r for part in parts for r in conn.execute(query.where(part))]
                rows.sort(key=lambda r: (r._mapping[column.key], r.id), reverse=newer is None)
                rows = rows[: limit + 1]
        more = len(rows) > limit
        rows = rows[:limit]
        if newer is not None:
            rows.reverse()
            has_newer, has_older = more, True
        else:
            has_newer, has_older = older is not None, more
        name = column.key

        def position(row: Any) -> Keyset:
            return Keyset(row._mapping[name], row._mapping["id"])

        return (
            rows,
            position(rows[-1]) if rows and has_older else None,
            position(rows[0]) if rows and has_newer else None,
        )

    def _partitions(
        self, conn: Connection, where: SessionFilter, sort: Sort
    ) -> list[ColumnElement[bool]] | None:
        """Equality conditions that split a list whose order no single index gives
        (several statuses; a creation range sorted by activity) into parts that
        each read one index in order; None when one read does."""
        c = sessions_t.c
        ranged = where.created_from is not None or where.created_before is not None
        if sort is Sort.ACTIVITY and ranged:
            days = self._created_days(conn, where.created_from, where.created_before)
            if days is not None:
                return [CreatedDay(c.created_at) == self._day_value(d) for d in days]
        if len(where.statuses) > 1:
            return [c.status == s for s in where.statuses]
        return None

    def _created_days(
        self, conn: Connection, first: datetime | None, before: datetime | None
    ) -> list[date] | None:
        """The UTC days sessions created in ``[first, before)`` fall on, up to
        :data:`MAX_DAY_PARTS` of them (None: more; a wide range is dense enough to
        read in activity order and test each row)."""
        c = sessions_t.c
        if first is None:
            first = conn.execute(select(func.min(c.created_at))).scalar()
        if before is None:
            last = conn.execute(select(func.max(c.created_at))).scalar()
            before = last + timedelta(microseconds=1) if last is not None else None
        if first is None or before is None or before <= first:
            return []
        start, end = first.astimezone(UTC).date(), (before - timedelta(microseconds=1)).date()
        count = (end - start).days + 1
        if count > MAX_DAY_PARTS:
            return None
        return [start + timedelta(days=i) for i in range(count)]

    def _day_value(self, day: date) -> Any:
        """A day as :class:`CreatedDay` compares it on this engine."""
        return literal(day) if self.store.dialect == "postgresql" else literal(day.isoformat())

    def list_sessions(
        self,
        where: SessionFilter = SessionFilter(),  # noqa: B008  (frozen, so shared safely)
        *,
        sort: Sort = Sort.ACTIVITY,
        older: Keyset | None = None,
        newer: Keyset | None = None,
        limit: int = 50,
    ) -> Page[SessionSummary]:
        """A page of sessions newest first: after ``older`` (the next page down) or
        before ``newer`` (the page above), by keyset on (sort column, id)."""
        rows, down, up = self._page(_SUMMARY_COLUMNS, where, sort, older, newer, limit)
        return Page([SessionSummary(**r._mapping) for r in rows], down, up)

    def session_records(
        self,
        where: SessionFilter = SessionFilter(),  # noqa: B008
        *,
        sort: Sort = Sort.CREATED,
        older: Keyset | None = None,
        limit: int = 100,
    ) -> Page[Session]:
        """Whole sessions (without messages) newest first, after ``older``: what the
        API and exports page through. By creation, a row never moves while a client
        pages (a message would move it in the activity order)."""
        rows, down, _up = self._page((sessions_t,), where, sort, older, None, limit)
        return Page([row_to_session(r) for r in rows], down, None)

    def iter_sessions(self, where: SessionFilter, *, batch: int = 200) -> Iterator[Session]:
        """Every matching session newest first, read a page at a time."""
        position: Keyset | None = None
        while True:
            page = self.session_records(where, older=position, limit=batch)
            yield from page.rows
            if page.older is None:
                return
            position = page.older

    def children(self, parent_id: str) -> list[SessionSummary]:
        """The sessions started by ``parent_id`` (its subagents), oldest first."""
        c = sessions_t.c
        query = (
            select(*_SUMMARY_COLUMNS).where(c.parent_id == parent_id).order_by(c.created_at, c.id)
        )
        with self.store.read() as conn:
            return [SessionSummary(**r._mapping) for r in conn.execute(query)]

    def count_by_status(self) -> dict[str, int]:
        """Sessions per status, from the counters the triggers keep (no count)."""
        return self.store.status_counts()

    def exists(self, session_id: str) -> bool:
        """Whether the session is stored."""
        with self.store.read() as conn:
            return session_exists(conn, session_id)

    # -- the review inbox ------------------------------------------------------------

    def _inbox_key(self, conn: Connection, session_id: str | None) -> _InboxKey | None:
        """Where ``session_id`` sits in inbox order (None: unknown, or no id)."""
        if not session_id:
            return None
        c = sessions_t.c
        row = conn.execute(select(c.status, c.created_at).where(c.id == session_id)).first()
        if row is None:
            return None
        return _InboxKey(_urgency(row.status), row.created_at, session_id)

    def _inbox_rows(
        self,
        conn: Connection,
        within: Sequence[IdSet],
        status: str,
        after: _InboxKey | None,
        forward: bool,
        limit: int,
    ) -> list[InboxRow]:
        """Up to ``limit`` inbox rows after ``after`` in inbox order (or before it,
        backwards): one read per status on ``(status, created_at, id)``, each in
        index order with its own LIMIT, merged here. Nothing is sorted in SQL."""
        c = sessions_t.c
        narrowing = SessionFilter(within=tuple(within)).conditions()
        order = (c.created_at, c.id) if forward else (c.created_at.desc(), c.id.desc())
        rows: list[InboxRow] = []
        for urgency, group in _inbox_groups(status, forward):
            if after is not None and (after.urgency - urgency) * (1 if forward else -1) > 0:
                continue  # a group the position has gone past
            found: list[InboxRow] = []
            for name in group:
                query = select(*_INBOX_COLUMNS).where(c.status == name, *narrowing)
                if after is not None and urgency == after.urgency:
                    key, at = (
                        tuple_(c.created_at, c.id),
                        tuple_(literal(after.created_at, c.created_at.type), literal(after.id)),
                    )
                    query = query.where(key > at if forward else key < at)
                query = query.order_by(*order).limit(limit - len(rows))
                found.extend(InboxRow(**r._mapping) for r in conn.execute(query))
            found.sort(key=lambda r: (r.created_at, r.id), reverse=not forward)
            rows.extend(found[: limit - len(rows)])
            if len(rows) >= limit:
                break
        return rows

    def _inbox_total(self, conn: Connection, within: Sequence[IdSet], status: str) -> int:
        """How many sessions the inbox holds, without counting the finished ones:
        the status counters, less (or, for a narrowing that picks, only) the
        sessions the features' id sets pick, counted from those sets."""
        statuses = tuple(s for _, group in _inbox_groups(status, True) for s in group)
        picking = [ids for ids in within if not ids.negate]
        if picking:
            where = SessionFilter(statuses=statuses, within=tuple(within)).conditions()
            return _count_picked(conn, picking[0].query, where)
        counts = self.store.status_counts()
        total = sum(counts.get(s, 0) for s in statuses)
        dropping = [ids.query for ids in within if ids.negate]
        if dropping:
            dropped = dropping[0] if len(dropping) == 1 else union(*dropping)
            total -= _count_picked(conn, dropped, [sessions_t.c.status.in_(statuses)])
        return total

    def inbox(
        self,
        within: Sequence[IdSet] = (),
        *,
        status: str = "",
        after: str | None = None,
        limit: int = 50,
    ) -> tuple[list[InboxRow], str | None, int]:
        """Finished sessions (narrowed by ``within``, e.g. "no verdict yet"), failed
        and expired first, then oldest; a page after session ``after``, the id to go
        on from (None: the last page) and the total."""
        with self.store.read() as conn:
            key = self._inbox_key(conn, after)
            rows = self._inbox_rows(conn, within, status, key, True, limit + 1)
            count = self._inbox_total(conn, within, status)
        next_after = rows[limit - 1].id if len(rows) > limit else None
        return rows[:limit], next_after, count

    def inbox_neighbour(
        self,
        session_id: str,
        within: Sequence[IdSet] = (),
        *,
        status: str = "",
        forward: bool = True,
    ) -> str | None:
        """The inbox session after (or before) ``session_id`` in inbox order, whether
        or not ``session_id`` itself still awaits review; None at the end. An unknown
        id gives the first (or last) one."""
        with self.store.read() as conn:
            key = self._inbox_key(conn, session_id)
            rows = self._inbox_rows(conn, within, status, key, forward, 1)
        return rows[0].id if rows else None


def _count_picked(
    conn: Connection, ids: Select[Any] | CompoundSelect[Any], where: Sequence[ColumnElement[bool]]
) -> int:
    """How many of the sessions ``ids`` selects match ``where``: driven from the
    (small) id set, one primary-key lookup each, never a walk of ``sessions``."""
    picked = ids.subquery()
    session_id = next(iter(picked.c))
    matches = select(literal(1)).where(sessions_t.c.id == session_id, *where).exists()
    return int(conn.execute(select(func.count()).select_from(picked).where(matches)).scalar_one())


@dataclass(frozen=True)
class _InboxKey:
    """A session's place in inbox order: urgency (0 first), creation, id."""

    urgency: int
    created_at: datetime
    id: str


def _urgency(status: str) -> int:
    return 0 if status in URGENT_STATUSES else 1


def _inbox_groups(status: str, forward: bool) -> list[tuple[int, list[str]]]:
    """The statuses the inbox reads, by urgency, in the order they are read."""
    finished = [s.value for s in FINISHED_STATUSES]
    wanted = [status] if status in finished else finished
    groups = [(urgency, [s for s in wanted if _urgency(s) == urgency]) for urgency in (0, 1)]
    groups = [(u, g) for u, g in groups if g]
    return groups if forward else groups[::-1]
