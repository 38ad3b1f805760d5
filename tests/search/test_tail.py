"""The search index's pending texts, indexed off the append path (round 4): on
both engines a search is exact while texts wait to be indexed (found when
committed, never once deleted or purged), the background pass indexes them, a
writer past the bound indexes them itself, and a crash between an append and
the pass loses nothing."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import FakeClock, postgres_unavailable
from webapp.search_flush import LEASE, FlushPass, SearchFlusher
from webapp.sessions import Config, Manager, Message, MessageStore, search_index
from webapp.sessions.queries import SessionFilter
from webapp.sessions.search import Search, parse
from webapp.sessions.search_index import (
    FTS_TAIL_LIMIT,
    clean_pending,
    fts_tail,
    install,
    keep_fts_current,
    search_doc_status_t,
    search_docs_t,
    uninstall,
)

from .test_search import check_index, found, running


def tail(store: MessageStore) -> int:
    with store.read() as conn:
        return fts_tail(conn)


def in_fts(store: MessageStore, word: str) -> int:
    """How many texts the index itself holds with ``word``: FTS5 (SQLite), the
    trigram index's rows (PostgreSQL)."""
    if store.dialect != "sqlite":
        with store.read() as conn:
            held = search_docs_t.c.unindexed.is_(None)
            like = search_docs_t.c.body.like(f"%{word}%")
            count = select(func.count()).select_from(search_docs_t).where(held, like)
            return int(conn.execute(count).scalar_one())
    with store.read() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT count(*) FROM search_index WHERE body LIKE ?", (f"%{word}%",)
            ).scalar_one()
        )


def all_indexed(store: MessageStore, word: str, count: int) -> None:
    """None waits: the ``count`` texts holding ``word`` are in the index itself,
    and a search finds them all."""
    assert tail(store) == 0
    assert in_fts(store, word) == count
    assert len(found(Search(store), word)) == count
    check_index(store)


def manager(store: MessageStore, clock: FakeClock) -> Manager:
    return Manager(Config(message_retention=timedelta(0)), store, clock=clock)


def test_a_search_is_exact_while_texts_wait(indexed_store: MessageStore, clock: FakeClock) -> None:
    keep_fts_current(indexed_store.engine, tail_limit=10_000)
    board = manager(indexed_store, clock)
    search = Search(indexed_store)
    try:
        kept = running(board, "needle request")
        board.append_messages(kept, [Message("user", f"needle {i}") for i in range(5)])
        gone = running(board, "needle in a doomed session")
        board.append_message(gone, Message("user", "needle doomed"))
        board.append_message(kept, Message("user", "needle deleted"))
        deleted = [m for m in indexed_store.get_messages(kept) if m.content == "needle deleted"]
        with indexed_store.write() as conn:
            conn.exec_driver_sql(f"DELETE FROM messages WHERE id = {int(deleted[0].id)}")  # noqa: S608
        assert board.delete(gone)
        assert tail(indexed_store) == 6  # nothing indexed yet
        assert in_fts(indexed_store, "needle") == 0
        expected = {kept}
        hits = found(search, "needle")
        assert {sid for sid, _m in hits} == expected
        assert len(hits) == 6  # the request and five messages
        done = SearchFlusher(indexed_store).run_pass()
        assert tail(indexed_store) == 0
        assert done.indexed == 6
        assert in_fts(indexed_store, "needle") == 6
        assert found(search, "needle") == hits
        check_index(indexed_store)
    finally:
        board.stop()


def test_a_writer_past_the_bound_indexes_inline(
    indexed_store: MessageStore, clock: FakeClock
) -> None:
    keep_fts_current(indexed_store.engine, tail_limit=5)
    board = manager(indexed_store, clock)
    try:
        sid = running(board, "bound request")
        tails = []
        for i in range(12):
            board.append_message(sid, Message("user", f"bound {i}"))
            tails.append(tail(indexed_store))
        assert max(tails) <= 5
        assert tails[0] > 0  # below the bound nothing is indexed inline
        assert 0 in tails  # past it, the writer indexed all
        board.append_messages(sid, [Message("user", f"bound batch {i}") for i in range(20)])
        assert tail(indexed_store) == 0
        assert len(found(Search(indexed_store), "bound")) == 33
        check_index(indexed_store)
    finally:
        board.stop()


def test_the_pass_indexes_in_batches_under_its_lease(
    indexed_store: MessageStore, clock: FakeClock
) -> None:
    keep_fts_current(indexed_store.engine, tail_limit=FTS_TAIL_LIMIT)
    board = manager(indexed_store, clock)
    try:
        sid = running(board, "batched request")
        board.append_messages(sid, [Message("user", f"batched {i}") for i in range(9)])
        loop = SearchFlusher(indexed_store, batch=2).make_loop(holder="one")
        other = SearchFlusher(indexed_store).make_loop(holder="two")
        now = clock()
        done = loop.tick(now)
        assert isinstance(done, FlushPass)
        assert other.tick(now) is None  # the lease is held: one process indexes
        assert loop.name == LEASE
        assert tail(indexed_store) == 0
        assert done.indexed == 10
        assert in_fts(indexed_store, "batched") == 10
        assert SearchFlusher(indexed_store).run_pass() == FlushPass()
        check_index(indexed_store)
    finally:
        board.stop()


def test_a_pass_stops_at_a_batch_that_is_not_full(
    indexed_store: MessageStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Texts that land while a pass runs wait for its next look: a pass that
    went on while any came in indexed a stream of single appends one text a
    write and halved their rate (round 8)."""
    keep_fts_current(indexed_store.engine, tail_limit=10_000)
    board = manager(indexed_store, clock)
    writers: list[threading.Thread] = []
    try:
        sid = running(board, "trickle request")
        board.append_messages(sid, [Message("user", f"trickle {i}") for i in range(2)])
        flushes: list[int] = []
        real_flush = search_index.flush_fts

        def flush_then_append(conn: Any, *, limit: int | None = None) -> int:
            added = real_flush(conn, limit=limit)
            flushes.append(added)
            # A writer's append lands while the pass runs (another thread, in a
            # server; here right after the pass's write).
            late = threading.Thread(
                target=board.append_message, args=(sid, Message("user", "trickle late"))
            )
            late.start()
            writers.append(late)
            return added

        monkeypatch.setattr(search_index, "flush_fts", flush_then_append)
        done = SearchFlusher(indexed_store, batch=5).run_pass(timedelta(seconds=10))
        assert flushes == [3]  # the request and two messages; not full: it stops
        assert done.indexed == 3
    finally:
        for late in writers:
            late.join()
        board.stop()


def test_the_pass_follows_a_stream_of_writes(indexed_store: MessageStore, clock: FakeClock) -> None:
    """A pass that found texts keeps looking while writes keep coming, and
    indexes each burst as it lands, not at its next interval (round 8); an idle
    pass returns at once."""
    keep_fts_current(indexed_store.engine, tail_limit=10_000)
    board = manager(indexed_store, clock)
    flusher = SearchFlusher(indexed_store)
    try:
        start = time.monotonic()
        assert flusher.follow(timedelta(seconds=30)) == FlushPass()
        assert time.monotonic() - start < 5  # idle: no looking on
        sid = running(board, "stream request")
        board.append_messages(sid, [Message("user", f"stream 0.{i}") for i in range(10)])
        result: list[FlushPass] = []
        follower = threading.Thread(
            target=lambda: result.append(
                flusher.follow(
                    timedelta(seconds=60),
                    poll=timedelta(milliseconds=20),
                    quiet=timedelta(seconds=3),
                )
            )
        )
        follower.start()
        for burst in range(1, 6):
            time.sleep(0.1)
            board.append_messages(sid, [Message("user", f"stream {burst}.{i}") for i in range(10)])
        follower.join(timeout=60)
        assert not follower.is_alive()  # it stopped once the writes did
        assert result[0].indexed == 61  # every burst, not only what waited at its start
        all_indexed(indexed_store, "stream", 61)
    finally:
        board.stop()


def test_a_crash_before_the_pass_loses_nothing(
    database_url: str, indexed_store: MessageStore, clock: FakeClock
) -> None:
    """Texts committed but not yet indexed survive the process: a new one finds
    them (the scan) and its pass indexes them."""
    keep_fts_current(indexed_store.engine, tail_limit=10_000)
    board = manager(indexed_store, clock)
    sid = running(board, "survivor request")
    board.append_messages(sid, [Message("user", f"survivor {i}") for i in range(4)])
    board.stop()
    indexed_store.engine.dispose()  # the process is gone, its pass never ran
    again = MessageStore(database_url, migrate=False)
    try:
        assert tail(again) >= 5
        assert in_fts(again, "survivor") == 0
        assert len(found(Search(again), "survivor")) == 5
        SearchFlusher(again).run_pass()
        all_indexed(again, "survivor", 5)
    finally:
        again.close()


def test_postgresql_pending_list_is_cleaned(indexed_store: MessageStore, clock: FakeClock) -> None:
    """The pass empties the GIN index's pending list (PostgreSQL): a second
    clean right after finds nothing; on SQLite there is none (0)."""
    board = manager(indexed_store, clock)
    try:
        sid = running(board, "pending request")
        board.append_messages(sid, [Message("user", f"pending {i}") for i in range(30)])
        SearchFlusher(indexed_store).run_pass()
        with indexed_store.write() as conn:
            assert clean_pending(conn) == 0
            count = conn.execute(select(func.count()).select_from(search_docs_t)).scalar_one()
        assert count == 31
        assert len(found(Search(indexed_store), "pending")) == 31
        hits = Search(indexed_store).hits(parse('"pending 2"'), limit=100).hits
        assert len(hits) == 11  # pending 2, pending 20 .. 29
    finally:
        board.stop()


def test_the_commit_check_follows_the_schema(indexed_store: MessageStore, clock: FakeClock) -> None:
    """The writer's check remembers whether the index is there per connection
    until the schema changes: dropped, appends go on without it; installed again
    (it fills from the messages), the bound holds again."""
    keep_fts_current(indexed_store.engine, tail_limit=1)
    board = manager(indexed_store, clock)
    try:
        sid = running(board, "schema request")
        board.append_message(sid, Message("user", "schema one"))
        with indexed_store.write() as conn:
            uninstall(conn)
        board.append_message(sid, Message("user", "schema two"))
        assert tail(indexed_store) == 0
        with indexed_store.write() as conn:
            install(conn)
        for i in range(3):
            board.append_message(sid, Message("user", f"schema more {i}"))
            assert tail(indexed_store) <= 1
        assert len(found(Search(indexed_store), "schema")) == 6
        check_index(indexed_store)
    finally:
        board.stop()


def test_the_app_runs_the_pass_and_takes_the_setting(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A serving process starts the pass beside the sweeper and the renderer, and
    ``SEARCH_TAIL_LIMIT`` is the bound its writers keep."""
    from webapp import create_app, start_background_work
    from webapp.extensions import db

    monkeypatch.setenv("SESSIONBOARD_INSTANCE_PATH", str(tmp_path / "instance"))
    application = create_app(
        {"TESTING": True, "SECRET_KEY": "t", "DATABASE_URL": database_url, "SEARCH_TAIL_LIMIT": 3}
    )
    manager = application.extensions["sessionboard.manager"]
    # Only the domain's loops, which stop: not the features' (the webhooks' dispatcher).
    monkeypatch.setitem(application.extensions, "sessionboard.background", [])
    start_background_work(application)
    loop = application.extensions["sessionboard.search_flush"]
    try:
        assert loop.name == LEASE
        sid = running(manager, "setting request")
        tails = []
        for i in range(6):
            manager.append_message(sid, Message("user", f"setting {i}"))
            tails.append(tail(manager.store))
        assert max(tails) <= 3
        assert max(tails) > 0
        assert len(found(Search(manager.store), "setting")) == 7
    finally:
        loop.stop()
        application.extensions["sessionboard.prerender"].stop()
        manager.stop()
        with application.app_context():
            db.engine.dispose()


def kept_message_statuses(store: MessageStore, session_id: str) -> int:
    """How many of the session's messages' documents have a status row."""
    d, x = search_docs_t.c, search_doc_status_t.c
    joined = search_docs_t.join(search_doc_status_t, x.doc_id == d.id)
    count = select(func.count()).select_from(joined)
    with store.read() as conn:
        where = (d.session_id == session_id, d.message_id.is_not(None))
        return int(conn.execute(count.where(*where)).scalar_one())


def test_a_status_filter_is_exact_for_waiting_texts(
    indexed_store: MessageStore, clock: FakeClock
) -> None:
    """Texts waiting for the index (without their status row yet) are
    found by a status filter exactly as the sessions' own filter finds them,
    while statuses change (a failure, the sweeper's expiry), before and after
    the pass indexes them."""
    keep_fts_current(indexed_store.engine, tail_limit=10_000)
    board = manager(indexed_store, clock)
    search = Search(indexed_store)
    try:
        broke = running(board, "needle broke")
        kept = running(board, "needle kept")
        board.append_message(broke, Message("user", "needle indexed"))
        SearchFlusher(indexed_store).run_pass()
        board.append_message(broke, Message("user", "needle waiting"))
        board.append_message(kept, Message("user", "needle waiting too"))
        board.set_failed(broke, "needle error")
        due = board.create("needle due", expires_at=clock() + timedelta(minutes=5)).id
        board.set_running(due)
        board.append_message(due, Message("user", "needle due message"))
        clock.advance(timedelta(minutes=10))
        assert board.sweep().expired_sessions == 1
        assert tail(indexed_store) > 0
        # A writer writes no status row for a text (the pass does, as it
        # indexes it), on both engines.
        assert kept_message_statuses(indexed_store, kept) == 0
        expected = {"failed": 4, "running": 2, "expired": 2}
        for indexed in (False, True):
            if indexed:
                SearchFlusher(indexed_store).run_pass()
                assert tail(indexed_store) == 0
                assert kept_message_statuses(indexed_store, kept) == 1
            for status, count in expected.items():
                where = SessionFilter(statuses=(status,)).conditions(indexed_store.dialect)
                by_session = found(search, "needle", session_where=where)
                beside = found(search, "needle", statuses=(status,))
                assert beside == by_session
                assert len(beside) == count
        check_index(indexed_store)
    finally:
        board.stop()


def test_every_write_of_messages_gets_its_documents(
    indexed_store: MessageStore, clock: FakeClock
) -> None:
    """Whatever writes the messages: the Manager's batch, a plain statement in a
    write of the store's, a message changed in the transaction that wrote it,
    and a new message taking the id of a deleted newest one (SQLite gives the
    highest id plus one): each is found by its committed text, every committed
    message has exactly one document, a deleted one none."""
    board = manager(indexed_store, clock)
    sid = running(board, "plain request")
    board.append_messages(sid, [Message("user", f"batched {i}") for i in range(3)])
    with indexed_store.write() as conn:
        insert = "INSERT INTO messages (session_id, role, content, summary, timestamp) VALUES "
        stamp: object = clock()
        if indexed_store.dialect == "sqlite":
            stamp = clock().replace(tzinfo=None).isoformat(" ", "microseconds")
        for word in ("written", "changed", "after"):
            marker = "?" if indexed_store.dialect == "sqlite" else "%s"
            conn.exec_driver_sql(
                insert + f"({marker}, 'user', {marker}, '', {marker})", (sid, f"raw {word}", stamp)
            )
        conn.exec_driver_sql(
            "UPDATE messages SET content = 'raw rewritten' WHERE content = 'raw changed'"
        )
    assert sorted(h.snippet.striptags() for h in Search(indexed_store).hits(parse("raw")).hits) == [
        "raw after",
        "raw rewritten",
        "raw written",
    ]
    newest_id = "SELECT max(id) FROM messages"
    board.append_message(sid, Message("user", "doomed newest"))
    with indexed_store.write() as conn:
        doomed = conn.exec_driver_sql(newest_id).scalar_one()
        conn.exec_driver_sql(f"DELETE FROM messages WHERE id = {int(doomed)}")  # noqa: S608
    board.append_message(sid, Message("user", "reborn newest"))
    if indexed_store.dialect == "sqlite":
        with indexed_store.read() as conn:
            assert conn.exec_driver_sql(newest_id).scalar_one() == doomed  # its id again
    assert found(Search(indexed_store), "doomed") == []
    assert len(found(Search(indexed_store), "reborn")) == 1
    with indexed_store.read() as conn:
        messages = conn.exec_driver_sql("SELECT count(*) FROM messages").scalar_one()
        docs = conn.execute(
            select(func.count(func.distinct(search_docs_t.c.message_id)), func.count())
            .select_from(search_docs_t)
            .where(search_docs_t.c.source == "message")
        ).one()
    assert tuple(docs) == (messages, messages)
    check_index(indexed_store)


def test_a_message_document_holds_no_copy_of_its_text(
    indexed_store: MessageStore, clock: FakeClock
) -> None:
    """A writer's document of a message has no copy of its text (round 6): a
    search reads it from the message until the pass writes it, as it adds the
    document to the index; either way it is found."""
    keep_fts_current(indexed_store.engine, tail_limit=10_000)
    board = manager(indexed_store, clock)
    sid = running(board, "plain request")
    board.append_messages(sid, [Message("user", "copyless text"), Message("user", "another")])

    def bodies() -> set[str]:
        with indexed_store.read() as conn:
            rows = conn.execute(
                select(search_docs_t.c.body).where(search_docs_t.c.source == "message")
            )
            return set(rows.scalars())

    assert bodies() == {""}
    assert len(found(Search(indexed_store), "copyless")) == 1
    SearchFlusher(indexed_store).run_pass()
    assert bodies() == {"copyless text", "another"}
    assert len(found(Search(indexed_store), "copyless")) == 1
    assert in_fts(indexed_store, "copyless") == 1
    check_index(indexed_store)


def test_the_floor_rises_past_moved_texts_only_once_late_commits_are_in(
    postgres_database: str | None, clock: FakeClock
) -> None:
    """PostgreSQL: the pass raises the floor of waiting texts (under it none
    waits, and the tail's reads start there) to the bound it found a pass
    before, once every transaction running then has ended, after moving the
    texts still waiting under it in: a text whose transaction commits late,
    under ids the pass has moved already, is found while it waits and is moved
    in before the floor passes it."""
    if postgres_database is None:
        postgres_unavailable("no server")
    store = MessageStore(postgres_database)
    keep_fts_current(store.engine, tail_limit=10_000)
    board = manager(store, clock)
    flusher = SearchFlusher(store)

    def floor() -> int:
        with store.read() as conn:
            return int(conn.exec_driver_sql("SELECT low FROM search_waiting_floor").scalar_one())

    try:
        sid = running(board, "floor request")
        board.append_messages(sid, [Message("user", f"early {i}") for i in range(5)])
        flusher.run_pass()
        with store.engine.connect() as late:
            late.exec_driver_sql(
                "INSERT INTO messages (session_id, role, content, summary, timestamp) "
                "VALUES (%(sid)s, 'user', 'late straggler', '', now())",
                {"sid": sid},
            )
            late_id = late.exec_driver_sql(
                "SELECT max(id) FROM search_docs WHERE session_id = %(sid)s", {"sid": sid}
            ).scalar_one()
            board.append_messages(sid, [Message("user", f"after {i}") for i in range(3)])
            flusher.run_pass()
            flusher.run_pass()
            # Moved past it, but the floor waits for its transaction.
            assert in_fts(store, "after") == 3
            assert floor() <= late_id
            late.commit()
        # Waiting, over the floor: found.
        assert len(found(Search(store), "straggler")) == 1 and in_fts(store, "straggler") == 0
        flusher.run_pass()
        assert in_fts(store, "straggler") == 1 and tail(store) == 0
        # The floor passes it once every transaction running at the last pass
        # has ended: those of the other tests' databases too (xids are the
        # cluster's), so a few passes may be needed.
        deadline = time.monotonic() + 60
        while floor() <= late_id and time.monotonic() < deadline:
            time.sleep(0.05)
            flusher.run_pass()
        assert floor() > late_id
        assert len(found(Search(store), "straggler")) == 1
    finally:
        board.stop()
        store.close()
