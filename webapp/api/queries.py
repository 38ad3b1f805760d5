"""The API's read queries: keyset pages of sessions and of a session's messages.

They read through ``MessageStore.read()`` and the store's tables, and write nothing.

Sessions page newest first by ``(created_at, id)``: both are set once, when the
session is made, so a row never moves while a client pages. Ordering by
``last_activity`` instead would let a session that gets a message jump ahead of
the cursor (skipped) or behind it (seen twice). Messages page oldest first by
``(timestamp, id)``, the transcript's own order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import and_, or_, select

from webapp.sessions import Message, MessageStore, Session, Status
from webapp.sessions.store import messages_t, row_to_message, row_to_session, sessions_t


@dataclass(frozen=True)
class Page:
    """One page of a list and where the next one starts (None: this was the last)."""

    rows: list[Any]
    next_position: tuple[datetime, Any] | None


def session_page(
    store: MessageStore,
    *,
    status: Status | None,
    limit: int,
    before: tuple[datetime, str] | None,
) -> Page:
    """Up to ``limit`` sessions newest first by (created_at, id), after ``before``."""
    c = sessions_t.c
    query = select(sessions_t).order_by(c.created_at.desc(), c.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(c.status == status.value)
    if before is not None:
        created, session_id = before
        query = query.where(
            or_(c.created_at < created, and_(c.created_at == created, c.id < session_id))
        )
    with store.read() as conn:
        sessions: list[Session] = [row_to_session(r) for r in conn.execute(query)]
    if len(sessions) <= limit:
        return Page(sessions, None)
    last = sessions[limit - 1]
    return Page(sessions[:limit], (last.created_at, last.id))


def message_page(
    store: MessageStore,
    session_id: str,
    *,
    limit: int,
    after: tuple[datetime, int] | None,
) -> Page | None:
    """Up to ``limit`` messages of a session in order, after ``after``; None if the
    session is unknown."""
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
    with store.read() as conn:
        exists = conn.execute(select(sessions_t.c.id).where(sessions_t.c.id == session_id)).first()
        if exists is None:
            return None
        messages: list[Message] = [row_to_message(r) for r in conn.execute(query)]
    if len(messages) <= limit:
        return Page(messages, None)
    last = messages[limit - 1]
    # A stored message has both its timestamp and its id.
    return Page(messages[:limit], (cast(datetime, last.timestamp), cast(int, last.id)))
