"""The read model's transcript reads: windows of a session's messages, whole
messages, pages of them in order, and what a live view compares.

Every query is a keyset query on ``(session_id, timestamp, id)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, func, or_, select

from .rows import message_html_t, messages_t, row_to_message, sessions_t
from .store import MessageStore
from .types import PROMPT_KINDS, Message

#: Longer message content arrives cut to this many characters, with a "show all".
TRUNCATE_CHARS = 20_000


@dataclass(frozen=True)
class StoredHtml:
    """A message's stored HTML (``message_html``): made by renderer ``version``
    from the text whose digest is ``digest``."""

    version: str
    digest: bytes
    html: str


@dataclass(frozen=True)
class TranscriptMessage:
    """A message as a transcript shows it: content cut at :data:`TRUNCATE_CHARS`,
    with its stored HTML if it has any (``rendered``)."""

    id: int
    role: str
    content: str
    length: int
    summary: str
    timestamp: datetime
    meta: dict[str, Any] = field(default_factory=dict)
    rendered: StoredHtml | None = None

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
class TranscriptSlice:
    """Consecutive messages of a transcript; ``earlier``/``later``: whether more
    messages precede/follow them."""

    messages: list[TranscriptMessage]
    earlier: bool
    later: bool


@dataclass(frozen=True)
class PromptLine:
    """A prompt of a transcript: one line of its outline."""

    id: int
    timestamp: datetime
    text: str


def _is_prompt() -> ColumnElement[bool]:
    """The messages that open a turn: a user message of a prompt kind (or none),
    not blank (``webapp.transcript`` reads them the same way)."""
    m = messages_t.c
    kind = m.meta["kind"].as_string()
    return and_(
        m.role == "user",
        or_(kind.is_(None), kind.in_(PROMPT_KINDS)),
        func.length(func.trim(m.content)) > 0,
    )


def _anchor(session_id: str, message_id: int) -> Any:
    m = messages_t.c
    return (
        select(m.timestamp).where(m.id == message_id, m.session_id == session_id).scalar_subquery()
    )


def _from(session_id: str, message_id: int, *, inclusive: bool) -> ColumnElement[bool]:
    """Messages after message ``message_id`` in transcript order (or from it)."""
    m = messages_t.c
    anchor = _anchor(session_id, message_id)
    same = m.id >= message_id if inclusive else m.id > message_id
    return or_(m.timestamp > anchor, and_(m.timestamp == anchor, same))


def _before(session_id: str, message_id: int) -> ColumnElement[bool]:
    """Messages before message ``message_id`` in transcript order."""
    m = messages_t.c
    anchor = _anchor(session_id, message_id)
    return or_(m.timestamp < anchor, and_(m.timestamp == anchor, m.id < message_id))


def _transcript_select(limit: int | None) -> Select[Any]:
    """Messages as a transcript reads them, with their stored HTML (an outer join
    on its primary key)."""
    m, h = messages_t.c, message_html_t.c
    content = m.content if limit is None else func.substr(m.content, 1, limit)
    return select(
        m.id,
        m.role,
        content.label("content"),
        func.length(m.content).label("length"),
        m.summary,
        m.timestamp,
        m.meta,
        h.version.label("html_version"),
        h.digest.label("html_digest"),
        h.html,
    ).select_from(messages_t.outerjoin(message_html_t, h.message_id == m.id))


def _transcript_message(row: Any) -> TranscriptMessage:
    m = row._mapping
    version = m["html_version"]
    return TranscriptMessage(
        id=m["id"],
        role=m["role"],
        content=m["content"],
        length=m["length"] or 0,
        summary=m["summary"] or "",
        timestamp=m["timestamp"],
        meta=m["meta"] or {},
        rendered=None
        if version is None
        else StoredHtml(version, bytes(m["html_digest"]), m["html"]),
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
        query = _transcript_select(truncate).where(m.session_id == session_id)
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

    def transcript_around(
        self, session_id: str, message_id: int, *, after: int = 20, limit: int = 100
    ) -> tuple[TranscriptWindow, bool]:
        """The window that holds message ``message_id`` and up to ``after`` messages
        after it, and whether later messages follow (a search hit opens here)."""
        m = messages_t.c
        anchor = (
            select(m.timestamp)
            .where(m.id == message_id, m.session_id == session_id)
            .scalar_subquery()
        )
        following = (
            select(m.id)
            .where(
                m.session_id == session_id,
                or_(m.timestamp > anchor, and_(m.timestamp == anchor, m.id > message_id)),
            )
            .order_by(m.timestamp, m.id)
            .limit(after + 1)
        )
        with self.store.read() as conn:
            later = list(conn.execute(following).scalars())
        if len(later) <= after:
            return self.transcript_window(session_id, limit=limit), False
        return self.transcript_window(session_id, before=later[after], limit=limit), True

    def transcript_slice(
        self,
        session_id: str,
        *,
        after: int | None = None,
        since: int | None = None,
        before: int | None = None,
        around: int | None = None,
        at_end: bool = False,
        limit: int = 100,
        truncate: int = TRUNCATE_CHARS,
    ) -> TranscriptSlice:
        """Up to ``limit`` consecutive messages in transcript order, content cut at
        ``truncate``: from the start, after message ``after``, from message ``since``
        on, before message ``before``, around message ``around`` (it and what
        follows, half of ``limit`` before it), or the last ones (``at_end``)."""
        m = messages_t.c
        base = _transcript_select(truncate).where(m.session_id == session_id)
        forward = base.order_by(m.timestamp, m.id)
        backward = base.order_by(m.timestamp.desc(), m.id.desc())
        with self.store.read() as conn:

            def read(query: Select[Any], n: int) -> list[TranscriptMessage]:
                return [_transcript_message(r) for r in conn.execute(query.limit(n + 1))]

            if at_end or before is not None:
                query = backward if before is None else backward.where(_before(session_id, before))
                rows = read(query, limit)
                return TranscriptSlice(rows[:limit][::-1], len(rows) > limit, before is not None)
            if around is not None:
                half = limit // 2
                head = read(backward.where(_before(session_id, around)), half)
                tail = read(forward.where(_from(session_id, around, inclusive=True)), limit - half)
                return TranscriptSlice(
                    head[:half][::-1] + tail[: limit - half],
                    len(head) > half,
                    len(tail) > limit - half,
                )
            query = forward
            if after is not None:
                query = forward.where(_from(session_id, after, inclusive=False))
            elif since is not None:
                query = forward.where(_from(session_id, since, inclusive=True))
            rows = read(query, limit)
        started = after is not None or since is not None
        return TranscriptSlice(rows[:limit], started, len(rows) > limit)

    def prompt_outline(
        self, session_id: str, *, after: int | None = None, limit: int = 200
    ) -> tuple[list[PromptLine], bool]:
        """The session's prompts in order (after message ``after``), each cut to a
        line's worth, and whether more follow."""
        m = messages_t.c
        query = (
            select(m.id, m.timestamp, func.substr(m.content, 1, 200).label("text"))
            .where(m.session_id == session_id, _is_prompt())
            .order_by(m.timestamp, m.id)
            .limit(limit + 1)
        )
        if after is not None:
            query = query.where(_from(session_id, after, inclusive=False))
        with self.store.read() as conn:
            rows = list(conn.execute(query))
        lines = [PromptLine(r.id, r.timestamp, " ".join(r.text.split())) for r in rows[:limit]]
        return lines, len(rows) > limit

    def prompts_before(self, session_id: str, message_id: int) -> int:
        """How many prompts come before message ``message_id`` (to number turns)."""
        m = messages_t.c
        query = select(func.count()).where(
            m.session_id == session_id, _is_prompt(), _before(session_id, message_id)
        )
        with self.store.read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def messages_after(
        self, session_id: str, after_id: int, *, limit: int = 500, truncate: int = TRUNCATE_CHARS
    ) -> list[TranscriptMessage]:
        """Messages stored after message ``after_id`` (ids grow with every insert), in
        transcript order: what a live view appends."""
        m = messages_t.c
        query = (
            _transcript_select(truncate)
            .where(m.session_id == session_id, m.id > after_id)
            .order_by(m.timestamp, m.id)
            .limit(limit)
        )
        with self.store.read() as conn:
            return [_transcript_message(r) for r in conn.execute(query)]

    def full_message(self, session_id: str, message_id: int) -> TranscriptMessage | None:
        """One message with all of its content."""
        m = messages_t.c
        query = _transcript_select(None).where(m.session_id == session_id, m.id == message_id)
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

    def live_stamp(self, session_id: str) -> tuple[datetime, int] | None:
        """The session's last activity and message count (None: no such session):
        one row by its key, what the live poll compares (an append moves the
        count, and the time unless within the same instant; a status change the
        time), so an idle poll reads no message whatever the session's size."""
        c = sessions_t.c
        with self.store.read() as conn:
            row = conn.execute(
                select(c.last_activity, c.message_count).where(c.id == session_id)
            ).first()
        return (row[0], int(row[1])) if row is not None else None

    def live_state(self, session_id: str) -> LiveState | None:
        """Status, last activity and the latest message id (the latter reads the
        session's entries of its messages' index: a live page's first render
        and its updates, not the idle poll, :meth:`live_stamp`)."""
        c, m = sessions_t.c, messages_t.c
        last_id = (
            select(func.coalesce(func.max(m.id), 0)).where(m.session_id == session_id)
        ).scalar_subquery()
        with self.store.read() as conn:
            row = conn.execute(
                select(c.status, c.last_activity, last_id).where(c.id == session_id)
            ).first()
        return LiveState(row[0], row[1], int(row[2])) if row is not None else None
