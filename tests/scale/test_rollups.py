"""The counters and rollups the triggers keep (migration 0009) equal a direct count
of ``sessions`` after every kind of write, on SQLite and PostgreSQL, before and
after the sweep folds them; and the read model's nav counts and stats read them,
not the sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.conftest import FakeClock
from tests.scale.plans import captured
from webapp.sessions import Manager, Message, MessageStore, Session, Status, rollups
from webapp.sessions.queries import ReadModel
from webapp.sessions.rollups import (
    DURATION_BUCKETS,
    MESSAGE_BUCKETS,
    bucket_of,
    error_rollup_t,
    seconds_between,
    session_counts_t,
    session_rollup_t,
)
from webapp.sessions.rows import utc_day
from webapp.sessions.store import messages_t, sessions_t


def _sums(store: MessageStore, table: Any, keys: list[str]) -> dict[tuple[Any, ...], int]:
    columns = [table.c[k] for k in keys]
    total = func.sum(table.c.n)
    query = select(*columns, total).group_by(*columns).having(total != 0)
    with store.read() as conn:
        return {tuple(r[:-1]): int(r[-1]) for r in conn.execute(query)}


def _direct(store: MessageStore) -> dict[str, dict[tuple[Any, ...], int]]:
    """Each rollup counted straight from ``sessions``."""
    c, dialect = sessions_t.c, store.dialect
    day = utc_day(c.created_at, dialect)
    duration = bucket_of(seconds_between(c.created_at, c.last_activity, dialect), DURATION_BUCKETS)
    length = bucket_of(c.message_count, MESSAGE_BUCKETS)
    queries = {
        "counts": select(c.status, func.count()).group_by(c.status),
        "rollup": select(day, c.status, duration, length, func.count()).group_by(
            day, c.status, duration, length
        ),
        "errors": select(day, c.error, func.count())
        .where(c.status == Status.FAILED.value, c.error != "")
        .group_by(day, c.error),
    }
    with store.read() as conn:
        return {
            name: {tuple(r[:-1]): int(r[-1]) for r in conn.execute(query)}
            for name, query in queries.items()
        }


def _kept(store: MessageStore) -> dict[str, dict[tuple[Any, ...], int]]:
    """Each rollup as the triggers keep it."""
    return {
        "counts": _sums(store, session_counts_t, ["status"]),
        "rollup": _sums(
            store, session_rollup_t, ["day", "status", "duration_bucket", "message_bucket"]
        ),
        "errors": _sums(store, error_rollup_t, ["day", "error"]),
    }


def assert_in_step(store: MessageStore) -> None:
    """The rollups equal a direct count, before and after a fold."""
    direct = _direct(store)
    assert _kept(store) == direct
    store.fold_rollups()
    assert _kept(store) == direct


def _session(sid: str, created: datetime, status: Status = Status.COMPLETED, **kw: Any) -> Session:
    return Session(
        id=sid,
        status=status,
        created_at=created,
        last_activity=kw.pop("last_activity", created),
        expires_at=kw.pop("expires_at", created + timedelta(minutes=30)),
        **kw,
    )


def _writes(manager: Manager, clock: FakeClock) -> list[tuple[str, Callable[[], Any]]]:
    """Every kind of write, in an order that leaves something for the next one."""
    store = manager.store
    day_ago = clock() - timedelta(days=1, hours=3)
    old = clock() - timedelta(days=20)
    ids: dict[str, str] = {}

    def create() -> None:
        ids["a"] = manager.create("first", {"model": "m"}).id
        ids["b"] = manager.create("second").id
        ids["c"] = manager.create("third", expires_at=None).id

    def appends() -> None:
        for i in range(12):  # crosses the 1, 2, 5 and 10 message buckets
            clock.advance(seconds=7)  # and the 1, 10 and 60 second ones
            manager.append_message(ids["a"], Message("user", f"m{i}"))
        manager.append_messages(ids["b"], [Message("user", "x"), Message("assistant", "y")])

    def statuses() -> None:
        manager.set_running(ids["a"])
        manager.set_completed(ids["a"], "done")
        manager.set_failed(ids["b"], "Boom: the API answered 529")
        manager.close(ids["c"])

    def change_error() -> None:
        manager.update(ids["b"], lambda s: setattr(s, "error", "Another error"))

    def import_upsert() -> None:
        # What the importer does: a whole session in, then its messages (old ones).
        store.upsert_session(
            _session("imported", day_ago, Status.FAILED, error="Boom: the API answered 529")
        )
        store.append_messages(
            "imported",
            [Message("user", f"i{i}", timestamp=day_ago + timedelta(minutes=i)) for i in range(3)],
            now=clock(),
            require_open=False,
        )
        # Imported again, moved to another day: the old row leaves its day.
        store.upsert_session(_session("imported", old, Status.FAILED, error="Moved"))

    def bulk() -> None:
        # What the demo does: rows straight in through executemany.
        row = {
            "id": "bulk", "status": "expired", "request": "r", "request_excerpt": "r",
            "response": "", "error": "", "created_at": old, "last_activity": old,
            "expires_at": old, "context": {}, "message_count": 0, "keep": False,
            "parent_id": None,
        }  # fmt: skip
        with store.write() as conn:
            store.bulk_insert(conn, sessions_t, store.bulk_rows([row]))
        store.append_messages(
            "bulk",
            [Message("user", "old", timestamp=old) for _ in range(4)],
            now=old,
            require_open=False,
        )

    def expiry_sweep() -> None:
        manager.create("will expire", created_at=clock() - timedelta(hours=2))
        manager.sweep()

    def purge() -> None:
        store.purge_older_than(clock() - timedelta(days=7))

    def purge_sessions() -> None:
        store.purge_sessions_older_than(clock() - timedelta(days=7))

    def counts_by_sql() -> None:
        # Any UPDATE, not only the store's: the triggers see them all.
        with store.write() as conn:
            conn.execute(
                update(sessions_t)
                .where(sessions_t.c.id == ids["a"])
                .values(last_activity=clock() + timedelta(hours=5), message_count=600)
            )
        for i in range(3):
            store.insert_message(ids["c"], Message("user", f"late {i}"), now=clock())

    def delete_messages() -> None:
        store.delete_messages_for_session(ids["c"])

    def delete() -> None:
        manager.delete(ids["b"])

    def clear_messages() -> None:
        store.clear_all_messages()

    def clear() -> None:
        manager.clear()

    return [
        ("create", create),
        ("append", appends),
        ("status changes", statuses),
        ("error change", change_error),
        ("import", import_upsert),
        ("bulk insert", bulk),
        ("purge messages", purge),
        ("purge sessions", purge_sessions),
        ("sweep (expiry)", expiry_sweep),
        ("plain SQL update", counts_by_sql),
        ("delete messages", delete_messages),
        ("clear messages", clear_messages),
        ("delete", delete),
        ("clear", clear),
    ]


def test_rollups_equal_a_direct_count_after_every_kind_of_write(
    manager: Manager, clock: FakeClock
) -> None:
    store = manager.store
    assert_in_step(store)
    for name, write in _writes(manager, clock):
        before = _direct(store)
        write()
        assert _direct(store) != before, f"{name} changed nothing"
        try:
            assert_in_step(store)
        except AssertionError as error:
            raise AssertionError(f"rollups out of step after {name}") from error


def test_fold_leaves_one_row_a_key(manager: Manager, clock: FakeClock) -> None:
    for i in range(5):
        clock.advance(minutes=1)
        manager.set_running(manager.create(f"r{i}").id)
    with manager.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(session_counts_t)).scalar() > 2
    manager.store.fold_rollups()
    with manager.store.read() as conn:
        rows = conn.execute(select(session_counts_t.c.status, session_counts_t.c.n)).all()
    assert sorted(rows) == [("running", 5)]


@pytest.mark.parametrize("since_hour", [0, 13])
def test_stats_from_rollups_equal_a_scan(
    manager: Manager, clock: FakeClock, since_hour: int
) -> None:
    """Whole days from the rollups, a part-day from the sessions: the same figures
    a scan of every session gives."""
    store = manager.store
    start = clock() - timedelta(days=3)
    for i in range(40):
        created = start + timedelta(hours=i * 2, minutes=i)
        status = [Status.COMPLETED, Status.FAILED, Status.CLOSED][i % 3]
        store.upsert_session(
            _session(
                f"s{i:02d}",
                created,
                status,
                last_activity=created + timedelta(seconds=3 ** (i % 9)),
                error=f"error {i % 4}" if status is Status.FAILED else "",
            )
        )
        for j in range(i % 7):
            store.insert_message(f"s{i:02d}", Message("user", str(j)), now=created)
    since = datetime.combine((start + timedelta(days=1)).date(), datetime.min.time(), UTC)
    since += timedelta(hours=since_hour)
    reads = ReadModel(store)
    c = sessions_t.c
    with store.read() as conn:
        rows = conn.execute(
            select(c.status, c.created_at, c.last_activity, c.message_count, c.error).where(
                c.created_at >= since
            )
        ).all()
    per_day: dict[str, dict[str, int]] = {}
    for r in rows:
        day = per_day.setdefault(r.created_at.date().isoformat(), {})
        day[r.status] = day.get(r.status, 0) + 1
    assert reads.sessions_per_day(since) == per_day

    def bucket(value: float, bounds: tuple[int, ...]) -> int:
        return next((i for i, b in enumerate(bounds) if value < b), len(bounds))

    durations = [0] * (len(DURATION_BUCKETS) + 1)
    lengths = [0] * (len(MESSAGE_BUCKETS) + 1)
    errors: dict[str, int] = {}
    for r in rows:
        lengths[bucket(r.message_count, MESSAGE_BUCKETS)] += 1
        if r.status in ("completed", "failed"):
            seconds = (r.last_activity - r.created_at).total_seconds()
            durations[bucket(seconds, DURATION_BUCKETS)] += 1
        if r.status == "failed" and r.error:
            errors[r.error] = errors.get(r.error, 0) + 1
    assert reads.histogram("duration", since) == durations
    assert reads.histogram("messages", since) == lengths
    assert reads.top_errors(since) == sorted(errors.items(), key=lambda e: (-e[1], e[0]))
    assert sum(durations) > 0 and errors


def test_nav_counts_and_whole_day_stats_never_read_sessions(
    manager: Manager, clock: FakeClock
) -> None:
    for i in range(3):
        manager.create(f"r{i}")
    store = manager.store
    reads = ReadModel(store)
    midnight = datetime.combine(clock().date(), datetime.min.time(), UTC) - timedelta(days=29)
    calls = {
        "nav counts": reads.count_by_status,
        "store counts": store.count_by_status,
        "per day": lambda: reads.sessions_per_day(midnight),
        "durations": lambda: reads.histogram("duration", midnight),
        "lengths": lambda: reads.histogram("messages", midnight),
        "errors": lambda: reads.top_errors(midnight),
    }
    for name, call in calls.items():
        with captured(store.engine) as statements:
            assert call() is not None
        tables = " ".join(s for s, _ in statements)
        assert statements and "FROM sessions" not in tables, name
    assert reads.count_by_status() == {"pending": 3}
    assert messages_t.name not in " ".join(s for s, _ in statements)


def test_a_fold_in_small_slices_keeps_every_sum(
    manager: Manager, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rollups, "FOLD_ROWS", 2)
    for i in range(7):
        clock.advance(minutes=1)
        sid = manager.create(f"r{i}").id
        manager.set_running(sid)
        manager.append_message(sid, Message("user", "x"))
    assert_in_step(manager.store)
    manager.store.fold_rollups()  # the slices' rows are merged again
    assert_in_step(manager.store)


def test_the_stats_reads_follow_every_change(manager: Manager, clock: FakeClock) -> None:
    """The stats' rollup reads are remembered while the rollups' stamp stays;
    every change moves it, even when a fold empties a rollup and new change rows
    take the ids of the deleted ones (SQLite hands a deleted highest id out again)."""
    reads = ReadModel(manager.store)
    since = datetime.combine((clock() - timedelta(days=3)).date(), datetime.min.time(), UTC)
    first = manager.create("first", created_at=clock() - timedelta(days=2))
    day = (clock() - timedelta(days=2)).date().isoformat()
    assert reads.sessions_per_day(since) == {day: {"pending": 1}}
    assert reads.sessions_per_day(since) == {day: {"pending": 1}}  # remembered
    assert manager.delete(first.id)
    manager.store.fold_rollups()  # every sum is 0: nothing left to sum
    second = manager.create("second", created_at=clock())
    today = clock().date().isoformat()
    assert reads.sessions_per_day(since) == {today: {"pending": 1}}
    manager.store.change_session(second.id, {"status": "failed"}, now=clock(), guard=None)
    assert reads.sessions_per_day(since) == {today: {"failed": 1}}
    assert reads.histogram("messages", since)[0] == 1
    assert_in_step(manager.store)


def test_a_status_moved_by_statement_keeps_every_rollup_at_the_buckets_edges(
    manager: Manager, clock: FakeClock
) -> None:
    """``move_status`` (the sweep's expiry) sums its change rows itself, each
    row's duration computed once and bucketed from that: sessions lasting each
    duration bound exactly and a millisecond less, with each message-count bound,
    are counted where the triggers would count them; a move to or from
    ``failed`` moves the errors."""
    store, c = manager.store, sessions_t.c
    start = clock() - timedelta(days=3)
    rows = []
    for i, bound in enumerate((0, *DURATION_BUCKETS)):
        for less in (timedelta(0), timedelta(milliseconds=1)):
            for count in (0, *MESSAGE_BUCKETS)[i % 3 :: 3]:
                n = len(rows)
                last = start + timedelta(seconds=bound) - (less if bound else timedelta(0))
                rows.append(
                    {
                        "id": f"edge-{n}", "status": ("running", "failed")[n % 2],
                        "request": "r", "request_excerpt": "r", "response": "",
                        "error": f"error {n % 3}" if n % 2 else "",
                        "created_at": start + timedelta(hours=n % 30), "context": {},
                        "last_activity": last + timedelta(hours=n % 30), "expires_at": None,
                        "message_count": count, "keep": False, "parent_id": None,
                    }  # fmt: skip
                )
    with store.write() as conn:
        store.bulk_insert(conn, sessions_t, store.bulk_rows(rows))
    assert_in_step(store)
    edges = c.id.like("edge-%")
    moves = [("running", "failed"), ("failed", "expired"), ("expired", "failed")]
    for frm, to in moves:
        with store.write() as conn:
            moved = store.move_status(conn, select(c.id).where(edges, c.status == frm), to)
        assert moved > 0
        try:
            assert_in_step(store)
        except AssertionError as error:
            raise AssertionError(f"rollups out of step after {frm} -> {to}") from error
    with store.read() as conn:
        left = conn.execute(select(c.status, func.count()).where(edges).group_by(c.status))
        assert dict(left.all()) == {"failed": len(rows)}
