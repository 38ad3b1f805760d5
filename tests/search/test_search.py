"""Search over the index on both engines: what is indexed, that the index follows
every write in its transaction, the query language end to end, paging, the
session-level reads, comments, rebuild and install on a filled database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, literal, select

import webapp.sessions.search as search_module
import webapp.sessions.search_index as search_index
from tests.conftest import FakeClock
from tests.scale.plans import captured
from webapp.sessions import Manager, Message, MessageStore, Status
from webapp.sessions.queries import IdSet, ReadModel, SessionFilter
from webapp.sessions.search import Search, parse
from webapp.sessions.search_index import (
    clean_pending,
    flush_fts,
    index_comment,
    install,
    rebuild,
    search_docs_t,
    unindex_comment,
    uninstall,
)


def found(search: Search, text: str, **kw: Any) -> list[tuple[str, int | None]]:
    """(session id, message id) of every hit of ``text``, newest first."""
    page = search.hits(parse(text), limit=1000, **kw)
    return [(h.session_id, h.message_id) for h in page.hits]


def sessions_found(search: Search, text: str) -> set[str]:
    return {sid for sid, _m in found(search, text)}


def doc_count(store: MessageStore) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(search_docs_t)).scalar_one())


#: Rows of the index whose message, session or document is gone.
ORPHANS = (
    "SELECT count(*) FROM search_docs AS d WHERE (d.message_id IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM messages AS m WHERE m.id = d.message_id)) OR NOT EXISTS "
    "(SELECT 1 FROM sessions AS s WHERE s.id = d.session_id)",
    "SELECT count(*) FROM search_doc_status AS x WHERE NOT EXISTS "
    "(SELECT 1 FROM search_docs AS d WHERE d.id = x.doc_id)",
)


def check_index(store: MessageStore) -> None:
    """The index holds nothing of a deleted row (PostgreSQL deletes it by
    trigger, SQLite by foreign key); on SQLite, FTS5's own check that it agrees
    with ``search_docs`` (once the documents above the watermark are flushed
    into it)."""
    with store.read() as conn:
        assert [conn.exec_driver_sql(orphans).scalar_one() for orphans in ORPHANS] == [0, 0]
    if store.dialect == "sqlite":
        with store.write() as conn:
            flush_fts(conn)
            conn.exec_driver_sql(
                "INSERT INTO search_index(search_index, rank) VALUES ('integrity-check', 1)"
            )


def running(board: Manager, request: str = "a request", **context: Any) -> str:
    """A running session that never expires."""
    session = board.create(request, context, expires_at=None)
    board.set_running(session.id)
    return session.id


def test_every_text_is_indexed(board: Manager, search: Search) -> None:
    sid = running(board, "Please fix tokenizer.css")
    board.append_message(sid, Message("user", "the webkitAudioContext is undefined"))
    board.append_message(
        sid, Message("assistant", "thinking about 日本語の入力", meta={"kind": "thinking"})
    )
    board.append_message(
        sid,
        Message(
            "assistant",
            '{"command": "grep -rn AudioWorklet src/"}',
            meta={"kind": "tool_use", "tool_name": "Grep"},
        ),
    )
    board.append_message(
        sid, Message("tool", "src/player.js:12: AudioWorklet", meta={"kind": "tool_result"})
    )
    board.set_failed(sid, "TypeError: ctx.resume is not a function")
    other = running(board, "unrelated")
    board.set_completed(other, "All green: tokenizer rewritten")

    assert found(search, "tokenizer.css") == [(sid, None)]
    assert sessions_found(search, "AudioContext") == {sid}
    assert sessions_found(search, "日本語") == {sid}
    assert sessions_found(search, '"grep -rn"') == {sid}
    assert sessions_found(search, "grep -rn") == set()  # -rn excludes
    assert len(found(search, "AudioWorklet")) == 2
    assert sessions_found(search, "ctx.resume") == {sid}
    assert sessions_found(search, "All green") == {other}
    # A tool's name is indexed with its call.
    assert sessions_found(search, "grep") == {sid}
    check_index(board.store)


def test_the_index_follows_every_write(board: Manager, search: Search, clock: FakeClock) -> None:
    store = board.store
    sid = running(board, "first request")
    board.append_message(sid, Message("user", "alpha one"))
    outcome = store.append_messages(
        sid, [Message("user", "alpha two"), Message("assistant", "alpha three")], now=clock()
    )
    assert outcome.appended == 2
    store.insert_message(sid, Message("user", "alpha four"), now=clock())
    assert len(found(search, "alpha")) == 4

    # request, response and error are re-indexed when they change, and only then
    board.set_request(sid, "second request")
    assert found(search, "first request") == []
    assert found(search, "second request") == [(sid, None)]
    board.set_completed(sid, "the answer")
    board.set_running(sid)
    board.set_completed(sid, "a better answer")
    assert found(search, "the answer") == []
    assert found(search, "better answer") == [(sid, None)]

    # messages cleared, one session's messages deleted, a session deleted, all cleared
    assert store.delete_messages_for_session(sid) == 4
    assert found(search, "alpha") == []
    board.append_message(sid, Message("user", "alpha five"))
    other = running(board, "alpha request")
    assert sessions_found(search, "alpha") == {sid, other}
    assert board.delete(other)
    assert sessions_found(search, "alpha") == {sid}
    store.clear_all_messages()
    assert sessions_found(search, "alpha") == set()
    board.append_message(sid, Message("user", "alpha six"))
    assert board.clear() == 1
    assert found(search, "alpha") == [] and doc_count(store) == 0
    check_index(store)


def test_a_purged_message_is_no_longer_found(
    board: Manager, search: Search, clock: FakeClock
) -> None:
    sid = running(board)
    board.append_message(sid, Message("user", "old secret"))
    clock.advance(days=10)
    board.append_message(sid, Message("user", "new secret"))
    assert len(found(search, "secret")) == 2
    assert board.store.purge_older_than(clock() - timedelta(days=7)) == 1
    assert [search.store.get_messages(sid)[0].content] == ["new secret"]
    assert len(found(search, "secret")) == 1 and found(search, "old secret") == []
    # and purged sessions take all their texts with them
    board.delete(sid)
    expiring = board.create("a secret request")
    board.set_running(expiring.id)
    board.append_message(expiring.id, Message("user", "another secret"))
    board.set_completed(expiring.id, "secret answer")
    assert len(found(search, "secret")) == 3
    clock.advance(days=30)
    assert board.store.purge_sessions_older_than(clock() - timedelta(days=7)) == 1
    assert found(search, "secret") == [] and doc_count(board.store) == 0
    check_index(board.store)


def test_words_phrases_exclusions_and_fields(board: Manager, search: Search) -> None:
    sid = running(board, "deploy the app")
    board.append_message(sid, Message("user", "the quick brown fox"))
    board.append_message(sid, Message("assistant", "brown the quick dog"))
    board.append_message(
        sid, Message("assistant", "ls -la", meta={"kind": "tool_use", "tool_name": "Bash"})
    )
    board.append_message(sid, Message("tool", "quick output", meta={"kind": "tool_result"}))

    assert len(found(search, "quick brown")) == 2
    assert len(found(search, '"quick brown"')) == 1
    assert len(found(search, "quick -fox")) == 2
    assert len(found(search, "quick role:assistant")) == 1
    assert len(found(search, "quick -role:assistant")) == 2
    assert len(found(search, "quick kind:tool_result")) == 1
    assert len(found(search, "tool:bash")) == 1
    assert len(found(search, "ls -tool:bash")) == 0
    assert found(search, "deploy in:request") == [(sid, None)]
    assert found(search, "deploy in:messages") == []


FTS_TEXTS = [
    "NEAR(alpha beta)",
    "x* y^",
    "^start",
    "body:value",
    "(unbalanced",
    'a "quoted" b',
    "AND OR NOT",
    "it's",
    "col:(a OR b)",
    "100%_done",
    "back\\slash",
]


def test_fts5_syntax_is_searched_as_text(board: Manager, search: Search) -> None:
    sid = running(board)
    ids = {}
    for text in FTS_TEXTS:
        board.append_message(sid, Message("user", text))
        ids[text] = board.store.get_messages(sid)[-1].id
    board.append_message(sid, Message("user", "alpha beta start value unbalanced quoted"))
    for text, message_id in ids.items():
        quoted = text if '"' in text else f'"{text}"'
        hits = found(search, quoted)
        assert (sid, message_id) in hits, text
    assert found(search, "NEAR(alpha") == [(sid, ids["NEAR(alpha beta)"])]
    assert found(search, "100%_") == [(sid, ids["100%_done"])]
    assert found(search, "k\\s") == [(sid, ids["back\\slash"])]
    assert found(search, "%") == [(sid, ids["100%_done"])]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.text(max_size=60))
def test_no_text_makes_a_search_fail(board: Manager, search: Search, text: str) -> None:
    # The store holds one session (made on the first example; reads never write).
    if not board.store.list_sessions():
        sid = running(board, "a session to search")
        board.append_message(sid, Message("user", 'NEAR(a b) "x" * ^ col:v ( 日本語'))
    query = parse(text)
    page = search.hits(
        query, SessionFilter(statuses=("running",)).conditions(search.store.dialect), limit=5
    )
    assert query.problem or len(page.hits) <= 5
    search.session_hits(query, [s.id for s in board.store.list_sessions()])
    ReadModel(board.store).list_sessions(SessionFilter(within=(IdSet(search.session_ids(query)),)))


def test_short_queries_scan_the_latest_texts_only(
    board: Manager, search: Search, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = running(board)
    board.append_message(sid, Message("user", "古い修正"))
    for i in range(3):
        board.append_message(sid, Message("user", f"filler {i}"))
    page = search.hits(parse("修正"))
    assert page.bounded and [h.message_id for h in page.hits] == [
        board.store.get_messages(sid)[0].id
    ]
    monkeypatch.setattr(search_module, "SCAN_WINDOW", 3)
    assert search.hits(parse("修正")).hits == []
    assert search.hits(parse("古い修正")).hits != []  # three characters: the index


@pytest.fixture(
    params=[
        (1000, 10000, 8192, 8, 1000, False),
        (1, 1, 2, 100, 1000, False),
        (1, 1, 1, 1, 2000, False),
        (1, 1, 1, 1, 1, False),
        (1, 1, 1, 1, 2000, True),
    ],
    ids=["newest texts", "first blocks", "whole index", "common: blocks on", "out of time"],
)
def index_probe(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step PostgreSQL reads hits with: the newest texts checked one by one;
    the first blocks of the trigram index; the whole index (within its budget,
    or out of time and again without it); the blocks on down for a common term
    (the sizes pick which ones run; blocks of one or two ids, two a statement)."""
    walk, walk_max, block, first_blocks, probe, out_of_time = request.param
    monkeypatch.setattr(search_module, "RECENT_WALK", walk)
    monkeypatch.setattr(search_module, "WALK_MAX", walk_max)
    monkeypatch.setattr(search_index, "TRGM_BLOCK", block)
    monkeypatch.setattr(search_module, "FIRST_BLOCKS", first_blocks)
    monkeypatch.setattr(search_module, "BLOCKS_PER_PROBE", 2)
    monkeypatch.setattr(search_module, "INDEX_PROBE", probe)
    if out_of_time:
        monkeypatch.setattr(search_module, "_within_budget", lambda _conn, _probe: None)


def test_a_search_inside_a_write_leaves_the_planner_as_it_was(
    search: Search, board: Manager
) -> None:
    if search.store.dialect != "postgresql":
        pytest.skip("the planner settings are PostgreSQL's")
    sid = running(board)
    board.append_message(sid, Message("user", "needle in a write"))
    with search.store.write() as conn:
        before = conn.exec_driver_sql("SHOW jit").scalar()
        assert search.hits(parse("needle")).hits
        assert search.session_ids(parse("needle")) is not None
        assert conn.exec_driver_sql("SHOW enable_seqscan").scalar() == "on"
        assert conn.exec_driver_sql("SHOW enable_bitmapscan").scalar() == "on"
        assert conn.exec_driver_sql("SHOW jit").scalar() == before


def test_an_index_probe_out_of_time_is_cancelled_and_the_read_goes_on(
    search: Search, board: Manager
) -> None:
    if search.store.dialect != "postgresql":
        pytest.skip("the trigram index's time budget is PostgreSQL's")
    with search.store.read() as conn:
        slow = select(func.pg_sleep(0.5))
        assert search_module._within_budget(conn, slow) is None
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        quick = select(literal(7))
        assert search_module._within_budget(conn, quick) == [7]


@pytest.mark.usefixtures("index_probe")
def test_hits_page_newest_first(board: Manager, search: Search) -> None:
    sid = running(board)
    for i in range(7):
        board.append_message(sid, Message("user", f"needle {i}"))
    seen, after = [], None
    while True:
        page = search.hits(parse("needle"), after=after, limit=3)
        seen += [h.snippet for h in page.hits]
        if page.next_after is None:
            break
        after = page.next_after
    assert [str(s) for s in seen] == [f"<mark>needle</mark> {i}" for i in range(6, -1, -1)]


@pytest.mark.usefixtures("index_probe")
def test_hits_keep_to_the_list_filters(board: Manager, search: Search) -> None:
    done = running(board, "needle done", team="a")
    board.set_completed(done, "ok")
    failed = running(board, "needle failed", team="b")
    board.set_failed(failed, "no")
    both = found(search, "needle")
    assert {s for s, _m in both} == {done, failed}
    only = search.hits(
        parse("needle"), SessionFilter(statuses=("failed",)).conditions(search.store.dialect)
    )
    assert [h.session_id for h in only.hits] == [failed]
    team = search.hits(
        parse("needle"),
        SessionFilter(context_key="team", context_value="a").conditions(search.store.dialect),
    )
    assert [h.session_id for h in team.hits] == [done]


@pytest.mark.parametrize(
    ("probe", "probe_max", "sparse", "common", "dense", "big"),
    [
        (2000, 20000, 0.1, 10, None, None),
        (1, 20000, 0.0, 10, None, None),
        (1, 1, 0.0, 10, None, None),
        (2000, 20000, 0.1, 1, None, None),
        (2000, 20000, 0.1, 10, 2, None),
        (2000, 20000, 0.1, 10, 3, None),
        (1, 1, 0.0, 10, None, "indexed"),
        (1, 1, 0.0, 10, None, "waiting"),
    ],
    ids=[
        "few matches",
        "spread thin",
        "common",
        "common among the newest",
        "dense",
        "dense in too few sessions",
        "common, big sessions through the index",
        "common, big sessions' texts waiting",
    ],
)
def test_session_list_narrowed_by_a_search(
    board: Manager,
    search: Search,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    probe: int,
    probe_max: int,
    sparse: float,
    common: int,
    dense: int | None,
    big: str | None,
) -> None:
    """The ways of narrowing (the matching sessions' ids after one probe or a
    longer one, or "has a match" checked session by session, which PostgreSQL
    takes for a term common among the newest texts or with more matches than one
    probe, and SQLite for one whose first matches lie densely among the newest
    texts; on PostgreSQL a big session's check goes through the trigram index,
    block by block, and its waiting texts one by one) give the same pages."""
    monkeypatch.setattr(search_module, "SESSION_PROBE", probe)
    monkeypatch.setattr(search_module, "SESSION_PROBE_MAX", probe_max)
    monkeypatch.setattr(search_module, "SPARSE_SPAN", sparse)
    monkeypatch.setattr(search_module, "COMMON_MATCHES", common)
    monkeypatch.setattr(search_module, "DENSE_PROBE", min(search_module.DENSE_PROBE, probe))
    if dense is not None:
        # A first probe of one match: its two newest matches, of two sessions, lie
        # within the whole index; dense when they must come from ``dense`` sessions.
        monkeypatch.setattr(search_module, "DENSE_PROBE", 1)
        monkeypatch.setattr(search_module, "DENSE_SPAN", 1.0)
        monkeypatch.setattr(search_module, "DENSE_SESSIONS", dense)
    ids = []
    for i in range(6):
        clock.advance(minutes=1)
        sid = running(board, f"session {i}")
        board.append_message(sid, Message("user", "common word" if i % 2 else "rare"))
        ids.append(sid)
    board.set_failed(ids[5], "boom")
    if big is not None:
        monkeypatch.setattr(search_module, "BIG_SESSION_TEXTS", 0)  # every session is big
        if big == "indexed":
            with board.store.write() as conn:
                flush_fts(conn)  # every text into the index, as the pass moves them
    read = ReadModel(board.store)

    def listed(text: str, **kw: Any) -> list[str]:
        where = SessionFilter(within=(IdSet(search.session_ids(parse(text))),), **kw)
        rows, position = [], None
        while True:
            page = read.list_sessions(where, older=position, limit=2)
            rows += [r.id for r in page.rows]
            if page.older is None:
                return rows
            position = page.older

    narrowing = str(search.session_ids(parse("common")))
    if search.store.dialect == "postgresql":
        correlated = probe == 1 or common == 1
    else:
        correlated = probe_max == 1 or dense == 2
    assert ("session_id = sessions.id" in narrowing) == correlated
    assert listed("common") == [ids[5], ids[3], ids[1]]
    assert listed("common", statuses=("failed",)) == [ids[5]]
    assert listed("nothing like it") == []


def test_session_hits_show_a_few_and_count_the_rest(board: Manager, search: Search) -> None:
    sid = running(board, "needle in the request")
    for i in range(5):
        board.append_message(sid, Message("user", f"needle {i}"))
    board.append_message(sid, Message("user", "hay"))
    other = running(board, "hay only")
    hits = search.session_hits(parse("needle"), [sid, other], per_session=2)
    assert list(hits) == [sid]
    assert [str(h.snippet) for h in hits[sid].hits] == [
        "<mark>needle</mark> in the request",
        "<mark>needle</mark> 0",
    ]
    assert hits[sid].total == 6 and hits[sid].more == 4


def test_transcript_hits_in_transcript_order(
    board: Manager, search: Search, clock: FakeClock
) -> None:
    sid = running(board, "needle request")
    t0 = clock()
    board.append_message(sid, Message("user", "needle late", timestamp=t0 + timedelta(minutes=5)))
    board.append_message(sid, Message("user", "needle early", timestamp=t0 + timedelta(minutes=1)))
    board.append_message(sid, Message("user", "hay", timestamp=t0 + timedelta(minutes=2)))
    by_content = {m.content: m.id for m in board.store.get_messages(sid)}
    assert search.transcript_hits(parse("needle"), sid) == [
        by_content["needle early"],
        by_content["needle late"],
    ]


def test_a_comment_is_found_until_it_is_removed(
    board: Manager, search: Search, clock: FakeClock
) -> None:
    sid = running(board)
    with board.store.write() as conn:
        index_comment(
            conn, comment_id=41, session_id=sid, body="Reviewer: flaky retry loop", at=clock()
        )
    assert found(search, "flaky retry") == [(sid, None)]
    assert found(search, "flaky in:comments") == [(sid, None)]
    assert found(search, "flaky in:messages") == []
    assert search.hits(parse("flaky")).hits[0].role == "reviewer"
    with board.store.write() as conn:
        unindex_comment(conn, 41)
    assert found(search, "flaky") == []
    with board.store.write() as conn:
        index_comment(conn, comment_id=42, session_id=sid, body="flaky again", at=clock())
    board.delete(sid)
    assert found(search, "flaky") == []
    check_index(board.store)


def test_rebuild_restores_the_index_and_keeps_comments(
    board: Manager, search: Search, clock: FakeClock
) -> None:
    sid = running(board, "needle request")
    board.append_message(sid, Message("user", "needle message"))
    board.append_message(sid, Message("user", "the newest"))
    with board.store.write() as conn:
        index_comment(conn, comment_id=7, session_id=sid, body="needle comment", at=clock())
        # A damaged index: an older message's document lost (the newest one's
        # would be written again by the next commit, see the test below).
        older = min(m.id for m in board.store.get_messages(sid))
        conn.execute(search_docs_t.delete().where(search_docs_t.c.message_id == older))
    assert len(found(search, "needle")) == 2
    with board.store.write() as conn:
        assert rebuild(conn, batch=1) == 4
    assert len(found(search, "needle")) == 3
    board.append_message(sid, Message("user", "needle after"))
    assert len(found(search, "needle")) == 4
    check_index(board.store)


def test_install_fills_the_index_from_a_filled_database(
    indexed_store: MessageStore, clock: FakeClock
) -> None:
    with indexed_store.write() as conn:
        uninstall(conn)
    board = Manager(indexed_store.__class__ and board_config(), indexed_store, clock=clock)
    try:
        ids = [running(board, f"needle {i}") for i in range(3)]
        for sid in ids:
            board.append_message(sid, Message("user", "needle body"))
        steps: list[tuple[int, int]] = []
        with indexed_store.write() as conn:
            assert install(conn, batch=2, progress=lambda d, t: steps.append((d, t))) == 6
        assert steps[-1][0] == steps[-1][1] and len(steps) > 3
        search = Search(indexed_store)
        assert len(found(search, "needle")) == 6
        board.append_message(ids[0], Message("user", "needle new"))
        assert len(found(search, "needle")) == 7
        check_index(indexed_store)
    finally:
        board.stop()


def board_config() -> Any:
    from webapp.sessions import Config

    return Config(message_retention=timedelta(0))


def test_status_is_a_list_filter(board: Manager, search: Search) -> None:
    sid = running(board, "needle")
    board.set_completed(sid, "fine")
    assert Status(board.get(sid).status) == Status.COMPLETED  # type: ignore[union-attr]
    assert (
        found(
            search,
            "needle",
            session_where=SessionFilter(statuses=("running",)).conditions(search.store.dialect),
        )
        == []
    )


def test_texts_not_yet_in_fts5_are_found_and_flushed_once(
    indexed_store: MessageStore, clock: FakeClock
) -> None:
    """Writes on an engine that does not flush FTS5 at commit (SQLite) leave their
    texts above the watermark: searches scan them, so they are found all the same;
    a flush moves them into FTS5 once."""
    other = MessageStore(
        indexed_store.engine.url.render_as_string(hide_password=False), migrate=False
    )
    try:
        board = Manager(board_config(), other, clock=clock)
        sid = running(board, "needle request")
        board.append_message(sid, Message("user", "needle gone"))
        board.append_message(sid, Message("user", "needle message"))
        search = Search(other)
        assert len(found(search, "needle")) == 3
        with other.write() as conn:
            flush_fts(conn)
        assert len(found(search, "needle")) == 3
        gone = [m for m in other.get_messages(sid) if m.content == "needle gone"][0]
        with other.write() as conn:
            conn.execute(search_docs_t.delete().where(search_docs_t.c.message_id == gone.id))
        board.append_message(sid, Message("user", "needle after"))
        assert sorted(h.snippet.striptags() for h in search.hits(parse("needle")).hits) == [
            "needle after",
            "needle message",
            "needle request",
        ]
        check_index(other)
    finally:
        other.close()


def test_a_probe_of_the_trigram_index_reads_only_its_blocks(
    search: Search, board: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL asks the trigram index block by block: below 20,000 texts
    without a match, each such probe's plan reads the index on an equal block
    (an entry of its first column, which the planner matches to the index's
    expression; otherwise each trigram's whole posting list is read), and the
    hits are those of a plain search."""
    if search.store.dialect != "postgresql":
        pytest.skip("the trigram index by block is PostgreSQL's")
    sid = running(board)
    engine = search.store.engine
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO search_docs (session_id, source, at, body) "
            "SELECT %(sid)s, 'request', now(), 'filler text ' || i "
            "FROM generate_series(1, 20000) AS i",
            {"sid": sid},
        )
    for i in range(5):
        board.append_message(sid, Message("user", f"needle {i}"))
    with engine.begin() as conn:
        flush_fts(conn)  # every text into the index, as the background pass moves them
        clean_pending(conn)
        conn.exec_driver_sql("ANALYZE search_docs")
    monkeypatch.setattr(search_module, "RECENT_WALK", 1)
    monkeypatch.setattr(search_module, "WALK_MAX", 1)
    with captured(engine) as statements:
        hits = search.hits(parse("needle"), limit=10).hits
    assert [str(h.snippet) for h in hits] == [f"<mark>needle</mark> {i}" for i in range(4, -1, -1)]
    block = f"(id / {search_index.TRGM_BLOCK}) = blocks.k"
    probes = [(s, p) for s, p in statements if f"(search_docs.{block[1:]}" in s]
    assert probes, "no probe of the index block by block"
    for statement, parameters in probes:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql("SET enable_indexscan = off")
            lines = [str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters)]
        scan = next(i for i, line in enumerate(lines) if "Scan on ix_search_docs_body" in line)
        assert block in lines[scan + 1], lines
