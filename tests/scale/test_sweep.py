"""The sweep in short writes: each takes at most a batch of rows, re-checks its
rule when it writes, and the purge after a recorded pass still finds what a
reviewer un-kept or an import accepted, on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from tests.conftest import FakeClock
from tests.scale.plans import captured
from webapp.sessions import Manager, Message, MessageStore, Session, Status
from webapp.sessions.rollups import FEWEST_ROWS, LOCK_BUDGET_S, Chunks
from webapp.sessions.store import sessions_t


def test_chunks_follow_the_lock_budget_within_their_bounds() -> None:
    chunks = Chunks(5000)
    assert chunks.size == 200  # starts small: the first write tells how fast rows go
    chunks.took(LOCK_BUDGET_S / 2)
    assert chunks.size == 400
    chunks.took(LOCK_BUDGET_S * 1.25)
    assert chunks.size == 320
    for _ in range(20):
        chunks.took(0.0)
    assert chunks.size == 5000  # never more than the batch size
    for _ in range(20):
        chunks.took(10.0)
    assert chunks.size == FEWEST_ROWS  # a commit costs about the same for 1 row as 200
    sessions = Chunks(5000, first=20)
    assert sessions.size == 20
    sessions.took(10.0)
    assert sessions.size == 20  # never fewer than it started with
    assert Chunks(3).size == 3
    small = Chunks(3)
    small.took(10.0)
    assert small.size == 3


@pytest.fixture
def writes(manager: Manager, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the store's write transactions (one entry per write)."""
    store = manager.store
    seen: list[int] = []
    plain = store.write

    @contextmanager
    def counted(**options: Any) -> Iterator[Any]:
        seen.append(1)
        with plain(**options) as conn:
            yield conn

    monkeypatch.setattr(store, "write", counted)
    return seen


def test_expiry_writes_at_most_a_batch_each(
    manager: Manager, clock: FakeClock, writes: list[int]
) -> None:
    due = [manager.create(f"due {i}").id for i in range(5)]
    manager.create("fresh", expires_at=clock() + timedelta(hours=2))
    clock.advance(hours=1)
    writes.clear()
    assert manager.store.expire_due(clock(), batch_size=2) == 5
    assert len(writes) >= 3
    assert {s.id for s in manager.list(Status.EXPIRED)} == set(due)


def test_expiry_rechecks_when_it_writes(
    manager: Manager, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session extended between the sweep's read and its write stays running."""
    store = manager.store
    ids = [manager.create(f"due {i}").id for i in range(3)]
    for sid in ids:
        manager.set_running(sid)
    clock.advance(hours=1)
    plain = store.write

    @contextmanager
    def extended_first(**options: Any) -> Iterator[Any]:
        with plain(**options) as conn:
            c = sessions_t.c
            conn.execute(update(sessions_t).where(c.id == ids[0]).values(expires_at=None))
            yield conn

    monkeypatch.setattr(store, "write", extended_first)
    assert store.expire_due(clock()) == 2
    monkeypatch.undo()
    assert manager.get(ids[0]).status is Status.RUNNING


def test_purge_messages_in_batches(manager: Manager, clock: FakeClock, writes: list[int]) -> None:
    store = manager.store
    old = clock() - timedelta(days=30)
    sid = manager.create("old", created_at=old, expires_at=None).id
    store.append_messages(sid, [Message("user", str(i), timestamp=old) for i in range(7)], now=old)
    writes.clear()
    assert store.purge_older_than(clock() - timedelta(days=7), batch_size=3) == 7
    assert len(writes) >= 3
    assert manager.get(sid).message_count == 0


def test_after_a_recorded_pass_the_purge_finds_unkept_and_imported_sessions(
    manager: Manager, clock: FakeClock
) -> None:
    store = manager.store
    old = clock() - timedelta(days=30)
    kept = manager.create("kept", created_at=old, expires_at=None).id
    store.append_messages(kept, [Message("user", "k", timestamp=old)], now=old)
    manager.set_keep(kept, True)
    assert manager.sweep_and_record(trigger="test").purged_messages == 0
    clock.advance(minutes=5)
    # Below the last pass's cutoff: a session un-kept, and an import accepted.
    manager.set_keep(kept, False)
    store.upsert_session(
        Session(
            id="imported",
            status=Status.COMPLETED,
            created_at=old,
            last_activity=clock(),
            expires_at=None,
        )
    )
    store.append_messages(
        "imported",
        [Message("user", str(i), timestamp=old + timedelta(minutes=i)) for i in range(3)],
        now=clock(),
        require_open=False,
    )
    assert manager.sweep(dry_run=True).purged_messages == 4
    assert manager.sweep_and_record(trigger="test").purged_messages == 4
    assert manager.get(kept).message_count == 0
    assert store.get_messages("imported") == []


def test_a_later_pass_never_walks_old_messages_of_kept_sessions(
    manager: Manager, clock: FakeClock
) -> None:
    """After a recorded pass, every read of messages the purge makes has a lower
    bound on time (the last pass's cutoff) or names its sessions: the kept
    sessions' old messages are not stepped over again."""
    store = manager.store
    old = clock() - timedelta(days=30)
    for i in range(3):
        kept = manager.create(f"kept {i}", created_at=old, expires_at=None).id
        store.append_messages(kept, [Message("user", "k", timestamp=old)], now=old)
        manager.set_keep(kept, True)
    manager.sweep_and_record(trigger="test")
    clock.advance(minutes=5)
    with captured(store.engine) as statements:
        manager.sweep_and_record(trigger="test")
    reads = [" ".join(s.split()) for s, _ in statements if "FROM messages" in s]
    assert reads
    for read in reads:
        bounded = "messages.timestamp >=" in read or "messages.session_id IN" in read
        assert bounded or "messages.id IN" in read, read


def test_the_sweep_checkpoints_sqlite_outside_the_write_lock(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep's writes (``durable=False``) commit without SQLite's own WAL
    checkpoint, which ran inside the write lock (every writer waiting, up to a
    second on a large file); each is followed by a passive checkpoint with the
    lock free, so the WAL is copied into the file all the same. Other writes
    keep SQLite's checkpoint."""
    from webapp.sessions.engine import SQLITE_AUTOCHECKPOINT, _writer_lock
    from webapp.sessions.types import Config

    store = MessageStore(sqlite_url, migrate=False)
    clock = FakeClock()
    manager = Manager(Config(), store, clock=clock)
    try:
        for i in range(12):
            manager.create(f"due {i}", expires_at=clock() + timedelta(minutes=1))
        clock.advance(hours=1)
        lock = _writer_lock(store.engine)
        assert lock is not None
        held: list[bool] = []
        plain = store.checkpoint

        def checkpoint() -> None:
            held.append(lock._depth > 0)
            plain()

        monkeypatch.setattr(store, "checkpoint", checkpoint)
        with store.write(durable=False) as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        with store.write() as conn:
            kept = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert kept == SQLITE_AUTOCHECKPOINT
        assert store.expire_due(clock(), batch_size=5) == 12
        assert held and not any(held)
        assert len(held) >= 3  # one after each of the expiry's writes, and the fold's
        raw = store.engine.raw_connection()
        try:
            busy, frames, copied = raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            raw.close()
        assert busy == 0 and frames == copied
    finally:
        manager.stop()
