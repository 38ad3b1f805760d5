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
from datetime import UTC, datetime, time, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB

from .engine import Database
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


class Sort(enum.StrEnum):
    """The orders a session list offers, newest first."""

    ACTIVITY = "activity"
    CREATED = "created"
    COST = "cost"
    TOKENS = "tokens"

    @property
    def by_amount(self) -> bool:
        """Sorted by a number (cost, tokens), not a time: positions hold numbers."""
        return self in (Sort.COST, Sort.TOKENS)


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
            where.append(c.parent_id.is_(None))
        if self.parent_id:
            where.append(c.parent_id == self.parent_id)
        for ids in self.within:
            picked = c.id.in_(ids.query)
            where.append(~picked if ids.negate else picked)
        if self.model:
            u = session_usage_t.c
            where.append(c.id.in_(select(u.session_id).where(u.model == self.model)))
        if self.project:
            where.append(_context_has("project_path", self.project, dialect))
        return where


def _context_has(key: str, value: str | None, dialect: str) -> ColumnElement[bool]:
    """The session's context has top-level ``key`` (holding the string ``value``
    unless None), alike on both engines whatever characters the key has: JSONB
    containment or ``?`` on PostgreSQL; on SQLite ``json_each``, which decodes keys
    as written (a JSON path would not find an escaped key, nor one with a quote)."""
    context = sessions_t.c.context
    if dialect == "postgresql":
        jsonb = type_coerce(context, JSONB)
        return jsonb.has_key(key) if value is None else jsonb.contains({key: value})
    entries = func.json_each(context).table_valued("key", "value", "type")
    wanted = [entries.c.key == key]
    if value is not None:
        wanted += [entries.c.type == "text", entries.c.value == value]
    return select(literal(1)).select_from(entries).where(*wanted).exists()


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
_SORT_COLUMNS = {
    Sort.CREATED: sessions_t.c.created_at,
    Sort.ACTIVITY: sessions_t.c.last_activity,
    Sort.COST: sessions_t.c.cost_nanos,
    Sort.TOKENS: sessions_t.c.total_tokens,
}
_INBOX_COLUMNS = (
    sessions_t.c.id,
    sessions_t.c.status,
    sessions_t.c.request_excerpt,
    sessions_t.c.created_at,
    sessions_t.c.message_count,
)


def _priority() -> ColumnElement[int]:
    return case((sessions_t.c.status.in_(URGENT_STATUSES), 0), else_=1)


@dataclass(frozen=True)
class ListState:
    """Where the session list stands, for its live check: the latest activity and
    creation of any session, and the status of the sessions a page shows."""

    last_activity: datetime | None
    last_created: datetime | None
    statuses: dict[str, str]


class ReadModel(TranscriptReads, StatsReads, UsageReads):
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
        for given in (older, newer):
            if given is not None and not given.fits(sort):
                raise ValueError(f"not a position in a list by {sort.value}")
        query = select(*columns).where(*where.resolved(self.store).conditions(self.store.dialect))
        key = tuple_(column, c.id)
        if newer is not None:
            query = query.where(key > tuple_(literal(newer.at, column.type), literal(newer.id)))
            query = query.order_by(column.asc(), c.id.asc())
        else:
            if older is not None:
                query = query.where(key < tuple_(literal(older.at, column.type), literal(older.id)))
            query = query.order_by(column.desc(), c.id.desc())
        with self.store.read() as conn:
            rows = list(conn.execute(query.limit(limit + 1)))
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

    def child_counts(self, parent_ids: Sequence[str]) -> dict[str, int]:
        """How many subagent sessions each of ``parent_ids`` started (none: absent)."""
        if not parent_ids:
            return {}
        c = sessions_t.c
        query = (
            select(c.parent_id, func.count())
            .where(c.parent_id.in_(list(parent_ids)))
            .group_by(c.parent_id)
        )
        with self.store.read() as conn:
            return {row[0]: int(row[1]) for row in conn.execute(query)}

    def list_state(self, session_ids: Sequence[str]) -> ListState:
        """The list's live check: the ends of two indexes (``last_activity``,
        ``created_at``) and the status of ``session_ids`` by primary key."""
        c = sessions_t.c
        ends = select(
            select(func.max(c.last_activity)).scalar_subquery(),
            select(func.max(c.created_at)).scalar_subquery(),
        )
        with self.store.read() as conn:
            last_activity, last_created = conn.execute(ends).one()
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
        """Sessions per status."""
        return self.store.count_by_status()

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

    def _inbox_where(self, within: Sequence[IdSet], status: str) -> list[ColumnElement[bool]]:
        wanted = (status,) if status in FINISHED_STATUSES else FINISHED_STATUSES
        return SessionFilter(statuses=tuple(wanted), within=tuple(within)).conditions(
            self.store.dialect
        )

    def _after(self, conn: Connection, session_id: str, forward: bool) -> ColumnElement[bool]:
        c = sessions_t.c
        row = conn.execute(select(c.status, c.created_at).where(c.id == session_id)).first()
        if row is None:
            return literal(True)
        prio = 0 if row.status in URGENT_STATUSES else 1
        p, created = _priority(), row.created_at
        if forward:
            later = or_(c.created_at > created, and_(c.created_at == created, c.id > session_id))
            return or_(p > prio, and_(p == prio, later))
        earlier = or_(c.created_at < created, and_(c.created_at == created, c.id < session_id))
        return or_(p < prio, and_(p == prio, earlier))

    def _inbox_query(self, where: list[ColumnElement[bool]], forward: bool) -> Select[Any]:
        order = (_priority(), sessions_t.c.created_at, sessions_t.c.id)
        return (
            select(*_INBOX_COLUMNS)
            .where(*where)
            .order_by(*(order if forward else [col.desc() for col in order]))
        )

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
        where = self._inbox_where(within, status)
        query = self._inbox_query(where, True).limit(limit + 1)
        with self.store.read() as conn:
            if after:
                query = query.where(self._after(conn, after, True))
            rows = [InboxRow(**r._mapping) for r in conn.execute(query)]
            total = conn.execute(select(func.count()).select_from(sessions_t).where(*where))
            count = int(total.scalar_one())
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
        where = self._inbox_where(within, status)
        with self.store.read() as conn:
            query = self._inbox_query(where, forward).where(self._after(conn, session_id, forward))
            row = conn.execute(query.limit(1)).first()
        return row.id if row is not None else None
