"""The inbox total, from the status counters and the review sets, equals a direct
count on both engines: with nothing reviewed, with some reviewed, by tag."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, func, insert, select

from tests.conftest import FakeClock
from webapp.review.models import Tag, Verdict
from webapp.sessions import Manager, Status
from webapp.sessions.queries import IdSet, ReadModel
from webapp.sessions.store import sessions_t

verdicts_t = cast(Table, Verdict.__table__)
tags_t = cast(Table, Tag.__table__)


def test_inbox_total_equals_a_direct_count(manager: Manager, clock: FakeClock) -> None:
    store = manager.store
    ids = []
    for i, status in enumerate([*Status] * 4):
        clock.advance(minutes=1)
        sid = manager.create(f"r{i}").id
        store.change_session(sid, {"status": status}, now=clock(), guard=None)
        ids.append(sid)
    with store.write() as conn:
        for sid in ids[::3]:
            conn.execute(
                insert(verdicts_t).values(
                    session_id=sid, verdict="approved", by="rita", at=clock(), reason=""
                )
            )
        for sid in ids[::2]:
            conn.execute(insert(tags_t).values(session_id=sid, name="flaky"))
    reviewed = select(verdicts_t.c.session_id)
    unreviewed = IdSet(reviewed, negate=True)
    flaky = IdSet(select(tags_t.c.session_id).where(tags_t.c.name == "flaky"))
    reads = ReadModel(store)
    c = sessions_t.c
    finished = ["completed", "failed", "expired", "closed"]

    def direct(*where: object) -> int:
        query = select(func.count()).where(c.status.in_(finished), *where)
        with store.read() as conn:
            return int(conn.execute(query).scalar_one())

    assert reads.inbox()[2] == direct() == 16
    assert reads.inbox((unreviewed,))[2] == direct(c.id.not_in(reviewed))
    assert reads.inbox((unreviewed, flaky))[2] == direct(
        c.id.not_in(reviewed), c.id.in_(flaky.query)
    )
    assert reads.inbox((unreviewed,), status="failed")[2] == direct(
        c.id.not_in(reviewed), c.status == "failed"
    )
    assert 0 < reads.inbox((unreviewed,))[2] < 16
