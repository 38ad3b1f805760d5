"""Expiry and retention: set-based statements in bounded batches, and the counts
of what they would do (a dry run)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, literal, select, update

from .engine import Database
from .rows import holds_t, messages_t, sessions_t
from .types import UNFINISHED_STATUSES, Status

#: The statuses that time out, as stored.
_UNFINISHED = sorted(s.value for s in UNFINISHED_STATUSES)


def held(session_id: Any) -> Any:
    """The one rule of what retention leaves alone besides kept sessions: the
    session ``session_id`` (a column) has a hold (a live share link, say). Holds
    past their time are ended by the sweep before it purges."""
    return select(literal(1)).where(holds_t.c.session_id == session_id).exists()


class RetentionStore(Database):
    """Expires sessions past their expiry and purges old messages and sessions;
    part of :class:`~webapp.sessions.store.MessageStore`."""

    def expire_due(self, now: datetime, *, batch_size: int = 5000) -> int:
        """Mark pending or running sessions past ``expires_at`` as expired."""
        c = sessions_t.c
        due = select(c.id).where(c.status.in_(_UNFINISHED), c.expires_at <= now).limit(batch_size)
        total = 0
        while True:
            with self.write() as conn:
                ids = select(due.subquery().c.id)
                n = conn.execute(
                    update(sessions_t)
                    .where(c.id.in_(ids))
                    .values(status=Status.EXPIRED.value)
                    .execution_options(synchronize_session=False)
                ).rowcount
            total += n
            if n < batch_size:
                return total

    def count_expire_due(self, now: datetime) -> int:
        """How many sessions :meth:`expire_due` would expire at ``now``."""
        c = sessions_t.c
        query = select(func.count()).where(c.status.in_(_UNFINISHED), c.expires_at <= now)
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())

    def _purgeable_messages(self, cutoff: datetime) -> Any:
        """Messages older than ``cutoff`` whose session a reviewer did not keep
        and nothing holds."""
        m, c = messages_t.c, sessions_t.c
        kept = select(literal(1)).where(c.id == m.session_id, c.keep.is_(True)).exists()
        return and_(m.timestamp < cutoff, ~kept, ~held(m.session_id))

    def purge_older_than(self, cutoff: datetime, *, batch_size: int = 5000) -> int:
        """Delete messages older than ``cutoff`` (except in kept sessions), keeping
        each session's message count right; return how many were deleted.

        Batches are time slices: each ends at the ``batch_size``-th purgeable
        message after the previous slice (found in a read, without the write
        lock), so every write touches about ``batch_size`` rows through the
        timestamp index, and kept sessions' old messages are stepped over once.
        """
        m, c = messages_t.c, sessions_t.c
        total = 0
        lower: datetime | None = None
        while True:
            after_lower = m.timestamp > lower if lower is not None else literal(True)
            purgeable = self._purgeable_messages(cutoff)
            with self.read() as conn:
                # Found outside the write: stepping over kept sessions' old
                # messages must not hold the write lock.
                batch = (
                    select(m.timestamp.label("ts"))
                    .where(purgeable, after_lower)
                    .order_by(m.timestamp)
                    .limit(batch_size)
                    .subquery()
                )
                bound = conn.execute(select(func.max(batch.c.ts))).scalar()
            if bound is None:
                return total
            with self.write() as conn:
                time_slice = and_(m.timestamp < cutoff, after_lower, m.timestamp <= bound)
                gone = (
                    select(func.count())
                    .select_from(messages_t)
                    .where(m.session_id == c.id, time_slice)
                    .scalar_subquery()
                )
                conn.execute(
                    update(sessions_t)
                    .where(
                        c.keep.is_(False),
                        ~held(c.id),
                        c.id.in_(select(m.session_id).where(time_slice)),
                    )
                    .values(message_count=c.message_count - gone)
                    .execution_options(synchronize_session=False)
                )
                total += conn.execute(delete(messages_t).where(time_slice, purgeable)).rowcount
            lower = bound

    def count_purgeable_messages(self, cutoff: datetime) -> int:
        """How many messages :meth:`purge_older_than` would delete."""
        query = select(func.count()).select_from(messages_t).where(self._purgeable_messages(cutoff))
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())

    def _purgeable_sessions(self, cutoff: datetime) -> Any:
        c = sessions_t.c
        return and_(
            c.last_activity < cutoff,
            c.status != Status.RUNNING.value,
            c.expires_at.is_not(None),
            c.keep.is_(False),
            ~held(c.id),
        )

    def purge_sessions_older_than(self, cutoff: datetime, *, batch_size: int = 5000) -> int:
        """Delete sessions inactive since before ``cutoff``, except running ones,
        ones that never expire and ones a reviewer kept; return how many."""
        c = sessions_t.c
        total = 0
        while True:
            with self.write() as conn:
                ids = select(c.id).where(self._purgeable_sessions(cutoff)).limit(batch_size)
                n = conn.execute(
                    delete(sessions_t).where(c.id.in_(select(ids.subquery().c.id)))
                ).rowcount
            total += n
            if n < batch_size:
                return total

    def count_purgeable_sessions(self, cutoff: datetime) -> int:
        """How many sessions :meth:`purge_sessions_older_than` would delete."""
        query = select(func.count()).select_from(sessions_t).where(self._purgeable_sessions(cutoff))
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())
