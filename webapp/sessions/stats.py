"""The read model's aggregates for the stats page: sessions per day and status,
histograms of duration and length, the most frequent errors.

They read the covering index ``ix_sessions_stats`` over a time window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from .rows import sessions_t, utc_day
from .store import MessageStore
from .types import Status

DURATION_BUCKETS = (1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600)
MESSAGE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 500, 1000)


class StatsReads:
    """The stats queries of :class:`~webapp.sessions.queries.ReadModel`."""

    store: MessageStore

    def _day(self, column: Any) -> Any:
        """The UTC calendar day of a timestamp column, as ``YYYY-MM-DD`` text."""
        return utc_day(column, self.store.dialect)

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
