"""Benchmark of the domain on a realistic database: `sessionboard demo` speed, then
the Manager's reads and one sweep on what it made. Not a test: prints a table.

    .venv/bin/python bench/domain.py [--sessions 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from webapp.sessions import Config, Manager, MessageStore

BIN = Path(sys.executable).parent


def timed(fn: Callable[[], object], repeat: int = 5) -> tuple[float, object]:
    """Median wall time in ms over ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    env = {
        **os.environ,
        "SESSIONBOARD_DATABASE_URL": url,
        "SESSIONBOARD_INSTANCE_PATH": str(folder),
        "SESSIONBOARD_SECRET_KEY": "bench",
    }
    subprocess.run(
        [str(BIN / "sessionboard"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    start = time.perf_counter()
    subprocess.run(
        [str(BIN / "sessionboard"), "demo", "--sessions", str(args.sessions)],
        env=env,
        check=True,
        capture_output=True,
    )
    demo_s = time.perf_counter() - start

    manager = Manager(Config(), MessageStore(url, migrate=False))
    newest = manager.list(limit=1)[0]
    rows = [(f"demo --sessions {args.sessions}", f"{demo_s:.1f} s")]
    for name, fn in [
        ("get_stats()", manager.get_stats),
        ("list(limit=50)", lambda: manager.list(limit=50)),
        ("list(status='failed', limit=50)", lambda: manager.list(status="failed", limit=50)),
        ("get_or_load(newest)", lambda: manager.get_or_load(newest.id)),
        ("sweep(dry_run=True)", lambda: manager.sweep(dry_run=True)),
    ]:
        ms, _ = timed(fn)
        rows.append((name, f"{ms:.1f} ms"))
    later = manager.clock() + timedelta(days=1)
    ms, result = timed(lambda: manager.sweep(later), repeat=1)
    rows.append((f"sweep() one day later: {result.describe()}", f"{ms:.0f} ms"))
    ms, result = timed(lambda: manager.sweep(later), repeat=1)
    rows.append(("sweep() again (idempotent, nothing to do)", f"{ms:.0f} ms"))
    manager.stop()
    width = max(len(r[0]) for r in rows)
    print(f"database: {url.split('://')[0]}, {args.sessions} sessions")
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10}")


if __name__ == "__main__":
    main()
