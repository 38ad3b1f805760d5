"""Append throughput of the HTTP API under gunicorn, beside a hello-world Flask app.

Starts two gunicorns with the settings of ``sessionboard serve`` (gthread, 2 workers,
4 threads each): the real app (``wsgi:app``, sweeper included) on a fresh database,
and a hello-world Flask app whose one view reads the same JSON body and answers
``{"appended": n}``. Then N client threads, each on a keep-alive connection and its
own session, send a fixed number of requests: single appends, then batches (50
messages each by default), each with an Idempotency-Key as the client sends it.

    .venv/bin/python bench/api_throughput.py                     # SQLite in a temp dir
    .venv/bin/python bench/api_throughput.py --database-url postgresql://postgres@127.0.0.1/bench

With ``--store-appends N`` it runs instead N single appends a thread through
``MessageStore.append_messages``, without HTTP: ``--workers`` processes of
``--worker-threads`` threads on one database, the write path alone (group
commit, the write lock, the commit's sync), its rate and CPU per append.

    .venv/bin/python bench/api_throughput.py --store-appends 400

Not a test: it prints a table (markdown) and exits. The client threads share the
machine's cores with the servers, for both apps alike. Besides the rates, each
row gives the CPU time the server (gunicorn's master and workers, the app's
background threads included) spent per request, from ``/proc``: on a shared
machine the steadier figure. A server counts as started when it answers HTTP.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_hello_app() -> Any:
    """The baseline: Flask, one view that parses the same JSON, no database."""
    from flask import Flask, jsonify, request

    app = Flask("hello")

    @app.post("/api/v1/sessions/<session_id>/messages")
    def append(session_id: str) -> Any:
        body = request.get_json()
        count = len(body["messages"]) if "messages" in body else 1
        return jsonify({"appended": count}), 201

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One gunicorn in its own process group."""

    def __init__(self, app_spec: str, env: dict[str, str], args: argparse.Namespace) -> None:
        self.port = free_port()
        command = [
            sys.executable, "-m", "gunicorn", app_spec,
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(args.workers), "--threads", str(args.worker_threads),
            "--worker-class", "gthread", "--pythonpath", str(ROOT / "bench"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # Until it answers HTTP: the workers warm up (templates, lexers) after the
        # port is open, which takes minutes on a loaded machine.
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn.request("GET", "/api/v1/openapi.json")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise SystemExit(f"gunicorn {app_spec} exited") from None
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"gunicorn {app_spec} did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def process_cpu(pid: int) -> tuple[str, float]:
    """A process's name and CPU seconds so far (user and system), from Linux's
    ``/proc``; ``OSError`` when there is no such process (or no ``/proc``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int) -> float:
    """CPU seconds (user and system) of a gunicorn: its master and its workers
    (Linux ``/proc``; 0 elsewhere). Steadier than wall time on a shared machine."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return sum(process_cpu(each)[1] for each in [pid, *map(int, children)])
    except OSError:
        return 0.0


@dataclass
class Result:
    name: str
    requests: int
    messages: int
    seconds: float
    latencies: list[float]
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    @property
    def cpu_per_request(self) -> float:
        """The server's CPU seconds per request."""
        return self.cpu / self.requests

    def row(self) -> str:
        p50 = statistics.median(self.latencies) * 1000
        p95 = statistics.quantiles(self.latencies, n=20)[-1] * 1000
        return (
            f"| {self.name} | {self.requests} | {self.requests / self.seconds:,.0f} | "
            f"{self.messages / self.seconds:,.0f} | {p50:.1f} | {p95:.1f} | "
            f"{self.cpu_per_request * 1000:.2f} |"
        )


def run_load(
    name: str,
    server: Server,
    token: str,
    sessions: list[str],
    requests: int,
    batch: int,
) -> Result:
    """``requests`` POSTs spread over one thread per session, timed together,
    and the server's CPU time meanwhile."""
    port = server.port
    per_thread = requests // len(sessions)
    latencies: list[list[float]] = [[] for _ in sessions]
    failures: list[str] = []
    start = threading.Barrier(len(sessions) + 1)

    def body(i: int) -> bytes:
        text = f"message {i}: " + "lorem ipsum dolor sit amet " * 8
        one = {"role": "assistant", "content": text, "meta": {"model": "m", "i": i}}
        return json.dumps({"messages": [one] * batch} if batch > 1 else one).encode()

    def client(t: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        path = f"/api/v1/sessions/{sessions[t]}/messages"
        payloads = [body(i) for i in range(per_thread)]
        start.wait()
        for payload in payloads:
            began = time.perf_counter()
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": str(uuid.uuid4()),
            }
            conn.request("POST", path, payload, headers)
            answer = conn.getresponse()
            answer.read()
            latencies[t].append(time.perf_counter() - began)
            if answer.status != 201:
                failures.append(f"{answer.status}")
        conn.close()

    threads = [threading.Thread(target=client, args=(t,)) for t in range(len(sessions))]
    for thread in threads:
        thread.start()
    start.wait()
    began, cpu = time.perf_counter(), server_cpu(server.process.pid)
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    cpu = server_cpu(server.process.pid) - cpu
    if failures:
        raise SystemExit(f"{name}: {len(failures)} failed requests, e.g. {failures[:3]}")
    done = per_thread * len(sessions)
    return Result(name, done, done * batch, seconds, [x for lat in latencies for x in lat], cpu)


def store_appends(url: str, sessions: list[str], appends: int, out: Any) -> None:
    """One process of :func:`run_store_load`: a thread for each session, each
    appending ``appends`` single messages (with an idempotency key, as the
    API's clients send them) through ``MessageStore.append_messages``; puts
    (the process's CPU seconds, wall seconds) on ``out``."""
    from webapp.sessions import Message, MessageStore
    from webapp.sessions.types import utcnow

    store = MessageStore(url, migrate=False)
    text = "message: " + "lorem ipsum dolor sit amet " * 8
    start = threading.Barrier(len(sessions) + 1)

    def appender(session_id: str) -> None:
        start.wait()
        for i in range(appends):
            message = Message(role="assistant", content=text, meta={"model": "m", "i": i})
            store.append_messages(
                session_id, [message], now=utcnow(), idempotency_key=uuid.uuid4().hex, checked=True
            )

    threads = [threading.Thread(target=appender, args=(sid,)) for sid in sessions]
    for thread in threads:
        thread.start()
    start.wait()
    cpu, began = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.join()
    out.put((time.process_time() - cpu, time.perf_counter() - began))
    store.close()


def run_store_load(url: str, processes: int, threads: int, appends: int) -> str:
    """Single appends through the store, without HTTP: ``processes`` processes
    (as gunicorn's workers) of ``threads`` threads each, all on one database.
    The write path alone (group commit, the write lock, the commit's sync), so
    its changes show without gunicorn's and Flask's CPU around them."""
    import multiprocessing

    from webapp.sessions import MessageStore, Session

    store = MessageStore(url)
    ids = [[uuid.uuid4().hex for _ in range(threads)] for _ in range(processes)]
    for sid in (sid for group in ids for sid in group):
        store.create_session(Session(id=sid))
    store.close()
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [
        context.Process(target=store_appends, args=(url, group, appends, out)) for group in ids
    ]
    for worker in workers:
        worker.start()
    done = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    total = processes * threads * appends
    cpu = sum(c for c, _ in done)
    wall = max(w for _, w in done)
    return (
        f"| store, {processes} processes x {threads} threads, single appends | {total} "
        f"| {total / wall:,.0f} | {cpu * 1e6 / total:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a SQLite file in a temp dir")
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--requests", type=int, default=2000, help="single appends")
    parser.add_argument("--batch-requests", type=int, default=200, help="batch appends")
    parser.add_argument("--batch-size", type=int, default=50, help="messages per batch")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-threads", type=int, default=4, help="threads per worker")
    parser.add_argument(
        "--store-appends",
        type=int,
        default=0,
        help="instead of the HTTP runs: this many single appends a thread through "
        "the store (--workers processes of --worker-threads threads; 0: the HTTP runs)",
    )
    args = parser.parse_args()

    from webapp.accounts.tokens import create_token
    from webapp.sessions.schema import upgrade_schema
    from webapp.sessions.store import make_engine

    workdir = Path(tempfile.mkdtemp(prefix="sessionboard-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    if args.store_appends:
        upgrade_schema(make_engine(url))
        row = run_store_load(url, args.workers, args.worker_threads, args.store_appends)
        print("\n| load | appends | appends/s | CPU us/append |\n|---|---:|---:|---:|")
        print(row)
        shutil.rmtree(workdir, ignore_errors=True)
        return
    engine = make_engine(url)
    upgrade_schema(engine)
    token = create_token(engine, f"bench-{uuid.uuid4().hex[:8]}", "ingest")[1]
    engine.dispose()
    env = {
        **os.environ,
        "SESSIONBOARD_DATABASE_URL": url,
        "SESSIONBOARD_INSTANCE_PATH": str(workdir / "instance"),
        "SESSIONBOARD_LOG_LEVEL": "WARNING",
    }
    real = Server("wsgi:app", env, args)
    try:
        hello = Server("api_throughput:make_hello_app()", env, args)
    except BaseException:
        real.stop()
        raise
    try:
        sessions = []
        for _ in range(args.clients):
            conn = http.client.HTTPConnection("127.0.0.1", real.port, timeout=120)
            conn.request(
                "POST",
                "/api/v1/sessions",
                json.dumps({"request": "bench", "expires_at": None}),
                {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            sessions.append(json.loads(conn.getresponse().read())["id"])
            conn.close()
        warmup = max(args.clients * 5, 40)
        for server in (real, hello):  # imports, connections, caches
            run_load("warmup", server, token, sessions, warmup, 1)
        results = [
            run_load("hello-world Flask, single", hello, token, sessions, args.requests, 1),
            run_load("Sessionboard API, single", real, token, sessions, args.requests, 1),
            run_load(
                f"hello-world Flask, batch of {args.batch_size}",
                hello,
                token,
                sessions,
                args.batch_requests,
                args.batch_size,
            ),
            run_load(
                f"Sessionboard API, batch of {args.batch_size}",
                real,
                token,
                sessions,
                args.batch_requests,
                args.batch_size,
            ),
        ]
    finally:
        try:
            real.stop()
        finally:
            hello.stop()
            shutil.rmtree(workdir, ignore_errors=True)  # the SQLite file and instance
    backend = url.split(":", 1)[0]
    print(
        f"\ngunicorn gthread, {args.workers} workers x {args.worker_threads} threads; "
        f"{args.clients} client threads (keep-alive); database: {backend}; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| endpoint | requests | requests/s | messages/s | p50 ms | p95 ms "
        "| server CPU ms/request |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for result in results:
        print(result.row())
    hello_single, api_single, _hello_batch, api_batch = results
    batch_rate = api_batch.messages / api_batch.seconds
    print(
        f"\nAPI / hello-world: single {api_single.rate / hello_single.rate:.2f}x "
        f"(goal >= 0.5x); batch of {args.batch_size}: {batch_rate:,.0f} messages/s "
        "(goal >= 50,000)"
    )
    # The steadier figures on a shared machine: server CPU, not wall time.
    print(
        f"Server CPU per request, API / hello-world: single "
        f"{api_single.cpu_per_request / hello_single.cpu_per_request:.2f}x; "
        f"batch: {api_batch.cpu * 1e6 / api_batch.messages:.0f} us of server CPU a message"
    )


if __name__ == "__main__":
    main()
