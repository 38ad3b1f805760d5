"""Server time of the dashboard's list, session and stats pages on a big database.

    .venv/bin/python bench/pages.py [--sessions 100000] [--database PATH] [--repeat 5]

Fills a SQLite database with ``sessionboard demo --sessions N`` (once; reused when
the file exists), then renders each page through the app (test client, logged in
as an admin, no network) and prints the median and worst time per page. The list's
live check (idle: a 204) runs beside the session page's live poll, its floor.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]


def fill(database: Path, sessions: int) -> None:
    """Make the database with the demo command when it does not exist yet."""
    if database.exists():
        return
    env = {**os.environ, "SESSIONBOARD_DATABASE_URL": str(database)}
    env.setdefault("SESSIONBOARD_INSTANCE_PATH", str(database.parent))
    cli = [sys.executable, "-m", "flask", "--app", "webapp:create_app"]
    subprocess.run([*cli, "db", "upgrade"], check=True, env=env, cwd=ROOT)
    subprocess.run([*cli, "demo", "--sessions", str(sessions)], check=True, env=env, cwd=ROOT)


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--database", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    database = args.database or Path(tempfile.gettempdir()) / f"bench-{args.sessions}.db"
    fill(database, args.sessions)
    os.environ.setdefault("SESSIONBOARD_INSTANCE_PATH", str(database.parent))

    sys.path.insert(0, str(ROOT))
    from webapp import create_app
    from webapp.accounts import service

    app = create_app(
        {"SECRET_KEY": "bench", "DATABASE_URL": str(database), "WTF_CSRF_ENABLED": False}
    )
    with app.app_context():
        if service.get_user_by_name("bench") is None:
            service.create_user("bench", "admin", "long horse staple passphrase 7", actor="bench")
        manager = app.extensions["sessionboard.manager"]
        biggest = max(manager.list(limit=2000), key=lambda s: s.message_count)
        total = sum(manager.stats().values())
    client = app.test_client()
    client.post("/login", data={"name": "bench", "password": "long horse staple passphrase 7"})
    listed = client.get("/sessions").get_data(as_text=True)
    live = re.search(r'id="list-live"[^>]*hx-get="([^"]+)"', listed)
    assert live, "the list has no live check"
    pages = {
        "list (newest 50)": "/sessions",
        "list live check (idle, 50 rows)": html.unescape(live.group(1)),
        "list, 2 statuses + sort": "/sessions?status=completed&status=failed&sort=created",
        "list, context filter": "/sessions?context=model%3Dclaude-opus-4-1",
        "list, text filter (LIKE)": "/sessions?q=pagination",
        f"session ({biggest.message_count} msgs)": f"/sessions/{biggest.id}",
        "session live poll (idle)": f"/sessions/{biggest.id}/poll?after=999999999"
        f"&at={quote(biggest.last_activity.isoformat())}",
        "stats": "/stats",
    }
    print(f"{total} sessions in {database}; {args.repeat} runs per page\n")
    print(f"| {'page':<32} | {'status':>6} | {'median ms':>9} | {'max ms':>7} |")
    print(f"|{'-' * 34}|{'-' * 8}|{'-' * 11}|{'-' * 9}|")
    for name, url in pages.items():
        times, status = [], 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            status = response.status_code
        print(
            f"| {name:<32} | {status:>6} | {statistics.median(times):>9.1f} | {max(times):>7.1f} |"
        )


if __name__ == "__main__":
    main()
