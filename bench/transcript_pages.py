"""Server time of the transcript pages: each corpus session, and a 50,000-message one.

    .venv/bin/python bench/transcript_pages.py [--repeat 5]

Imports tests/data/corpus into a fresh SQLite database, adds a 50,000-message
session, warms the app up as a serving process does before its first request
(``webapp.warm_up``: templates compiled, lexers loaded), then renders each session
page through the app (test client, logged in, no network; the page is built whole
before its first byte is sent, so this is the time to first byte). Beside each
page: the plain JSON read of the same window of messages
(``/api/v1/sessions/<id>/messages``), what the page costs beyond its query.

"cold, not stored" is the page's first GET with no stored HTML (before the
background pass ran: every markdown text is rendered). Then the pass renders and
stores every message's HTML (``webapp.prerender``; its time is printed), the
process's cache of rendered markdown is emptied, and "first ms" is the page's
first GET again: what the first read after a server start costs once the pass
has run. The median and max are of the GETs after it.
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
) -> tuple[int, str, float]:
    """Status, median milliseconds (wall and, in brackets, this thread's CPU) and
    worst wall milliseconds of ``repeat`` GETs of ``url``."""
    times, cpu, status = [], [], 0
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.thread_time()
        response = client.get(url, headers=headers or {})
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
        status = response.status_code
    shown = f"{statistics.median(times):.1f} ({statistics.median(cpu):.1f})"
    return status, shown, max(times)


def main() -> None:
    """Fill, measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    sys.path.insert(0, str(ROOT))
    from tests.corpus import CORPUS, CORPUS_2
    from webapp import create_app, rendering, warm_up
    from webapp.accounts import service
    from webapp.prerender import Prerenderer
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
    warm_up(app)
    cold = {s.id: median_ms(client, f"/sessions/{s.id}", 1)[1] for s in sessions}
    start_pass = time.perf_counter()
    done = Prerenderer(manager.store).run_pass()
    seconds = time.perf_counter() - start_pass
    rendering._cache = rendering.RenderCache(rendering.CACHE_BYTES)  # as after a restart
    print(f"{len(sessions)} sessions in {folder}; {args.repeat} runs per page")
    print(
        f"the pass stored {done.rendered} messages' HTML in {seconds:.1f} s "
        f"({done.rendered / seconds:,.0f} a second)\n"
    )
    print("(ms: wall time, and in brackets the serving thread's CPU time)\n")
    head = f"| {'session page':<46} | {'msgs':>6} | {'cold, not stored':>16} | {'first':>14} |"
    print(f"{head} {'median':>14} | {'max':>7} | {'plain JSON':>14} |")
    print(f"|{'-' * 48}|{'-' * 8}|{'-' * 18}|{'-' * 16}|{'-' * 16}|{'-' * 9}|{'-' * 16}|")
    for s in sessions:
        _, first, _ = median_ms(client, f"/sessions/{s.id}", 1)
        status, median, worst = median_ms(client, f"/sessions/{s.id}", args.repeat)
        _, plain, _ = median_ms(
            client, f"/api/v1/sessions/{s.id}/messages?limit=100", args.repeat, headers
        )
        name = " ".join((s.request or s.id).split())[:44]
        name = name if s.id != big.id else f"50k messages ({s.id[:8]})"
        assert status == 200, (s.id, status)
        row = f"| {name:<46} | {s.message_count:>6} | {cold[s.id]:>16} | {first:>14} |"
        print(f"{row} {median:>14} | {worst:>7.1f} | {plain:>14} |")
    manager.stop()


if __name__ == "__main__":
    main()
