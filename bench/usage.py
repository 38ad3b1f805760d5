"""Server time of the usage aggregates on a big demo database, beside the raw SQL floor.

    .venv/bin/python bench/usage.py [--sessions 1000000] [--database PATH] [--repeat 200]

Fills a SQLite database with ``sessionboard demo --sessions N`` (once; reused when the
file exists), then times each read of the read model's usage part (the last 30 days)
``--repeat`` times and prints the median and the 99th percentile, beside the same SQL
run straight on the driver (the floor: no SQLAlchemy, no row objects) and, for
comparison, the same figures summed from every ledger entry (what a scan would cost).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pages import fill  # noqa: E402
from webapp.sessions import MessageStore  # noqa: E402
from webapp.sessions.queries import ReadModel  # noqa: E402
from webapp.sessions.usage_reads import UsageGroup  # noqa: E402

SCAN = (
    "SELECT model, sum(input), sum(output), sum(cache_read), sum(cache_write_5m), "
    "sum(cache_write_1h), sum(cost_nanos), count(*) FROM usage_entries "
    "WHERE at >= ? GROUP BY model"
)


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` calls (after one warm-up call)."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def p99(times: list[float]) -> float:
    """The 99th percentile."""
    return statistics.quantiles(times, n=100)[98] if len(times) >= 2 else times[0]


def measure(
    store: MessageStore, raw: sqlite3.Connection, call: Callable[[], Any], repeat: int
) -> tuple[list[float], list[float]]:
    """Times of ``call``, and of the SQL it sends run straight on the driver."""
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, sql: str, params: Any, *_: Any) -> None:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((sql, params))

    event.listen(store.engine, "before_cursor_execute", capture)
    call()
    event.remove(store.engine, "before_cursor_execute", capture)
    floor = timed(lambda: [raw.execute(sql, p).fetchall() for sql, p in statements], repeat)
    return timed(call, repeat), floor


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--database", type=Path)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    database = args.database or Path(tempfile.gettempdir()) / f"usage-{args.sessions}.db"
    fill(database, args.sessions)
    store = MessageStore(database, migrate=False)
    reads = ReadModel(store)
    since = datetime.now(UTC) - timedelta(days=30)
    cases: list[tuple[str, Callable[[], Any]]] = [
        *[
            (f"usage_by({group.value})", lambda g=group: reads.usage_by(g, since))
            for group in UsageGroup
        ],
        ("usage_total", lambda: reads.usage_total(since)),
        ("usage_blocks", lambda: reads.usage_blocks(since)),
        ("costly_sessions(10)", lambda: reads.costly_sessions(since)),
    ]
    raw = sqlite3.connect(database)
    with store.read() as conn:
        sessions = conn.exec_driver_sql("SELECT count(*) FROM sessions").scalar()
        entries = conn.exec_driver_sql("SELECT count(*) FROM usage_entries").scalar()
        parent = conn.exec_driver_sql(
            "SELECT parent_id FROM sessions WHERE parent_id IS NOT NULL LIMIT 1"
        ).scalar()
    cases.append(
        ("session_usage(+subagents)", lambda: reads.session_usage(parent, with_subagents=True))
    )
    print(f"{database}: {sessions:,} sessions, {entries:,} responses in the ledger")
    print(f"{'read':28} {'median ms':>10} {'p99 ms':>8} {'SQL floor':>10}")
    for name, call in cases:
        ours, floor = measure(store, raw, call, args.repeat)
        print(
            f"{name:28} {statistics.median(ours):10.2f} {p99(ours):8.2f} "
            f"{statistics.median(floor):10.2f}"
        )
    scan = timed(lambda: raw.execute(SCAN, (since.isoformat(" ")[:19],)).fetchall(), 3)
    print(f"{'(scan of the ledger)':28} {statistics.median(scan):10.2f} {max(scan):8.2f}")
    store.close()


if __name__ == "__main__":
    main()
