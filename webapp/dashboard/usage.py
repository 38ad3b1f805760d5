"""The usage part of the stats: tokens and cost per day stacked by model, per
project, runner and user, ccusage's 5-hour blocks and the costliest sessions, over
a range of UTC days; each chart with its data table, which is also its CSV.

Every figure comes from the read model's usage reads (rollups, no session scan).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from werkzeug.datastructures import MultiDict

from webapp import params
from webapp.dashboard import charts
from webapp.extensions import get_queries
from webapp.params import BadParameter
from webapp.sessions.pricing import NANOS_PER_USD, format_usd
from webapp.sessions.queries import ReadModel
from webapp.sessions.usage import Labels, UsageTotals, usage_entry
from webapp.sessions.usage_reads import CostlySession, UsageGroup, UsageRow

#: The range shown when none is asked: the last 30 days.
DEFAULT_DAYS = 30
#: The longest range one page draws (a day per bar).
MAX_DAYS = 366
#: The table columns of a row of totals.
TOTALS_HEADERS = ["responses", "input", "output", "cache read", "cache write", "tokens", "cost"]


@dataclass(frozen=True)
class DayRange:
    """UTC days from ``first`` to ``last``, both included."""

    first: date
    last: date

    @classmethod
    def of(cls, args: MultiDict[str, str], today: date) -> DayRange:
        """The range of the ``since`` and ``until`` days of a query (by default the
        last 30 days to ``today``); :class:`BadParameter` when malformed, reversed
        or longer than :data:`MAX_DAYS`."""
        last = params.day(args, "until") or today
        first = params.day(args, "since") or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            raise BadParameter("since", "must not be after “until”")
        if (last - first).days >= MAX_DAYS:
            raise BadParameter("since", f"must be less than {MAX_DAYS} days before “until”")
        return cls(first, last)

    @property
    def since(self) -> datetime:
        """Midnight UTC of the first day."""
        return datetime.combine(self.first, time(), UTC)

    @property
    def until(self) -> datetime:
        """Midnight UTC after the last day (exclusive)."""
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

    def days(self) -> list[str]:
        """Every day of the range as ``YYYY-MM-DD``."""
        count = (self.last - self.first).days + 1
        return [(self.first + timedelta(days=i)).isoformat() for i in range(count)]


def dollars(nanos: int) -> float:
    """Nano-dollars as dollars (for a chart's scale)."""
    return nanos / NANOS_PER_USD


def totals_cells(totals: UsageTotals) -> list[str]:
    """A row of totals as the data tables show it (:data:`TOTALS_HEADERS`)."""
    usage = totals.usage
    cost = format_usd(totals.cost)
    if totals.partly_priced:
        cost += " (partly priced)"
    return [
        str(totals.responses),
        str(usage.input),
        str(usage.output),
        str(usage.cache_read),
        str(usage.cache_write),
        str(usage.total),
        cost,
    ]


def _stacked_per_day(
    chart_id: str,
    title: str,
    description: str,
    days: list[str],
    series: Mapping[str, list[float]],
    unit: str,
) -> charts.Chart:
    chart = charts.stacked_bars(chart_id, title, description, days, series)
    chart.headers = ["day", *series, "total"]
    chart.rows = [
        [day, *(_amount(values[i], unit) for values in series.values()),
         _amount(sum(values[i] for values in series.values()), unit)]
        for i, day in enumerate(days)
    ]  # fmt: skip
    return chart


def _amount(value: float, unit: str) -> str:
    return f"${value:,.2f}" if unit == "$" else f"{int(value)}"


def _per_key(
    chart_id: str, title: str, description: str, rows: list[UsageRow], what: str
) -> charts.Chart:
    """Cost per project, runner or user (bars), its table with every total."""
    per_key: dict[str, UsageTotals] = {}
    for row in rows:
        per_key[row.key] = per_key.get(row.key, UsageTotals()) + row.totals
    keys = sorted(per_key, key=lambda k: (-per_key[k].cost_nanos, k))
    labels = [key or "(not said)" for key in keys]
    chart = charts.bars(
        chart_id,
        title,
        description,
        labels,
        [dollars(per_key[k].cost_nanos) for k in keys],
        unit="",
        value_header="cost ($)",
    )
    chart.headers = [what, *TOTALS_HEADERS]
    chart.rows = [[label, *totals_cells(per_key[k])] for label, k in zip(labels, keys, strict=True)]
    return chart


def usage_charts(reads: ReadModel, days: DayRange) -> list[charts.Chart]:
    """The usage charts of ``days``."""
    since, until, labels = days.since, days.until, days.days()
    per_day = reads.usage_by(UsageGroup.DAY, since, until)
    index = {day: i for i, day in enumerate(labels)}
    cost: dict[str, list[float]] = {}
    tokens: dict[str, list[float]] = {}
    for row in per_day:
        i = index.get(row.key)
        if i is None:
            continue
        cost.setdefault(row.model, [0.0] * len(labels))[i] += dollars(row.totals.cost_nanos)
        tokens.setdefault(row.model, [0.0] * len(labels))[i] += row.totals.usage.total
    # To a hundredth of a cent: a day of a few cheap responses still draws a bar.
    cost = {m: [round(v, 4) for v in values] for m, values in cost.items()}
    models = sorted(cost, key=lambda m: (-sum(cost[m]), m))
    range_text = f"{days.first.isoformat()} to {days.last.isoformat()} (UTC)"
    blocks = reads.usage_blocks(since, until)
    block_chart = charts.bars(
        "usage-blocks",
        "Cost per 5-hour block",
        f"ccusage's 5-hour billing blocks, {range_text}: a block starts at the hour of"
        " its first response and lasts five hours.",
        [b.start.strftime("%m-%d %H:00") for b in blocks],
        [dollars(b.totals.cost_nanos) for b in blocks],
        value_header="cost ($)",
    )
    block_chart.headers = ["start (UTC)", "end", "models", *TOTALS_HEADERS]
    block_chart.rows = [
        [
            b.start.strftime("%Y-%m-%d %H:00"),
            b.end.strftime("%Y-%m-%d %H:00"),
            ", ".join(sorted(b.models)),
            *totals_cells(b.totals),
        ]
        for b in blocks
    ]
    return [
        _stacked_per_day(
            "usage-cost-per-day",
            "Cost per day by model",
            f"What the responses of each day cost, {range_text}, stacked by model"
            " (models without a price add nothing).",
            labels,
            {m: cost[m] for m in models},
            "$",
        ),
        _stacked_per_day(
            "usage-tokens-per-day",
            "Tokens per day by model",
            f"Every token (input, output, cache read and write) of each day, {range_text}.",
            labels,
            {m: tokens[m] for m in models},
            "",
        ),
        _per_key(
            "usage-projects",
            "Cost per project",
            f"By the sessions' project_path, {range_text}.",
            reads.usage_by(UsageGroup.PROJECT, since, until),
            "project",
        ),
        _per_key(
            "usage-runners",
            "Cost per runner",
            f"By the API token that reported the usage (or the context's runner), {range_text}.",
            reads.usage_by(UsageGroup.RUNNER, since, until),
            "runner",
        ),
        _per_key(
            "usage-users",
            "Cost per user",
            f"By the sessions' user (when the runner reports one), {range_text}.",
            reads.usage_by(UsageGroup.USER, since, until),
            "user",
        ),
        block_chart,
    ]


def session_usage(reads: ReadModel, session_id: str) -> list[tuple[str, dict[str, UsageTotals]]]:
    """A session's totals per model, labelled: its own responses, and with its
    subagents' when they add any (empty: no usage)."""
    own = reads.session_usage(session_id)
    with_subagents = reads.session_usage(session_id, with_subagents=True)
    if not own and not with_subagents:
        return []
    shown = [("This session's own responses", own)]
    if with_subagents != own:
        shown.append(("With its subagents (as ccusage counts a session)", with_subagents))
    return shown


@dataclass(frozen=True)
class ResponseCost:
    """One API response of a turn as the turn header's breakdown lists it."""

    model: str
    tokens: int
    cost: str


@dataclass(frozen=True)
class TurnCost:
    """What a turn's responses cost together (``total``: priced ones; ``unpriced``:
    how many had no price) and each response's part, for the header's breakdown."""

    total: str
    unpriced: int
    responses: list[ResponseCost]


def turn_cost(messages: Iterable[Any]) -> TurnCost | None:
    """The cost of the responses among ``messages`` (each a stored message with
    ``meta``), priced as the ledger prices them; None when none carries usage."""
    prices = get_queries().prices
    now = datetime.now(UTC)
    nanos, unpriced, responses = 0, 0, []
    for message in messages:
        meta = message.meta
        if not isinstance(meta, Mapping) or "usage" not in meta:
            continue
        entry = usage_entry("", meta, now, Labels(), prices)
        if entry is None:
            continue
        if entry.cost_nanos is None:
            unpriced += 1
        else:
            nanos += entry.cost_nanos
        responses.append(ResponseCost(entry.model, entry.usage.total, format_usd(entry.cost_nanos)))
    if not responses:
        return None
    total = format_usd(nanos) if unpriced < len(responses) else format_usd(None)
    return TurnCost(total, unpriced, responses)


def run_length(span: timedelta) -> str:
    """How long a session ran, to the largest two units: ``2d 3h``, ``4m 5s``, ``9s``."""
    seconds = max(int(span.total_seconds()), 0)
    parts: list[str] = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def costly_sessions(reads: ReadModel, days: DayRange, limit: int = 10) -> list[CostlySession]:
    """The costliest sessions created in ``days``."""
    return reads.costly_sessions(days.since, days.until, limit=limit)


def chart_csv(chart: charts.Chart) -> str:
    """A chart's data table as CSV (its headers, then its rows); a cell that a
    spreadsheet would read as a formula (a project named ``=cmd()``) is quoted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(chart.headers)
    writer.writerows([[_inert(cell) for cell in row] for row in chart.rows])
    return out.getvalue()


def _inert(cell: str) -> str:
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
