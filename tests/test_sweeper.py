"""The sweeper: the lease, one sweep per interval across processes, takeover, the log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from webapp.sessions import Config, Manager, Message, MessageStore, Status, SweepResult
from webapp.sessions.sweeper import Sweeper

ROOT = Path(__file__).resolve().parents[1]


def test_claim_is_exclusive_and_once_per_interval(store: MessageStore, clock) -> None:
    interval = timedelta(minutes=5)
    ttl = interval
    assert store.claim_sweep("a", now=clock(), interval=interval, lease_ttl=ttl)
    # the pass is taken: nobody, not even the holder, gets it again this interval
    assert not store.claim_sweep("a", now=clock(), interval=interval, lease_ttl=ttl)
    assert not store.claim_sweep("b", now=clock(), interval=interval, lease_ttl=ttl)
    clock.advance(minutes=4)
    assert store.renew_lease("a", now=clock(), lease_ttl=ttl)
    clock.advance(minutes=1)
    # due again: the live lease is a's, so b may not take it
    assert not store.claim_sweep("b", now=clock(), interval=interval, lease_ttl=ttl)
    assert store.claim_sweep("a", now=clock(), interval=interval, lease_ttl=ttl)
    assert store.lease_holder(now=clock()) == "a"


def test_lease_lapses_and_another_takes_over(store: MessageStore, clock) -> None:
    interval = timedelta(minutes=5)
    assert store.claim_sweep("a", now=clock(), interval=interval, lease_ttl=interval)
    clock.advance(interval)  # a stopped renewing: its lease just ran out
    assert store.renew_lease("a", now=clock(), lease_ttl=interval) is False
    assert store.claim_sweep("b", now=clock(), interval=interval, lease_ttl=interval)
    assert store.lease_holder(now=clock()) == "b"


def test_release_lets_another_take_over_at_once(store: MessageStore, clock) -> None:
    interval = timedelta(minutes=5)
    assert store.claim_sweep("a", now=clock(), interval=interval, lease_ttl=interval)
    store.release_lease("a")
    clock.advance(interval)
    assert store.claim_sweep("b", now=clock(), interval=interval, lease_ttl=interval)


def test_sweeper_tick_sweeps_and_logs(manager: Manager, clock) -> None:
    s = manager.create("q")
    old = manager.create("old")
    manager.append_message(old.id, Message("user", "x"))
    sweeper = manager.make_sweeper(holder="me")
    clock.advance(days=8)
    result = sweeper.tick()
    assert result is not None
    assert result.expired_sessions == 2
    assert result.purged_messages == 1
    assert manager.get(s.id) is None or manager.get(s.id).status is Status.EXPIRED
    assert sweeper.tick() is None  # not due again yet
    (entry,) = manager.store.purge_log()
    assert entry["holder"] == "me" and entry["trigger"] == "sweeper"
    assert entry["expired_sessions"] == 2 and entry["purged_messages"] == 1
    assert entry["message_cutoff"] == clock() - manager.config.message_retention


def test_sweepers_sharing_a_lease_run_one_pass_per_interval(store: MessageStore, clock) -> None:
    """The loop needs only a lease and a pass: two of them over one store's lease
    (two processes) run the pass once per interval, the holder's."""
    passes: list[tuple[str, object]] = []

    def sweep(now, holder: str) -> SweepResult:
        passes.append((holder, now))
        return SweepResult(ran_at=now)

    interval = timedelta(minutes=5)
    first, second = (
        Sweeper(store, sweep, interval=interval, clock=clock, holder=name)
        for name in ("first", "second")
    )
    assert first.tick() is not None
    assert second.tick() is None
    clock.advance(interval)
    assert second.tick() is None  # the live lease is first's
    assert first.tick() is not None
    assert passes == [("first", clock() - interval), ("first", clock())]


def test_zero_retention_disables_purging(store: MessageStore, clock) -> None:
    manager = Manager(Config(message_retention=timedelta(0)), store, clock=clock)
    s = manager.create("q", expires_at=None)
    manager.append_message(s.id, Message("user", "x"))
    clock.advance(days=365)
    result = manager.sweep()
    assert result.purged_messages == 0 and result.purged_sessions == 0
    assert manager.get(s.id).message_count == 1


def test_dry_run_counts_and_changes_nothing(manager: Manager, clock) -> None:
    s = manager.create("q")
    manager.append_message(s.id, Message("user", "x"))
    clock.advance(days=8)
    dry = manager.sweep(dry_run=True)
    assert (dry.expired_sessions, dry.purged_messages) == (1, 1)
    assert manager.get(s.id).status is Status.PENDING
    assert manager.store.purge_log() == []
    real = manager.sweep()
    assert (real.expired_sessions, real.purged_messages) == (1, 1)


def test_start_sweeper_runs_in_background_and_stops(store: MessageStore) -> None:
    manager = Manager(Config(sweep_interval=timedelta(seconds=0.2)), store)
    sweeper = manager.start_sweeper(holder="bg")
    assert manager.start_sweeper() is sweeper  # once per process
    deadline = time.monotonic() + 10
    while not store.purge_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.purge_log()[0]["holder"] == "bg"
    manager.stop()
    assert not sweeper._thread.is_alive()


def _start(url: str, holder: str, interval: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.sweeper_process", url, holder, str(interval)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.slow
def test_three_processes_sweep_once_per_interval_and_take_over(database_url: str) -> None:
    interval = 0.5
    store = MessageStore(database_url, migrate=False)
    procs = {name: _start(database_url, name, interval) for name in ("p1", "p2", "p3")}
    try:
        deadline = time.monotonic() + 30
        while len(store.purge_log()) < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        log = list(reversed(store.purge_log()))
        assert len(log) >= 6
        assert {e["holder"] for e in log} <= set(procs)
        holder = log[-1]["holder"]  # the holder keeps its lease while it lives
        gaps = [(b["ran_at"] - a["ran_at"]).total_seconds() for a, b in pairwise(log)]
        assert min(gaps) >= interval * 0.95, f"two sweeps in one interval: {gaps}"

        os.killpg(procs[holder].pid, signal.SIGKILL)
        procs[holder].wait()
        killed_at = log[-1]["ran_at"]
        deadline = time.monotonic() + 30
        taken_over: list = []
        while not taken_over and time.monotonic() < deadline:
            time.sleep(0.1)
            taken_over = [e for e in store.purge_log() if e["holder"] != holder]
        assert taken_over, "no process took the lease over"
        successor = taken_over[0]
        assert successor["holder"] in set(procs) - {holder}
        # it took over within about two intervals (the lease's ttl) and a tick
        assert (successor["ran_at"] - killed_at).total_seconds() < interval * 5
        after = [e for e in reversed(store.purge_log()) if e["ran_at"] > killed_at]
        gaps = [(b["ran_at"] - a["ran_at"]).total_seconds() for a, b in pairwise(after)]
        assert all(g >= interval * 0.95 for g in gaps), gaps
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        store.close()
