"""A search with a status filter, on both engines, by every way it can read: the
hits are exactly the matching texts of sessions in those statuses, newest first,
paged without gaps or repeats (against a brute-force reference over a generated
dataset), and the reads use the status index and never scan the texts."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from sqlalchemy import select, update

import webapp.sessions.search as search_module
from tests.scale.plans import captured, plan
from webapp.search_flush import SearchFlusher
from webapp.sessions import Manager, Message
from webapp.sessions.rows import sessions_t
from webapp.sessions.search import Search, parse
from webapp.sessions.search_index import search_doc_status_t, search_docs_t

from .test_search import running

d, x, s = search_docs_t.c, search_doc_status_t.c, sessions_t.c

WORDS = ["needle", "hay", "stack", "refund", "billing", "tests", "日本語", "the"]
OUTCOMES = ["failed", "completed", "failed", "running", "expired", "completed", "failed"]

#: (engine, name): the ways a filtered search reads, and what forces each.
WAYS = {
    # SQLite: FTS5's first probe holds every match.
    ("sqlite", "probe"): {},
    # SQLite: a probe of 2, then windows walked on the status index...
    ("sqlite", "status walk"): {"STATUS_PROBE": 2, "_trigrams": lambda _q: 10**9},
    # ... or read through FTS5, each match's status looked up.
    ("sqlite", "fts5 windows"): {"STATUS_PROBE": 2, "_trigrams": lambda _q: 0},
    # PostgreSQL: the newest texts of these statuses, then the trigram index.
    ("postgresql", "defaults"): {},
    ("postgresql", "walks of one"): {"RECENT_WALK": 1, "WALK_MAX": 3, "INDEX_PROBE": 2},
    ("postgresql", "index out of time"): {
        "RECENT_WALK": 1,
        "WALK_MAX": 2,
        "_within_budget": lambda _conn, _probe: None,
    },
}


#: Each engine with each of its ways: the database and the way, one case each.
BY_WAY = pytest.mark.parametrize(
    ("database_url", "way"),
    [pytest.param(engine, name, id=f"{engine}: {name}") for engine, name in WAYS],
    indirect=True,
)


@pytest.fixture
def way(request: pytest.FixtureRequest, search: Search, monkeypatch: pytest.MonkeyPatch) -> str:
    """One way of reading a filtered search, on the engine it is a way of (``BY_WAY``)."""
    name: str = request.param
    engine = search.store.dialect
    for attribute, value in WAYS[(engine, name)].items():
        monkeypatch.setattr(search_module, attribute, value)
    return name


def generate(board: Manager, seed: int = 7) -> None:
    """Sessions in every status, their texts drawn from a few words (so a word is
    common, a phrase less so, and some sessions hold none of them)."""
    rng = random.Random(seed)
    for i in range(24):
        sid = running(board, f"request {i} " + " ".join(rng.choices(WORDS, k=2)))
        for _ in range(rng.randint(0, 6)):
            board.append_message(sid, Message("user", " ".join(rng.choices(WORDS, k=3))))
        outcome = OUTCOMES[i % len(OUTCOMES)]
        if outcome == "failed":
            board.set_failed(sid, "broke: " + rng.choice(WORDS))
        elif outcome == "completed":
            board.set_completed(sid, "done: " + rng.choice(WORDS))
        elif outcome == "expired":
            with board.store.write() as conn:
                conn.execute(update(sessions_t).where(s.id == sid).values(status="expired"))
    # What a server's background pass does: FTS5 holds them all (the windows read
    # FTS5; the texts above its watermark have their own scan, tests/search/test_tail.py).
    SearchFlusher(board.store).run_pass()


def reference(search: Search, phrase: str, statuses: tuple[str, ...]) -> list[int]:
    """Every document of a session in ``statuses`` holding ``phrase`` (any case),
    newest first, found by reading them all."""
    with search.store.read() as conn:
        rows = conn.execute(
            select(d.id, search.text.label("body"), x.status).select_from(
                search_docs_t.join(search_doc_status_t, x.doc_id == d.id)
            )
        ).all()
    return sorted(
        (r.id for r in rows if r.status in statuses and phrase.lower() in r.body.lower()),
        reverse=True,
    )


def paged(search: Search, text: str, statuses: tuple[str, ...], size: int) -> list[int]:
    """Every hit's document id, page by page."""
    got: list[int] = []
    after = None
    while True:
        page = search.hits(parse(text), statuses=statuses, after=after, limit=size)
        got += [h.doc_id for h in page.hits]
        if page.next_after is None:
            return got
        assert len(got) < 10_000, "paging does not end"
        after = page.next_after


@BY_WAY
def test_filtered_hits_are_the_matching_texts_of_those_sessions_newest_first(
    board: Manager, search: Search, way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate(board)
    windows: list[Any] = []
    counting = search_module._count_of_statuses

    def count(*args: Any) -> int:
        windows.append(args[2:4])
        return counting(*args)

    monkeypatch.setattr(search_module, "_count_of_statuses", count)
    cases = [
        ("needle", ("failed",)),
        ("NEEDLE", ("failed", "completed")),
        ('"needle hay"', ("failed",)),
        ("日本語", ("completed", "expired")),
        ("refund", ("running",)),
        ("qqzzvvxxkk", ("failed",)),
        ("needle", ("pending",)),
    ]
    for text, statuses in cases:
        expected = reference(search, text.strip('"'), statuses)
        for size in (2, 50):
            got = paged(search, text, statuses, size)
            assert got == expected, (text, statuses, size)
    assert reference(search, "needle", ("failed",)), "the dataset has filtered hits"
    if way in ("status walk", "fts5 windows"):
        assert len(windows) > 3, "the pages cross windows"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the windows are SQLite's
def test_a_text_below_the_probe_of_a_status_is_found_where_fts5_would_read_many(
    board: Manager, search: Search, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: many newer matches of other sessions, then one of a failed session:
    the windows find it (and the page has it and only it)."""
    monkeypatch.setattr(search_module, "STATUS_PROBE", 5)
    old = running(board, "needle of the failed one")
    board.set_failed(old, "no")
    busy = running(board)
    for i in range(40):
        board.append_message(busy, Message("user", f"needle {i}"))
    page = search.hits(parse("needle"), statuses=("failed",))
    assert [h.session_id for h in page.hits] == [old]
    assert page.next_after is None


#: A plan line reading every row of the texts or their statuses, or (SQLite)
#: every session of a status (and then their texts).
_SQLITE_FULL = re.compile(
    r"^SCAN (search_docs|search_doc_status)\b(?! USING)"
    r"|^SEARCH (sessions|owner) USING (COVERING )?INDEX \w+ \(status="
)
_POSTGRES_FULL = re.compile(r"Seq Scan on (search_docs|search_doc_status)\b")


@BY_WAY
def test_the_filtered_reads_use_the_status_index(board: Manager, search: Search, way: str) -> None:
    """EXPLAIN of every statement a filtered search runs: no full read of the
    texts or of the status table, and the status walks (when this way has them)
    on ``ix_search_doc_status_status``, within their window's range on SQLite."""
    generate(board)
    engine = search.store.engine
    with captured(engine) as statements:
        for text in ("needle", '"needle hay"', "qqzzvvxxkk"):
            paged(search, text, ("failed",), 3)
            paged(search, text, ("failed", "completed"), 3)
    assert statements
    full = _SQLITE_FULL if search.store.dialect == "sqlite" else _POSTGRES_FULL
    walked = False
    for statement, parameters in statements:
        lines = [line.strip() for line in plan(engine, statement, parameters)]
        assert not [line for line in lines if full.search(line)], (statement, lines)
        if search.store.dialect == "sqlite":
            # Bounded on the ids too, not only by the status (a (status, doc_id)
            # row bound is only a status bound to SQLite: every failed text).
            on_status = [line for line in lines if "ix_search_doc_status_status" in line]
            assert all("(status=? AND doc_id>?" in line for line in on_status), lines
        if "search_doc_status.status =" in statement and "search_docs.body" in statement:
            assert any("ix_search_doc_status_status" in line for line in lines), lines
            walked = True
    if way in ("status walk", "walks of one"):
        assert walked, "this way walks the status index"


def _index_blocks(node: dict[str, Any], index: str) -> int:
    """The buffers the scans of ``index`` in an EXPLAIN (ANALYZE, BUFFERS) tree read."""
    own = node.get("Index Name") == index
    blocks = node["Shared Hit Blocks"] + node["Shared Read Blocks"] if own else 0
    return blocks + sum(_index_blocks(child, index) for child in node.get("Plans", []))


def test_a_status_walk_reads_only_its_window(search: Search) -> None:
    """A walk of one status's texts in a window of ids reads the status index
    from the window's top down to its bottom and stops there, however many
    texts of that status lie below it. PostgreSQL: a lower bound on the row
    (status, doc_id) did not end the backward scan, which read on through every
    entry below (11 ms of a 15 ms window at 300,000 sessions, round 8): here
    20,000 entries, 80 index pages read that way, where the window's 100 take
    one or two.
    SQLite: its plan bounds the status index's range on both ids."""
    store = search.store
    window = [d.id]
    if store.dialect == "sqlite":
        statement = search_module._walk_statuses_on_sqlite
        with captured(store.engine) as statements, store.read() as conn:
            statement(conn, window, ["failed"], [d.body.like("%x%")], 19_900, 20_000, 50)
        lines = [line for s_, p in statements for line in plan(store.engine, s_, p)]
        assert any(
            "ix_search_doc_status_status (status=? AND doc_id>? AND doc_id<?)" in line
            for line in lines
        ), lines
        return
    with store.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO search_doc_status (doc_id, status) "
            "SELECT g, 'failed' FROM generate_series(1, 20000) AS g"
        )
    walk = search_module._status_walk(window, ["failed"], [d.body.ilike("%x%")], 19_900, 20_000, 50)
    with store.read() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        sql = walk.compile(conn, compile_kwargs={"literal_binds": True})
        (explained,) = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}").one()
    blocks = _index_blocks(explained[0]["Plan"], "ix_search_doc_status_status")
    assert 0 < blocks <= 5, explained
