"""Writes inside a write join it: one transaction for a change and what goes with it
(an audit entry, the rest of an imported file), on both engines."""

from __future__ import annotations

import threading

import pytest

from webapp.sessions import Manager, Message
from webapp.sessions.engine import Database


def test_store_writes_inside_a_write_commit_together(manager: Manager) -> None:
    database = Database(manager.store.engine, migrate=False)
    with database.write():
        a = manager.create("first")
        b = manager.create("second")
        manager.append_message(a.id, Message("user", "hello"))
        # Reads inside the write see its changes.
        assert manager.get(b.id) is not None
        assert [m.content for m in manager.get_messages(a.id) or []] == ["hello"]
    assert {s.id for s in manager.list()} == {a.id, b.id}


def test_an_error_undoes_the_whole_outer_write(manager: Manager) -> None:
    database = Database(manager.store.engine, migrate=False)
    kept = manager.create("before")
    with pytest.raises(RuntimeError), database.write():
        manager.create("inside")
        manager.append_message(kept.id, Message("user", "inside"))
        raise RuntimeError("the audit entry could not be written")
    assert [s.id for s in manager.list()] == [kept.id]
    assert manager.get_messages(kept.id) == []


def test_a_failed_inner_write_undoes_only_itself(manager: Manager) -> None:
    database = Database(manager.store.engine, migrate=False)
    with database.write():
        good = manager.create("good")
        with pytest.raises(ValueError):
            manager.create("clash", id=good.id)  # refused inside its own savepoint
        after = manager.create("after")
    assert {s.id for s in manager.list()} == {good.id, after.id}


def test_another_thread_is_not_joined(manager: Manager) -> None:
    """A read in another thread while the write is open does not see its changes:
    the open write is this thread's alone."""
    database = Database(manager.store.engine, migrate=False)
    seen: list[object] = []
    with database.write():
        mine = manager.create("mine")
        thread = threading.Thread(target=lambda: seen.append(manager.get(mine.id)))
        thread.start()
        thread.join(timeout=30)
        assert manager.get(mine.id) is not None
    assert seen == [None]
    assert manager.get(mine.id) is not None
