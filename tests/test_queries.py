"""The read model (webapp.sessions.queries) on both engines: lists with every
filter and keyset paging both ways, the inbox order, transcript windows, stats."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import FakeClock
from webapp.sessions import Manager, Message, Status
from webapp.sessions.queries import (
    IdSet,
    Keyset,
    ReadModel,
    SessionFilter,
    Sort,
    day_range,
)
from webapp.sessions.store import sessions_t


@pytest.fixture
def queries(manager: Manager) -> ReadModel:
    """The read model over the test's store."""
    return ReadModel(manager.store)


def make_sessions(manager: Manager, clock: FakeClock, n: int, **context: str) -> list[str]:
    """``n`` sessions, one a minute, oldest first; returns their ids."""
    ids = []
    for i in range(n):
        clock.advance(minutes=1)
        ids.append(manager.create(f"request {i}", dict(context)).id)
    return ids


def walk(queries: ReadModel, where: SessionFilter, sort: Sort, limit: int) -> list[str]:
    seen: list[str] = []
    page = queries.list_sessions(where, sort=sort, limit=limit)
    seen += [r.id for r in page.rows]
    while page.older is not None:
        page = queries.list_sessions(where, sort=sort, older=page.older, limit=limit)
        seen += [r.id for r in page.rows]
    return seen


@pytest.mark.parametrize("sort", [s for s in Sort if not s.by_amount])  # by time
def test_pages_down_and_back_up(
    manager: Manager, clock: FakeClock, queries: ReadModel, sort: Sort
) -> None:
    ids = make_sessions(manager, clock, 7)
    assert walk(queries, SessionFilter(), sort, 3) == ids[::-1]
    first = queries.list_sessions(sort=sort, limit=3)
    assert first.newer is None and first.older is not None
    second = queries.list_sessions(sort=sort, older=first.older, limit=3)
    back = queries.list_sessions(sort=sort, newer=second.newer, limit=3)
    assert [r.id for r in back.rows] == [r.id for r in first.rows]
    assert back.newer is None


def test_activity_order_follows_new_messages(
    manager: Manager, clock: FakeClock, queries: ReadModel
) -> None:
    ids = make_sessions(manager, clock, 3)
    clock.advance(minutes=1)
    manager.append_message(ids[0], Message("user", "again"))
    by_activity = [r.id for r in queries.list_sessions(sort=Sort.ACTIVITY).rows]
    by_created = [r.id for r in queries.list_sessions(sort=Sort.CREATED).rows]
    assert by_activity == [ids[0], ids[2], ids[1]]
    assert by_created == ids[::-1]


def test_filters(manager: Manager, clock: FakeClock, queries: ReadModel) -> None:
    a, b, c = make_sessions(manager, clock, 3)
    manager.set_context(a, "project", "alpha")
    manager.set_context(b, "project", "beta")
    manager.set_running(b)
    manager.set_failed(b, "boom: 100% broken")
    manager.set_completed(c, "the fix_it branch")

    def ids(**kw: object) -> set[str]:
        return {r.id for r in queries.list_sessions(SessionFilter(**kw)).rows}  # type: ignore[arg-type]

    assert ids(statuses=("failed",)) == {b}
    assert ids(statuses=("failed", "completed")) == {b, c}
    assert ids(context_key="project", context_value="alpha") == {a}
    assert ids(context_key="project") == {a, b}
    assert ids(context_key="nothing") == set()
    assert ids(text="REQUEST 2") == {c}
    assert ids(text="fix_it") == {c}
    assert ids(text="fix%it") == set()  # LIKE characters are text
    assert ids(error="boom: 100% broken") == {b}
    b_created = queries.list_sessions(SessionFilter(statuses=("failed",))).rows[0].created_at
    assert ids(created_from=b_created) == {b, c}
    assert ids(created_before=b_created) == {a}
    picked = IdSet(select(sessions_t.c.id).where(sessions_t.c.id.in_([a, c])))
    assert ids(within=(picked,)) == {a, c}
    assert ids(within=(IdSet(picked.query, negate=True),)) == {b}


def test_day_range_covers_whole_days(clock: FakeClock) -> None:
    start, end = day_range(clock(), clock())
    assert start is not None and end is not None
    assert start <= clock() < end
    assert end - start == timedelta(days=1)
    assert day_range(None, None) == (None, None)


def test_records_and_iteration(manager: Manager, clock: FakeClock, queries: ReadModel) -> None:
    ids = make_sessions(manager, clock, 5, project="x")
    page = queries.session_records(limit=2)
    assert [s.id for s in page.rows] == ids[:-3:-1]
    assert page.rows[0].context == {"project": "x"}
    assert [s.id for s in queries.iter_sessions(SessionFilter(), batch=2)] == ids[::-1]


def test_keyset_round_trips_and_refuses_junk(clock: FakeClock) -> None:
    key = Keyset(clock(), "abc~def")
    assert Keyset.decode(key.encode()) == key
    for junk in (
        None,
        "",
        "nonsense",
        "2026-13-45~x",
        "2026-01-15T12:00:00~x",  # no zone
        "9999-12-31T23:59:59-05:00~x",  # past the calendar in UTC
        "2026-01-15T12:00:00+00:00~" + "x" * 65,
        "2026-01-15T12:00:00+00:00~a\x00b",
        "2026-01-15T12:00:00+00:00~",
    ):
        assert Keyset.decode(junk) is None


def test_inbox_puts_failed_and_expired_first_then_oldest(
    manager: Manager, clock: FakeClock, queries: ReadModel
) -> None:
    done1, failed, running, done2, closed = make_sessions(manager, clock, 5)
    manager.set_completed(done1, "ok")
    manager.set_running(failed)
    manager.set_failed(failed, "no")
    manager.set_running(running)
    manager.set_completed(done2, "ok")
    manager.close(closed)
    rows, after, total = queries.inbox()
    assert [r.id for r in rows] == [failed, done1, done2, closed]
    assert rows[0].urgent and not rows[1].urgent
    assert (after, total) == (None, 4)
    first, after, total = queries.inbox(limit=2)
    assert [r.id for r in first] == [failed, done1] and total == 4
    rest, _, _ = queries.inbox(after=after, limit=2)
    assert [r.id for r in rest] == [done2, closed]
    assert queries.inbox(status="closed")[0][0].id == closed
    assert queries.inbox_neighbour(done1) == done2
    assert queries.inbox_neighbour(done1, forward=False) == failed
    assert queries.inbox_neighbour(closed) is None
    assert queries.inbox_neighbour("unknown") == failed
    reviewed = IdSet(select(sessions_t.c.id).where(sessions_t.c.id == failed), negate=True)
    assert [r.id for r in queries.inbox([reviewed])[0]] == [done1, done2, closed]


def test_transcript_windows(manager: Manager, clock: FakeClock, queries: ReadModel) -> None:
    (sid,) = make_sessions(manager, clock, 1)
    for i in range(7):
        clock.advance(seconds=1)
        manager.append_message(sid, Message("user", f"m{i} " + "x" * (30 if i == 6 else 0)))
    latest = queries.transcript_window(sid, limit=3, truncate=10)
    assert [m.content[:2] for m in latest.messages] == ["m4", "m5", "m6"]
    assert latest.earlier
    assert latest.messages[-1].truncated and not latest.messages[0].truncated
    assert latest.messages[-1].length == len("m6 " + "x" * 30)
    before = queries.transcript_window(sid, before=latest.messages[0].id, limit=3)
    assert [m.content for m in before.messages] == ["m1 ", "m2 ", "m3 "]
    rest = queries.transcript_window(sid, before=before.messages[0].id, limit=3)
    assert [m.content for m in rest.messages] == ["m0 "] and not rest.earlier
    after = queries.messages_after(sid, latest.messages[0].id)
    assert [m.content[:2] for m in after] == ["m5", "m6"]
    whole = queries.full_message(sid, latest.messages[-1].id)
    assert whole is not None and not whole.truncated and whole.content.endswith("x" * 30)
    assert queries.full_message("other", latest.messages[-1].id) is None
    state = queries.live_state(sid)
    assert state is not None and state.last_message_id == latest.messages[-1].id
    assert queries.live_state("unknown") is None
    assert queries.oldest_message_time(sid) == before.messages[0].timestamp - timedelta(seconds=1)


def test_message_pages_go_on_from_the_last_message(
    manager: Manager, clock: FakeClock, queries: ReadModel
) -> None:
    (sid,) = make_sessions(manager, clock, 1)
    manager.append_messages(sid, [Message("user", f"m{i}") for i in range(5)])
    page = queries.message_page(sid, limit=2)
    assert page is not None
    messages, position = page
    assert [m.content for m in messages] == ["m0", "m1"] and position is not None
    assert [m.content for m in queries.iter_messages(sid, batch=2)] == [f"m{i}" for i in range(5)]
    assert queries.message_page("unknown") is None
    assert list(queries.iter_messages("unknown")) == []


def test_children_and_exists(manager: Manager, clock: FakeClock, queries: ReadModel) -> None:
    (parent,) = make_sessions(manager, clock, 1)
    assert queries.exists(parent) and not queries.exists("nope")
    assert queries.children(parent) == []


def test_stats(manager: Manager, clock: FakeClock, queries: ReadModel) -> None:
    start = clock()
    ok, bad, idle = make_sessions(manager, clock, 3)
    manager.append_messages(ok, [Message("user", "a"), Message("assistant", "b")])
    clock.advance(seconds=30)
    manager.set_completed(ok, "done")
    manager.set_running(bad)
    manager.set_failed(bad, "boom")
    per_day = queries.sessions_per_day(start)
    assert sum(sum(v.values()) for v in per_day.values()) == 3
    assert queries.histogram("messages", start)[2] == 1  # two messages: bucket "< 5"
    assert sum(queries.histogram("duration", start)) == 2  # completed and failed only
    assert queries.top_errors(start) == [("boom", 1)]
    assert queries.count_by_status() == {"completed": 1, "failed": 1, "pending": 1}
    assert Status(queries.list_sessions().rows[0].status)
    assert idle


def test_a_creation_range_by_activity_states_each_whole_day_once(
    manager: Manager, clock: FakeClock, queries: ReadModel
) -> None:
    """A creation range sorted by activity is read a UTC day at a time; a day that
    lies wholly inside the range is read on the day alone (the range stated too,
    PostgreSQL misjudged how many rows match and sorted a whole day's sessions),
    while the first and last day keep the ends that cut them. The rows are those
    of the range, whatever its ends."""
    from sqlalchemy import event

    made = []
    for _ in range(4 * 6):  # four days, a session every four hours
        clock.advance(hours=4)
        made.append(manager.create("a task"))
    created = {s.id: s.created_at for s in made}
    first_day = min(created.values()).date()
    statements: list[str] = []
    event.listen(
        manager.store.engine,
        "before_cursor_execute",
        lambda _c, _u, sql, *_: statements.append(sql) if "sort_key" in sql else None,
    )
    midnight = datetime.combine(first_day + timedelta(days=1), time(), UTC)
    ranges = [
        (midnight, midnight + timedelta(days=2)),  # two whole days
        (midnight + timedelta(hours=5), midnight + timedelta(days=1, hours=13)),  # cut ends
        (midnight - timedelta(hours=3), None),
        (None, midnight + timedelta(hours=9)),
    ]
    for start, before in ranges:
        statements.clear()
        where = SessionFilter(created_from=start, created_before=before)
        listed = [r.id for r in queries.list_sessions(where, limit=100).rows]
        expected = [
            i for i, at in created.items()
            if (start is None or at >= start) and (before is None or at < before)
        ]  # fmt: skip
        assert sorted(listed) == sorted(expected) and listed, (start, before)
        # A read a day; an end off midnight cuts its day, whose read keeps it.
        cut = sum(end is not None and end.timetz() != time(tzinfo=UTC) for end in (start, before))
        whole = [sql for sql in statements if not re.search(r"created_at [<>]", sql)]
        assert len(statements) >= cut and len(whole) == len(statements) - cut, (start, before)
