"""Every list, stats and inbox query, with each filter the pages offer, reads an
index: EXPLAIN shows no full scan of ``sessions`` or ``messages`` (SQLite: no
``SCAN`` without an index; PostgreSQL, with ``enable_seqscan = off`` since small
tables make seq scans cheapest: no ``Seq Scan``), and on SQLite no sort of every
match (``USE TEMP B-TREE FOR ORDER BY``). The sweeper's statements too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, event, insert, select, update

from tests.conftest import FakeClock
from tests.scale.plans import SORTS, all_plans, plan, scans, scans_of
from tests.usage.conftest import usage_message
from webapp.review.models import Tag, Verdict
from webapp.sessions import Manager, Message, Status
from webapp.sessions.queries import IdSet, ReadModel, SessionFilter, Sort
from webapp.sessions.rows import sessions_t

verdicts_t = cast(Table, Verdict.__table__)
tags_t = cast(Table, Tag.__table__)


@pytest.fixture
def filled(manager: Manager, clock: FakeClock) -> ReadModel:
    """A few sessions of every status over three days, with messages, a verdict and
    a tag: enough for every query to have rows to find."""
    start = clock() - timedelta(days=3)
    for i, status in enumerate([*Status] * 3):
        created = start + timedelta(hours=i * 4)
        context = {"model": f"m{i % 2}", "user": "ana", "project_path": f"/src/p{i % 2}"}
        session = manager.create(f"request {i}", context, created_at=created)
        manager.store.change_session(
            session.id,
            {"status": status, "error": "boom" if status is Status.FAILED else ""},
            now=created + timedelta(minutes=5),
            guard=None,
        )
        manager.store.insert_message(session.id, Message("user", "hi"), now=created)
        manager.store.insert_message(session.id, usage_message(), now=created)
    child = manager.create("a subagent")
    with manager.store.write() as conn:
        parent = manager.list(limit=2)[1].id
        conn.execute(update(sessions_t).where(sessions_t.c.id == child.id).values(parent_id=parent))
    first = manager.list(limit=1)[0].id
    with manager.store.write() as conn:
        conn.execute(
            insert(verdicts_t).values(
                session_id=first, verdict="approved", by="rita", at=clock(), reason=""
            )
        )
        conn.execute(insert(tags_t).values(session_id=first, name="flaky"))
    return ReadModel(manager.store)


def _calls(reads: ReadModel, clock: FakeClock) -> dict[str, Callable[[], Any]]:
    """The read model's list, inbox and stats calls, with every filter."""
    now = clock()
    day = datetime.combine((now - timedelta(days=2)).date(), time(), UTC)
    approved = IdSet(select(verdicts_t.c.session_id).where(verdicts_t.c.verdict == "approved"))
    by_rita = IdSet(select(verdicts_t.c.session_id).where(verdicts_t.c.by == "rita"))
    flaky = IdSet(select(tags_t.c.session_id).where(tags_t.c.name == "flaky"))
    unreviewed = IdSet(select(verdicts_t.c.session_id), negate=True)
    newest = reads.list_sessions(limit=1).rows[0]
    # A position in the middle of each sort's list.
    positions = {sort: reads.list_sessions(sort=sort, limit=3).older for sort in Sort}
    filters = {
        "none": SessionFilter(),
        "one status": SessionFilter(statuses=("failed",)),
        "two statuses": SessionFilter(statuses=("completed", "failed")),
        "created from": SessionFilter(created_from=day),
        "created range": SessionFilter(created_from=day, created_before=day + timedelta(days=1)),
        "created before": SessionFilter(created_before=day + timedelta(days=1)),
        "context": SessionFilter(context_key="model", context_value="m1"),
        "verdict": SessionFilter(within=(approved,)),
        "reviewer": SessionFilter(within=(by_rita,)),
        "tag": SessionFilter(within=(flaky,)),
        "unreviewed": SessionFilter(within=(unreviewed,)),
        "status and context": SessionFilter(
            statuses=("completed", "failed"), context_key="user", context_value="ana"
        ),
        "model": SessionFilter(model="claude-haiku-4-5"),
        "project": SessionFilter(project="/src/p1"),
        "text": SessionFilter(text="request"),
        "top level": SessionFilter(top_level=True),
        "subagents of": SessionFilter(parent_id=newest.id),
        "top level, status": SessionFilter(statuses=("completed",), top_level=True),
    }
    calls: dict[str, Callable[[], Any]] = {}
    for name, where in filters.items():
        for sort in Sort:
            calls[f"list, {name}, by {sort}"] = lambda w=where, s=sort: reads.list_sessions(
                w, sort=s
            )
            at = positions[sort]
            calls[f"list, {name}, by {sort}, older"] = lambda w=where, s=sort, p=at: (
                reads.list_sessions(w, sort=s, older=p)
            )
            calls[f"list, {name}, by {sort}, newer"] = lambda w=where, s=sort, p=at: (
                reads.list_sessions(w, sort=s, newer=p)
            )
        calls[f"records, {name}"] = lambda w=where: reads.session_records(w)
    inbox = (unreviewed,)
    calls.update(
        {
            "inbox": lambda: reads.inbox(inbox),
            "inbox, failed": lambda: reads.inbox(inbox, status="failed"),
            "inbox, completed": lambda: reads.inbox(inbox, status="completed"),
            "inbox, tag": lambda: reads.inbox((*inbox, flaky)),
            "inbox, after": lambda: reads.inbox(inbox, after=newest.id),
            "inbox, next": lambda: reads.inbox_neighbour(newest.id, inbox),
            "inbox, previous": lambda: reads.inbox_neighbour(newest.id, inbox, forward=False),
            "nav counts": reads.count_by_status,
            "children": lambda: reads.children(newest.id),
            "transcript": lambda: reads.transcript_window(newest.id),
            "live state": lambda: reads.live_state(newest.id),
        }
    )
    for label, since in {"midnight": day, "part day": day + timedelta(hours=5)}.items():
        calls[f"per day, {label}"] = lambda s=since: reads.sessions_per_day(s)
        calls[f"durations, {label}"] = lambda s=since: reads.histogram("duration", s)
        calls[f"lengths, {label}"] = lambda s=since: reads.histogram("messages", s)
        calls[f"errors, {label}"] = lambda s=since: reads.top_errors(s)
    return calls


def test_no_read_scans_sessions_or_messages(filled: ReadModel, clock: FakeClock) -> None:
    assert scans_of(filled.store.engine, _calls(filled, clock)) == {}


#: Filters that pick sessions from a feature's own table (verdicts, tags, the
#: search index) or a parent's few subagents: the planner reads the picked ids on
#: that table's index and sorts just those rows, which is the cheaper plan while
#: the table is small beside ``sessions``.
PICKING = ("verdict", "reviewer", "tag", "text", "subagents of")
#: The filters a sort by an amount (cost, tokens, duration) reads in index order:
#: one index per amount, (amount, id), walked newest first with the filter tested
#: on each row. Any other filter with such a sort sorts its own matches (an index
#: per filter and amount would cost every append to maintain).
AMOUNT_ORDERED = ("none", "top level")


def test_no_list_or_inbox_sorts_every_match(filled: ReadModel, clock: FakeClock) -> None:
    """No list or inbox query sorts the sessions it matches (stats group a few
    thousand rollup rows, and may; see PICKING). PostgreSQL is told to avoid
    sorts: it shows that an index order can serve."""
    engine = filled.store.engine
    sorting = {}
    for name, call in _calls(filled, clock).items():
        picking = any(name.startswith((f"list, {p},", f"records, {p}")) for p in PICKING)
        if picking or not name.startswith(("list", "records", "inbox")):
            continue
        by_amount = any(f"by {s}" in name for s in Sort if s.by_amount)
        if by_amount and not any(name.startswith(f"list, {f}, by") for f in AMOUNT_ORDERED):
            continue
        lines = [line for line in all_plans(engine, call, no_sort=True) if SORTS.search(line)]
        if lines:
            sorting[name] = lines
    assert sorting == {}


def test_the_last_day_is_counted_on_a_range(filled: ReadModel, clock: FakeClock) -> None:
    """/stats' "last 24 hours": the rollups' whole days and, for the part of a day,
    each status's range of ``(status, created_at, id)`` bounded on both sides, not a
    walk of a whole index (a GROUP BY status read every session on SQLite)."""
    store = filled.store
    since = clock() - timedelta(hours=24)
    lines = all_plans(store.engine, lambda: store.count_by_status(created_since=since))
    steps = [line.strip() for line in lines if not line.startswith("## ")]
    if store.dialect == "sqlite":
        assert [line for line in steps if line.startswith("SCAN") and "CONSTANT" not in line] == []
        ranged = "ix_sessions_status_created (status=? AND created_at>? AND created_at<?)"
        assert sum(ranged in line for line in steps) == len(Status)
    else:
        assert not any("Seq Scan on sessions" in line for line in steps)
    everyone = filled.session_records(limit=1000).rows
    midnight = datetime.combine(since.date(), time(), UTC)
    # Early and late in a day (the part before or after it is counted), at
    # midnight, on a session's own creation time.
    for start in (since, since - timedelta(hours=9), since + timedelta(hours=9), midnight,
                  midnight - timedelta(days=1), everyone[3].created_at):  # fmt: skip
        counted = store.count_by_status(created_since=start)
        expected: dict[str, int] = {}
        for session in everyone:
            if session.created_at >= start:
                expected[session.status] = expected.get(session.status, 0) + 1
        assert counted == expected and counted, start


def test_a_known_context_key_reads_its_own_index(filled: ReadModel) -> None:
    engine = filled.store.engine
    for sort in (Sort.ACTIVITY, Sort.CREATED):
        where = SessionFilter(context_key="model", context_value="m1")
        plan = "\n".join(all_plans(engine, lambda w=where, s=sort: filled.list_sessions(w, sort=s)))
        assert f"ix_sessions_context_model_{sort}" in plan
    everyone = filled.session_records(limit=1000).rows
    picked = filled.session_records(SessionFilter(context_key="model", context_value="m1")).rows
    assert picked and {s.id for s in picked} == {
        s.id for s in everyone if s.context.get("model") == "m1"
    }


def test_the_sweep_reads_indexes(manager: Manager, clock: FakeClock) -> None:
    store = manager.store
    old = clock() - timedelta(days=30)
    for i in range(4):
        s = manager.create(f"old {i}", created_at=old)
        store.insert_message(s.id, Message("user", "x", timestamp=old), now=old)
    manager.create("due", created_at=clock() - timedelta(hours=2))
    cutoff = clock() - timedelta(days=7)
    calls = {
        "expire": lambda: store.expire_due(clock()),
        "count due": lambda: store.count_expire_due(clock()),
        "purge messages": lambda: store.purge_older_than(cutoff),
        "count messages": lambda: store.count_purgeable_messages(cutoff),
        "purge sessions": lambda: store.purge_sessions_older_than(cutoff),
        "count sessions": lambda: store.count_purgeable_sessions(cutoff),
    }
    found = {}
    for name, call in calls.items():
        lines = scans(store.engine, call)
        if lines:
            found[name] = lines
    assert found == {}
    manager.sweep_and_record(trigger="test")  # a watermark: the later passes read less
    for name in ("purge messages", "count messages"):
        assert scans(store.engine, calls[name]) == [], name


def test_the_purge_writes_find_sessions_by_id(manager: Manager, clock: FakeClock) -> None:
    """The purge's statements that name their sessions (a slice's check of which
    are still purgeable, the session purge's DELETE) read ``sessions`` on its
    primary key, with the purge rule tested on those rows only: SQLite took
    ``ix_sessions_keep_created`` for ``keep IS 0`` instead and walked every unkept
    session in each write (a second a write at a million sessions)."""
    store = manager.store
    old = clock() - timedelta(days=30)
    for i in range(4):
        s = manager.create(f"old {i}", created_at=old)
        store.insert_message(s.id, Message("user", "x", timestamp=old), now=old)
        store.change_session(s.id, {"status": Status.COMPLETED}, now=old, guard=None)
    kept = manager.create("kept", created_at=old)
    store.insert_message(kept.id, Message("user", "x", timestamp=old), now=old)
    manager.set_keep(kept.id, True)
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        flat = " ".join(statement.split())
        named = flat.startswith(("SELECT sessions.id", "DELETE FROM sessions"))
        if named and "sessions.id IN" in flat:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        result = manager.sweep_and_record(trigger="test")
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert (result.purged_messages, result.purged_sessions) == (4, 4)
    assert manager.get(kept.id).message_count == 1
    kinds = {" ".join(s.split())[:6] for s, _ in statements}
    assert kinds == {"SELECT", "DELETE"}
    for statement, parameters in statements:
        lines = "\n".join(plan(store.engine, statement, parameters))
        assert "ix_sessions_keep_created" not in lines, lines
        by_id = "sqlite_autoindex_sessions_1 (id=?)" if store.dialect == "sqlite" else "pk_sessions"
        assert by_id in lines, lines
