"""Benchmark of search (issue 12, item 6) on a generated database. Not a test:
prints a Markdown report.

    .venv/bin/python bench/search.py [--sessions 100000] [--database-url URL] [--repeat 50]
                                     [--reuse] [--no-appends] [--big-session]
                                     [--append-rounds 5]
                                     [--sustained 2000]

``--reuse`` measures a database this benchmark (or ``sessionboard demo``, then
the benchmark adds its rare-word and Japanese sessions) filled before, at
``--database-url``, instead of filling it again; ``--no-appends`` skips step 3;
``--big-session`` first adds ``bench/million.py``'s session of 50,000 messages
(once), so that the newest texts hold none of the benchmark's words (docs/search.md,
rounds 8, 9 and 11).

1. What ``sessionboard demo --sessions N`` does, with the index on (at head),
   plus a few sessions holding a rare word and Japanese text.
2. The first page of results for a rare word, a common word, a phrase, a Japanese
   word and a no-match query, with and without a status filter, p50 and p99 over
   ``--repeat`` runs: the API's page of hits (50) and the dashboard's page of
   sessions with their snippets (50 sessions, three snippets each); all texts
   indexed (the background pass run first), then the no-match query and the rare
   word with ``SEARCH_TAIL_LIMIT`` texts not yet indexed (rolled back after).
3. Append throughput, single messages and batches of 50, on fresh databases of
   the same engine in the same run, all at head: the index on with its
   background pass running (``webapp.search_flush``, at its interval; and the
   same with what it had not indexed yet indexed before the clock stops), the index
   dropped (``search_index.uninstall``: the floor), and the index on with every
   write indexing its texts (the limit at 0), ``--append-rounds`` times each
   in turn (the best of each). The batches are a burst under
   ``SEARCH_TAIL_LIMIT``; ``--sustained`` batches more (100,000 messages by
   default) measure a stream, past the limit, where writers index what the
   pass has not.
4. The index's size as a share of the database.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from webapp import demo
from webapp.search_flush import SearchFlusher
from webapp.sessions import Config, Manager, Message, MessageStore
from webapp.sessions.queries import IdSet, ReadModel, SessionFilter
from webapp.sessions.schema import upgrade_schema
from webapp.sessions.search import Search, SearchQuery, parse
from webapp.sessions.search_index import (
    FTS_TAIL_LIMIT,
    index_size,
    keep_fts_current,
    uninstall,
)
from webapp.sessions.store import make_engine

RARE = "xylophonequartz"
QUERIES = {
    "rare word": RARE,
    "common word": "refund",
    "phrase": '"Run the billing tests"',
    "Japanese word": "日本語の入力",
    "no match": "qqzzvvxxkk",
}
#: One message of each size class the demo writes, for the append benchmark.
APPEND_TEXT = (
    "Ran the billing tests: the refund rounding is off by one cent because the "
    "quantize step uses ROUND_HALF_UP. Switching to ROUND_HALF_EVEN fixes "
    "test_refund_rounding. " * 6
)


def percentiles(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50 and p99 wall time of ``fn`` in ms over ``repeat`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return statistics.median(times), p99


def generate(url: str, sessions: int) -> tuple[MessageStore, float]:
    """Migrate and fill ``url`` with the demo (what ``sessionboard demo`` does);
    return the store and the demo's seconds."""
    store = MessageStore(url)
    keep_fts_current(store.engine)
    manager = Manager(Config(), store)
    start = time.perf_counter()
    demo.generate(
        store,
        sessions,
        now=manager.clock(),
        timeout=manager.config.timeout,
        retention=manager.config.message_retention,
    )
    return store, time.perf_counter() - start


def add_markers(manager: Manager) -> None:
    """Three sessions with the rare word, two in Japanese."""
    for i in range(3):
        s = manager.create(f"Investigate the {RARE} warning #{i}", expires_at=None)
        manager.set_running(s.id)
        manager.append_message(s.id, Message("assistant", f"The {RARE} flag is set in config."))
        manager.set_failed(s.id, f"{RARE} not found")
    for i in range(2):
        s = manager.create("日本語の入力を修正してください", expires_at=None)
        manager.set_running(s.id)
        manager.append_message(s.id, Message("user", f"日本語の入力フォームが壊れています ({i})"))
        manager.set_completed(s.id, "修正しました")


def first_sessions(
    search: Search, read: ReadModel, query: SearchQuery, statuses: tuple[str, ...]
) -> object:
    """The dashboard's first page: 50 matching sessions with their snippets."""
    narrowed = SessionFilter(statuses=statuses, within=(IdSet(search.session_ids(query)),))
    page = read.list_sessions(narrowed, limit=50)
    return search.session_hits(query, [r.id for r in page.rows])


def _newest_documents(store: MessageStore, statuses: tuple[str, ...]) -> object:
    """50 documents newest first by id (of sessions in ``statuses``, when given)."""
    sql = "SELECT id, session_id, at FROM search_docs ORDER BY id DESC LIMIT 50"
    if statuses:
        # The newest 50 of the status first, bounded as a row so only the status
        # index answers (as the search does), then their documents: joined
        # under the LIMIT, PostgreSQL merged the two indexes and walked 62,000
        # documents (26 ms at 300,000 sessions, round 8).
        sql = (
            "SELECT d.id, d.session_id, d.at FROM (SELECT doc_id FROM search_doc_status "
            "WHERE status = :status AND (status, doc_id) <= (:status, 9223372036854775807) "
            "ORDER BY doc_id DESC LIMIT 50) AS x "
            "JOIN search_docs AS d ON d.id = x.doc_id ORDER BY x.doc_id DESC"
        )
    with store.read() as conn:
        return conn.execute(text(sql), {"status": statuses[0]} if statuses else {}).all()


def search_rows(store: MessageStore, repeat: int) -> list[str]:
    search, read = Search(store), ReadModel(store)
    rows = []
    # The floor, in the same run: the list's first page without a search, and a
    # page of 50 documents read newest first by id (what a page of hits reads
    # when nothing is to be checked; with the status filter, through the
    # status beside each text).
    for statuses in ((), ("failed",)):
        label = "floor: the list, no search" + (" + status=failed" if statuses else "")
        s50, s99 = percentiles(
            partial(read.list_sessions, SessionFilter(statuses=statuses), limit=50), repeat
        )
        h50, h99 = percentiles(partial(_newest_documents, store, statuses), repeat)
        rows.append(f"| {label} | 50 | {h50:.1f} | {h99:.1f} | {s50:.1f} | {s99:.1f} |")
    for name, typed in QUERIES.items():
        query = parse(typed)
        for statuses in ((), ("failed",)):
            hits = partial(search.hits, query, statuses=statuses, limit=50)
            found = len(hits().hits)
            h50, h99 = percentiles(hits, repeat)
            s50, s99 = percentiles(partial(first_sessions, search, read, query, statuses), repeat)
            label = f"{name} `{typed}`" + (" + status=failed" if statuses else "")
            rows.append(f"| {label} | {found} | {h50:.1f} | {h99:.1f} | {s50:.1f} | {s99:.1f} |")
    return rows


class _Undo(Exception):
    """Raised to roll back the texts :func:`tail_rows` added."""


def tail_rows(store: MessageStore, repeat: int) -> list[str]:
    """The no-match query and the rare word with ``FTS_TAIL_LIMIT`` texts not yet
    indexed (the most a search checks one by one: SQLite's texts above the
    watermark, PostgreSQL's texts waiting outside the trigram index), in a
    transaction rolled back afterwards."""
    manager = Manager(Config(), store)
    session = manager.create("tail benchmark", expires_at=None)
    manager.set_running(session.id)
    SearchFlusher(store).run_pass()  # the request's text: exactly the limit waits
    search = Search(store)
    rows = []
    try:
        with store.write():
            for b in range(FTS_TAIL_LIMIT // 100):
                batch = [Message("assistant", f"{b}.{i} {APPEND_TEXT}") for i in range(100)]
                manager.append_messages(session.id, batch)
            for name in ("no match", "rare word"):
                query = parse(QUERIES[name])
                hits = partial(search.hits, query, limit=50)
                h50, h99 = percentiles(hits, repeat)
                label = f"{name} `{QUERIES[name]}`, {FTS_TAIL_LIMIT:,} texts not yet indexed"
                rows.append(f"| {label} | {len(hits().hits)} | {h50:.1f} | {h99:.1f} | | |")
            raise _Undo
    except _Undo:
        pass
    manager.delete(session.id)
    manager.stop()
    return rows


@contextmanager
def fresh_database(url: str, name: str, folder: Path) -> Iterator[str]:
    """An empty database of the same engine as ``url``, dropped afterwards."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = folder / (name + ".db")
        try:
            yield f"sqlite:///{path}"
        finally:
            # Dropped, as on PostgreSQL: a round used to append to the last one's file.
            for leftover in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
                leftover.unlink(missing_ok=True)
        return
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    database = f"{parsed.database}_{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield parsed.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


#: The append part's three sides: the index dropped; on, with its background
#: pass running (round 4); on, indexed by every write (the limit at 0).
APPEND_MODES = ("off", "on", "inline")


def append_rate(url: str, mode: str, singles: int, batches: int) -> tuple[float, ...]:
    """Messages per second appended one by one and in batches of 50, on a fresh
    database at head, with the search index dropped (``off``), on with the
    background pass running in this process as a serving process runs it
    (``on``; every ``search_flush.INTERVAL``, ``SEARCH_TAIL_LIMIT`` at its
    default), or on without the pass (``inline``: the limit at 0, so every
    write indexes its texts itself: on SQLite as before round 4; on PostgreSQL
    a statement moves its texts into the trigram index, an ``UPDATE`` more than
    before round 5). For ``on`` also the rates with what the pass had
    not indexed yet indexed before the clock stops (all the indexing paid)."""
    engine = make_engine(url)
    upgrade_schema(engine)
    if mode == "off":
        with engine.begin() as conn:
            uninstall(conn)
    keep_fts_current(engine, tail_limit=0 if mode == "inline" else FTS_TAIL_LIMIT)
    store = MessageStore(engine, migrate=False)
    manager = Manager(Config(), store)
    flusher = SearchFlusher(store)
    loop = flusher.make_loop()
    if mode == "on":
        loop.start()
    session = manager.create("append benchmark", expires_at=None)
    manager.set_running(session.id)
    start = time.perf_counter()
    for i in range(singles):
        manager.append_message(session.id, Message("assistant", f"{i} {APPEND_TEXT}"))
    single_s = time.perf_counter() - start
    flusher.run_pass()
    single_paid = time.perf_counter() - start
    start = time.perf_counter()
    for b in range(batches):
        batch = [Message("assistant", f"{b}.{i} {APPEND_TEXT}") for i in range(50)]
        manager.append_messages(session.id, batch)
    batch_s = time.perf_counter() - start
    flusher.run_pass()
    batch_paid = time.perf_counter() - start
    loop.stop()
    manager.stop()
    engine.dispose()
    n = batches * 50
    if not singles:
        return math.nan, n / batch_s, math.nan, n / batch_paid
    return singles / single_s, n / batch_s, singles / single_paid, n / batch_paid


def append_rates(
    url: str, folder: Path, singles: int, rounds: int, sustained: int = 0
) -> dict[str, tuple[float, ...]]:
    """The best single and batch rates of each of :data:`APPEND_MODES`, over
    ``rounds`` rounds of one fresh database each, the modes in turn. The best, as
    ``timeit`` takes: on a shared machine one run of each moved the batch ratio
    from 34% to 75% and the rate without the index from 1,300 to 8,000 per
    second; the fastest run is the one other load disturbed least.

    The batches of a run (``singles // 10`` of 50) stay under
    ``SEARCH_TAIL_LIMIT``: a burst, which the background pass indexes after it.
    ``sustained`` batches more, on a database of their own in each round, go
    far past the limit, so the writers index what the pass has not: the rate a
    stream of batches keeps (indices 4 and 5: as written, all paid)."""
    rates: dict[str, list[tuple[float, ...]]] = {mode: [] for mode in APPEND_MODES}
    for _ in range(rounds):
        for mode in APPEND_MODES:
            with fresh_database(url, f"append_{mode}", folder) as fresh:
                burst = append_rate(fresh, mode, singles, singles // 10)
            stream: tuple[float, ...] = (math.nan,) * 4
            if sustained:
                with fresh_database(url, f"stream_{mode}", folder) as fresh:
                    stream = append_rate(fresh, mode, 0, sustained)
            rates[mode].append((*burst, stream[1], stream[3]))
    return {mode: tuple(max(r[i] for r in runs) for i in range(6)) for mode, runs in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--appends", type=int, default=300, help="single appends per run")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the filled database at --database-url"
    )
    parser.add_argument("--no-appends", action="store_true", help="skip the append benchmark")
    parser.add_argument(
        "--big-session",
        action="store_true",
        help="first add bench/million.py's session of 50,000 messages on top (once): "
        "the newest texts then hold none of the benchmark's words",
    )
    parser.add_argument(
        "--append-rounds", type=int, default=5, help="fresh databases per side (the best)"
    )
    parser.add_argument(
        "--sustained",
        type=int,
        default=2000,
        help="batches of 50 in the sustained append run (0: none; the default, "
        "100,000 messages, is 50 times SEARCH_TAIL_LIMIT and outlasts the pass's "
        "interval)",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sb-search-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    if args.reuse:
        store, demo_s = MessageStore(url), float("nan")
        keep_fts_current(store.engine)
        if not Search(store).hits(parse(RARE), limit=1).hits:
            # Filled by ``sessionboard demo``, not by this benchmark: no markers yet.
            add_markers(Manager(Config(), store))
    else:
        store, demo_s = generate(url, args.sessions)
        add_markers(Manager(Config(), store))
    if args.big_session:
        from million import add_big_session  # bench/million.py (bench/ is on the path)

        add_big_session(Manager(Config(), store))
    # What a serving process's background pass does: nothing left unindexed.
    SearchFlusher(store).run_pass()
    if store.dialect == "postgresql":
        # The planner's statistics, as autovacuum keeps them (off on the test server).
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    engine_name = store.dialect
    print(f"## Search on {engine_name}, {args.sessions} demo sessions\n")
    with store.read() as conn:
        counts = conn.execute(
            text("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM search_docs)")
        ).one()
        size: dict[str, Any] = index_size(conn)
    filled = "reused (--reuse)" if args.reuse else f"demo with the index on: {demo_s:.0f} s"
    print(f"- database {filled}; {counts[0]} messages, {counts[1]} texts")
    share = size["index_bytes"] / size["database_bytes"] if size["database_bytes"] else 0
    print(
        f"- index: {size['index_bytes'] / 2**20:.0f} MiB of {size['database_bytes'] / 2**20:.0f}"
        f" MiB ({share:.0%} of the database)\n"
    )
    print(f"First page, ms over {args.repeat} runs (hits: the API's 50; sessions: 50 with")
    print("three snippets each):\n")
    print("| query | hits | hits p50 | hits p99 | sessions p50 | sessions p99 |")
    print("|---|---|---|---|---|---|")
    for row in search_rows(store, args.repeat):
        print(row)
    for row in tail_rows(store, args.repeat):
        print(row)
    store.close()
    if args.no_appends:
        return
    rates = append_rates(url, folder, args.appends, args.append_rounds, args.sustained)
    on, off, inline = rates["on"], rates["off"], rates["inline"]
    print(
        f"\nAppends, messages per second (same run, fresh databases; the best of "
        f"{args.append_rounds} rounds, the three in turn; on: the background pass "
        "running; on, all paid: what it had not indexed yet indexed before the "
        "clock stops; inline: SEARCH_TAIL_LIMIT 0, no pass: every write indexes "
        "its texts itself):\n"
    )
    print(
        "| | index off (floor) | on | on / off | on, all paid | all paid / off "
        "| inline | inline / off |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for i, label in enumerate(("single", "batches of 50")):
        print(
            f"| {label} | {off[i]:.0f} | {on[i]:.0f} | {on[i] / off[i]:.0%} "
            f"| {on[i + 2]:.0f} | {on[i + 2] / off[i]:.0%} "
            f"| {inline[i]:.0f} | {inline[i] / off[i]:.0%} |"
        )
    if args.sustained:
        print(
            f"| batches of 50, sustained ({args.sustained * 50:,} messages) | {off[4]:.0f} "
            f"| {on[4]:.0f} | {on[4] / off[4]:.0%} | {on[5]:.0f} | {on[5] / off[4]:.0%} "
            f"| {inline[4]:.0f} | {inline[4] / off[4]:.0%} |"
        )


if __name__ == "__main__":
    main()
