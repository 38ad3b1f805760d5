"""The read model's usage aggregates: per day, model, project, runner and user,
ccusage's 5-hour blocks and the costliest sessions, read from the rollups and
indexes (EXPLAIN shows no scan of sessions, messages or rollups)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from tests.usage.conftest import entries, entry_totals, usage_message
from webapp.sessions import Manager, usage_reads
from webapp.sessions.queries import ReadModel
from webapp.sessions.usage import Dimension, UsageTotals
from webapp.sessions.usage_reads import UsageGroup

DAY1 = datetime(2026, 1, 15, tzinfo=UTC)


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return DAY1 + timedelta(days=day, hours=hour, minutes=minute)


def _session(manager: Manager, **context: Any) -> str:
    session = manager.create("ship it", context, expires_at=None, created_at=DAY1)
    manager.set_running(session.id)
    return session.id


@pytest.fixture
def filled(manager: Manager) -> Iterator[ReadModel]:
    """Two projects, two runners, one user, over two days and two models."""
    app = _session(manager, project_path="/src/app", runner="ci", user="ana")
    lib = _session(manager, project_path="/src/lib", runner="slack-bot")
    manager.append_messages(
        app,
        [
            usage_message("claude-haiku-4-5", at=_at(0, 10, 20), output=1),
            usage_message("claude-haiku-4-5", at=_at(0, 11, 50), output=2),
            usage_message("claude-opus-4-5", at=_at(0, 14, 10), output=4),
            usage_message("claude-haiku-4-5", at=_at(0, 15, 30), output=8),
        ],
    )
    manager.append_messages(
        lib,
        [
            usage_message("claude-haiku-4-5", at=_at(0, 20, 10), output=16),
            usage_message("claude-fable-5", at=_at(1, 3, 0), output=32),
        ],
    )
    yield ReadModel(manager.store)


def _outputs(rows: Any) -> dict[tuple[str, str], int]:
    return {(r.key, r.model): r.totals.usage.output for r in rows}


def test_usage_per_day_model_project_runner_and_user(filled: ReadModel) -> None:
    assert _outputs(filled.usage_by(UsageGroup.DAY)) == {
        ("2026-01-15", "claude-haiku-4-5"): 27,
        ("2026-01-15", "claude-opus-4-5"): 4,
        ("2026-01-16", "claude-fable-5"): 32,
    }
    assert _outputs(filled.usage_by(UsageGroup.MODEL)) == {
        ("claude-fable-5", "claude-fable-5"): 32,
        ("claude-haiku-4-5", "claude-haiku-4-5"): 27,
        ("claude-opus-4-5", "claude-opus-4-5"): 4,
    }
    assert _outputs(filled.usage_by(UsageGroup.PROJECT)) == {
        ("/src/app", "claude-haiku-4-5"): 11,
        ("/src/app", "claude-opus-4-5"): 4,
        ("/src/lib", "claude-haiku-4-5"): 16,
        ("/src/lib", "claude-fable-5"): 32,
    }
    assert _outputs(filled.usage_by(UsageGroup.RUNNER, since=_at(1, 0))) == {
        ("slack-bot", "claude-fable-5"): 32
    }
    assert _outputs(filled.usage_by(UsageGroup.USER, until=_at(1, 0))) == {
        ("", "claude-haiku-4-5"): 16,
        ("ana", "claude-haiku-4-5"): 11,
        ("ana", "claude-opus-4-5"): 4,
    }
    # a range in hours: from the hour of `since` to `until`, exclusive
    hours = filled.usage_by(UsageGroup.MODEL, since=_at(0, 11, 30), until=_at(0, 15))
    assert _outputs(hours) == {
        ("claude-haiku-4-5", "claude-haiku-4-5"): 2,
        ("claude-opus-4-5", "claude-opus-4-5"): 4,
    }
    total = filled.usage_total()
    assert (total.usage.output, total.responses, total.priced) == (63, 6, 5)


def test_five_hour_blocks_as_ccusage_makes_them(filled: ReadModel) -> None:
    blocks = filled.usage_blocks()
    assert [(b.start, b.first_at, b.last_at) for b in blocks] == [
        (_at(0, 10), _at(0, 10, 20), _at(0, 14, 10)),  # 10:00 to 15:00
        (_at(0, 15), _at(0, 15, 30), _at(0, 15, 30)),  # 15:30 is past the first's end
        (_at(0, 20), _at(0, 20, 10), _at(0, 20, 10)),  # 20:10: past 15:00 + 5 h
        (_at(1, 3), _at(1, 3), _at(1, 3)),
    ]
    assert {m: t.usage.output for m, t in blocks[0].models.items()} == {
        "claude-haiku-4-5": 3,
        "claude-opus-4-5": 4,
    }
    assert blocks[0].totals.usage.output == 7
    assert blocks[-1].totals.cost is None  # claude-fable-5: no price
    assert blocks[-1].active(_at(1, 7, 59)) and not blocks[-1].active(_at(1, 8))
    assert len(filled.usage_blocks(since=_at(0, 16), until=_at(1, 0))) == 1


def test_the_costliest_sessions_first(manager: Manager, filled: ReadModel) -> None:
    cheap = _session(manager)
    small = usage_message("claude-haiku-4-5", at=_at(1, 5), output=0, cache_read=0, cache_write=0)
    manager.append_message(cheap, small)
    ranked = filled.costly_sessions()
    assert [s.cost_nanos for s in ranked] == sorted((s.cost_nanos for s in ranked), reverse=True)
    assert len(ranked) == 3 and ranked[-1].id == cheap
    assert ranked[0].total_tokens > 0
    assert filled.costly_sessions(limit=1) == ranked[:1]
    assert filled.costly_sessions(since=DAY1 + timedelta(days=1)) == []


_SCANS = {
    # SQLite: "SCAN t" without an index is a full scan; PostgreSQL with sequential
    # scans disabled still shows one when no index can serve the query.
    "sqlite": re.compile(r"SCAN (sessions|messages|usage_rollups|session_usage)\b(?! USING)"),
    "postgresql": re.compile(r"Seq Scan on (sessions|messages|usage_rollups|session_usage)\b"),
}


def test_the_aggregates_read_no_table_from_end_to_end(manager: Manager, filled: ReadModel) -> None:
    store = manager.store
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        for group in UsageGroup:
            filled.usage_by(group, since=DAY1, until=_at(2, 0))
        filled.usage_blocks(since=DAY1)
        filled.usage_total(since=DAY1)
        filled.costly_sessions(since=DAY1)
        filled.session_usage("x", with_subagents=True)
        filled.usage_of_sessions(["x", "y"])
        for dimension in Dimension:
            filled.usage_keys(dimension)
        with store.read() as conn:
            conn.execute(filled.sessions_using("claude-opus-4-5")).all()
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    # costly_sessions: a bounded count, then the query; usage_blocks: the hours, then the sums
    assert len(statements) == 17
    for statement, parameters in statements:
        assert " messages" not in statement
        with store.read() as conn:
            if store.dialect == "postgresql":
                conn.execute(text("SET enable_seqscan = off"))
                plan = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
            else:
                plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        shown = "\n".join(str(line[-1]) for line in plan)
        assert not _SCANS[store.dialect].search(shown), f"{statement}\n{shown}"


def test_a_page_of_sessions_their_models_and_the_filters(
    manager: Manager, filled: ReadModel
) -> None:
    with manager.store.read() as conn:
        ids = list(conn.execute(filled.sessions_using("claude-fable-5")).scalars())
        opus = list(conn.execute(filled.sessions_using("claude-opus-4-5")).scalars())
    assert len(ids) == len(opus) == 1 and ids != opus
    page = filled.usage_of_sessions([*ids, *opus, "unknown"])
    assert set(page) == {*ids, *opus}
    assert set(page[ids[0]]) == {"claude-haiku-4-5", "claude-fable-5"}
    assert page[opus[0]]["claude-opus-4-5"].usage.output == 4
    # The list's model column: each session's model with the most tokens.
    assert filled.main_models([*ids, *opus, "unknown"]) == {
        sid: max(models, key=lambda m: (models[m].usage.total, m)) for sid, models in page.items()
    }
    assert filled.main_models([]) == {}
    assert filled.usage_keys(Dimension.MODEL) == [
        "claude-fable-5",
        "claude-haiku-4-5",
        "claude-opus-4-5",
    ]
    assert filled.usage_keys(Dimension.PROJECT) == ["/src/app", "/src/lib"]
    assert filled.usage_keys(Dimension.USER) == ["ana"]  # "" (not said) is no choice


def test_the_costliest_sessions_are_the_same_down_either_index(
    manager: Manager, filled: ReadModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few sessions in the range: sorted from the creation index; many: read down the
    cost index. Both give the same rows."""
    ranges = [(None, None), (DAY1, _at(1, 0)), (_at(5, 0), _at(6, 0))]
    few = [filled.costly_sessions(since, until, limit=2) for since, until in ranges]
    monkeypatch.setattr(usage_reads, "_FEW_SESSIONS", 1)
    many = [filled.costly_sessions(since, until, limit=2) for since, until in ranges]
    assert few == many
    assert [len(rows) for rows in few] == [2, 2, 0]


def _blocks_from_entries(store: Any, since: datetime | None = None) -> list[Any]:
    """ccusage's blocks summed straight from the ledger's entries: a response at or
    after its block's start + 5 hours starts a block at its own hour."""
    blocks: list[tuple[datetime, datetime, datetime, dict[str, UsageTotals]]] = []
    for entry in entries(store):
        if since is not None and entry.at < since:
            continue
        if not blocks or entry.at >= blocks[-1][0] + usage_reads.BLOCK_LENGTH:
            hour = entry.at.replace(minute=0, second=0, microsecond=0)
            blocks.append((hour, entry.at, entry.at, {}))
        start, first_at, _last, models = blocks[-1]
        models[entry.model] = models.get(entry.model, UsageTotals()) + entry_totals(entry)
        blocks[-1] = (start, first_at, entry.at, models)
    return blocks


def test_five_hour_blocks_equal_a_direct_computation_from_the_ledger(manager: Manager) -> None:
    rng = random.Random(14)
    models = ["claude-haiku-4-5", "claude-opus-4-5", "claude-fable-5"]
    at = DAY1
    messages = []
    for _ in range(120):
        # Mostly minutes apart, sometimes hours: blocks of every length and gaps.
        at += timedelta(minutes=rng.choice([1, 7, 25, 59, 61, 130, 299, 300, 301, 420]))
        messages.append(usage_message(rng.choice(models), at=at, output=rng.randint(1, 999)))
    manager.append_messages(_session(manager), messages)
    reads = ReadModel(manager.store)
    since = DAY1 + timedelta(hours=31, minutes=20)
    for start in (None, since):
        got = [(b.start, b.first_at, b.last_at, b.models) for b in reads.usage_blocks(start)]
        want = _blocks_from_entries(manager.store, start and start.replace(minute=0))
        assert len(got) > 10
        assert got == want
