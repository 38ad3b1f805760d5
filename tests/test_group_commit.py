"""Group commit of appends (issue 13, item 3): concurrent appends of one process
share one transaction and one commit, each caller hears back only after that
commit, and an append that fails in a group takes nothing of the others with it.

A group forms while its leader is busy: these tests hold the first append's
group in its ``start`` step until the other appends wait behind it, so the
second group holds all of them, on both engines.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select

from webapp.sessions import Manager, Message, MessageStore, engine
from webapp.sessions.engine import _group_of
from webapp.sessions.rows import messages_t

WAITING = 5


def _running(manager: Manager, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        session = manager.create("group", expires_at=None)
        manager.set_running(session.id)
        ids.append(session.id)
    return ids


def _stored(store: MessageStore, session_id: str) -> int:
    """Messages of a session seen from a connection of its own (committed only)."""
    with store.engine.connect() as conn:
        query = select(func.count()).where(messages_t.c.session_id == session_id)
        return int(conn.execute(query).scalar_one())


class Grouped:
    """Runs one append, holds its group, queues ``WAITING`` more behind it, then
    lets them go: they commit as one group."""

    def __init__(self, manager: Manager, monkeypatch: pytest.MonkeyPatch) -> None:
        self.manager = manager
        self.store = manager.store
        self.results: dict[str, Any] = {}
        self.release = threading.Event()
        held = threading.Event()
        lock_sessions = self.store._lock_sessions

        def start(conn: Connection, keys: list[str]) -> None:
            if not held.is_set():  # the first group waits until the others queue
                held.set()
                assert self.release.wait(30)
            lock_sessions(conn, keys)

        monkeypatch.setattr(self.store, "_lock_sessions", start)
        self.held = held

    def append(self, session_id: str, text: str) -> threading.Thread:
        def run() -> None:
            try:
                self.results[session_id] = self.manager.append_messages(
                    session_id, [Message("user", text)]
                ).status
            except Exception as exc:  # noqa: BLE001  (checked by the test)
                self.results[session_id] = exc

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def run(self, first: str, others: list[str], before_release: Callable[[], None]) -> None:
        threads = [self.append(first, "first")]
        assert self.held.wait(30)
        threads += [self.append(sid, f"to {sid}") for sid in others]
        group = _group_of(self.store.engine, "append")
        for _ in range(3000):  # until all wait behind the held group
            with group.cond:
                if len(group.waiting) == len(others):
                    break
            threading.Event().wait(0.01)
        before_release()
        self.release.set()
        for thread in threads:
            thread.join(60)


@pytest.fixture
def waiting(manager: Manager) -> tuple[str, list[str]]:
    """A running session for the held group's append, and ``WAITING`` for those
    that queue behind it."""
    first, *others = _running(manager, WAITING + 1)
    return first, others


def test_concurrent_appends_commit_together_and_answer_after_the_commit(
    manager: Manager, waiting: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = manager.store
    first, others = waiting
    commits: list[int] = []
    in_commit = threading.Event()
    let_commit = threading.Event()

    @event.listens_for(store.engine, "commit")
    def _count(_conn: Connection) -> None:
        commits.append(1)
        if len(commits) == 2:  # the group of the waiting appends
            in_commit.set()
            assert let_commit.wait(30)

    grouped = Grouped(manager, monkeypatch)
    # The second group's commit is held: no caller of it may have its answer yet.
    checker = threading.Thread(target=lambda: in_commit.wait(30))
    try:
        release_thread = threading.Thread(target=grouped.run, args=(first, others, lambda: None))
        release_thread.start()
        checker.start()
        checker.join(30)
        assert in_commit.is_set()
        answered_before_commit = [sid for sid in others if sid in grouped.results]
        visible_before_commit = [sid for sid in others if _stored(store, sid)]
        let_commit.set()
        release_thread.join(60)
    finally:
        let_commit.set()
        grouped.release.set()
        event.remove(store.engine, "commit", _count)
    assert answered_before_commit == []
    assert visible_before_commit == []
    assert all(grouped.results[sid] == "appended" for sid in [first, *others]), grouped.results
    # one commit for the first append, one for the others together
    assert len(commits) == 2
    assert all(_stored(store, sid) == 1 for sid in [first, *others])


def test_one_bad_append_in_a_group_fails_alone(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = manager.store
    first, *others = _running(manager, WAITING + 1)
    bad = others[2]
    record_entries = store.record_entries

    def failing(conn: Connection, entries: Any) -> Any:
        # after the bad append's messages are inserted: its savepoint must undo them
        if any(e.session_id == bad for e in entries) or _inserted_for(conn, bad):
            raise RuntimeError("the ledger refused it")
        return record_entries(conn, entries)

    def _inserted_for(conn: Connection, session_id: str) -> bool:
        query = select(func.count()).where(messages_t.c.session_id == session_id)
        return bool(conn.execute(query).scalar_one())

    monkeypatch.setattr(store, "record_entries", failing)
    commits: list[int] = []

    @event.listens_for(store.engine, "commit")
    def _count(_conn: Connection) -> None:
        commits.append(1)

    grouped = Grouped(manager, monkeypatch)
    try:
        grouped.run(first, others, lambda: None)
    finally:
        grouped.release.set()
        event.remove(store.engine, "commit", _count)
    assert isinstance(grouped.results[bad], RuntimeError)
    assert _stored(store, bad) == 0
    assert manager.get(bad).message_count == 0  # type: ignore[union-attr]
    good = [sid for sid in [first, *others] if sid != bad]
    assert all(grouped.results[sid] == "appended" for sid in good), grouped.results
    assert all(_stored(store, sid) == 1 for sid in good)
    assert len(commits) == 2  # the others still committed as one group


# -- the commit's sync (SQLite in WAL mode: after the commit, outside the write lock)


def test_a_groups_appends_answer_after_the_wal_sync_which_runs_outside_the_write_lock(
    manager: Manager, waiting: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, (first, others) = manager.store, waiting
    syncs: list[str] = []
    in_sync, let_sync = threading.Event(), threading.Event()
    fdatasync = engine._fdatasync

    def held_sync(path: str) -> None:
        syncs.append(path)
        if len(syncs) == 2:  # the sync of the waiting appends' group
            in_sync.set()
            assert let_sync.wait(30)
        fdatasync(path)

    monkeypatch.setattr(engine, "_fdatasync", held_sync)
    grouped = Grouped(manager, monkeypatch)
    written_meanwhile: list[int] = []
    try:
        release_thread = threading.Thread(target=grouped.run, args=(first, others, lambda: None))
        release_thread.start()
        if store.dialect == "sqlite":
            assert in_sync.wait(30)
            answered_before_sync = [sid for sid in others if sid in grouped.results]
            # The write lock is free meanwhile: another write commits while the sync runs.
            writer = threading.Thread(target=lambda: written_meanwhile.append(_write_one(store)))
            writer.start()
            writer.join(30)
            let_sync.set()
        release_thread.join(60)
    finally:
        let_sync.set()
        grouped.release.set()
    assert all(grouped.results[sid] == "appended" for sid in [first, *others]), grouped.results
    if store.dialect == "postgresql":  # the server's commit is durable: nothing to sync
        assert syncs == []
        return
    assert answered_before_sync == []
    assert written_meanwhile == [1]
    wal = store.engine.url.database + "-wal"  # type: ignore[operator]
    assert syncs[:2] == [os.path.abspath(wal)] * 2  # one a group: the first, the others


def _write_one(store: MessageStore) -> int:
    with store.write() as conn:
        return int(conn.exec_driver_sql("UPDATE sessions SET keep = keep").rowcount >= 0)


def test_a_durable_write_commits_without_its_own_sync_then_syncs_the_wal(
    store: MessageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[str, int]] = []
    fdatasync = engine._fdatasync

    def recording(path: str) -> None:
        lock = store._writer_lock()
        synced.append((path, lock._depth if lock is not None else -1))
        fdatasync(path)

    monkeypatch.setattr(engine, "_fdatasync", recording)
    with store.write() as conn:
        level = conn.exec_driver_sql(
            "PRAGMA synchronous" if store.dialect == "sqlite" else "SHOW synchronous_commit"
        ).scalar()
    with store.write(durable=False):
        pass
    if store.dialect == "postgresql":
        assert (level, synced) == ("on", [])
        return
    assert level == 1  # NORMAL: no sync inside the commit (its sync follows)
    # one sync, of the WAL, with the write lock released; none for a lazy write
    assert synced == [(os.path.abspath(f"{store.engine.url.database}-wal"), 0)]


def test_a_failed_sync_fails_the_appends_it_would_have_made_durable(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    (session,) = _running(manager, 1)

    def failing(path: str) -> None:
        raise OSError(5, "Input/output error", path)

    monkeypatch.setattr(engine, "_fdatasync", failing)
    if manager.store.dialect == "postgresql":  # no sync to fail
        assert manager.append_messages(session, [Message("user", "x")]).status == "appended"
        return
    with pytest.raises(OSError, match="Input/output error"):
        manager.append_messages(session, [Message("user", "x")])
