"""The dashboard's read queries: the session list, transcript windows, live checks
and the stats aggregates. Read-only, through ``store.read()``; views call these
and never build SQL.

Every list and transcript query is a keyset query on an index: sessions on
``(status, <time>, id)`` / ``(<time>, id)``, messages on ``(session_id, timestamp, id)``.
No query here uses OFFSET, and the list never reads message content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select, tuple_, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement

from webapp import params
from webapp.dashboard.charts import duration_label
from webapp.extensions import get_manager
from webapp.review import service as review
from webapp.sessions.store import messages_t, sessions_t
from webapp.sessions.types import Session, Status

PAGE_SIZE = 50
TRANSCRIPT_WINDOW = 100
#: Longer message content arrives cut to this many characters, with a "show all".
TRUNCATE_CHARS = 20_000
SORTS = {"created": sessions_t.c.created_at, "activity": sessions_t.c.last_activity}


# -- the session list ----------------------------------------------------------------


@dataclass
class ListFilters:
    """What the list shows, exactly as the URL says it (see ``forms.parse_filters``)."""

    statuses: list[str] = field(default_factory=list)
    created_from: date | None = None
    created_to: date | None = None
    context_key: str = ""
    context_value: str = ""
    text: str = ""
    verdicts: list[str] = field(default_factory=list)
    reviewer: str = ""
    tag: str = ""
    error: str = ""
    sort: str = "activity"


@dataclass(frozen=True)
class Cursor:
    """A keyset position: the sort column's value and the id of one row."""

    at: datetime
    id: str

    def encode(self) -> str:
        """``<iso time>~<id>``: readable, and safe in a URL once quoted."""
        return f"{self.at.isoformat()}~{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """The cursor in ``text``, or None when it is malformed: its time must have
        a zone, its id must be one a session can have."""
        at, _, sid = text.partition("~")
        parsed = params.parse_moment(at)
        if parsed is None or not sid or params.text_problem(sid, params.MAX_SESSION_ID):
            return None
        return cls(parsed, sid)


@dataclass
class SessionPage:
    """One page of the list: rows (plain dicts) and the cursors around them."""

    rows: list[dict[str, Any]]
    older: Cursor | None
    newer: Cursor | None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _context_is(key: str, value: str, dialect: str) -> ColumnElement[bool]:
    """The session's context holds the string ``value`` at top-level ``key``, on
    either engine alike, whatever characters the key has: containment on
    PostgreSQL's JSONB; on SQLite, ``json_each``, which decodes keys as written
    (a JSON path would not find an escaped one, nor a key with a quote)."""
    if dialect == "postgresql":
        return type_coerce(sessions_t.c.context, JSONB).contains({key: value})
    entries = func.json_each(sessions_t.c.context).table_valued("key", "value", "type")
    return (
        select(literal(1))
        .select_from(entries)
        .where(entries.c.key == key, entries.c.type == "text", entries.c.value == value)
        .exists()
    )


def _conditions(filters: ListFilters, dialect: str) -> list[ColumnElement[bool]]:
    c = sessions_t.c
    where: list[ColumnElement[bool]] = []
    if filters.statuses:
        where.append(c.status.in_(filters.statuses))
    if filters.created_from:
        where.append(c.created_at >= datetime.combine(filters.created_from, time(), UTC))
    if filters.created_to:
        end = datetime.combine(filters.created_to + timedelta(days=1), time(), UTC)
        where.append(c.created_at < end)
    if filters.context_key:
        where.append(_context_is(filters.context_key, filters.context_value, dialect))
    if filters.text:
        # A substring LIKE: simple and exact, but a scan of the filtered rows.
        pattern = _like(filters.text)
        where.append(
            or_(c.request.ilike(pattern, escape="\\"), c.response.ilike(pattern, escape="\\"))
        )
    if filters.error:
        where.append(c.error == filters.error)
    for ids in review.session_filter(
        filters.verdicts or None, filters.reviewer or None, filters.tag or None
    ):
        picked = c.id.in_(ids.query)
        where.append(~picked if ids.negate else picked)
    return where


LIST_COLUMNS = (
    sessions_t.c.id,
    sessions_t.c.status,
    sessions_t.c.request_excerpt,
    sessions_t.c.created_at,
    sessions_t.c.last_activity,
    sessions_t.c.expires_at,
    sessions_t.c.message_count,
)


def list_sessions(
    filters: ListFilters,
    *,
    older: Cursor | None = None,
    newer: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> SessionPage:
    """A page of sessions, newest first: after ``older`` (the next page down) or
    before ``newer`` (the page above), by keyset on (sort column, id)."""
    c = sessions_t.c
    sort = SORTS.get(filters.sort, c.last_activity)
    store = get_manager().store
    query = select(*LIST_COLUMNS).where(*_conditions(filters, store.dialect))
    key = tuple_(sort, c.id)
    if newer is not None:
        query = query.where(key > tuple_(literal(newer.at, sort.type), literal(newer.id)))
        query = query.order_by(sort.asc(), c.id.asc())
    else:
        if older is not None:
            query = query.where(key < tuple_(literal(older.at, sort.type), literal(older.id)))
        query = query.order_by(sort.desc(), c.id.desc())
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query.limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    sort_key = "created_at" if filters.sort == "created" else "last_activity"
    if newer is not None:
        rows.reverse()
        has_newer, has_older = more, True
    else:
        has_newer, has_older = older is not None, more
    first, last = (rows[0], rows[-1]) if rows else (None, None)
    return SessionPage(
        rows=rows,
        older=Cursor(last[sort_key], last["id"]) if last and has_older else None,
        newer=Cursor(first[sort_key], first["id"]) if first and has_newer else None,
    )


def count_by_status() -> dict[str, int]:
    """Sessions per status (one GROUP BY on the status index)."""
    return get_manager().store.count_by_status()


# -- transcripts -------------------------------------------------------------------

MESSAGE_COLUMNS = (
    messages_t.c.id,
    messages_t.c.role,
    func.substr(messages_t.c.content, 1, TRUNCATE_CHARS).label("content"),
    func.length(messages_t.c.content).label("length"),
    messages_t.c.summary,
    messages_t.c.timestamp,
    messages_t.c.meta,
)


@dataclass
class TranscriptWindow:
    """Consecutive messages of a transcript; ``earlier`` says whether more precede."""

    messages: list[dict[str, Any]]
    earlier: bool


def _message_dict(row: Any) -> dict[str, Any]:
    m = dict(row._mapping)
    m["truncated"] = m["length"] > TRUNCATE_CHARS
    m["meta"] = m["meta"] or {}
    return m


def transcript_window(
    session_id: str, *, before: int | None = None, limit: int = TRANSCRIPT_WINDOW
) -> TranscriptWindow:
    """The latest ``limit`` messages, or the ``limit`` before message ``before``
    (keyset on (timestamp, id)); content cut at :data:`TRUNCATE_CHARS`."""
    m = messages_t.c
    query = select(*MESSAGE_COLUMNS).where(m.session_id == session_id)
    if before is not None:
        anchor = (
            select(m.timestamp).where(m.id == before, m.session_id == session_id).scalar_subquery()
        )
        query = query.where(or_(m.timestamp < anchor, and_(m.timestamp == anchor, m.id < before)))
    query = query.order_by(m.timestamp.desc(), m.id.desc()).limit(limit + 1)
    with get_manager().store.read() as conn:
        rows = [_message_dict(r) for r in conn.execute(query)]
    earlier = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return TranscriptWindow(rows, earlier)


def messages_after(session_id: str, after_id: int, limit: int = 500) -> list[dict[str, Any]]:
    """Messages stored after message ``after_id`` (ids grow with every insert),
    in transcript order; for the live view."""
    m = messages_t.c
    query = (
        select(*MESSAGE_COLUMNS)
        .where(m.session_id == session_id, m.id > after_id)
        .order_by(m.timestamp, m.id)
        .limit(limit)
    )
    with get_manager().store.read() as conn:
        return [_message_dict(r) for r in conn.execute(query)]


def full_message(session_id: str, message_id: int) -> dict[str, Any] | None:
    """One message with all of its content."""
    m = messages_t.c
    query = select(
        m.id, m.role, m.content, m.summary, m.timestamp, m.meta,
        func.length(m.content).label("length"),
    ).where(m.session_id == session_id, m.id == message_id)  # fmt: skip
    with get_manager().store.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    message = dict(row._mapping)
    message["truncated"] = False
    message["meta"] = message["meta"] or {}
    return message


def live_state(session_id: str) -> tuple[str, datetime, int] | None:
    """Status, last activity and the latest message id: what the live poll compares.
    Two indexed lookups; no message content."""
    c, m = sessions_t.c, messages_t.c
    last_id = (
        select(func.coalesce(func.max(m.id), 0)).where(m.session_id == session_id)
    ).scalar_subquery()
    with get_manager().store.read() as conn:
        row = conn.execute(
            select(c.status, c.last_activity, last_id).where(c.id == session_id)
        ).first()
    return (row[0], row[1], int(row[2])) if row is not None else None


# -- retention -------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionNotice:
    """When retention purges a session's messages: never (``kept``), or from
    ``oldest_goes`` on, when its oldest message falls out of the window (None
    without messages; ``overdue`` once that has passed and the next sweep takes it)."""

    window: str
    kept: bool = False
    oldest_goes: datetime | None = None
    overdue: bool = False


def retention_notice(session: Session) -> RetentionNotice | None:
    """What the session page says about retention; None when retention is off."""
    manager = get_manager()
    window = manager.config.message_retention
    if window <= timedelta(0):
        return None
    label = duration_label(int(window.total_seconds()))
    if session.keep:
        return RetentionNotice(label, kept=True)
    oldest = manager.store.get_messages(session.id, limit=1)
    if not oldest or oldest[0].timestamp is None:
        return RetentionNotice(label)
    goes = oldest[0].timestamp + window
    return RetentionNotice(label, oldest_goes=goes, overdue=goes <= manager.clock())


# -- stats ------------------------------------------------------------------------

DURATION_BUCKETS = (1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600)
MESSAGE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 500, 1000)


def _day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, as ``YYYY-MM-DD`` text."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def _seconds_between(start: Any, end: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _bucketed(value: Any, bounds: Sequence[int]) -> Any:
    """The index of the first bound ``value`` is below (a CASE, evaluated in SQL)."""
    return case(*[(value < b, i) for i, b in enumerate(bounds)], else_=len(bounds))


def chart_start(now: datetime, days: int = 30) -> datetime:
    """Midnight UTC starting the last ``days`` days: where every chart begins."""
    return datetime.combine((now - timedelta(days=days - 1)).date(), time(), UTC)


def sessions_per_day(now: datetime, days: int = 30) -> dict[str, dict[str, int]]:
    """``{day: {status: n}}`` for sessions created in the last ``days`` days."""
    store = get_manager().store
    c = sessions_t.c
    since = chart_start(now, days)
    day = _day(c.created_at, store.dialect).label("day")
    query = select(day, c.status, func.count()).where(c.created_at >= since).group_by(day, c.status)
    result: dict[str, dict[str, int]] = {}
    with store.read() as conn:
        for d, status, n in conn.execute(query):
            result.setdefault(d, {})[status] = n
    return result


def histogram(kind: str, since: datetime) -> list[int]:
    """Counts per bucket, of sessions created since ``since``: ``duration`` (created
    to last activity of completed and failed sessions, :data:`DURATION_BUCKETS`
    seconds) or ``messages`` (message count, :data:`MESSAGE_BUCKETS`).

    The index ``ix_sessions_stats`` covers both, so no session row is read."""
    store = get_manager().store
    c = sessions_t.c
    bounds: tuple[int, ...]
    if kind == "duration":
        bounds = DURATION_BUCKETS
        value = _seconds_between(c.created_at, c.last_activity, store.dialect)
        wanted = {Status.COMPLETED.value, Status.FAILED.value}
    else:
        bounds, value, wanted = MESSAGE_BUCKETS, c.message_count, {s.value for s in Status}
    bucket = _bucketed(value, bounds).label("bucket")
    # Grouping by status too (rather than filtering on it) keeps the planner on
    # the covering index, which starts with created_at.
    query = (
        select(bucket, c.status, func.count())
        .where(c.created_at >= since)
        .group_by(bucket, c.status)
    )
    counts = [0] * (len(bounds) + 1)
    with store.read() as conn:
        for i, status, n in conn.execute(query):
            if status in wanted:
                counts[int(i)] += n
    return counts


def top_errors(since: datetime, limit: int = 10) -> list[tuple[str, int]]:
    """The most frequent errors of sessions that failed since ``since``, with counts."""
    c = sessions_t.c
    query = (
        select(c.error, func.count().label("n"))
        .where(c.status == Status.FAILED.value, c.error != "", c.created_at >= since)
        .group_by(c.error)
        .order_by(func.count().desc(), c.error)
        .limit(limit)
    )
    with get_manager().store.read() as conn:
        return [(e, n) for e, n in conn.execute(query)]
