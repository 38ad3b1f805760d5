"""The read model's aggregates for the stats page: sessions per day and status,
histograms of duration and length, the most frequent errors.

Whole UTC days come from the rollups the triggers keep (:mod:`.rollups`): a few
thousand rows, however many sessions there are. When the window starts inside a
day, that first part-day is counted from ``sessions`` over the covering index
``ix_sessions_stats`` (a range of less than a day), so every figure is exact.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, bindparam, func, select

from .rollups import (
    DURATION_BUCKETS,
    MESSAGE_BUCKETS,
    bucket_of,
    error_rollup_t,
    seconds_between,
    session_rollup_t,
)
from .rows import sessions_t, utc_day
from .store import MessageStore
from .types import Status

__all__ = ["DURATION_BUCKETS", "MESSAGE_BUCKETS", "StatsReads"]


_r, _e = session_rollup_t.c, error_rollup_t.c
_FIRST_DAY = bindparam("first_day", type_=String)
# The rollup reads, made once (a page runs them on every request; a statement
# built anew is a few hundred microseconds of SQLAlchemy before it executes).
_PER_DAY = (
    select(_r.day, _r.status, func.sum(_r.n))
    .where(_r.day >= _FIRST_DAY)
    .group_by(_r.day, _r.status)
)
_BUCKETS = {
    stored.key: select(stored, _r.status, func.sum(_r.n))
    .where(_r.day >= _FIRST_DAY)
    .group_by(stored, _r.status)
    for stored in (_r.duration_bucket, _r.message_bucket)
}
_ERRORS = select(_e.error, func.sum(_e.n)).where(_e.day >= _FIRST_DAY).group_by(_e.error)
#: What changes whenever a rollup's sums change: the triggers (and the sweep's
#: summed writes) only insert rows, each above every id there is; a fold keeps the
#: sums and inserts its rows above the ones it deletes. The row counts tell a
#: change row committed late below the highest id (PostgreSQL's sequence hands
#: ids out before commit) from none.
_STAMP = select(
    select(func.max(_r.id)).scalar_subquery(),
    select(func.count()).select_from(session_rollup_t).scalar_subquery(),
    select(func.max(_e.id)).scalar_subquery(),
    select(func.count()).select_from(error_rollup_t).scalar_subquery(),
)
#: Rollup reads a store remembers (by statement and first day) at most.
REMEMBERED = 16


def _window(since: datetime) -> tuple[str, datetime | None]:
    """The first whole UTC day at or after ``since`` (``YYYY-MM-DD``), and the end
    of the part-day before it (None when ``since`` is a midnight)."""
    since = since.astimezone(UTC)
    midnight = datetime.combine(since.date(), time(), UTC)
    if since == midnight:
        return since.date().isoformat(), None
    first = midnight + timedelta(days=1)
    return first.date().isoformat(), first


class StatsReads:
    """The stats queries of :class:`~webapp.sessions.queries.ReadModel`."""

    store: MessageStore
    #: The rollup sums read last, by (statement, first day): the stamp they were
    #: read under and their rows (at most :data:`REMEMBERED`).
    _rollup_reads: dict[tuple[Any, str], tuple[tuple[Any, ...], list[Any]]]

    def _part_day(self, query: Select[Any], since: datetime, end: datetime | None) -> Any:
        """``query`` narrowed to sessions created in ``[since, end)``."""
        c = sessions_t.c
        return query.where(c.created_at >= since, c.created_at < end)

    def _read(self, rollup: Select[Any], first_day: str, part: Select[Any] | None) -> list[Any]:
        """The sums of ``rollup`` from ``first_day`` on, then the rows of ``part``.
        The sums are remembered with the rollups' stamp (:data:`_STAMP`, read
        before them, once a request): while it is the same, no change row was added, so
        every worker reads one short statement instead of grouping the rollups."""
        with self.store.read() as conn:
            # Read once a request (the page's four reads share it): read before
            # the sums, it never pairs sums with a later stamp than theirs.
            stamp = self.store.remembered(_STAMP, lambda: tuple(conn.execute(_STAMP).one()))
            remembered = self._rollup_reads
            key = (rollup, first_day)
            found = remembered.get(key)
            if found is not None and found[0] == stamp:
                rows = list(found[1])
            else:
                rows = [tuple(row) for row in conn.execute(rollup, {"first_day": first_day})]
                if len(remembered) >= REMEMBERED:
                    remembered.clear()
                remembered[key] = (stamp, rows)
                rows = list(rows)
            if part is not None:
                rows += list(conn.execute(part))
        return rows

    def sessions_per_day(self, since: datetime) -> dict[str, dict[str, int]]:
        """``{day: {status: n}}`` of the sessions created since ``since``."""
        c = sessions_t.c
        first_day, end = _window(since)
        part = None
        if end is not None:
            day = utc_day(c.created_at, self.store.dialect)
            part = self._part_day(select(day, c.status, func.count()), since, end)
            part = part.group_by(day, c.status)
        result: dict[str, dict[str, int]] = {}
        for d, status, n in self._read(_PER_DAY, first_day, part):
            per_status = result.setdefault(d, {})
            per_status[status] = per_status.get(status, 0) + int(n)
        return {
            d: {s: n for s, n in counts.items() if n}
            for d, counts in sorted(result.items())
            if any(counts.values())
        }

    def histogram(self, kind: str, since: datetime) -> list[int]:
        """Counts per bucket of the sessions created since ``since``: ``duration``
        (created to last activity of completed and failed sessions, in
        :data:`DURATION_BUCKETS` seconds) or ``messages`` (:data:`MESSAGE_BUCKETS`)."""
        r, c = session_rollup_t.c, sessions_t.c
        dialect = self.store.dialect
        bounds: tuple[int, ...]
        value: ColumnElement[Any]
        if kind == "duration":
            bounds, stored = DURATION_BUCKETS, r.duration_bucket
            value = seconds_between(c.created_at, c.last_activity, dialect)
            wanted = [Status.COMPLETED.value, Status.FAILED.value]
        else:
            bounds, stored, value = MESSAGE_BUCKETS, r.message_bucket, c.message_count
            wanted = [s.value for s in Status]
        first_day, end = _window(since)
        part = None
        if end is not None:
            bucket = bucket_of(value, bounds)
            # Grouping by status too (rather than filtering on it) keeps the planner
            # on the covering index, which starts with created_at.
            part = self._part_day(select(bucket, c.status, func.count()), since, end)
            part = part.group_by(bucket, c.status)
        counts = [0] * (len(bounds) + 1)
        for i, status, n in self._read(_BUCKETS[stored.key], first_day, part):
            if status in wanted:
                counts[int(i)] += int(n)
        return counts

    def top_errors(self, since: datetime, limit: int = 10) -> list[tuple[str, int]]:
        """The most frequent errors of sessions that failed since ``since``."""
        c = sessions_t.c
        first_day, end = _window(since)
        part = None
        if end is not None:
            failed = select(c.error, func.count()).where(
                c.status == Status.FAILED.value, c.error != ""
            )
            part = self._part_day(failed, since, end).group_by(c.error)
        counts: Counter[str] = Counter()
        for error, n in self._read(_ERRORS, first_day, part):
            counts[error] += int(n)
        ranked = sorted((item for item in counts.items() if item[1] > 0), key=_by_count)
        return ranked[:limit]


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]
