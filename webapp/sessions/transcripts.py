"""The read model's transcript reads: windows of a session's messages, whole
messages, pages of them in order, and what a live view compares.

Every query is a keyset query on ``(session_id, timestamp, id)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from .rows import messages_t, row_to_message, sessions_t
from .store import MessageStore
from .types import Message

#: Longer message content arrives cut to this many characters, with a "show all".
TRUNCATE_CHARS = 20_000


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


def session_exists(conn: Connection, session_id: str) -> bool:
    """Whether the session is stored."""
    c = sessions_t.c
    return conn.execute(select(c.id).where(c.id == session_id)).first() is not None


def message_exists(conn: Connection, session_id: str, message_id: int) -> bool:
    """Whether message ``message_id`` is stored in session ``session_id``."""
    m = messages_t.c
    query = select(m.id).where(m.id == message_id, m.session_id == session_id)
    return conn.execute(query).first() is not None


class TranscriptReads:
    """The transcript queries of :class:`~webapp.sessions.queries.ReadModel`."""

    store: MessageStore

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
            if not session_exists(conn, session_id):
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
