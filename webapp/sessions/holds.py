"""Holds: something (a live share link, say) keeps a session from retention until a
time. One row per session and holder; retention's purges skip a held session
(:func:`webapp.sessions.retention.purgeable`), and the sweep ends holds past their time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from .engine import Database
from .rows import holds_t, sessions_t


class HoldStore(Database):
    """Sets and clears holds; part of :class:`~webapp.sessions.store.MessageStore`."""

    def set_hold(self, session_id: str, holder: str, until: datetime) -> bool:
        """Hold the session for ``holder`` until ``until`` (replacing that holder's
        hold); False if the session is unknown."""
        h = holds_t.c
        with self.write() as conn:
            found = conn.execute(select(sessions_t.c.id).where(sessions_t.c.id == session_id))
            if found.first() is None:
                return False
            conn.execute(delete(holds_t).where(h.session_id == session_id, h.holder == holder))
            conn.execute(
                self._insert(holds_t).values(session_id=session_id, holder=holder, until=until)
            )
        return True

    def clear_hold(self, session_id: str, holder: str) -> bool:
        """End ``holder``'s hold on the session; False if it had none."""
        h = holds_t.c
        with self.write() as conn:
            gone = conn.execute(
                delete(holds_t).where(h.session_id == session_id, h.holder == holder)
            )
            return bool(gone.rowcount)

    def end_holds(self, now: datetime) -> int:
        """Delete the holds whose time is up at ``now``; return how many."""
        with self.write() as conn:
            return int(conn.execute(delete(holds_t).where(holds_t.c.until <= now)).rowcount)

    def holds(self, session_id: str) -> dict[str, datetime]:
        """The session's holds: holder -> until."""
        h = holds_t.c
        with self.read() as conn:
            rows = conn.execute(select(h.holder, h.until).where(h.session_id == session_id))
            return {holder: until for holder, until in rows}
