"""The session list sorted and filtered by a rubric score reads indexes: the
criterion's answers on ``ix_rubric_scores_rank`` and each session by primary key
(the scored part), the activity index with the scored ones left out (the rest);
EXPLAIN shows no full scan of ``sessions`` on either engine, at every kind of page
position (top, inside the scored part, inside the rest, up and down)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert

from tests.conftest import FakeClock
from tests.scale.plans import all_plans, scans_of
from webapp.queues.models import Criterion, Queue, SavedView, Score
from webapp.queues.scores import picked, ranking
from webapp.sessions import Manager
from webapp.sessions.queries import Keyset, ReadModel, SessionFilter


@pytest.fixture
def scored(manager: Manager, clock: FakeClock) -> tuple[ReadModel, int]:
    """Twelve sessions, eight of them scored on a 1-5 criterion by one or two
    reviewers (ties included); the criterion's id."""
    ids = []
    for n in range(12):
        session = manager.create(f"request {n}", created_at=clock() - timedelta(hours=n))
        ids.append(session.id)
    tables = {m: cast(Table, m.__table__) for m in (SavedView, Queue, Criterion, Score)}
    with manager.store.write() as conn:
        conn.execute(insert(tables[SavedView]).values(
            id=1, name="v", owner="ada", shared=True, query="", created_at=clock()))
        conn.execute(insert(tables[Queue]).values(
            id=1, name="q", view_id=1, mode="claim", assignment_ttl=60, turn=0,
            created_by="ada", created_at=clock()))
        conn.execute(insert(tables[Criterion]).values(
            id=1, queue_id=1, position=1, label="Quality", kind="score", options="",
            required=True))  # fmt: skip
        for n, sid in enumerate(ids[:8]):
            for who in ("rita", "sam")[: 1 + n % 2]:
                value = 1 + (n * 3 + len(who)) % 5
                conn.execute(insert(tables[Score]).values(
                    criterion_id=1, session_id=sid, reviewer=who, value=str(value),
                    number=value, at=clock()))  # fmt: skip
    return ReadModel(manager.store), 1


def _calls(reads: ReadModel, criterion: int) -> dict[str, Any]:
    calls: dict[str, Any] = {}
    filters = {
        "none": SessionFilter(),
        "top level": SessionFilter(top_level=True),
        "status": SessionFilter(statuses=("running",)),
        "answer": SessionFilter(within=picked(criterion, value="3", number=3)),
        "range": SessionFilter(within=picked(criterion, low=Decimal(2), high=Decimal("4.5"))),
        "scored": SessionFilter(within=picked(criterion, scored="yes")),
        "unscored": SessionFilter(within=picked(criterion, scored="no")),
    }
    for ascending in (False, True):
        order = ranking(criterion, ascending=ascending)
        pages = [reads.list_sessions(ranking=order, limit=3)]
        while pages[-1].older is not None:
            pages.append(reads.list_sessions(older=pages[-1].older, ranking=order, limit=3))
        ranked = next(p.older for p in pages if p.older and isinstance(p.older.at, int))
        rest = next(p.older for p in pages if p.older and not isinstance(p.older.at, int))
        positions: dict[str, Keyset] = {"in the scored part": ranked, "in the rest": rest}
        for name, where in filters.items():
            way = "lowest" if ascending else "highest"
            calls[f"{way} first, {name}"] = lambda w=where, o=order: reads.list_sessions(
                w, ranking=o
            )
            for where_at, at in positions.items():
                calls[f"{way} first, {name}, down from {where_at}"] = (
                    lambda w=where, o=order, p=at: reads.list_sessions(w, older=p, ranking=o)
                )
                calls[f"{way} first, {name}, up from {where_at}"] = (
                    lambda w=where, o=order, p=at: reads.list_sessions(w, newer=p, ranking=o)
                )
    return calls


def test_no_score_sort_or_filter_scans_sessions(scored: tuple[ReadModel, int]) -> None:
    reads, criterion = scored
    assert scans_of(reads.store.engine, _calls(reads, criterion)) == {}


def test_the_score_sort_reads_its_index(scored: tuple[ReadModel, int]) -> None:
    """The scored part: the criterion's answers on the covering index (PostgreSQL,
    once it knows the table's pages are all visible: an index-only scan), each
    session by primary key."""
    reads, criterion = scored
    engine = reads.store.engine
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE rubric_scores")
    order = ranking(criterion, ascending=False)
    plan = "\n".join(all_plans(engine, lambda: reads.list_sessions(ranking=order, limit=3)))
    print(plan)
    if engine.dialect.name == "sqlite":
        assert "SEARCH rubric_scores USING COVERING INDEX ix_rubric_scores_rank" in plan
        assert "SEARCH sessions USING INDEX sqlite_autoindex_sessions_1 (id=?)" in plan
    else:
        assert "Index Only Scan using ix_rubric_scores_rank on rubric_scores" in plan
        assert "Index Scan using pk_sessions on sessions" in plan
