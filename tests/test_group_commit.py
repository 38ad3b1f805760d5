"""Group commit of appends (issue 13, item 3): concurrent appends of one process
share one transaction and one commit, each caller hears back only after that
commit, and an append that fails in a group takes nothing of the others with it.

A group forms while its leader is busy: these tests hold the first append's
group in its ``start`` step until the other appends wait behind it, so the
second group holds all of them, on both engines.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select

from webapp.sessions import Manager, Message, MessageStore
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


def test_concurrent_appends_commit_together_and_answer_after_the_commit(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = manager.store
    first, *others = _running(manager, WAITING + 1)
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
