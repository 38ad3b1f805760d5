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


def test_a_list_of_ids_is_one_parameter_on_postgresql(manager: Manager) -> None:
    """``InList``: the same rows as ``IN`` on both engines (none for an empty list);
    on PostgreSQL the statement's text is the same whatever the list's length
    (one array parameter), so the driver's statement cache holds it."""
    from sqlalchemy import event, select

    from webapp.sessions.engine import InList
    from webapp.sessions.rows import sessions_t

    made = [manager.create(f"task {i}").id for i in range(5)]
    query = select(sessions_t.c.id).where(InList(sessions_t.c.id, "ids"))
    texts: list[str] = []
    engine = manager.store.engine
    event.listen(engine, "before_cursor_execute", lambda _c, _u, sql, *_: texts.append(sql))
    with manager.store.read() as conn:
        for ids in (made[:2], made, [], ["no-such-session", made[3]]):
            texts.clear()
            found = set(conn.execute(query, {"ids": ids}).scalars())
            assert found == set(ids) & set(made)
            (sql,) = texts
            if manager.store.dialect == "postgresql":
                assert sql.endswith("WHERE sessions.id = ANY (%(ids)s::VARCHAR(64)[])")
            else:
                assert sql.count("?") == len(ids)  # one parameter an id
