"""The read model's usage: a session's totals (own, or with its subagents), the
aggregates per day, model, project, runner and user, and ccusage's 5-hour blocks.

Aggregates read only ``usage_rollups`` (a few rows per hour or day, whatever the
number of sessions); a session's totals read its ``session_usage`` rows.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, TextualSelect, bindparam, column, func, select, text

from .engine import InList
from .rows import session_usage_t, sessions_t, usage_rollups_t, utc_day
from .store import MessageStore
from .types import as_utc
from .usage import SUM_COLUMNS, Dimension, UsageTotals, period_start

#: Up to this many sessions created in a range, the costliest are sorted from them.
_FEW_SESSIONS = 5000
#: ccusage's billing block: it starts at the hour of its first response and lasts
#: five hours.
BLOCK_LENGTH = timedelta(hours=5)


class UsageGroup(enum.StrEnum):
    """What the usage aggregates are grouped by."""

    DAY = "day"
    MODEL = "model"
    PROJECT = "project"
    RUNNER = "runner"
    USER = "user"


#: The rollup dimension each group is read from.
_SOURCES = {
    UsageGroup.DAY: Dimension.MODEL,
    UsageGroup.MODEL: Dimension.MODEL,
    UsageGroup.PROJECT: Dimension.PROJECT,
    UsageGroup.RUNNER: Dimension.RUNNER,
    UsageGroup.USER: Dimension.USER,
}


@dataclass(frozen=True)
class UsageRow:
    """Usage of one group (a day as ``YYYY-MM-DD``, a model, project, runner or
    user; "" when the session did not say) and one model."""

    key: str
    model: str
    totals: UsageTotals


@dataclass(frozen=True)
class UsageBlock:
    """A 5-hour block as ccusage has it: from ``start`` (an hour) to ``end``,
    responses from ``first_at`` to ``last_at``, totals per model."""

    start: datetime
    first_at: datetime
    last_at: datetime
    models: dict[str, UsageTotals]

    @property
    def end(self) -> datetime:
        """When the block ends: five hours after its start."""
        return self.start + BLOCK_LENGTH

    @property
    def totals(self) -> UsageTotals:
        """Every model's totals summed."""
        return sum(self.models.values(), UsageTotals())

    def active(self, now: datetime) -> bool:
        """Whether the block is still open at ``now``."""
        return now < self.end and now - self.last_at < BLOCK_LENGTH


@dataclass(frozen=True)
class CostlySession:
    """A session ranked by what it cost (own responses)."""

    id: str
    request_excerpt: str
    created_at: datetime
    total_tokens: int
    cost_nanos: int


@functools.lru_cache(maxsize=16)
def _block_sums(blocks: int) -> TextualSelect:
    """The sums per block and model of ``blocks`` blocks given as bound parameters
    ``s0``, ``e0``, ... (each block's start and end; the range is in them), each
    row naming its block by number (the caller knows the starts: no time to read
    back per row). Made once per number of blocks (a statement is immutable; making
    one of 144 blocks parsed its text for 288 parameters, ~5 ms). Text,
    not an expression: SQLAlchemy compiles a ``VALUES`` construct anew on every
    call (150 ms for a month's blocks on a loaded machine). A CTE: SQLite knows no
    column names on a ``VALUES`` in FROM. Each block's own bounds are the only
    ones on the rollups: with the range's too, SQLite read from its start for
    every block."""
    kind = usage_rollups_t.c.period_start.type
    rows = ", ".join(f"({i}, :s{i}, :e{i})" for i in range(blocks))
    sums = ", ".join(f"sum(r.{name}) AS {name}" for name in SUM_COLUMNS)
    sql = (
        f"WITH blocks(block, block_start, block_end) AS (VALUES {rows}) "  # noqa: S608  (names only)
        f"SELECT blocks.block, r.model, {sums}, "
        "min(r.first_at) AS first_at, max(r.last_at) AS last_at "
        "FROM blocks JOIN usage_rollups AS r ON r.dimension = :dimension "
        "AND r.period_start >= blocks.block_start AND r.period_start < blocks.block_end "
        "GROUP BY blocks.block, r.model ORDER BY blocks.block, r.model"
    )
    params = [bindparam(f"{edge}{i}", type_=kind) for i in range(blocks) for edge in "se"]
    return (
        text(sql)
        .bindparams(*params)
        .columns(
            column("block", Integer()),
            column("model"),
            *[column(name) for name in SUM_COLUMNS],
            column("first_at", kind),
            column("last_at", kind),
        )
    )


def _sums() -> list[Any]:
    r = usage_rollups_t.c
    return [func.sum(r[name]).label(name) for name in SUM_COLUMNS]


_u = session_usage_t.c
#: Each session's tokens per model, for :meth:`UsageReads.main_models` (built once).
_MAIN_MODELS = select(
    _u.session_id,
    _u.model,
    _u.input + _u.output + _u.cache_read + _u.cache_write_5m + _u.cache_write_1h,
).where(InList(_u.session_id, "ids"))


@functools.cache
def _usage_keys(dimension: Dimension) -> Select[Any]:
    """:meth:`UsageReads.usage_keys`' statement, built once per dimension (the
    list's filter form reads the models on every page)."""
    r = usage_rollups_t.c
    column = r.model if dimension is Dimension.MODEL else r.key
    return select(column).where(r.dimension == dimension.value).distinct().order_by(column)


class UsageReads:
    """The usage queries of :class:`~webapp.sessions.queries.ReadModel`."""

    store: MessageStore

    def session_usage(
        self, session_id: str, *, with_subagents: bool = False
    ) -> dict[str, UsageTotals]:
        """A session's totals per model: its own responses, or with those of its
        subagents (and theirs), as ccusage counts a session."""
        u = session_usage_t.c
        query: Select[Any] = select(
            u.model, *[func.sum(u[name]).label(name) for name in SUM_COLUMNS]
        ).group_by(u.model)
        if with_subagents:
            c = sessions_t.c
            tree = select(c.id).where(c.id == session_id).cte("tree", recursive=True)
            tree = tree.union_all(select(c.id).where(c.parent_id == tree.c.id))
            query = query.where(u.session_id.in_(select(tree.c.id)))
        else:
            query = query.where(u.session_id == session_id)
        with self.store.read() as conn:
            return {
                row.model: UsageTotals.from_row(row._mapping)
                for row in conn.execute(query.order_by(u.model))
            }

    def usage_of_sessions(self, session_ids: Sequence[str]) -> dict[str, dict[str, UsageTotals]]:
        """The own totals per model of each of ``session_ids`` (a page of a list);
        a session without usage is missing."""
        u = session_usage_t.c
        query = select(session_usage_t).where(u.session_id.in_(list(session_ids)))
        result: dict[str, dict[str, UsageTotals]] = {}
        with self.store.read() as conn:
            for row in conn.execute(query.order_by(u.session_id, u.model)):
                result.setdefault(row.session_id, {})[row.model] = UsageTotals.from_row(
                    row._mapping
                )
        return result

    def main_models(self, session_ids: Sequence[str]) -> dict[str, str]:
        """Each of ``session_ids``' model with the most tokens (the later name on a
        tie): a list's "model" column; a session without usage is missing. Reads
        only the ids, models and token sums (a page's totals of every kind, made
        into objects, were a twelfth of a list request)."""
        best: dict[str, tuple[int, str]] = {}
        with self.store.read() as conn:
            for session_id, model, tokens in conn.execute(_MAIN_MODELS, {"ids": list(session_ids)}):
                if session_id not in best or (tokens, model) > best[session_id]:
                    best[session_id] = (tokens, model)
        return {session_id: model for session_id, (_, model) in best.items()}

    def sessions_using(self, model: str) -> Select[Any]:
        """The ids of the sessions with responses of ``model`` (for a list filter)."""
        u = session_usage_t.c
        return select(u.session_id).where(u.model == model)

    def usage_keys(self, dimension: Dimension) -> list[str]:
        """Every model, project, runner or user the ledger has counted, sorted."""
        with self.store.read() as conn:
            return [key for key in conn.execute(_usage_keys(dimension)).scalars() if key]

    def _rollup_range(
        self,
        query: Select[Any],
        dimension: Dimension,
        since: datetime | None,
        until: datetime | None,
    ) -> Select[Any]:
        r = usage_rollups_t.c
        query = query.where(r.dimension == dimension.value)
        if since is not None:
            query = query.where(r.period_start >= period_start(dimension, since))
        if until is not None:
            query = query.where(r.period_start < as_utc(until))
        return query

    def usage_by(
        self, group: UsageGroup, since: datetime | None = None, until: datetime | None = None
    ) -> list[UsageRow]:
        """Usage per ``group`` and model, ordered by group then model, over the
        rollup periods (hours, or days for project, runner and user) that start
        from ``since``'s period until ``until`` (exclusive)."""
        r = usage_rollups_t.c
        dimension = _SOURCES[group]
        if group is UsageGroup.DAY:
            key: Any = utc_day(r.period_start, self.store.dialect)
        elif group is UsageGroup.MODEL:
            key = r.model
        else:
            key = r.key
        key = key.label("group_key")
        query = self._rollup_range(
            select(key, r.model, *_sums()).group_by(key, r.model), dimension, since, until
        )
        with self.store.read() as conn:
            return [
                UsageRow(row.group_key, row.model, UsageTotals.from_row(row._mapping))
                for row in conn.execute(query.order_by(key, r.model))
            ]

    def usage_total(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> UsageTotals:
        """All usage over the hours from ``since`` until ``until``."""
        query = self._rollup_range(select(*_sums()), Dimension.MODEL, since, until)
        with self.store.read() as conn:
            return UsageTotals.from_row(conn.execute(query).one()._mapping)

    def usage_blocks(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[UsageBlock]:
        """ccusage's 5-hour blocks over the hours from ``since`` until ``until``,
        oldest first, read from the hourly rollups: a block starts at the hour of
        its first response and takes the responses of the next five hours; the
        next response after them starts a new block at its hour.

        Two bounded reads: the hours with responses (one index entry per hour and
        model), from which the blocks' starts follow; then the database sums each
        block per model (a few rows per block), so what comes back is a few rows
        per five hours, not a row per hour and model."""
        r = usage_rollups_t.c
        hours = self._rollup_range(
            select(r.period_start).distinct(), Dimension.MODEL, since, until
        ).order_by(r.period_start)
        with self.store.read() as conn:
            starts: list[datetime] = []
            for hour in conn.execute(hours).scalars():
                # ccusage also ends a block after a pause of five hours, which
                # cannot come before the block's end.
                if not starts or hour >= starts[-1] + BLOCK_LENGTH:
                    starts.append(hour)
            if not starts:
                return []
            stop = as_utc(until) if until is not None else starts[-1] + BLOCK_LENGTH
            bounds: dict[str, Any] = {"dimension": Dimension.MODEL.value}
            for i, start in enumerate(starts):
                bounds[f"s{i}"], bounds[f"e{i}"] = start, min(start + BLOCK_LENGTH, stop)
            rows = conn.execute(_block_sums(len(starts)), bounds).all()
        blocks: dict[int, UsageBlock] = {}
        for row in rows:
            totals = UsageTotals.from_row(row._mapping)
            block = blocks.get(row.block)
            if block is None:
                blocks[row.block] = UsageBlock(
                    starts[row.block], row.first_at, row.last_at, {row.model: totals}
                )
            else:
                block.models[row.model] = totals
                blocks[row.block] = UsageBlock(
                    block.start,
                    min(block.first_at, row.first_at),
                    max(block.last_at, row.last_at),
                    block.models,
                )
        return list(blocks.values())

    def costly_sessions(
        self, since: datetime | None = None, until: datetime | None = None, *, limit: int = 10
    ) -> list[CostlySession]:
        """The sessions that cost most (own responses), created from ``since``
        until ``until``, most first. A range of few sessions is read through
        ``ix_sessions_created`` and sorted; a range of many, down ``ix_sessions_cost``
        until ``limit`` are found (either way a few thousand index entries at most)."""
        c = sessions_t.c
        columns = (c.id, c.request_excerpt, c.created_at, c.total_tokens, c.cost_nanos)

        def created_in(column: Any) -> list[Any]:
            bounds = []
            if since is not None:
                bounds.append(column >= as_utc(since))
            if until is not None:
                bounds.append(column < as_utc(until))
            return bounds

        with self.store.read() as conn:
            sample = select(c.id).where(*created_in(c.created_at)).limit(_FEW_SESSIONS)
            few = conn.execute(select(func.count()).select_from(sample.subquery())).scalar_one()
            # Wrapped, creation time cannot steer the planner to its index.
            created = c.created_at if few < _FEW_SESSIONS else func.coalesce(c.created_at, None)
            query = (
                select(*columns)
                .where(c.cost_nanos > 0, *created_in(created))
                .order_by(c.cost_nanos.desc(), c.id.desc())
                .limit(limit)
            )
            return [CostlySession(**row._mapping) for row in conn.execute(query)]
