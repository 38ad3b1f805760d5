"""Counters and rollups kept in step with every write by database triggers
(migration 0009): sessions per status for the nav counts, and sessions per UTC
creation day x status x duration bucket x message-count bucket, and failed
sessions per day x error, for the stats page.

The triggers only ever insert change rows (``n`` = +1 or -1), so concurrent
writers never wait on a shared counter row; :meth:`RollupStore.fold_rollups` (run
by each sweep) sums them into one row per key. A read is ``SUM(n)`` per key over a
table of a few thousand rows, however many sessions there are.

The SQL expressions for a row's day and buckets are here once; the migration's
triggers freeze the same expressions as SQL text, and the tests check that the
rollups equal a direct count by these expressions after every kind of write.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)

from .engine import Database
from .models import ErrorRollup, RollupPause, SessionCount, SessionRollup
from .rows import sessions_t, utc_day
from .search_index import move_doc_statuses, statuses_by_statement
from .types import Status

session_counts_t = cast(Table, SessionCount.__table__)
session_rollup_t = cast(Table, SessionRollup.__table__)
error_rollup_t = cast(Table, ErrorRollup.__table__)
rollup_pause_t = cast(Table, RollupPause.__table__)

#: Upper bounds (seconds, exclusive) of the duration histogram's buckets; one more
#: bucket holds the rest. Migration 0009's triggers use the same bounds.
DURATION_BUCKETS = (1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600)
#: Upper bounds (exclusive) of the message-count histogram's buckets.
MESSAGE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 500, 1000)

_TABLES = (session_counts_t, session_rollup_t, error_rollup_t)
#: How long one of the sweep's writes should hold the write lock, in seconds
#: (commit included), so a writer beside it waits well under 100 ms.
LOCK_BUDGET_S = 0.04
#: The rows the first write of a sweep's step takes (unless its most is smaller):
#: the first write tells how fast rows go.
FIRST_ROWS = 200
#: The fewest rows a write of the sweep takes. A commit has a cost of its own
#: beside its rows (on SQLite FTS5 writes its pending changes then): measured
#: on a purge, writes of about 20 messages held the lock five times as long in
#: total as writes of 200, each still over the budget.
FEWEST_ROWS = 200
#: The most change rows one write of a fold sums on SQLite.
FOLD_ROWS = 20_000
#: How long a fold on SQLite leaves the write lock free between its writes, so
#: writers waiting on it (they poll) get their turn.
FOLD_YIELD_S = 0.03
#: Each rollup table and the columns that key its rows.
_KEYS: dict[str, tuple[str, ...]] = {
    "session_counts": ("status",),
    "session_rollup": ("day", "status", "duration_bucket", "message_bucket"),
    "error_rollup": ("day", "error"),
}


_r, _c = session_rollup_t.c, sessions_t.c
# The reads of :meth:`RollupStore.created_since_counts`, made once.
_DAYS_FROM, _DAYS_AFTER = (
    select(_r.status, func.sum(_r.n)).where(whole).group_by(_r.status)
    for whole in (_r.day >= bindparam("day"), _r.day > bindparam("day"))
)
_CREATED_IN = select(
    *(
        select(func.count())
        .where(
            _c.status == status.value,
            _c.created_at >= bindparam("start"),
            _c.created_at < bindparam("end"),
        )
        .scalar_subquery()
        .label(status.value)
        for status in Status
    )
)


def seconds_between(start: Any, end: Any, dialect: str) -> Any:
    """``end - start`` in seconds, in SQL (to the millisecond on SQLite, whose
    ``julianday`` differences are a few microseconds off: 1 s came out 0.99999 s)."""
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)


def bucket_of(value: Any, bounds: Sequence[int]) -> Any:
    """The index of the first bound ``value`` is below (``len(bounds)``: none)."""
    return case(*[(value < b, i) for i, b in enumerate(bounds)], else_=len(bounds))


class Chunks:
    """How many rows the next write of a sweep takes: ``first`` at first, then
    scaled by how far the last write was from :data:`LOCK_BUDGET_S` (at most
    doubled), between :data:`FEWEST_ROWS` and ``most``."""

    def __init__(self, most: int, first: int = FIRST_ROWS, fewest: int = FEWEST_ROWS) -> None:
        self.most = max(most, 1)
        self.fewest = min(self.most, fewest, first)
        self.size = max(self.fewest, min(self.most, first))

    def took(self, seconds: float) -> None:
        """Adjust to how long the last write held the lock."""
        scale = min(2.0, LOCK_BUDGET_S / max(seconds, 1e-6))
        self.size = max(self.fewest, min(self.most, int(self.size * scale)))


_counts = session_counts_t.c
_total = func.sum(_counts.n)
#: The nav counts' statement, built once (every page reads it).
_STATUS_COUNTS = select(_counts.status, _total).group_by(_counts.status).having(_total != 0)


class RollupStore(Database):
    """Reads the status counters and folds the change rows of every rollup; part of
    :class:`~webapp.sessions.store.MessageStore`."""

    def status_counts(self) -> dict[str, int]:
        """How many sessions there are in each status present, from the counters
        (read once a web request: :meth:`~.engine.Database.remembered`)."""
        return dict(self.remembered(_STATUS_COUNTS, self._read_status_counts))

    def _read_status_counts(self) -> dict[str, int]:
        with self.read() as conn:
            return {status: int(n) for status, n in conn.execute(_STATUS_COUNTS)}

    def created_since_counts(self, since: datetime) -> dict[str, int]:
        """Sessions created at or after ``since``, per status (those present): the
        whole UTC days after ``since``'s own from the rollups, and that day's part
        from ``sessions``, on one range of ``(status, created_at, id)`` per status:
        ``[since, next midnight)`` counted, or, when shorter, the day's rollup less
        ``[midnight, since)``. At most half a day of sessions is counted."""
        since = since.astimezone(UTC)
        midnight = datetime.combine(since.date(), clock_time(), UTC)
        following = midnight + timedelta(days=1)
        before = since - midnight < following - since
        start, end = (midnight, since) if before else (since, following)
        rollup = _DAYS_FROM if before else _DAYS_AFTER
        with self.read() as conn:
            found = conn.execute(rollup, {"day": since.date().isoformat()})
            counts = Counter({status: int(n) for status, n in found})
            sign = -1 if before else 1
            part = conn.execute(_CREATED_IN, {"start": start, "end": end}).one()._mapping
            for status, n in part.items():
                counts[status] += sign * int(n)
        return {status: n for status, n in counts.items() if n}

    def move_status(self, conn: Connection, ids: Select[Any] | list[str], to: str) -> int:
        """``UPDATE sessions SET status = to WHERE id IN ids`` (those not in ``to``
        already) in ``conn``'s write; returns how many rows it changed. ``ids``
        is a list, or on SQLite a query of sessions not in ``to``.

        On SQLite the per-row rollup trigger is paused for the statement (migration
        0014's flag, set and cleared inside this write, so no other write sees it)
        and the statement's change rows are written summed per key, one INSERT per
        table: a slice of thousands of rows writes a few change rows, not one
        trigger run each; the search documents' status trigger stands aside under
        the same flag, and the slice's documents are moved in one statement.
        ``ids`` is read three times (the keys, the documents, the rows), so it
        must pick the same rows each time (an ordered, limited subquery does in one
        SQLite write). On
        PostgreSQL the rollup triggers work per statement already, and the
        per-session trigger that moves a session's search documents' statuses
        stands aside for the statement: its sessions' documents are moved after
        it in one statement (``search_index.move_doc_statuses``)."""
        c = sessions_t.c
        moved = and_(c.id.in_(ids), c.status != to)
        change = update(sessions_t).where(moved).values(status=to)
        if self.dialect != "sqlite":
            # The documents' statuses by statement, not a trigger a session.
            by_statement = statuses_by_statement(conn, True)
            ids = list(conn.execute(change.returning(c.id)).scalars())
            if by_statement:
                statuses_by_statement(conn, False)
                move_doc_statuses(conn, ids, to)
            return len(ids)
        p = rollup_pause_t.c
        pause = update(rollup_pause_t).where(p.id == 1)
        if conn.execute(pause.values(paused=1)).rowcount != 1:
            return int(conn.execute(change).rowcount)  # no flag row: the triggers count
        failed = case((and_(c.status == "failed", c.error != ""), c.error), else_=None)
        # Each row's duration computed once (materialized; inlined, SQLite would
        # compute it again in each branch of the bucket's CASE: twice the time).
        rows = (
            select(
                utc_day(c.created_at, self.dialect).label("day"),
                c.status,
                seconds_between(c.created_at, c.last_activity, self.dialect).label("seconds"),
                c.message_count,
                (c.error if to == "failed" else failed).label("error"),
            )
            .where(moved)
            .cte("moved")
            .prefix_with("MATERIALIZED")
        )
        r = rows.c
        duration = bucket_of(r.seconds, DURATION_BUCKETS)
        keys = (r.day, r.status, duration, bucket_of(r.message_count, MESSAGE_BUCKETS), r.error)
        groups = conn.execute(select(*keys, func.count()).group_by(*keys)).all()
        # The rows' documents first, in one statement, the per-session
        # trigger standing aside while the flag is set.
        move_doc_statuses(conn, ids, to)
        changed = int(conn.execute(change).rowcount)
        conn.execute(pause.values(paused=0))
        if changed != sum(g[-1] for g in groups):
            raise RuntimeError("the rows moved are not the rows counted")  # rolls back
        counts: Counter[str] = Counter()
        rollup: Counter[tuple[Any, ...]] = Counter()
        errors: Counter[tuple[str, str]] = Counter()
        for day_, status, dur, msgs, error, n in groups:
            counts[status] -= n
            counts[to] += n
            rollup[day_, status, dur, msgs] -= n
            rollup[day_, to, dur, msgs] += n
            if status == "failed" and error:
                errors[day_, error] -= n
            if to == "failed" and error:
                errors[day_, error] += n
        self._add_changes(conn, session_counts_t, {(k,): n for k, n in counts.items()})
        self._add_changes(conn, session_rollup_t, rollup)
        self._add_changes(conn, error_rollup_t, errors)
        return changed

    @staticmethod
    def _add_changes(conn: Connection, table: Table, changes: Any) -> None:
        """Insert change rows ``{key tuple: n}`` (zero sums left out), one statement."""
        keys = _KEYS[table.name]
        rows = [dict(zip((*keys, "n"), (*key, n), strict=True)) for key, n in changes.items() if n]
        if rows:
            conn.execute(insert(table), rows)

    def fold_rollups(self) -> None:
        """Sum the change rows of every rollup into one row per key (zero sums go).
        On SQLite in short writes of as many rows as keep each near
        :data:`LOCK_BUDGET_S` (:class:`Chunks`, at most :data:`FOLD_ROWS`; a slice
        leaves one row per key it holds; the next fold merges them). A fold lost
        to a power failure is only a fold not done: its commits need no fsync."""
        for table in _TABLES:
            if self.dialect == "postgresql":
                with self.write(durable=False) as conn:
                    self._fold(conn, table)
                continue
            with self.read() as conn:
                first, last = conn.execute(select(func.min(table.c.id), func.max(table.c.id))).one()
            if first is None:
                continue
            chunks, start = Chunks(FOLD_ROWS), first
            while start <= last:
                end = min(start + chunks.size - 1, last)
                began = time.perf_counter()
                with self.write(durable=False) as conn:
                    self._fold(conn, table, start, end)
                chunks.took(time.perf_counter() - began)
                self.checkpoint()
                start = end + 1
                if start <= last:
                    time.sleep(FOLD_YIELD_S)

    def _fold(self, conn: Any, table: Table, first: int = 0, last: int = 0) -> None:
        keys = [table.c[k] for k in _KEYS[table.name]]
        if self.dialect == "postgresql":
            # One statement sums exactly the rows it deletes, whatever commits meanwhile.
            gone = delete(table).returning(*keys, table.c.n).cte("gone")
            picked = [gone.c[k.key] for k in keys]
            total = func.sum(gone.c.n)
            sums = select(*picked, total).group_by(*picked).having(total != 0)
            conn.execute(insert(table).from_select([*keys, table.c.n], sums))
            return
        # SQLite: this write holds the database's only write lock, so the rows summed
        # and the rows deleted are the same ones.
        window = table.c.id.between(first, last)
        total = func.sum(table.c.n)
        sums = select(*keys, total).where(window).group_by(*keys).having(total != 0)
        added = conn.execute(insert(table).from_select([*keys, table.c.n], sums)).rowcount
        if not added:
            # Nothing left to sum: a row of 0 above the window keeps the highest id
            # from going down (SQLite would hand a deleted id out again), so the
            # stats' stamp of the rollups (their highest id and count) never
            # comes back to an earlier value with other sums.
            top = select(*keys, literal(0)).where(table.c.id == last)
            conn.execute(insert(table).from_select([*keys, table.c.n], top))
        conn.execute(delete(table).where(window))
