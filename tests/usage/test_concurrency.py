"""Appends racing on the same rollup rows: none fails or deadlocks, none is lost."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

from tests.usage.conftest import assert_in_step, entries, usage_message
from webapp.sessions import Manager
from webapp.sessions.pricing import PriceTable

MODELS = ["claude-haiku-4-5", "claude-opus-4-5", "claude-sonnet-4-5", "claude-fable-5"]


def test_concurrent_batches_of_several_models_keep_the_totals(manager: Manager) -> None:
    sessions = []
    for n in range(4):
        session = manager.create("race", {"project_path": "/src/app", "user": f"u{n % 2}"})
        manager.set_running(session.id)
        sessions.append(session.id)
    errors: list[BaseException] = []
    start = threading.Barrier(len(sessions))

    def writer(session_id: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            for _ in range(15):
                models = rng.sample(MODELS, len(MODELS))  # each batch in its own order
                outcome = manager.append_messages(session_id, [usage_message(m) for m in models])
                assert outcome.status == "appended"
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(sid, i)) for i, sid in enumerate(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(entries(manager.store)) == 4 * 15 * len(MODELS)
    assert_in_step(manager.store)


def test_a_reprice_racing_appends_keeps_the_totals(manager: Manager, tmp_path: Path) -> None:
    override = tmp_path / "prices.json"
    prices = {
        "input": 2,
        "output": 10,
        "cache_write_5m": 2.5,
        "cache_write_1h": 4,
        "cache_read": 0.2,
    }
    override.write_text(json.dumps({"models": {m: prices for m in MODELS}}))
    tables = [PriceTable.load(), PriceTable.load(override)]
    sessions = []
    for _ in range(3):
        session = manager.create("race", expires_at=None)
        manager.set_running(session.id)
        manager.append_messages(session.id, [usage_message(m) for m in MODELS])
        sessions.append(session.id)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(session_id: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(20):
                models = rng.sample(MODELS, len(MODELS))
                manager.append_messages(session_id, [usage_message(m) for m in models])
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    def repricer() -> None:
        try:
            turn = 0
            while not done.is_set():
                turn += 1
                manager.store.prices = tables[turn % 2]
                manager.store.reprice(batch_size=7)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(sid, i)) for i, sid in enumerate(sessions)]
    pricing = threading.Thread(target=repricer)
    pricing.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    pricing.join()
    assert errors == []
    manager.store.reprice()  # whichever table is current, every cost by it
    assert_in_step(manager.store)
