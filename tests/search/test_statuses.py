"""The status beside each search document (``search_doc_status``) follows its
session's status on every path that changes it, on both engines, and a search
with a status filter finds what the same filter on the sessions table finds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import FakeClock
from webapp.search_flush import SearchFlusher
from webapp.sessions import Manager, Message, MessageStore
from webapp.sessions.queries import SessionFilter
from webapp.sessions.rows import sessions_t
from webapp.sessions.search import Search, parse
from webapp.sessions.search_index import (
    index_comment,
    rebuild,
    search_doc_status_t,
    search_docs_t,
)

from .test_corpus import AUDIO, JAPANESE, import_files
from .test_search import index_probe, running  # noqa: F401  (a fixture)

d, x, s = search_docs_t.c, search_doc_status_t.c, sessions_t.c


def statuses_beside(store: MessageStore) -> dict[int, tuple[str, str | None]]:
    """Every document's id -> (its session's status, the status beside it), once
    the background pass has indexed them (on SQLite it writes a new document's
    status row; a search reads a waiting one's from its session: the tests of
    the status filter run with texts waiting)."""
    SearchFlusher(store).run_pass()
    joined = search_docs_t.join(sessions_t, s.id == d.session_id).outerjoin(
        search_doc_status_t, x.doc_id == d.id
    )
    with store.read() as conn:
        rows = conn.execute(select(d.id, s.status, x.status).select_from(joined)).all()
        orphans = conn.execute(
            select(func.count())
            .select_from(search_doc_status_t)
            .where(~select(d.id).where(d.id == x.doc_id).exists())
        ).scalar_one()
    assert orphans == 0, "a status row outlived its document"
    return {r[0]: (r[1], r[2]) for r in rows}


def assert_statuses_follow(store: MessageStore) -> int:
    """Every document has its session's status beside it; returns how many."""
    pairs = statuses_beside(store)
    wrong = {doc: pair for doc, pair in pairs.items() if pair[0] != pair[1]}
    assert wrong == {}
    return len(pairs)


def statuses_of(store: MessageStore, session_id: str) -> set[str]:
    SearchFlusher(store).run_pass()
    with store.read() as conn:
        found = conn.execute(
            select(x.status)
            .select_from(search_doc_status_t.join(search_docs_t, d.id == x.doc_id))
            .where(d.session_id == session_id)
        )
        return set(found.scalars())


def test_a_text_takes_its_session_status_and_follows_its_changes(board: Manager) -> None:
    store = board.store
    sid = board.create("needle request", expires_at=None).id
    assert statuses_of(store, sid) == {"pending"}
    board.set_running(sid)
    board.append_message(sid, Message("user", "needle one"))
    board.append_messages(sid, [Message("assistant", "needle two"), Message("tool", "three")])
    assert statuses_of(store, sid) == {"running"}
    board.set_failed(sid, "needle error")  # the error's new text takes the new status too
    assert statuses_of(store, sid) == {"failed"}
    assert assert_statuses_follow(store) == 5
    with store.write() as conn:
        index_comment(conn, comment_id=7, session_id=sid, body="needle comment", at=board.clock())
    assert statuses_of(store, sid) == {"failed"}
    board.set_running(sid)
    board.set_completed(sid, "needle answer")
    assert statuses_of(store, sid) == {"completed"}
    other = running(board, "other")
    assert statuses_of(store, other) == {"running"}
    assert assert_statuses_follow(store) == 8  # and the response, the other request
    # Rows go with their texts: cleared messages, a deleted session.
    store.delete_messages_for_session(sid)
    assert board.delete(other)
    assert assert_statuses_follow(store) == 4
    with store.write() as conn:
        rebuild(conn)
    assert assert_statuses_follow(store) == 4


def test_expired_by_the_sweeper(board: Manager, clock: FakeClock) -> None:
    store = board.store
    due = board.create("needle due", expires_at=clock() + timedelta(minutes=5)).id
    board.set_running(due)
    board.append_message(due, Message("user", "needle due message"))
    kept = running(board, "needle kept")
    clock.advance(timedelta(minutes=10))
    assert board.sweep().expired_sessions == 1
    assert statuses_of(store, due) == {"expired"}
    assert statuses_of(store, kept) == {"running"}
    assert_statuses_follow(store)
    search = Search(store)
    expired = search.hits(parse("needle"), statuses=("expired",)).hits
    assert {(h.session_id, h.source) for h in expired} == {(due, "request"), (due, "message")}


def test_imported_sessions_carry_their_status(board: Manager) -> None:
    import_files(board, JAPANESE, AUDIO)
    store = board.store
    assert assert_statuses_follow(store) > 100
    with store.read() as conn:
        imported = set(conn.execute(select(s.status).distinct()).scalars())
    search = Search(store)
    for status in imported:
        hits = search.hits(parse("the"), statuses=(status,), limit=20).hits
        assert hits and {h.session_id for h in hits} <= _sessions_in(store, status)


def _sessions_in(store: MessageStore, status: str) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(select(s.id).where(s.status == status)).scalars())


@pytest.mark.usefixtures("index_probe")
def test_a_status_filter_finds_what_the_session_filter_finds(board: Manager) -> None:
    """Beside the texts or on the sessions table, the same hits in the same order,
    page by page, for one status and for several (every PostgreSQL step runs, by
    the ``index_probe`` sizes)."""
    plan = ["failed", "completed", "failed", "running", "failed", "completed"]
    for i, outcome in enumerate(plan):
        sid = running(board, f"needle request {i}")
        for j in range(3):
            board.append_message(sid, Message("user", f"needle {i}.{j} haystack"))
        if outcome == "failed":
            board.set_failed(sid, f"needle broke {i}")
        elif outcome == "completed":
            board.set_completed(sid, f"needle done {i}")
    search = Search(board.store)
    for statuses in (("failed",), ("failed", "completed"), ("expired",)):
        for text in ("needle", "haystack", '"needle broke"'):
            query = parse(text)
            where = SessionFilter(statuses=statuses).conditions(board.store.dialect)
            expected = [h.doc_id for h in search.hits(query, where, limit=100).hits]
            got, after = [], None
            while True:
                page = search.hits(query, statuses=statuses, after=after, limit=4)
                got += [h.doc_id for h in page.hits]
                if page.next_after is None:
                    break
                after = page.next_after
            assert got == expected
            assert bool(expected) == (statuses != ("expired",))
