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
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Connection,
    FunctionElement,
    Select,
    String,
    and_,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    type_coerce,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from .engine import Database, InList
from .pricing import PriceTable
from .rows import row_to_session, session_usage_t, sessions_t
from .search import Search, parse
from .stats import StatsReads
from .store import MessageStore
from .transcripts import TranscriptReads, session_exists
from .types import Session, Status, check_text
from .usage_reads import UsageReads

T = TypeVar("T")

#: The longest session id (the column's length).
MAX_SESSION_ID_LENGTH = 64

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


class Duration(FunctionElement[int]):
    """A session's duration (last activity less creation) in whole milliseconds,
    written exactly as migration 0009's index ``ix_sessions_duration`` is (no bound
    parameter, or SQLite would not match the index's expression)."""

    type = BigInteger()
    inherit_cache = True
    name = "duration_ms"


@compiles(Duration, "sqlite")
def _sqlite_duration(element: Duration, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(round((julianday(last_activity) - julianday(created_at)) * 86400000.0) AS INTEGER)"


@compiles(Duration, "postgresql")
def _postgres_duration(element: Duration, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(EXTRACT(epoch FROM last_activity - created_at) * 1000 AS BIGINT)"


class Sort(enum.StrEnum):
    """The orders a session list offers, newest first."""

    ACTIVITY = "activity"
    CREATED = "created"
    COST = "cost"
    TOKENS = "tokens"
    #: Last activity less creation, longest first.
    DURATION = "duration"

    @property
    def by_amount(self) -> bool:
        """Sorted by a number (cost, tokens, milliseconds), not a time: positions
        hold numbers."""
        return self in (Sort.COST, Sort.TOKENS, Sort.DURATION)


@dataclass(frozen=True)
class IdSet:
    """Sessions a feature picks with its own tables: ``query`` selects one column of
    session ids; ``negate`` keeps the sessions it does *not* select."""

    query: Select[Any]
    negate: bool = False


@dataclass(frozen=True)
class Ranking:
    """An order a feature gives sessions with its own tables (a rubric score):
    ``query`` selects two columns, a session id and its rank (a whole number), one
    row per ranked session. A list in this order shows the ranked sessions highest
    first (lowest with ``ascending``), ties by id, then every session it does not
    rank, by last activity: a position in the first part holds a rank, one in the
    second a time."""

    query: Select[Any]
    ascending: bool = False
    #: The ranked sessions' ids, cheaper than ``query`` (no rank computed; an id
    #: may repeat); None: ``query``'s own.
    ids: Select[Any] | None = None

    def unranked(self) -> IdSet:
        """The sessions this ranking leaves out."""
        if self.ids is not None:
            return IdSet(self.ids, negate=True)
        ranked = self.query.subquery()
        return IdSet(select(next(iter(ranked.c))), negate=True)


@dataclass(frozen=True)
class SessionFilter:
    """What a session list shows. Empty fields do not narrow.

    ``context_value`` None with a ``context_key`` keeps the sessions that have the key.
    ``created_before`` is exclusive. ``text`` is a search (the query language of
    :mod:`webapp.sessions.search`): :meth:`resolved` turns it into the sessions
    the search index finds, before the filter becomes SQL.
    """

    statuses: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_before: datetime | None = None
    context_key: str = ""
    context_value: str | None = None
    text: str = ""
    error: str = ""
    within: tuple[IdSet, ...] = ()
    #: Sessions with responses of this model (in their own usage).
    model: str = ""
    #: Sessions whose context's ``project_path`` is this.
    project: str = ""
    #: Only sessions no other session started (subagents stay under their parent).
    top_level: bool = False
    #: Only the subagents of this session.
    parent_id: str = ""

    def resolved(self, store: Database) -> SessionFilter:
        """This filter with its ``text`` answered by the search index: the sessions
        with a matching text, as one more :class:`IdSet`."""
        if not self.text:
            return self
        found = IdSet(Search(store).session_ids(parse(self.text)))
        return replace(self, text="", within=(*self.within, found))

    def conditions(self, dialect: str) -> list[ColumnElement[bool]]:
        """The filter as SQL conditions on the sessions table, for ``dialect`` (its
        ``text`` resolved first)."""
        c = sessions_t.c
        where: list[ColumnElement[bool]] = []
        if self.statuses:
            where.append(c.status.in_(self.statuses))
        if self.created_from is not None:
            where.append(c.created_at >= self.created_from)
        if self.created_before is not None:
            where.append(c.created_at < self.created_before)
        if self.context_key:
            where.append(_context_has(self.context_key, self.context_value, dialect))
        if self.text:
            raise ValueError("a filter's text is a search: ReadModel answers it (resolved())")
        if self.error:
            where.append(c.error == self.error)
        if self.top_level:
            # Most sessions are top-level: SQLite, without statistics, would take
            # ``parent_id IS NULL`` as selective, read it on ix_sessions_parent_id
            # and sort every top-level session. Written so no index serves it, the
            # list reads its sort's index in order and tests each row.
            if dialect == "sqlite":
                where.append(func.coalesce(c.parent_id, "") == "")
            else:
                where.append(c.parent_id.is_(None))
        if self.parent_id:
            where.append(c.parent_id == self.parent_id)
        for ids in self.within:
            picked = c.id.in_(ids.query)
            where.append(~picked if ids.negate else picked)
        if self.model:
            # Probed per session (the ledger's primary key), so the list walks its
            # sort's index in order: an IN list of a common model's sessions would
            # be read whole and sorted.
            u = session_usage_t.c
            used = select(literal(1)).where(u.session_id == c.id, u.model == self.model)
            where.append(used.exists())
        if self.project:
            where.append(_context_has("project_path", self.project, dialect))
        return where


def _context_has(key: str, value: str | None, dialect: str) -> ColumnElement[bool]:
    """The session's context has top-level ``key`` (holding the string ``value``
    unless None), alike on both engines whatever characters the key has: JSONB
    containment or ``?`` on PostgreSQL; on SQLite ``json_each``, which decodes keys
    as written (a JSON path would not find an escaped key, nor one with a quote)."""
    context = sessions_t.c.context
    exact: ColumnElement[bool]
    if dialect == "postgresql":
        jsonb = type_coerce(context, JSONB)
        exact = jsonb.has_key(key) if value is None else jsonb.contains({key: value})
    else:
        entries = func.json_each(context).table_valued("key", "value", "type")
        wanted = [entries.c.key == key]
        if value is not None:
            wanted += [entries.c.type == "text", entries.c.value == value]
        exact = select(literal(1)).select_from(entries).where(*wanted).exists()
    if value is None or key not in CONTEXT_KEYS:
        return exact
    # A known key's value: the equality reads its expression index (migration
    # 0009), the exact test above then checks the few rows it finds.
    # Safe to write into the SQL: one of our own fixed names.
    indexed = ContextValue(context, literal_column(key)) == value
    return and_(indexed, exact)


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

    at: datetime | int
    id: str

    def encode(self) -> str:
        """``<iso time>~<id>`` (or ``<number>~<id>`` for a sort by amount): readable,
        and safe in a URL once quoted."""
        at = str(self.at) if isinstance(self.at, int) else self.at.isoformat()
        return f"{at}~{self.id}"

    def fits(self, sort: Sort) -> bool:
        """Whether this is a position in a list of that sort (a number or a time)."""
        return isinstance(self.at, int) == sort.by_amount

    @classmethod
    def decode(cls, text: str | None) -> Keyset | None:
        """The position in ``text``, or None when it is missing or malformed: its
        time must have a zone, its id must be one a session can have."""
        if not text or "~" not in text:
            return None
        at, _, sid = text.partition("~")
        try:
            check_text(sid, "id")
            if not sid or len(sid) > MAX_SESSION_ID_LENGTH:
                return None
            if at.isascii() and at.isdigit() and len(at) <= 18:
                return cls(int(at), sid)
            parsed = datetime.fromisoformat(at)
            if parsed.tzinfo is None:
                return None
            return cls(parsed.astimezone(UTC), sid)
        except (ValueError, OverflowError):
            return None


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
    #: Every token of its own responses, and what the priced ones cost (nano-dollars).
    total_tokens: int = 0
    cost_nanos: int = 0
    #: The context's ``project_path`` ("" when it has none).
    project: str = ""

    @property
    def duration(self) -> timedelta:
        """From creation to the last activity."""
        return self.last_activity - self.created_at


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
    sessions_t.c.total_tokens,
    sessions_t.c.cost_nanos,
    func.coalesce(sessions_t.c.context["project_path"].as_string(), "").label("project"),
)
_SORT_COLUMNS: dict[Sort, ColumnElement[Any]] = {
    Sort.CREATED: sessions_t.c.created_at,
    Sort.ACTIVITY: sessions_t.c.last_activity,
    Sort.COST: sessions_t.c.cost_nanos,
    Sort.TOKENS: sessions_t.c.total_tokens,
    Sort.DURATION: Duration(),
}
#: The label of the sort column's value in a list's rows (a row's position).
_SORT_KEY = "sort_key"
_INBOX_COLUMNS = (
    sessions_t.c.id,
    sessions_t.c.status,
    sessions_t.c.request_excerpt,
    sessions_t.c.created_at,
    sessions_t.c.message_count,
)


def _summary(row: Any) -> SessionSummary:
    """A list's row as a summary (its position's sort key left out)."""
    fields = dict(row._mapping)
    fields.pop(_SORT_KEY, None)
    return SessionSummary(**fields)


@dataclass(frozen=True)
class ListState:
    """Where the session list stands, for its live check: the latest activity and
    creation of any session, and the status of the sessions a page shows."""

    last_activity: datetime | None
    last_created: datetime | None
    statuses: dict[str, str]


# Statements every list page runs, built once (building one anew cost
# more than running it: SQLAlchemy's coercions and cache key on each call).
_CHILD_COUNTS = (
    select(sessions_t.c.parent_id, func.count())
    .where(InList(sessions_t.c.parent_id, "ids"))
    .group_by(sessions_t.c.parent_id)
)
_LIST_ENDS = select(
    select(func.max(sessions_t.c.last_activity)).scalar_subquery(),
    select(func.max(sessions_t.c.created_at)).scalar_subquery(),
)


class ReadModel(TranscriptReads, StatsReads, UsageReads):
    """The queries, over one store's engine. Read-only: nothing here writes."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store
        self._rollup_reads = {}

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
        for given in (older, newer):
            if given is not None and not given.fits(sort):
                raise ValueError(f"not a position in a list by {sort.value}")
        where = where.resolved(self.store)
        value = column.label(_SORT_KEY)
        key = tuple_(column, c.id)
        bound: list[ColumnElement[bool]] = []
        if newer is not None:
            bound.append(key > tuple_(literal(newer.at, column.type), literal(newer.id)))
            order = (column.asc(), c.id.asc())
        else:
            if older is not None:
                bound.append(key < tuple_(literal(older.at, column.type), literal(older.id)))
            order = (column.desc(), c.id.desc())

        def query(matching: SessionFilter) -> Select[Any]:
            conditions = [*matching.conditions(self.store.dialect), *bound]
            return select(*columns, value).where(*conditions).order_by(*order).limit(limit + 1)

        with self.store.read() as conn:
            parts = self._partitions(conn, where, sort)
            if parts is None:
                rows = list(conn.execute(query(where)))
            else:
                # One index-ordered read per part, merged: no sort of every match.
                rows = [r for w, part in parts for r in conn.execute(query(w).where(part))]
                rows.sort(key=lambda r: (r._mapping[_SORT_KEY], r.id), reverse=newer is None)
                rows = rows[: limit + 1]
        return _paged(rows, limit, older, newer)

    def _partitions(
        self, conn: Connection, where: SessionFilter, sort: Sort
    ) -> list[tuple[SessionFilter, ColumnElement[bool]]] | None:
        """Equality conditions that split a list whose order no single index gives
        (several statuses; a creation range sorted by activity) into parts that
        each read one index in order, each with the filter it goes with; None when
        one read does.

        A day's part leaves out the ends of the creation range that the day lies
        within: stated twice (the range and the day), PostgreSQL took their
        selectivities as independent, expected a thirtieth of a day's sessions
        and sorted the whole day's through a bitmap (8 ms at 300,000 sessions)
        instead of reading the day's index in order (under 1 ms)."""
        c = sessions_t.c
        if sort not in (Sort.ACTIVITY, Sort.CREATED):
            return None  # no index orders a status's sessions by an amount
        ranged = where.created_from is not None or where.created_before is not None
        if sort is Sort.ACTIVITY and ranged:
            days = self._created_days(conn, where.created_from, where.created_before)
            if days is not None:
                return [
                    (_within_day(where, d), CreatedDay(c.created_at) == self._day_value(d))
                    for d in days
                ]
        if len(where.statuses) > 1:
            return [(where, c.status == s) for s in where.statuses]
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
        ranking: Ranking | None = None,
    ) -> Page[SessionSummary]:
        """A page of sessions newest first: after ``older`` (the next page down) or
        before ``newer`` (the page above), by keyset on (sort column, id). With a
        ``ranking``, in its order instead (``sort`` ignored)."""
        columns = _SUMMARY_COLUMNS
        if ranking is not None:
            rows, down, up = self._ranked_page(columns, where, ranking, older, newer, limit)
        else:
            rows, down, up = self._page(columns, where, sort, older, newer, limit)
        return Page([_summary(r) for r in rows], down, up)

    def _ranked_page(
        self,
        columns: Sequence[Any],
        where: SessionFilter,
        ranking: Ranking,
        older: Keyset | None,
        newer: Keyset | None,
        limit: int,
    ) -> tuple[list[Any], Keyset | None, Keyset | None]:
        """A page of a list in a ranking's order: its ranked part read by keyset on
        (rank, id), its unranked rest by keyset on (last activity, id), a page that
        spans both reading the end of one and the start of the other."""
        where = where.resolved(self.store)
        rest = replace(where, within=(*where.within, ranking.unranked()))
        down = newer is None
        at = older if down else newer
        in_rest = at is not None and not isinstance(at.at, int)
        want = limit + 1
        rows: list[Any] = []
        if down:
            if not in_rest:
                rows = self._ranked_rows(columns, where, ranking, at, True, want)
            if len(rows) < want:
                after = at if in_rest else None
                rows += self._rest_rows(columns, rest, after, True, want - len(rows))
        else:
            if in_rest:
                rows = self._rest_rows(columns, rest, at, False, want)
            if len(rows) < want:
                after = None if in_rest else at
                rows += self._ranked_rows(columns, where, ranking, after, False, want - len(rows))
        return _paged(rows, limit, older, newer)

    def _ranked_rows(
        self,
        columns: Sequence[Any],
        where: SessionFilter,
        ranking: Ranking,
        after: Keyset | None,
        down: bool,
        limit: int,
    ) -> list[Any]:
        """Up to ``limit`` ranked sessions past ``after``, walking down the list (or
        up it), in the order walked. The ranking's rows are read and ordered with
        each session's id alone (read by primary key, for the filter); the page's
        own rows are then read by primary key."""
        c = sessions_t.c
        ranked = ranking.query.subquery()
        session_id, rank = list(ranked.c)[:2]
        rising = ranking.ascending == down
        key = tuple_(rank, c.id)
        narrow = (
            select(c.id.label("ranked_id"), rank.label("ranked_rank"))
            .select_from(ranked.join(sessions_t, c.id == session_id))
            .where(*where.conditions(self.store.dialect))
        )
        if after is not None:
            at = tuple_(literal(after.at, BigInteger()), literal(after.id))
            narrow = narrow.where(key > at if rising else key < at)
        order = (rank.asc(), c.id.asc()) if rising else (rank.desc(), c.id.desc())
        page = narrow.order_by(*order).limit(limit).subquery()
        query = (
            select(*columns, page.c.ranked_rank.label(_SORT_KEY))
            .select_from(page.join(sessions_t, c.id == page.c.ranked_id))
            .order_by(
                *(
                    (page.c.ranked_rank.asc(), c.id.asc())
                    if rising
                    else (page.c.ranked_rank.desc(), c.id.desc())
                )
            )
        )
        with self.store.read() as conn:
            return list(conn.execute(query))

    def _rest_rows(
        self,
        columns: Sequence[Any],
        where: SessionFilter,
        after: Keyset | None,
        down: bool,
        limit: int,
    ) -> list[Any]:
        """Up to ``limit`` sessions by last activity past ``after``, walking down
        the list (or up it), in the order walked."""
        older, newer = (after, None) if down else (None, after)
        if not down and after is None:
            raise ValueError("the unranked part is read upwards only from a position in it")
        rows, _, _ = self._page(columns, where, Sort.ACTIVITY, older, newer, limit)
        return rows if down else rows[::-1]

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

    def count_sessions(self, where: SessionFilter, *, cap: int) -> int:
        """How many sessions match, counting at most ``cap + 1`` (so a caller can
        say "1,000+"): bounded work whatever the table's size."""
        c = sessions_t.c
        conditions = where.resolved(self.store).conditions(self.store.dialect)
        bounded = select(c.id).where(*conditions).limit(cap + 1).subquery()
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(bounded)).scalar_one())

    def children(self, parent_id: str) -> list[SessionSummary]:
        """The sessions started by ``parent_id`` (its subagents), oldest first."""
        c = sessions_t.c
        query = (
            select(*_SUMMARY_COLUMNS).where(c.parent_id == parent_id).order_by(c.created_at, c.id)
        )
        with self.store.read() as conn:
            return [_summary(r) for r in conn.execute(query)]

    def child_counts(self, parent_ids: Sequence[str]) -> dict[str, int]:
        """How many subagent sessions each of ``parent_ids`` started (none: absent)."""
        if not parent_ids:
            return {}
        with self.store.read() as conn:
            rows = conn.execute(_CHILD_COUNTS, {"ids": list(parent_ids)})
            return {row[0]: int(row[1]) for row in rows}

    def list_state(self, session_ids: Sequence[str]) -> ListState:
        """The list's live check: the ends of two indexes (``last_activity``,
        ``created_at``) and the status of ``session_ids`` by primary key."""
        c = sessions_t.c
        with self.store.read() as conn:
            last_activity, last_created = conn.execute(_LIST_ENDS).one()
            statuses: dict[str, str] = {}
            if session_ids:
                query = select(c.id, c.status).where(c.id.in_(list(session_ids)))
                statuses = {row[0]: row[1] for row in conn.execute(query)}
        return ListState(last_activity, last_created, statuses)

    def count_created_after(self, where: SessionFilter, since: datetime | None) -> int:
        """How many sessions matching ``where`` were created after ``since`` (None:
        since ever)."""
        c = sessions_t.c
        conditions = where.resolved(self.store).conditions(self.store.dialect)
        if since is not None:
            conditions.append(c.created_at > since)
        query = select(func.count()).select_from(sessions_t).where(*conditions)
        with self.store.read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def count_by_status(self) -> dict[str, int]:
        """Sessions per status, from the counters the triggers keep (no count)."""
        return self.store.status_counts()

    @property
    def search(self) -> Search:
        """Full-text search over this store's index."""
        return Search(self.store)

    @property
    def prices(self) -> PriceTable:
        """The price table the store costs usage with."""
        return self.store.prices

    def purge_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest sweeps' purge log entries, newest first."""
        return self.store.purge_log(limit)

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
        backwards): a read per status on ``(status, created_at, id)``, each in
        index order with its own LIMIT, those of one urgency in one statement (a
        round trip; the next urgency only when the page is not full), merged
        here. Nothing is sorted in SQL."""
        c = sessions_t.c
        narrowing = SessionFilter(within=tuple(within)).conditions(self.store.dialect)
        order = (c.created_at, c.id) if forward else (c.created_at.desc(), c.id.desc())
        rows: list[InboxRow] = []
        for urgency, group in _inbox_groups(status, forward):
            if after is not None and (after.urgency - urgency) * (1 if forward else -1) > 0:
                continue  # a group the position has gone past
            reads = []
            for name in group:
                query = select(*_INBOX_COLUMNS).where(c.status == name, *narrowing)
                if after is not None and urgency == after.urgency:
                    key, at = (
                        tuple_(c.created_at, c.id),
                        tuple_(literal(after.created_at, c.created_at.type), literal(after.id)),
                    )
                    query = query.where(key > at if forward else key < at)
                query = query.order_by(*order).limit(limit - len(rows))
                reads.append(select(query.subquery()))
            both = reads[0] if len(reads) == 1 else union_all(*reads)
            found = [InboxRow(**r._mapping) for r in conn.execute(both)]
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
            where = SessionFilter(statuses=statuses, within=tuple(within)).conditions(
                self.store.dialect
            )
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


def _paged(
    rows: list[Any], limit: int, older: Keyset | None, newer: Keyset | None
) -> tuple[list[Any], Keyset | None, Keyset | None]:
    """A page from up to ``limit + 1`` rows read in the order walked (up the list
    when ``newer`` is given): its rows in list order, and the positions of the
    pages below and above it (None: no more)."""
    more = len(rows) > limit
    rows = rows[:limit]
    if newer is not None:
        rows.reverse()
        has_newer, has_older = more, True
    else:
        has_newer, has_older = older is not None, more

    def position(row: Any) -> Keyset:
        return Keyset(row._mapping[_SORT_KEY], row._mapping["id"])

    return (
        rows,
        position(rows[-1]) if rows and has_older else None,
        position(rows[0]) if rows and has_newer else None,
    )


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


def _within_day(where: SessionFilter, day: date) -> SessionFilter:
    """``where`` for the sessions created on UTC ``day``: without the ends of its
    creation range that the whole day lies within."""
    start = datetime.combine(day, time(), UTC)
    end = start + timedelta(days=1)
    first, before = where.created_from, where.created_before
    return replace(
        where,
        created_from=first if first is not None and first > start else None,
        created_before=before if before is not None and before < end else None,
    )


def _urgency(status: str) -> int:
    return 0 if status in URGENT_STATUSES else 1


def _inbox_groups(status: str, forward: bool) -> list[tuple[int, list[str]]]:
    """The statuses the inbox reads, by urgency, in the order they are read."""
    finished = [s.value for s in FINISHED_STATUSES]
    wanted = [status] if status in finished else finished
    groups = [(urgency, [s for s in wanted if _urgency(s) == urgency]) for urgency in (0, 1)]
    groups = [(u, g) for u, g in groups if g]
    return groups if forward else groups[::-1]
