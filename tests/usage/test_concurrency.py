"""Appends racing on the same rollup rows: none fails or deadlocks, none is lost."""

from __future__ import annotations

import random
import threading

from tests.usage.conftest import assert_in_step, entries, usage_message
from webapp.sessions import Manager

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
