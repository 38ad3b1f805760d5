"""Many writers at once: nothing lost, nothing duplicated, no "database is locked"."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from webapp.sessions import Config, Manager, MessageStore

ROOT = Path(__file__).resolve().parents[1]


def _run_workers(*argvs: list[str]) -> list[dict]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.concurrency_process", *argv],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.slow
def test_two_processes_four_threads_append_for_ten_seconds(sqlite_url: str) -> None:
    manager = Manager(Config(timeout=__import__("datetime").timedelta(hours=1)),
                      MessageStore(sqlite_url, migrate=False))
    ids = [manager.create(f"session {i}").id for i in range(3)]
    results = _run_workers(
        ["append", sqlite_url, "10", "a", *ids], ["append", sqlite_url, "10", "b", *ids]
    )
    errors = [e for r in results for e in r["errors"]]
    assert errors == [], errors[:5]
    acknowledged = [c for r in results for c in r["acknowledged"]]
    assert len(acknowledged) > 100  # the load was real
    stored = [m.content for sid in ids for m in manager.get_messages(sid)]
    counts = Counter(stored)
    assert [c for c, n in counts.items() if n > 1] == [], "duplicated messages"
    assert set(acknowledged) == set(stored), "lost or unacknowledged messages"
    assert sum(s.message_count for s in manager.list()) == len(stored)
    with manager.store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    manager.stop()


def test_update_from_two_processes_loses_no_change(database_url: str) -> None:
    manager = Manager(Config(), MessageStore(database_url, migrate=False))
    session = manager.create("counter", {"n": 0})
    results = _run_workers(
        ["update", database_url, "150", session.id], ["update", database_url, "150", session.id]
    )
    assert [e for r in results for e in r["errors"]] == []
    assert manager.get_context(session.id, "n") == 300
    manager.stop()
