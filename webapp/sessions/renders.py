"""Stored HTML of messages (``message_html``): what a transcript page would render,
made once by a background pass so a page read renders nothing.

The domain knows nothing of markdown: it keeps, per message, an HTML text, the
name of the renderer ``version`` that made it and the ``digest`` of the text it
was made from. The renderer (``webapp.rendering``) and the pass that fills the
table (``webapp.prerender``) decide what they mean; the transcript reads return
them with each message (:class:`~webapp.sessions.transcripts.TranscriptMessage`).
A row goes with its message by ``ON DELETE CASCADE`` (delete, clear, purge).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from .engine import Database
from .rows import message_html_t, messages_t

#: What a reader sees drawn as markdown: assistant text, a person's typed prompt
#: or note, a compaction summary, a subagent's report (``webapp.transcript``'s
#: ``text`` steps, the ``text`` and ``note`` prompt parts, the summary notice and
#: the result of a Task/Agent call, which names its ``child_session_id``).
ASSISTANT_TEXT_KINDS = ("text",)
PROMPT_TEXT_KINDS = ("text", "note")


def markdown_messages() -> ColumnElement[bool]:
    """The messages a transcript draws as markdown (a few drawn otherwise, such as a
    runner's task notification, are included: their HTML is only never used)."""
    m = messages_t.c
    kind = m.meta["kind"].as_string()
    return or_(
        and_(m.role == "assistant", or_(kind.is_(None), kind.in_(ASSISTANT_TEXT_KINDS))),
        and_(m.role == "user", or_(kind.is_(None), kind.in_(PROMPT_TEXT_KINDS))),
        kind == "compaction",
        and_(kind == "tool_result", m.meta["child_session_id"].as_string().is_not(None)),
    )


class RenderStore(Database):
    """Reads and writes of ``message_html``; part of
    :class:`~webapp.sessions.store.MessageStore`."""

    def unrendered(
        self, version: str, *, after: int = 0, limit: int = 200, truncate: int
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """Up to ``limit`` messages drawn as markdown that have no HTML of
        ``version``, with ids above ``after``, in id order: (id, content cut at
        ``truncate`` characters, meta)."""
        m, h = messages_t.c, message_html_t.c
        done = exists().where(h.message_id == m.id, h.version == version)
        query = (
            select(m.id, func.substr(m.content, 1, truncate), m.meta)
            .where(m.id > after, markdown_messages(), ~done)
            .order_by(m.id)
            .limit(limit)
        )
        with self.read() as conn:
            return [(int(r[0]), r[1] or "", r[2] or {}) for r in conn.execute(query)]

    def save_renders(self, version: str, renders: Sequence[tuple[int, bytes, str]]) -> int:
        """Store (message id, digest, html) made by renderer ``version``, replacing
        what a message had; a message deleted meanwhile is skipped. Returns how
        many were stored."""
        if not renders:
            return 0
        m, h = messages_t.c, message_html_t.c
        try:
            with self.write() as conn:
                ids = [r[0] for r in renders]
                alive = set(conn.execute(select(m.id).where(m.id.in_(ids))).scalars())
                rows = [
                    {"message_id": i, "version": version, "digest": d, "html": html}
                    for i, d, html in renders
                    if i in alive
                ]
                if not rows:
                    return 0
                stmt = self._insert(message_html_t)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[h.message_id],
                    set_={k: stmt.excluded[k] for k in ("version", "digest", "html")},
                )
                conn.execute(stmt, rows)
                return len(rows)
        except IntegrityError:
            # a message of the batch was deleted between the check and the insert
            # (PostgreSQL): the batch is dropped; those messages render when read
            return 0

    def stored_render(self, message_id: int) -> dict[str, Any] | None:
        """A message's stored HTML row (``version``, ``digest``, ``html``), or None."""
        h = message_html_t.c
        with self.read() as conn:
            row = conn.execute(
                select(h.version, h.digest, h.html).where(h.message_id == message_id)
            ).first()
        return dict(row._mapping) if row is not None else None

    def render_counts(self, version: str) -> tuple[int, int]:
        """(messages with HTML of ``version``, messages drawn as markdown)."""
        h = message_html_t.c
        with self.read() as conn:
            done = conn.execute(
                select(func.count()).select_from(message_html_t).where(h.version == version)
            ).scalar()
            total = conn.execute(
                select(func.count()).select_from(messages_t).where(markdown_messages())
            ).scalar()
        return int(done or 0), int(total or 0)

    def drop_renders(self, *, keep_version: str | None = None) -> int:
        """Remove the stored HTML (all of it, or all but ``keep_version``'s)."""
        h = message_html_t.c
        query = delete(message_html_t)
        if keep_version is not None:
            query = query.where(h.version != keep_version)
        with self.write() as conn:
            return int(conn.execute(query).rowcount)
