"""The list sorted by duration (last activity less creation): longest first, paged
by keyset both ways, on the duration index (migration 0009) on both engines."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import FakeClock
from tests.scale.plans import SORTS, all_plans
from webapp.sessions import Manager
from webapp.sessions.queries import Keyset, ReadModel, SessionFilter, Sort


def _sessions(manager: Manager, clock: FakeClock) -> list[str]:
    """Sessions of many durations, two of each (ties broken by id), some of them
    milliseconds apart; their ids longest first."""
    start = clock() - timedelta(days=1)
    made = []
    for i, ms in enumerate([0, 1, 2, 999, 1000, 1001, 60_000, 3_600_000, 86_400_123] * 2):
        created = start + timedelta(minutes=i)
        s = manager.create(f"s{i}", created_at=created)
        manager.store.change_session(
            s.id, {"status": "completed"}, now=created + timedelta(milliseconds=ms), guard=None
        )
        made.append((ms, s.id))
    return [sid for _, sid in sorted(made, reverse=True)]


def test_paged_longest_first_both_ways(manager: Manager, clock: FakeClock) -> None:
    expected = _sessions(manager, clock)
    reads = ReadModel(manager.store)
    seen, position, pages = [], None, []
    while True:
        page = reads.list_sessions(sort=Sort.DURATION, older=position, limit=4)
        seen += [r.id for r in page.rows]
        pages.append(page)
        if page.older is None:
            break
        position = page.older
    assert seen == expected
    durations = [r.duration for p in pages for r in p.rows]
    assert durations == sorted(durations, reverse=True)
    # Back up from the last page: the pages above, in the same order.
    back, up = [], pages[-1].newer
    while up is not None:
        page = reads.list_sessions(sort=Sort.DURATION, newer=up, limit=4)
        back = [r.id for r in page.rows] + back
        up = page.newer
    assert back + [r.id for r in pages[-1].rows] == expected
    # A position holds milliseconds, and a list by time refuses it.
    assert isinstance(pages[0].older, Keyset) and isinstance(pages[0].older.at, int)
    assert Keyset.decode(pages[0].older.encode()) == pages[0].older


def test_reads_the_duration_index(manager: Manager, clock: FakeClock) -> None:
    _sessions(manager, clock)
    reads = ReadModel(manager.store)
    engine = manager.store.engine
    position = reads.list_sessions(sort=Sort.DURATION, limit=3).older
    for kwargs in ({}, {"older": position}, {"newer": position}):
        lines = all_plans(
            engine,
            lambda k=kwargs: reads.list_sessions(SessionFilter(), sort=Sort.DURATION, **k),
            no_sort=True,
        )
        plan = "\n".join(lines)
        assert "ix_sessions_duration" in plan, plan
        assert not SORTS.search(plan), plan
