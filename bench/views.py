"""What saved views' live counts cost: every page counts each view of the user.

    .venv/bin/python bench/views.py [--sessions 20000] [--database PATH] [--repeat 7]

Fills a SQLite database with the demo (``bench/pages.py``'s ``fill``), then, side by
side in one run:

- per view filter: the bounded count the navigation makes (at most 1,001 ids)
  against its floor, the first page (50 rows) of the same filtered list;
- the session list page with no saved view (the floor), and with the five views
  in its navigation: counts kept (within ``COUNT_TTL``) and counted afresh (one run).

Prints medians in milliseconds; compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from pages import fill  # noqa: E402  (bench/ is not a package)

VIEWS = {
    "everything": "",
    "failed": "status=failed",
    "unreviewed, completed": "status=completed&verdict=unreviewed",
    "context model": "context=model%3Dclaude-opus-4-1",
    "search 'test'": "q=test",
}


def median_ms(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--database", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    database = args.database or Path(tempfile.gettempdir()) / f"bench-views-{args.sessions}.db"
    fill(database, args.sessions)
    os.environ.setdefault("SESSIONBOARD_INSTANCE_PATH", str(database.parent))

    from webapp import create_app
    from webapp.accounts import service as accounts
    from webapp.extensions import get_queries
    from webapp.queues import service

    app = create_app(
        {"SECRET_KEY": "bench", "DATABASE_URL": str(database), "WTF_CSRF_ENABLED": False}
    )
    with app.app_context():
        for name in ("viewsbench", "emptybench"):
            if accounts.get_user_by_name(name) is None:
                accounts.create_user(name, "admin", "a long benchmark password", actor="bench")
        total = sum(app.extensions["sessionboard.manager"].stats().values())
    print(f"{total} sessions in {database}; median of {args.repeat}\n")
    print(f"| {'view':<24} | {'count':>6} | {'count ms':>8} | {'floor: 50 rows ms':>17} |")
    print(f"|{'-' * 26}|{'-' * 8}|{'-' * 10}|{'-' * 19}|")
    with app.test_request_context():
        for name, query in VIEWS.items():
            where = service.view_filters(query).to_filter()
            count = service.view_count(query, fresh=True)
            counted = median_ms(lambda q=query: service.view_count(q, fresh=True), args.repeat)
            listed = median_ms(
                lambda w=where: get_queries().list_sessions(w, limit=50), args.repeat
            )
            label = service.count_label(count)
            print(f"| {name:<24} | {label:>6} | {counted:>8.1f} | {listed:>17.1f} |")

    def client_of(user: str) -> Any:
        client = app.test_client()
        client.post("/login", data={"name": user, "password": "a long benchmark password"})
        return client

    with_views = client_of("viewsbench")
    for name, query in VIEWS.items():
        with_views.post("/views", data={"name": name, "query": query})
    floor = client_of("emptybench")
    print(f"\n| {'page':<40} | {'median ms':>9} |")
    print(f"|{'-' * 42}|{'-' * 11}|")
    service._counts.clear()
    cold = median_ms(lambda: with_views.get("/sessions").get_data(), 1)
    for label, client in (("/sessions, no saved view (floor)", floor),
                          (f"/sessions, {len(VIEWS)} views, counts kept", with_views)):  # fmt: skip
        assert client.get("/sessions").status_code == 200
        page = median_ms(lambda c=client: c.get("/sessions").get_data(), args.repeat)
        print(f"| {label:<40} | {page:>9.1f} |")
    print(f"| {f'/sessions, {len(VIEWS)} views, counted afresh':<40} | {cold:>9.1f} |")


if __name__ == "__main__":
    main()
