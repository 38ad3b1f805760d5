"""API write latency with a webhook whose receiver takes 5 s to answer, beside
the same writes with no webhook listening (the floor), in one run.

One app (in-process, the Flask test client) on a fresh database; its webhook
dispatcher thread runs in the same process, as it does in a gunicorn worker.
Blocks of writes alternate between the two conditions (the webhook enabled or
disabled), so the machine's noise hits both alike. Each write is an API append
of one message and a PATCH of the session to ``failed`` (which, enabled, records
an event and a delivery in the same transaction; the dispatcher then POSTs it
to the receiver, which sleeps 5 s).

    .venv/bin/python bench/webhooks.py                 # SQLite in a temp dir
    .venv/bin/python bench/webhooks.py --database-url postgresql://postgres@127.0.0.1/bench

Not a test: it prints a table (markdown) and exits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def slow_receiver(delay: float) -> tuple[ThreadingHTTPServer, str, list[float]]:
    """A receiver that answers 200 after ``delay`` seconds; returns it, its URL
    and the list of times it got a POST."""
    hits: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hits.append(time.monotonic())
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook", hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--blocks", type=int, default=10, help="blocks per condition")
    parser.add_argument("--block-size", type=int, default=20, help="writes per block")
    parser.add_argument("--delay", type=float, default=5.0, help="receiver's answer time (s)")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="sb-bench-webhooks-")
    os.environ["SESSIONBOARD_INSTANCE_PATH"] = tmp
    from webapp import create_app
    from webapp.accounts.tokens import create_token
    from webapp.extensions import db
    from webapp.sessions.schema import upgrade_schema
    from webapp.webhooks import make_dispatcher, service

    url = args.database_url or f"{tmp}/bench.db"
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "DATABASE_URL": url,
                      "WEBHOOK_POLL_INTERVAL": 0.05,
                      "WEBHOOK_TIMEOUT": args.delay + 5})  # fmt: skip
    with app.app_context():
        upgrade_schema(db.engine)
    engine = app.extensions["sessionboard.manager"].store.engine
    headers = {"Authorization": f"Bearer {create_token(engine, 'bench', 'ingest')[1]}"}
    server, receiver_url, hits = slow_receiver(args.delay)
    with app.app_context():
        hook, _ = service.add_webhook(receiver_url, ["failed"], actor="bench")
    dispatcher = make_dispatcher(app)
    dispatcher.start()
    client = app.test_client()
    times: dict[str, dict[str, list[float]]] = {
        c: {"append": [], "patch": []} for c in ("floor", "webhook")
    }

    def write(condition: str) -> None:
        created = client.post("/api/v1/sessions", json={"request": "bench"}, headers=headers)
        sid = created.get_json()["id"]
        started = time.perf_counter()
        appended = client.post(
            f"/api/v1/sessions/{sid}/messages", json={"role": "user", "content": "hi"},
            headers=headers,
        )  # fmt: skip
        middle = time.perf_counter()
        patched = client.patch(
            f"/api/v1/sessions/{sid}", json={"status": "failed", "error": "x"}, headers=headers
        )
        done = time.perf_counter()
        assert appended.status_code == 201 and patched.status_code == 200
        times[condition]["append"].append((middle - started) * 1000)
        times[condition]["patch"].append((done - middle) * 1000)

    for _ in range(3):  # warm up
        write("floor")
    times = {c: {"append": [], "patch": []} for c in ("floor", "webhook")}
    for _block in range(args.blocks):
        for condition in ("floor", "webhook"):
            with app.app_context():
                service.set_enabled(hook.id, condition == "webhook", actor="bench")
            for _ in range(args.block_size):
                write(condition)
    with app.app_context():
        log = service.deliveries(limit=100_000)
    dispatcher.stop(timedelta(seconds=1))
    server.shutdown()

    def q(values: list[float], p: float) -> float:
        return statistics.quantiles(values, n=100)[int(p) - 1]

    engine_name = engine.dialect.name
    n = args.blocks * args.block_size
    print(f"\n{engine_name}, {n} writes per condition, receiver answers in {args.delay:.0f} s; "
          f"the receiver got {len(hits)} POSTs, {len(log)} deliveries queued\n")  # fmt: skip
    print("| write | floor: no webhook, median / p95 ms | webhook, slow receiver: median / p95 |")
    print("|---|---|---|")
    for op in ("append", "patch"):
        floor, ours = times["floor"][op], times["webhook"][op]
        print(
            f"| {op} | {statistics.median(floor):.2f} / {q(floor, 95):.2f} "
            f"| {statistics.median(ours):.2f} / {q(ours, 95):.2f} |"
        )


if __name__ == "__main__":
    main()
