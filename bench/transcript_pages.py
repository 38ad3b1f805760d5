"""Server time of the transcript pages: each corpus session, and a 50,000-message one.

    .venv/bin/python bench/transcript_pages.py [--repeat 5]

Imports tests/data/corpus into a fresh SQLite database, adds a 50,000-message
session, then renders each session page through the app (test client, logged in,
no network; the page is built whole before its first byte is sent, so this is the
time to first byte). Beside each page: the plain JSON read of the same window of
messages (``/api/v1/sessions/<id>/messages``), what the page costs beyond its query.

"first ms" is the page's first GET in the process (nothing rendered yet: every
markdown text is rendered); the median and max are of the GETs after it (the
rendered markdown is kept in the process's cache, ``webapp.rendering.RenderCache``).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = 50_000


def median_ms(
    client: Any, url: str, repeat: int, headers: dict[str, str] | None = None
) -> tuple[int, float, float]:
    """Status, median and worst milliseconds of ``repeat`` GETs of ``url``."""
    times, status = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url, headers=headers or {})
        times.append((time.perf_counter() - start) * 1000)
        status = response.status_code
    return status, statistics.median(times), max(times)


def main() -> None:
    """Fill, measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    sys.path.insert(0, str(ROOT))
    from tests.corpus import CORPUS, CORPUS_2
    from webapp import create_app
    from webapp.accounts import service
    from webapp.sessions import Message
    from webapp.sessions.engine import make_engine
    from webapp.sessions.schema import upgrade_schema
    from webapp.transfer.importer import Importer

    folder = Path(tempfile.mkdtemp(prefix="bench-transcript-"))
    engine = make_engine(folder / "bench.db")
    upgrade_schema(engine)
    engine.dispose()
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "WTF_CSRF_ENABLED": False,
            "INSTANCE_PATH": str(folder),
        }
    )
    manager = app.extensions["sessionboard.manager"]
    with app.app_context():
        service.create_user("bench", "admin", "quartz lantern meadow 4817", actor="bench")
        _info, token = service.create_api_token("bench", "ingest")
    importer = Importer(manager, remember=False)
    importer.run(importer.plan([CORPUS, CORPUS_2]))
    big = manager.create("A very long run", expires_at=None)
    start = datetime.now(UTC) - timedelta(days=1)
    manager.store.append_messages(
        big.id,
        [
            Message(
                "assistant" if i % 2 else "user",
                f"Message {i}: some **markdown** and `code`.\n\n```python\nprint({i})\n```",
                timestamp=start + timedelta(seconds=i),
            )
            for i in range(MESSAGES)
        ],
        now=start,
        require_open=False,
    )
    client = app.test_client()
    client.post("/login", data={"name": "bench", "password": "quartz lantern meadow 4817"})
    headers = {"Authorization": f"Bearer {token}"}
    sessions = sorted(manager.list(), key=lambda s: s.message_count)
    print(f"{len(sessions)} sessions in {folder}; {args.repeat} runs per page\n")
    head = f"| {'session page':<46} | {'msgs':>6} | {'first ms':>8} | {'median ms':>9} |"
    print(f"{head} {'max ms':>7} | {'plain JSON ms':>13} |")
    print(f"|{'-' * 48}|{'-' * 8}|{'-' * 10}|{'-' * 11}|{'-' * 9}|{'-' * 15}|")
    for s in sessions:
        _, first, _ = median_ms(client, f"/sessions/{s.id}", 1)
        status, median, worst = median_ms(client, f"/sessions/{s.id}", args.repeat)
        _, plain, _ = median_ms(
            client, f"/api/v1/sessions/{s.id}/messages?limit=100", args.repeat, headers
        )
        name = " ".join((s.request or s.id).split())[:44]
        name = name if s.id != big.id else f"50k messages ({s.id[:8]})"
        assert status == 200, (s.id, status)
        row = f"| {name:<46} | {s.message_count:>6} | {first:>8.1f} | {median:>9.1f} |"
        print(f"{row} {worst:>7.1f} | {plain:>13.1f} |")
    manager.stop()


if __name__ == "__main__":
    main()
