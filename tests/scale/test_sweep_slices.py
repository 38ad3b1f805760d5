"""The expiry in set-based slices, on both engines: a slice never changes more
sessions than its bound, each slice commits on its own (a writer gets in between
two), the rollups stay exact (on SQLite the per-row trigger is paused for the
slice's UPDATE and the flag is never left set), a listening webhook gets exactly
one event per expired session, and the slice's UPDATE reads its indexes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, inspect, select, text, update

from tests.conftest import FakeClock
from tests.scale.plans import plan
from tests.scale.test_rollups import assert_in_step
from webapp.search_flush import SearchFlusher
from webapp.sessions import Manager, Message, MessageStore, Status
from webapp.sessions.rollups import rollup_pause_t
from webapp.sessions.search_index import search_doc_status_t, search_docs_t
from webapp.sessions.store import sessions_t


def _expired(manager: Manager) -> int:
    c = sessions_t.c
    query = select(func.count()).where(c.status == Status.EXPIRED.value)
    with manager.store.read() as conn:
        return int(conn.execute(query).scalar_one())


def _due(manager: Manager, clock: FakeClock, count: int, *, running: int = 0) -> list[str]:
    """``count`` sessions due in an hour, the first ``running`` of them running."""
    ids = [manager.create(f"due {i}").id for i in range(count)]
    for sid in ids[:running]:
        manager.set_running(sid)
    clock.advance(hours=1)
    return ids


def test_a_slice_never_expires_more_than_its_bound(
    manager: Manager, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = manager.store
    _due(manager, clock, 7, running=3)
    manager.create("fresh", expires_at=clock() + timedelta(hours=2))
    plain = store.write
    after_each: list[int] = []

    @contextmanager
    def counted(**options: Any) -> Iterator[Any]:
        with plain(**options) as conn:
            yield conn
        after_each.append(_expired(manager))

    monkeypatch.setattr(store, "write", counted)
    assert store.expire_due(clock(), batch_size=2) == 7
    monkeypatch.undo()
    steps = [b - a for a, b in zip([0, *after_each], after_each, strict=False)]
    assert sum(steps) == 7 and max(steps) <= 2
    assert len([s for s in steps if s]) >= 4  # 3 running in 2 slices, 4 pending in 2
    assert {s.status for s in manager.list()} == {Status.EXPIRED, Status.PENDING}


def test_a_writer_gets_in_between_two_slices(
    manager: Manager, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each slice is its own committed transaction: a writer in another thread,
    started after the first slice, writes and sees that slice's sessions expired
    before the sweep goes on."""
    store = manager.store
    other = manager.create("writer", expires_at=None).id
    manager.set_running(other)
    _due(manager, clock, 5)
    plain = store.write
    seen: list[int] = []

    def write_beside() -> None:
        with plain() as conn:
            c = sessions_t.c
            query = select(func.count()).where(c.status == Status.EXPIRED.value)
            seen.append(int(conn.execute(query).scalar_one()))
        manager.append_message(other, Message("user", "still here"))

    @contextmanager
    def sweep_write(**options: Any) -> Iterator[Any]:
        with plain(**options) as conn:
            yield conn
        if not seen:  # after the first slice committed
            writer = threading.Thread(target=write_beside)
            writer.start()
            writer.join(20)
            assert not writer.is_alive(), "the writer waited on the sweep between slices"

    monkeypatch.setattr(store, "write", sweep_write)
    assert store.expire_due(clock(), batch_size=2) == 5
    monkeypatch.undo()
    assert seen == [2]
    assert manager.get(other).message_count == 1


def test_rollups_stay_exact_and_the_pause_is_never_left_set(
    manager: Manager, clock: FakeClock
) -> None:
    store = manager.store
    ids = _due(manager, clock, 6, running=4)
    for i, sid in enumerate(ids[:4]):  # different message-count and duration buckets
        for j in range(i * 3):
            manager.append_message(sid, Message("user", f"m{j}"))
    clock.advance(hours=30)  # past every expiry again (appends extended some)
    assert store.expire_due(clock(), batch_size=4) == 6
    assert_in_step(store)
    with store.read() as conn:
        flags = conn.execute(select(rollup_pause_t.c.paused)).scalars().all()
    # (PostgreSQL's test databases are emptied by TRUNCATE: no flag row there.)
    assert flags == ([0] if store.dialect == "sqlite" else [])


def test_without_the_flag_row_the_trigger_counts(manager: Manager, clock: FakeClock) -> None:
    """A database whose flag row is gone expires through the per-row trigger,
    still exact (the slice's own change rows are written only when it paused)."""
    store = manager.store
    _due(manager, clock, 3, running=1)
    with store.write() as conn:
        conn.execute(rollup_pause_t.delete())
    assert store.expire_due(clock(), batch_size=2) == 3
    assert_in_step(store)
    assert set(_doc_statuses(manager).values()) == {frozenset({"expired"})}


def test_a_listening_webhook_gets_one_event_per_expired_session(
    manager: Manager, clock: FakeClock
) -> None:
    store = manager.store
    with store.write() as conn:
        conn.execute(text(
            "INSERT INTO webhooks (url, events, secret, format, enabled, base_url, "
            "created_at, created_by) VALUES ('http://x/', ',expired,', 's', 'json', true, "
            "'', CURRENT_TIMESTAMP, 't')"
        ))  # fmt: skip
    ids = _due(manager, clock, 5, running=2)
    assert store.expire_due(clock(), batch_size=2) == 5
    assert store.expire_due(clock(), batch_size=2) == 0  # a second pass adds none
    with store.read() as conn:
        events = conn.execute(text("SELECT kind, session_id FROM session_events")).all()
        queued = conn.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar()
    assert sorted(events) == sorted(("expired", sid) for sid in ids)
    assert queued == 5


def test_expiry_rechecks_in_its_own_statement(manager: Manager, clock: FakeClock) -> None:
    """What the slice expires is decided in its write: a session extended or
    finished before it is left alone, and a session kept by a reviewer still
    expires (keep protects from purge, not from expiry)."""
    store = manager.store
    extended, finished, kept, due = _due(manager, clock, 4, running=4)
    c = sessions_t.c
    with store.write() as conn:
        conn.execute(update(sessions_t).where(c.id == extended).values(expires_at=None))
        conn.execute(update(sessions_t).where(c.id == finished).values(status="completed"))
        conn.execute(update(sessions_t).where(c.id == kept).values(keep=True))
    assert store.expire_due(clock()) == 2
    statuses = {sid: manager.get(sid).status for sid in (extended, finished, kept, due)}
    assert statuses == {
        extended: Status.RUNNING,
        finished: Status.COMPLETED,
        kept: Status.EXPIRED,
        due: Status.EXPIRED,
    }


def test_the_slice_update_reads_its_indexes(manager: Manager, clock: FakeClock) -> None:
    """EXPLAIN of the slice's statements on ``sessions``: the due rows on
    ix_sessions_status_expires (in the UPDATE's subquery; on SQLite in the read
    of the slice's ids, the UPDATE then by primary key); no scan of ``sessions``,
    and the documents' statuses on indexes too."""
    store = manager.store
    _due(manager, clock, 3, running=1)
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        first = statement.lstrip().upper()
        due = "sessions.expires_at <=" in statement and first.startswith("SELECT SESSIONS.ID")
        moved = first.startswith(("UPDATE SEARCH_DOC_STATUS", "INSERT INTO SEARCH_DOC_STATUS"))
        if first.startswith("UPDATE SESSIONS") or moved or due:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        store.expire_due(clock())
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert statements
    every = []
    for statement, parameters in statements:
        lines = " | ".join(plan(store.engine, statement, parameters))
        every.append(lines)
        if store.dialect == "sqlite":
            bare = lines.replace("SCAN sessions USING", "").replace("SCAN search_docs USING", "")
            assert "SCAN sessions" not in bare and "SCAN search_doc" not in bare, lines
        else:
            assert "Seq Scan on sessions" not in lines, lines
            assert "Seq Scan on search_doc" not in lines, lines
    assert all("ix_sessions_status_expires" in lines for lines in every[:1]), every
    assert any("ix_search_docs_session" in lines for lines in every), every


def test_0014_round_trips_the_trigger(sqlite_url: str) -> None:
    """Down to 0013 the update trigger is 0013's text again; up, it has the pause."""
    from alembic import command

    from webapp.sessions.schema import alembic_config, upgrade_schema
    from webapp.sessions.store import make_engine

    engine = make_engine(sqlite_url)
    query = text("SELECT sql FROM sqlite_master WHERE name = 'trg_sessions_rollup_update'")
    try:
        with engine.connect() as conn:
            paused = conn.execute(query).scalar_one()
        command.downgrade(alembic_config(engine), "0013")
        with engine.connect() as conn:
            plain = conn.execute(query).scalar_one()
            assert "rollup_pause" not in plain
            assert conn.execute(text("SELECT count(*) FROM sqlite_master "
                                     "WHERE name = 'rollup_pause'")).scalar() == 0  # fmt: skip
        upgrade_schema(engine)
        with engine.connect() as conn:
            assert conn.execute(query).scalar_one() == paused
            assert conn.execute(select(rollup_pause_t)).all() == [(1, 0)]
        head, _, rest = plain.partition(" ON sessions WHEN ")
        condition, _, body = rest.partition(" BEGIN ")
        pause = "(SELECT paused FROM rollup_pause WHERE id = 1) IS NOT 1"
        assert paused == f"{head} ON sessions WHEN {pause} AND ({condition}) BEGIN {body}"
    finally:
        engine.dispose()


def _doc_statuses(manager: Manager) -> dict[str, frozenset[str]]:
    """Each session's id -> the statuses beside its search documents (once the
    search index's pass has indexed them: on SQLite it writes their rows)."""
    SearchFlusher(manager.store).run_pass()
    d, x = search_docs_t.c, search_doc_status_t.c
    joined = search_docs_t.join(search_doc_status_t, x.doc_id == d.id)
    with manager.store.read() as conn:
        rows = conn.execute(select(d.session_id, x.status).select_from(joined)).all()
    found: dict[str, set[str]] = {}
    for sid, status in rows:
        found.setdefault(sid, set()).add(status)
    return {sid: frozenset(statuses) for sid, statuses in found.items()}


def test_the_documents_statuses_follow_each_slice(manager: Manager, clock: FakeClock) -> None:
    """The slices' sessions' search documents say ``expired`` after the sweep (on
    PostgreSQL moved by one statement a slice while the per-session trigger
    stands aside), the others keep theirs, and the trigger is back for the next
    status change: in the same transaction after a slice, and after the sweep."""
    store = manager.store
    ids = _due(manager, clock, 5, running=3)
    for sid in ids[:3]:
        manager.append_messages(sid, [Message("user", "one"), Message("assistant", "two")])
    clock.advance(hours=30)  # past every expiry again (appends extended some)
    fresh = manager.create("fresh", expires_at=clock() + timedelta(hours=2)).id
    assert store.expire_due(clock(), batch_size=2) == 5
    docs = _doc_statuses(manager)
    assert {sid: docs[sid] for sid in ids} == {sid: {"expired"} for sid in ids}
    assert docs[fresh] == {"pending"}
    assert sum(len(s) for s in docs.values()) == 6  # one request each
    manager.set_running(fresh)  # another write, another pooled connection: the trigger
    assert _doc_statuses(manager)[fresh] == {"running"}
    other = manager.create("other", expires_at=clock() - timedelta(minutes=1)).id
    c = sessions_t.c
    with store.write() as conn:
        assert store.move_status(conn, [other], Status.EXPIRED.value) == 1
        conn.execute(update(sessions_t).where(c.id == fresh).values(status="failed"))
    docs = _doc_statuses(manager)
    assert (docs[other], docs[fresh]) == ({"expired"}, {"failed"})


def test_0017_replaces_the_status_trigger(store: MessageStore) -> None:
    """At head the per-session status trigger is 0017's: on PostgreSQL it stands
    aside under the sweep's setting (and since 0023 upserts the rows of its
    session's documents, found on their session's index); on SQLite it stands
    aside while the rollups' pause flag is set."""
    with store.read() as conn:
        if store.dialect == "sqlite":
            sql = conn.execute(text(
                "SELECT sql FROM sqlite_master WHERE name = 'search_sessions_status_au'"
            )).scalar_one()  # fmt: skip
            pause = "(SELECT paused FROM rollup_pause WHERE id = 1) IS NOT 1 BEGIN"
            assert f"WHEN OLD.status IS NOT NEW.status AND {pause}" in sql
            return
        body = conn.execute(text(
            "SELECT prosrc FROM pg_proc WHERE proname = 'search_sessions_status_au'"
        )).scalar_one()  # fmt: skip
        trigger = conn.execute(text(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgname = 'search_sessions_status_au'"
        )).scalar_one()  # fmt: skip
    assert "FROM search_docs WHERE session_id = NEW.id ON CONFLICT (doc_id) DO UPDATE" in body
    assert "sessionboard.statuses_by_statement" in trigger


def test_0020_drops_the_index_no_query_reads(store: MessageStore) -> None:
    """``ix_sessions_expires`` is gone at head (each status change paid an entry in
    it; the expiry reads ix_sessions_status_expires), back at 0019, gone again up."""
    from alembic import command

    from webapp.sessions.schema import alembic_config, upgrade_schema

    def indexes() -> set[str]:
        return {str(ix["name"]) for ix in inspect(store.engine).get_indexes("sessions")}

    assert "ix_sessions_expires" not in indexes()
    assert "ix_sessions_status_expires" in indexes()
    command.downgrade(alembic_config(store.engine), "0019")
    assert "ix_sessions_expires" in indexes()
    upgrade_schema(store.engine)
    assert "ix_sessions_expires" not in indexes()
