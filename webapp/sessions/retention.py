"""Expiry and retention in short write transactions, and the counts of what they
would do (a dry run).

Every pass finds its rows in reads (which never hold the write lock) on indexes
with a lower bound, then changes them by id in writes that re-check each rule, so
a row that changed in between is left alone. A write handles a chunk of rows whose
size adapts to keep each write near ``rollups.LOCK_BUDGET_S`` (never more rows than
the sweep's batch size), so a writer beside the sweep never waits long.

Messages are purged on two fronts, neither of which walks the old messages of
kept sessions again and again:

* the *slab*: messages between the previous recorded pass's cutoff (the
  watermark, from the purge log) and this cutoff, in timestamp order; the first
  pass of a database has no watermark and walks every old message once;
* the *old unkept sessions*: sessions not kept and created before the cutoff
  (an index on ``(keep, created_at, id)``), each searched on
  ``(session_id, timestamp)``: what a reviewer un-kept, or an import accepted
  with old messages, is purged by the next pass.

A message stamped older than its own session's creation, below the watermark,
waits until its session was created before the cutoff.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)

from .rollups import FOLD_YIELD_S, Chunks, RollupStore
from .rows import holds_t, messages_t, purge_log_t, sessions_t
from .types import UNFINISHED_STATUSES, Status, utcnow

#: The statuses that time out, as stored.
_UNFINISHED = sorted(s.value for s in UNFINISHED_STATUSES)
#: The sessions the first write of the session purge deletes, and the fewest.
_SESSIONS_A_WRITE = 50
#: The sessions whose messages one read of the old-unkept front searches.
_SESSIONS_PER_READ = 200
#: How long a sweep on SQLite leaves the write lock free after each write. SQLite
#: has one write lock and its waiters poll it (1, 2, 5, 10, 15, 20, 25 ms apart at
#: first): a sweep that took the lock again at once would starve them.
_SQLITE_YIELD_S = FOLD_YIELD_S


def purgeable(now: datetime) -> ColumnElement[bool]:
    """Whether retention may purge a session (its old messages, then itself) at
    ``now``: not kept by a reviewer and not held (a live share link, say) past
    ``now``. The one place that says which sessions are protected from purge;
    every read and write of the sweep uses it. Its first term reads
    ``ix_sessions_keep_created``."""
    h = holds_t.c
    hold = select(literal(1)).where(h.session_id == sessions_t.c.id, h.until > now)
    return and_(sessions_t.c.keep.is_(False), ~hold.exists())


def by_row(rule: ColumnElement[bool]) -> ColumnElement[bool]:
    """``rule`` tested on each row a statement finds by other terms (its ids), never
    taken for an index range: SQLite's planner (no statistics) read
    ``ix_sessions_keep_created`` for ``keep IS 0 AND id IN (...)``, walking every
    unkept session in each of the purge's writes, instead of the ids' primary key."""
    return case((rule, 1), else_=0) == 1


def _after(columns: tuple[Any, Any], position: tuple[Any, Any]) -> ColumnElement[bool]:
    """Rows past ``position`` in the order of ``columns`` (a keyset)."""
    values = [literal(v, col.type) for col, v in zip(columns, position, strict=True)]
    return tuple_(*columns) > tuple_(*values)


class RetentionStore(RollupStore):
    """Expires sessions past their expiry and purges old messages and sessions;
    part of :class:`~webapp.sessions.store.MessageStore`."""

    @contextmanager
    def _sweep_write(self, chunks: Chunks) -> Iterator[Connection]:
        """One short write of a sweep, timed to size the next one."""
        began = time.perf_counter()
        with self.write(durable=False) as conn:
            yield conn
        chunks.took(time.perf_counter() - began)
        if self.dialect == "sqlite":
            began = time.perf_counter()
            self.checkpoint()
            time.sleep(max(0.0, _SQLITE_YIELD_S - (time.perf_counter() - began)))

    # -- expiry ----------------------------------------------------------------------

    def _due(self, now: datetime) -> ColumnElement[bool]:
        c = sessions_t.c
        return and_(c.status.in_(_UNFINISHED), c.expires_at <= now)

    def expire_due(self, now: datetime, *, batch_size: int = 5000) -> int:
        """Mark pending or running sessions past ``expires_at`` as expired.

        Each write expires one slice in one statement: the first sessions of a
        status due at ``now`` on ``ix_sessions_status_expires``, in ``(expires_at,
        id)`` order, as many as :class:`Chunks` allows (those expired leave the
        index range, so the next slice starts where this one ended). The rule is
        checked in the write itself; on PostgreSQL the slice's rows are locked as
        it picks them and rows a writer holds are left for the next pass."""
        chunks, total = Chunks(batch_size), 0
        for status in _UNFINISHED:
            while True:
                size = chunks.size
                with self._sweep_write(chunks) as conn:
                    done = self._expire_slice(conn, status, now, size)
                total += done
                if done < size:
                    break
        self.fold_rollups()
        return total

    def _expire_slice(self, conn: Connection, status: str, now: datetime, size: int) -> int:
        c = sessions_t.c
        due = (
            select(c.id)
            .where(c.status == status, c.expires_at <= now)
            .order_by(c.expires_at, c.id)
            .limit(size)
        )
        if self.dialect == "postgresql":
            # The slice's ids first: a subquery locking with SKIP LOCKED may be run
            # again for each row of the UPDATE's join, and skip the rows the
            # UPDATE itself changed, picking more than ``size``.
            ids = list(conn.execute(due.with_for_update(skip_locked=True)).scalars())
            return self.move_status(conn, ids, Status.EXPIRED.value)
        return self.move_status(conn, due, Status.EXPIRED.value)

    def count_expire_due(self, now: datetime) -> int:
        """How many sessions :meth:`expire_due` would expire at ``now``."""
        query = select(func.count()).select_from(sessions_t).where(self._due(now))
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())

    # -- messages --------------------------------------------------------------------

    def _watermark(self, cutoff: datetime) -> datetime | None:
        """The message cutoff of the latest recorded pass, if not after ``cutoff``:
        below it only the old unkept sessions can still hold purgeable messages."""
        p = purge_log_t.c
        query = (
            select(p.message_cutoff)
            .where(p.message_cutoff.is_not(None))
            .order_by(p.ran_at.desc(), p.id.desc())
            .limit(1)
        )
        with self.read() as conn:
            mark: datetime | None = conn.execute(query).scalar()
        return mark if mark is not None and mark <= cutoff else None

    def _old_unkept(self, cutoff: datetime, now: datetime) -> ColumnElement[bool]:
        """Sessions :func:`purgeable` at ``now``, created before ``cutoff`` (on
        ``ix_sessions_keep_created``)."""
        return and_(purgeable(now), sessions_t.c.created_at < cutoff)

    def _delete_messages(self, conn: Connection, picked: Sequence[Any], now: datetime) -> int:
        """Delete the messages ``picked`` (rows with ``id`` and ``session_id``) whose
        session is still not kept, keeping each session's message count right
        (counted from what the DELETE returns: a message gone meanwhile is not)."""
        m, c = messages_t.c, sessions_t.c
        sessions = sorted({r.session_id for r in picked})
        still = select(c.id).where(c.id.in_(sessions), by_row(purgeable(now)))
        unkept = set(conn.execute(still).scalars())
        ids = [r.id for r in picked if r.session_id in unkept]
        if not ids:
            return 0
        deleted = delete(messages_t).where(m.id.in_(ids)).returning(m.session_id)
        gone = Counter(conn.execute(deleted).scalars())
        conn.execute(
            update(sessions_t)
            .where(c.id == bindparam("session"))
            .values(message_count=c.message_count - bindparam("gone"))
            .execution_options(synchronize_session=False),
            [{"session": sid, "gone": n} for sid, n in gone.items()],
        )
        return sum(gone.values())

    def _purge_slab(
        self, cutoff: datetime, since: datetime | None, chunks: Chunks, now: datetime
    ) -> int:
        """Messages in ``[since, cutoff)`` (all older ones without ``since``), in
        timestamp order on ``ix_messages_timestamp``; kept sessions' are stepped
        over in the reads, and a stretch of only kept ones costs no write."""
        m, c = messages_t.c, sessions_t.c
        total = 0
        after: tuple[datetime, int] | None = None
        while True:
            query = (
                select(m.timestamp, m.id, m.session_id, purgeable(now).label("purgeable"))
                .join_from(messages_t, sessions_t, m.session_id == c.id)
                .where(m.timestamp < cutoff)
            )
            if after is not None:
                query = query.where(_after((m.timestamp, m.id), after))
            elif since is not None:
                query = query.where(m.timestamp >= since)
            with self.read() as conn:
                # Read a whole batch: most of it may be kept sessions' messages,
                # which cost the read only; the rest is written in chunks.
                picked = list(conn.execute(query.order_by(m.timestamp, m.id).limit(chunks.most)))
            if not picked:
                return total
            unkept = [r for r in picked if r.purgeable]
            while unkept:
                piece, unkept = unkept[: chunks.size], unkept[chunks.size :]
                with self._sweep_write(chunks) as conn:
                    total += self._delete_messages(conn, piece, now)
            after = (picked[-1].timestamp, picked[-1].id)

    def _old_unkept_sessions(self, cutoff: datetime, now: datetime) -> Iterator[list[str]]:
        """The ids of sessions not kept and created before ``cutoff``, a read at a
        time, in ``(created_at, id)`` order."""
        c = sessions_t.c
        after: tuple[datetime, str] | None = None
        while True:
            query = select(c.created_at, c.id).where(self._old_unkept(cutoff, now))
            if after is not None:
                query = query.where(_after((c.created_at, c.id), after))
            query = query.order_by(c.created_at, c.id).limit(_SESSIONS_PER_READ)
            with self.read() as conn:
                rows = list(conn.execute(query))
            if not rows:
                return
            yield [r.id for r in rows]
            after = (rows[-1].created_at, rows[-1].id)

    def _purge_old_sessions(
        self, cutoff: datetime, below: datetime, chunks: Chunks, now: datetime
    ) -> int:
        """Messages older than ``below`` in sessions not kept and created before
        ``cutoff``, each session searched on ``ix_messages_session_time``."""
        m = messages_t.c
        total = 0
        for sessions in self._old_unkept_sessions(cutoff, now):
            while True:
                query = select(m.id, m.session_id).where(
                    m.session_id.in_(sessions), m.timestamp < below
                )
                with self.read() as conn:
                    picked = list(conn.execute(query.limit(chunks.size)))
                if not picked:
                    break
                with self._sweep_write(chunks) as conn:
                    total += self._delete_messages(conn, picked, now)
        return total

    def purge_older_than(
        self, cutoff: datetime, *, batch_size: int = 5000, now: datetime | None = None
    ) -> int:
        """Delete messages older than ``cutoff`` (only in sessions :func:`purgeable`
        at ``now``, default the current time), keeping each session's message
        count right; return how many were deleted."""
        now = now or utcnow()
        chunks = Chunks(batch_size)
        since = self._watermark(cutoff)
        total = self._purge_slab(cutoff, since, chunks, now)
        if since is not None:
            total += self._purge_old_sessions(cutoff, since, chunks, now)
        self.fold_rollups()
        return total

    def count_purgeable_messages(self, cutoff: datetime, *, now: datetime | None = None) -> int:
        """How many messages :meth:`purge_older_than` would delete."""
        m, c = messages_t.c, sessions_t.c
        now = now or utcnow()
        since = self._watermark(cutoff)
        unkept = select(c.id).where(purgeable(now))
        if since is None:
            where = and_(m.timestamp < cutoff, m.session_id.in_(unkept))
        else:
            old_unkept = select(c.id).where(self._old_unkept(cutoff, now))
            slab = and_(m.timestamp >= since, m.timestamp < cutoff, m.session_id.in_(unkept))
            where = or_(slab, and_(m.timestamp < since, m.session_id.in_(old_unkept)))
        query = select(func.count()).select_from(messages_t).where(where)
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())

    # -- sessions --------------------------------------------------------------------

    def _purgeable_sessions(self, cutoff: datetime, now: datetime) -> ColumnElement[bool]:
        c = sessions_t.c
        return and_(
            self._old_unkept(cutoff, now),
            c.last_activity < cutoff,
            c.status != Status.RUNNING.value,
            c.expires_at.is_not(None),
        )

    def purge_sessions_older_than(
        self, cutoff: datetime, *, batch_size: int = 5000, now: datetime | None = None
    ) -> int:
        """Delete sessions inactive since before ``cutoff``, except running ones,
        ones that never expire and ones a reviewer kept; return how many.

        Found among the sessions not kept and created before ``cutoff`` (a session
        is never active before it was created)."""
        c = sessions_t.c
        now = now or utcnow()
        # A session goes with its messages, usage and search documents: fewer a write.
        chunks, total = Chunks(batch_size, first=_SESSIONS_A_WRITE), 0
        after: tuple[datetime, str] | None = None
        while True:
            query = select(c.created_at, c.id).where(self._purgeable_sessions(cutoff, now))
            if after is not None:
                query = query.where(_after((c.created_at, c.id), after))
            with self.read() as conn:
                found = list(conn.execute(query.order_by(c.created_at, c.id).limit(chunks.size)))
            if not found:
                self.fold_rollups()
                return total
            picked = and_(
                c.id.in_([r.id for r in found]), by_row(self._purgeable_sessions(cutoff, now))
            )
            with self._sweep_write(chunks) as conn:
                total += conn.execute(delete(sessions_t).where(picked)).rowcount
            after = (found[-1].created_at, found[-1].id)

    def count_purgeable_sessions(self, cutoff: datetime, *, now: datetime | None = None) -> int:
        """How many sessions :meth:`purge_sessions_older_than` would delete."""
        purgeable_now = self._purgeable_sessions(cutoff, now or utcnow())
        query = select(func.count()).select_from(sessions_t).where(purgeable_now)
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())
