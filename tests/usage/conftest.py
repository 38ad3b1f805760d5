"""Helpers of the usage tests: messages that carry usage, and the ledger's tables
summed afresh (what the kept-in-step totals must equal)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select

from tests.api.conftest import api, tokens  # noqa: F401  (the API tests' fixtures, here too)
from webapp.sessions import Message, MessageStore
from webapp.sessions.pricing import Usage
from webapp.sessions.rows import session_usage_t, sessions_t, usage_entries_t, usage_rollups_t
from webapp.sessions.usage import Dimension, Labels, UsageTotals, period_start


def usage_message(
    model: str | None = "claude-haiku-4-5",
    *,
    at: datetime | None = None,
    input: int = 10,
    output: int = 100,
    cache_read: int = 1000,
    cache_write: int = 200,
    cost_usd: float | None = None,
    **meta: Any,
) -> Message:
    """An assistant message carrying one response's usage in the documented shape."""
    fields: dict[str, Any] = {
        "usage": {
            "input_tokens": input,
            "output_tokens": output,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
        },
        **meta,
    }
    if model is not None:
        fields["model"] = model
    if cost_usd is not None:
        fields["cost_usd"] = cost_usd
    return Message("assistant", "done", timestamp=at, meta=fields)


def entries(store: MessageStore) -> list[Any]:
    """Every ledger entry, oldest first."""
    with store.read() as conn:
        e = usage_entries_t.c
        return list(conn.execute(select(usage_entries_t).order_by(e.at, e.id)))


def entry_totals(row: Any) -> UsageTotals:
    """One ledger entry as totals (one response)."""
    usage = Usage(row.input, row.output, row.cache_read, row.cache_write_5m, row.cache_write_1h)
    return UsageTotals(usage, row.cost_nanos or 0, 1, int(row.cost_nanos is not None))


def stored_session_totals(store: MessageStore) -> dict[tuple[str, str], UsageTotals]:
    """The ``session_usage`` rows, by (session, model)."""
    with store.read() as conn:
        return {
            (r.session_id, r.model): UsageTotals.from_row(r._mapping)
            for r in conn.execute(select(session_usage_t))
        }


def stored_rollups(store: MessageStore) -> dict[tuple[str, datetime, str, str], UsageTotals]:
    """The ``usage_rollups`` rows, by (dimension, period, key, model)."""
    with store.read() as conn:
        return {
            (r.dimension, r.period_start, r.key, r.model): UsageTotals.from_row(r._mapping)
            for r in conn.execute(select(usage_rollups_t))
        }


def assert_in_step(store: MessageStore) -> None:
    """Session totals, the sessions' sort columns and every rollup equal the sums of
    the ledger's entries, computed here afresh."""
    sessions: dict[tuple[str, str], UsageTotals] = defaultdict(UsageTotals)
    rollups: dict[tuple[str, datetime, str, str], UsageTotals] = defaultdict(UsageTotals)
    for row in entries(store):
        totals = entry_totals(row)
        sessions[(row.session_id, row.model)] += totals
        labels = Labels(row.project, row.runner, row.user_name)
        for dimension in Dimension:
            start = period_start(dimension, row.at)
            rollups[(dimension.value, start, labels.key(dimension), row.model)] += totals
    assert stored_session_totals(store) == dict(sessions)
    assert stored_rollups(store) == dict(rollups)
    per_session: dict[str, UsageTotals] = defaultdict(UsageTotals)
    for (sid, _model), totals in sessions.items():
        per_session[sid] += totals
    with store.read() as conn:
        columns = {
            r.id: (r.total_tokens, r.cost_nanos)
            for r in conn.execute(
                select(sessions_t.c.id, sessions_t.c.total_tokens, sessions_t.c.cost_nanos)
            )
        }
    for sid, (total_tokens, cost) in columns.items():
        expected = per_session.get(sid, UsageTotals())
        assert (total_tokens, cost) == (expected.usage.total, expected.cost_nanos), sid
