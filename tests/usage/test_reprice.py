"""``reprice``: stored costs restated after a price change, in batches, idempotent;
``sessionboard reprice [--since]`` with the instance's prices.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import FakeClock
from tests.usage.conftest import assert_in_step, entries, usage_message
from webapp.extensions import db
from webapp.sessions import Manager
from webapp.sessions.pricing import PriceTable
from webapp.sessions.queries import ReadModel

#: Haiku 4.5 at twice its price, and a price for a model the shipped table lacks.
OVERRIDE = {
    "version": "test-2",
    "models": {
        "claude-haiku-4-5": {
            "input": 2,
            "output": 10,
            "cache_write_5m": 2.5,
            "cache_write_1h": 4,
            "cache_read": 0.2,
        },
        "claude-fable-5": {
            "input": 1,
            "output": 1,
            "cache_write_5m": 1,
            "cache_write_1h": 1,
            "cache_read": 1,
        },
    },
}
HAIKU_COST = 10 * 1_000 + 100 * 5_000 + 1_000 * 100 + 200 * 1_250  # usage_message at list price
FABLE_TOKENS = 10 + 100 + 1_000 + 200


def _override(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "prices.json"
    path.write_text(json.dumps(OVERRIDE))
    return path


def _fill(manager: Manager, clock: FakeClock) -> str:
    session = manager.create("ship it", expires_at=None)
    manager.set_running(session.id)
    manager.append_messages(
        session.id,
        [
            usage_message("claude-haiku-4-5"),
            usage_message("claude-fable-5"),
            usage_message("claude-haiku-4-5", cost_usd=0.5),
            usage_message("claude-opus-4-5"),
        ],
    )
    clock.advance(days=2)
    manager.append_message(session.id, usage_message("claude-haiku-4-5"))
    return session.id


def test_reprice_restates_costs_totals_and_rollups(
    manager: Manager, clock: FakeClock, tmp_path: Path
) -> None:
    sid = _fill(manager, clock)
    store = manager.store
    opus_before = [e.cost_nanos for e in entries(store) if e.model == "claude-opus-4-5"]
    store.prices = PriceTable.load(_override(tmp_path))
    progress: list[int] = []
    result = store.reprice(batch_size=2, progress=progress.append)
    assert (result.entries, result.changed) == (4, 3)  # the runner's own cost is not read
    assert progress == [2, 2]
    costs = [(e.model, e.cost_nanos, e.cost_source) for e in entries(store)]
    assert costs == [
        ("claude-haiku-4-5", 2 * HAIKU_COST, "table"),
        ("claude-fable-5", FABLE_TOKENS * 1_000, "table"),  # had no price, has one now
        ("claude-haiku-4-5", 500_000_000, "runner"),
        ("claude-opus-4-5", opus_before[0], "table"),
        ("claude-haiku-4-5", 2 * HAIKU_COST, "table"),
    ]
    totals = ReadModel(store).session_usage(sid)
    assert totals["claude-haiku-4-5"].cost == 4 * HAIKU_COST + 500_000_000
    assert totals["claude-fable-5"].cost == FABLE_TOKENS * 1_000
    assert_in_step(store)
    assert store.reprice().changed == 0  # idempotent
    assert_in_step(store)


def test_reprice_since_a_day_leaves_older_responses(
    manager: Manager, clock: FakeClock, tmp_path: Path
) -> None:
    _fill(manager, clock)
    store = manager.store
    store.prices = PriceTable.load(_override(tmp_path))
    result = store.reprice(clock().replace(hour=0, minute=0))
    assert (result.entries, result.changed) == (1, 1)
    haiku = [e.cost_nanos for e in entries(manager.store) if e.cost_source == "table"][::3]
    assert haiku == [HAIKU_COST, 2 * HAIKU_COST]
    assert_in_step(store)
    # back to the shipped table: every cost as first written
    store.prices = PriceTable.load()
    assert store.reprice().changed == 1
    assert [e.cost_nanos for e in entries(store)][0::4] == [HAIKU_COST, HAIKU_COST]
    assert_in_step(store)


def test_the_reprice_command_uses_the_instance_prices(
    app: Any, database_url: str, clock: FakeClock
) -> None:
    from webapp import create_app

    with app.app_context():
        manager = app.extensions["sessionboard.manager"]
        manager.clock = clock
        _fill(manager, clock)
    _override(Path(app.instance_path))
    repriced = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": database_url})
    try:
        day = clock().date().isoformat()
        result = repriced.test_cli_runner().invoke(args=["reprice", "--since", day])
        assert result.exit_code == 0, result.output
        assert "repriced 1 responses with prices 2026-11-30+test-2: 1 changed" in result.output
        result = repriced.test_cli_runner().invoke(args=["reprice"])
        assert "repriced 4 responses with prices 2026-11-30+test-2: 2 changed" in result.output
        bad = repriced.test_cli_runner().invoke(args=["reprice", "--since", "yesterday"])
        assert bad.exit_code == 2 and "Invalid value for '--since'" in bad.output
        with repriced.app_context():
            assert_in_step(repriced.extensions["sessionboard.manager"].store)
    finally:
        repriced.extensions["sessionboard.manager"].stop()
        with repriced.app_context():
            db.engine.dispose()
