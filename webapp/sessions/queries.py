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
from dataclasses import dataclass, field
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
)

from .store import MessageStore, messages_t, row_to_message, row_to_session, sessions_t
from .types import Message, Session, Status

T = TypeVar("T")

#: Longer message content arrives cut to this many characters, with a "show all".
TRUNCATE_CHARS = 20_000
#: Sessions the review inbox offers: finished ones (a running one is not ready).
FINISHED_STATUSES = (Status.COMPLETED, Status.FAILED, Status.EXPIRED, Status.CLOSED)
#: Shown first in the inbox: the agent failed or never finished.
URGENT_STATUSES = (Status.FAILED, Status.EXPIRED)


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
            value = c.context[self.context_key].as_string()
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
class TranscriptMessage:
    """A message as a transcript shows it: content cut at :data:`TRUNCATE_CHARS`."""

    id: int
    role: str
    content: str
    length: int
    summary: str
    timestamp: datetime
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        """Whether ``content`` is only the start of the message."""
        return self.length > len(self.content)


@dataclass(frozen=True)
class TranscriptWindow:
    """Consecutive messages of a transcript; ``earlier`` says whether more precede."""

    messages: list[TranscriptMessage]
    earlier: bool


@dataclass(frozen=True)
class LiveState:
    """What a live view compares between polls."""

    status: str
    last_activity: datetime
    last_message_id: int


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


DURATION_BUCKETS = (1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600)
MESSAGE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 500, 1000)

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


def _transcript_columns(limit: int | None) -> tuple[Any, ...]:
    m = messages_t.c
    content = m.content if limit is None else func.substr(m.content, 1, limit)
    return (
        m.id,
        m.role,
        content.label("content"),
        func.length(m.content).label("length"),
        m.summary,
        m.timestamp,
        m.meta,
    )


def _transcript_message(row: Any) -> TranscriptMessage:
    m = row._mapping
    return TranscriptMessage(
        id=m["id"],
        role=m["role"],
        content=m["content"],
        length=m["length"] or 0,
        summary=m["summary"] or "",
        timestamp=m["timestamp"],
        meta=m["meta"] or {},
    )


def _priority() -> ColumnElement[int]:
    return case((sessions_t.c.status.in_(URGENT_STATUSES), 0), else_=1)


class ReadModel:
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

    def count_by_status(self) -> dict[str, int]:
        """Sessions per status."""
        return self.store.count_by_status()

    def exists(self, session_id: str) -> bool:
        """Whether the session is stored."""
        with self.store.read() as conn:
            return _exists(conn, session_id)

    # -- the review inbox ------------------------------------------------------------

    def _inbox_where(self, within: Sequence[IdSet], status: str) -> list[ColumnElement[bool]]:
        wanted = (status,) if status in FINISHED_STATUSES else FINISHED_STATUSES
        return SessionFilter(statuses=tuple(wanted), within=tuple(within)).conditions()

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

    # -- transcripts -----------------------------------------------------------------

    def transcript_window(
        self,
        session_id: str,
        *,
        before: int | None = None,
        limit: int = 100,
        truncate: int = TRUNCATE_CHARS,
    ) -> TranscriptWindow:
        """The latest ``limit`` messages, or the ``limit`` before message ``before``
        (keyset on (timestamp, id)), content cut at ``truncate`` characters."""
        m = messages_t.c
        query = select(*_transcript_columns(truncate)).where(m.session_id == session_id)
        if before is not None:
            anchor = (
                select(m.timestamp)
                .where(m.id == before, m.session_id == session_id)
                .scalar_subquery()
            )
            query = query.where(
                or_(m.timestamp < anchor, and_(m.timestamp == anchor, m.id < before))
            )
        query = query.order_by(m.timestamp.desc(), m.id.desc()).limit(limit + 1)
        with self.store.read() as conn:
            rows = [_transcript_message(r) for r in conn.execute(query)]
        earlier = len(rows) > limit
        rows = rows[:limit]
        rows.reverse()
        return TranscriptWindow(rows, earlier)

    def messages_after(
        self, session_id: str, after_id: int, *, limit: int = 500, truncate: int = TRUNCATE_CHARS
    ) -> list[TranscriptMessage]:
        """Messages stored after message ``after_id`` (ids grow with every insert), in
        transcript order: what a live view appends."""
        m = messages_t.c
        query = (
            select(*_transcript_columns(truncate))
            .where(m.session_id == session_id, m.id > after_id)
            .order_by(m.timestamp, m.id)
            .limit(limit)
        )
        with self.store.read() as conn:
            return [_transcript_message(r) for r in conn.execute(query)]

    def full_message(self, session_id: str, message_id: int) -> TranscriptMessage | None:
        """One message with all of its content."""
        m = messages_t.c
        query = select(*_transcript_columns(None)).where(
            m.session_id == session_id, m.id == message_id
        )
        with self.store.read() as conn:
            row = conn.execute(query).first()
        return _transcript_message(row) if row is not None else None

    def message_page(
        self, session_id: str, *, after: tuple[datetime, int] | None = None, limit: int = 100
    ) -> tuple[list[Message], tuple[datetime, int] | None] | None:
        """Up to ``limit`` whole messages in transcript order after the position
        ``after`` (timestamp, id) of the previous page's last one, and the position to
        go on from (None: no more); None when the session is unknown."""
        m = messages_t.c
        query = (
            select(messages_t)
            .where(m.session_id == session_id)
            .order_by(m.timestamp, m.id)
            .limit(limit + 1)
        )
        if after is not None:
            moment, message_id = after
            query = query.where(
                or_(m.timestamp > moment, and_(m.timestamp == moment, m.id > message_id))
            )
        with self.store.read() as conn:
            if not _exists(conn, session_id):
                return None
            rows = list(conn.execute(query))
        messages = [row_to_message(r) for r in rows[:limit]]
        if len(rows) <= limit:
            return messages, None
        last = rows[limit - 1]._mapping
        return messages, (last["timestamp"], last["id"])

    def iter_messages(self, session_id: str, *, batch: int = 500) -> Iterator[Message]:
        """Every message of a session in order, read a page at a time."""
        position: tuple[datetime, int] | None = None
        while True:
            page = self.message_page(session_id, after=position, limit=batch)
            if page is None:
                return
            messages, position = page
            yield from messages
            if position is None:
                return

    def oldest_message_time(self, session_id: str) -> datetime | None:
        """When the session's oldest stored message was written (None: no message)."""
        m = messages_t.c
        query = (
            select(m.timestamp)
            .where(m.session_id == session_id)
            .order_by(m.timestamp, m.id)
            .limit(1)
        )
        with self.store.read() as conn:
            found: datetime | None = conn.execute(query).scalar()
        return found

    def live_state(self, session_id: str) -> LiveState | None:
        """Status, last activity and the latest message id: two indexed lookups."""
        c, m = sessions_t.c, messages_t.c
        last_id = (
            select(func.coalesce(func.max(m.id), 0)).where(m.session_id == session_id)
        ).scalar_subquery()
        with self.store.read() as conn:
            row = conn.execute(
                select(c.status, c.last_activity, last_id).where(c.id == session_id)
            ).first()
        return LiveState(row[0], row[1], int(row[2])) if row is not None else None

    # -- stats -----------------------------------------------------------------------

    def _day(self, column: Any) -> Any:
        """The UTC calendar day of a timestamp column, as ``YYYY-MM-DD`` text."""
        if self.store.dialect == "postgresql":
            return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
        return func.substr(column, 1, 10)

    def _seconds_between(self, start: Any, end: Any) -> Any:
        if self.store.dialect == "postgresql":
            return func.extract("epoch", end - start)
        return (func.julianday(end) - func.julianday(start)) * 86400.0

    def sessions_per_day(self, since: datetime) -> dict[str, dict[str, int]]:
        """``{day: {status: n}}`` of the sessions created since ``since``."""
        c = sessions_t.c
        day = self._day(c.created_at).label("day")
        query = (
            select(day, c.status, func.count()).where(c.created_at >= since).group_by(day, c.status)
        )
        result: dict[str, dict[str, int]] = {}
        with self.store.read() as conn:
            for d, status, n in conn.execute(query):
                result.setdefault(d, {})[status] = n
        return result

    def histogram(self, kind: str, since: datetime) -> list[int]:
        """Counts per bucket of the sessions created since ``since``: ``duration``
        (created to last activity of completed and failed sessions, in
        :data:`DURATION_BUCKETS` seconds) or ``messages`` (:data:`MESSAGE_BUCKETS`).

        The index ``ix_sessions_stats`` covers both, so no session row is read."""
        c = sessions_t.c
        bounds: tuple[int, ...]
        if kind == "duration":
            bounds = DURATION_BUCKETS
            value = self._seconds_between(c.created_at, c.last_activity)
            wanted = {Status.COMPLETED.value, Status.FAILED.value}
        else:
            bounds, value, wanted = MESSAGE_BUCKETS, c.message_count, {s.value for s in Status}
        bucket = case(*[(value < b, i) for i, b in enumerate(bounds)], else_=len(bounds))
        # Grouping by status too (rather than filtering on it) keeps the planner on
        # the covering index, which starts with created_at.
        query = (
            select(bucket.label("bucket"), c.status, func.count())
            .where(c.created_at >= since)
            .group_by(bucket, c.status)
        )
        counts = [0] * (len(bounds) + 1)
        with self.store.read() as conn:
            for i, status, n in conn.execute(query):
                if status in wanted:
                    counts[int(i)] += n
        return counts

    def top_errors(self, since: datetime, limit: int = 10) -> list[tuple[str, int]]:
        """The most frequent errors of sessions that failed since ``since``."""
        c = sessions_t.c
        query = (
            select(c.error, func.count().label("n"))
            .where(c.status == Status.FAILED.value, c.error != "", c.created_at >= since)
            .group_by(c.error)
            .order_by(func.count().desc(), c.error)
            .limit(limit)
        )
        with self.store.read() as conn:
            return [(e, n) for e, n in conn.execute(query)]


def _exists(conn: Connection, session_id: str) -> bool:
    c = sessions_t.c
    return conn.execute(select(c.id).where(c.id == session_id)).first() is not None
