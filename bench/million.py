"""Every page, and the sweeper, on a database of a million sessions, each figure
beside its floor in the same run.

    .venv/bin/python bench/million.py                              # SQLite, 1,000,000 sessions
    .venv/bin/python bench/million.py --sessions 300000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/bench_million

1. Builds the database once with ``sessionboard demo --sessions N`` (reused while
   it exists; ~7 GB for a million on SQLite), then ``sessionboard db upgrade``
   (the migrations since, with their backfills), folds the rollups' change rows
   (on PostgreSQL then ``VACUUM (ANALYZE)``, what autovacuum does on a server),
   and adds one session of 50,000 messages, whose HTML it renders once (what a
   served app's renderer does as messages are appended).
2. Serves it with ``sessionboard serve`` (gunicorn gthread, 2 workers x 4 threads,
   access log on), and beside it a plain Flask app under the same gunicorn
   settings with a page per list page of the benchmark that runs the same keyset
   query (the read model's call) and renders its 50 rows as a bare table: each
   list page's floor (``/floor/list``, the list's first page, is the floor of the
   other pages: /stats, the inbox, a session, the poll). The sweeper's and the
   renderer's leases are held by the benchmark while pages are measured, so no
   pass runs under them (the demo's bulk load leaves every message unrendered:
   a backlog no served app has).
3. Logs in, and loads each page with N client threads on keep-alive connections:
   p50, p99, requests/s, beside its floor page's (loaded right before it) and
   the raw SQL time of the query behind it (the read model's call, in this
   process); with ``--paired`` the list's floor is loaded again before each of
   the other pages too (on a shared machine the speed drifts within a run; the page's
   cookie is the one a browser holds after its first page, CSRF token included,
   so no request signs a new one); with ``--alternate N`` each page and its floor
   are loaded in N turns each, alternated (their order flipped every turn), and
   the ratio is of their sums: a drift of the machine's speed within a page's
   minute falls on both. Then the first byte
   of the 50,000-message session alone, and every worker's RSS (and peak).
4. The sweeper, in this process: expiring 100,000 sessions (added for it, removed
   after; the rollups' change rows of their insertion folded first) while a
   writer appends one message at a time beside it (its longest wait), beside
   two floors of the same run: the writer alone for 3 s before, and the same
   status changes in the same number of writes on a bare table (id, status, one
   index); and
   purging a backlog (old messages in 20,000 unkept sessions, among the demo's
   kept old messages): each slice's read and write time.

Not a test: it prints markdown tables. The clients share the machine's cores
with the servers, for both apps alike, so compare figures of one run.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from api_throughput import free_port  # noqa: E402  (bench/ is on the path)

BIN = Path(sys.executable).parent
BIG_SESSION = "bench-50000-messages"
#: The password of the user ``bench`` the benchmark logs in as (created on its database).
BENCH_PASSWORD = "a throwaway password, long enough"  # noqa: S105  (a throwaway user)
BIG_MESSAGES = 50_000
PAGE_SIZE = 50


# -- the floor: a plain Flask page running the list's keyset query ------------------


def list_calls(queries: Any, deep: str, day: datetime) -> dict[str, Callable[[], Any]]:
    """The read model's call behind each list page the benchmark loads, by name:
    the page's keyset query, which its floor runs too. ``deep``: the cursor of
    the deep page; ``day``: the day of the creation-day filters."""
    from sqlalchemy import Table, select

    from webapp.review.models import Tag, Verdict
    from webapp.sessions.queries import IdSet, Keyset, SessionFilter, Sort, day_range

    verdicts, tags = cast(Table, Verdict.__table__), cast(Table, Tag.__table__)
    reviewed = {
        "verdict": IdSet(select(verdicts.c.session_id).where(verdicts.c.verdict == "approved")),
        "reviewer": IdSet(select(verdicts.c.session_id).where(verdicts.c.by == "bench")),
        "tag": IdSet(select(tags.c.session_id).where(tags.c.name == "bench")),
    }
    created_from, created_before = day_range(day, day)
    created = SessionFilter(created_from=created_from, created_before=created_before)
    top = SessionFilter(top_level=True)
    keyset = Keyset.decode(deep)

    def listed(where: Any, **options: Any) -> Callable[[], Any]:
        return lambda: queries.list_sessions(where, limit=PAGE_SIZE, **options)

    calls = {
        "list": listed(top),
        "deep": listed(top, older=keyset),
        "status": listed(SessionFilter(statuses=("failed",))),
        "day": listed(created),
        "context": listed(SessionFilter(context_key="model", context_value="claude-opus-4-1")),
        "model": listed(SessionFilter(model="claude-haiku-4-5", top_level=True)),
        "project": listed(SessionFilter(project="/home/dev/src/payments-api", top_level=True)),
        "text": listed(SessionFilter(text="nowhere-xyzzy", top_level=True)),
        "duration": listed(top, sort=Sort.DURATION),
        "cost": listed(top, sort=Sort.COST),
        "subagents": listed(SessionFilter()),
        "nomatch": listed(SessionFilter(context_key="project_path", context_value="/nowhere")),
        "two": listed(SessionFilter(statuses=("completed", "failed")), sort=Sort.CREATED),
        "day by created": listed(created, sort=Sort.CREATED),
    }
    for name, ids in reviewed.items():
        calls[name] = listed(SessionFilter(within=(ids,)))
    return calls


def make_floor_app() -> Any:
    """Flask, one page per list page of the benchmark: the same keyset query
    through the read model (:func:`list_calls`, the deep cursor and the day from
    the environment), its rows rendered as a bare table. No login, no nav, no
    macros. ``/floor/list`` is the list's first page."""
    from flask import Flask, abort, render_template_string

    from webapp.sessions.queries import ReadModel
    from webapp.sessions.store import MessageStore

    app = Flask("floor")
    queries = ReadModel(MessageStore(os.environ["SESSIONBOARD_DATABASE_URL"], migrate=False))
    day = datetime.fromisoformat(os.environ["BENCH_FLOOR_DAY"])
    calls = list_calls(queries, os.environ["BENCH_FLOOR_DEEP"], day)
    page = (
        "<table>{% for s in rows %}<tr><td><a href='/sessions/{{ s.id }}'>{{ s.id }}</a>"
        "<td>{{ s.status }}<td>{{ s.request_excerpt }}<td>{{ s.last_activity }}"
        "<td>{{ s.message_count }}</tr>{% endfor %}</table>"
    )

    @app.get("/floor/<call>")
    def sessions(call: str) -> str:
        if call not in calls:
            abort(404)
        return render_template_string(page, rows=calls[call]().rows)

    return app


# -- servers -------------------------------------------------------------------------


def start_server(command: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Run ``command`` in its own process group and wait until ``port`` answers."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"{command[:3]} exited") from None
            time.sleep(0.1)
    raise SystemExit(f"{command[:3]} did not start")


class Server:
    """A command serving HTTP on a port, in its own process group."""

    def __init__(self, command: list[str], port: int, env: dict[str, str]) -> None:
        self.port = port
        self.process = start_server(command, port, env)

    def workers(self) -> list[int]:
        """The gunicorn workers: the children of the master (our child)."""
        tasks = Path(f"/proc/{self.process.pid}/task")
        children: list[int] = []
        for task in tasks.iterdir():
            text = (task / "children").read_text().split()
            children.extend(int(pid) for pid in text)
        return children

    def stop(self) -> None:
        """SIGTERM the whole group and wait."""
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


def memory(pid: int) -> tuple[float, float]:
    """RSS and its peak (VmHWM) of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


# -- the client load -----------------------------------------------------------------


@dataclass
class Load:
    """What one page answered under load."""

    requests: int
    seconds: float
    latencies: list[float]
    statuses: set[int] = field(default_factory=set)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: int) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


def combined(loads: list[Load]) -> Load:
    """Several loads of one page as one: their requests over their seconds."""
    return Load(
        sum(one.requests for one in loads),
        sum(one.seconds for one in loads),
        [latency for one in loads for latency in one.latencies],
        set().union(*(one.statuses for one in loads)),
    )


def load(port: int, path: str, cookie: str, *, clients: int, requests: int, cap: float) -> Load:
    """``requests`` GETs of ``path`` from ``clients`` keep-alive threads (each stops
    after ``cap`` seconds), timed together."""
    per_client = max(requests // clients, 1)
    latencies: list[float] = []
    statuses: set[int] = set()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        start.wait()
        began = time.perf_counter()
        for _ in range(per_client):
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookie})
            answer = conn.getresponse()
            answer.read()
            mine.append(time.perf_counter() - t0)
            with lock:
                statuses.add(answer.status)
            if time.perf_counter() - began > cap:
                break
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return Load(len(latencies), time.perf_counter() - began, latencies, statuses)


def first_byte(port: int, path: str, cookie: str, repeat: int = 5) -> tuple[float, int]:
    """Median time to the first byte of ``path`` alone (new connection each), and
    the body's size."""
    times, size = [], 0
    for _ in range(repeat):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        answer = conn.getresponse()
        answer.fp.peek(1)
        times.append(time.perf_counter() - t0)
        size = len(answer.read())
        conn.close()
    return statistics.median(times) * 1000, size


def log_in(port: int, name: str, password: str) -> str:
    """The session cookie of a login through the form (CSRF token included)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/login")
    answer = conn.getresponse()
    form = answer.read().decode()
    cookie = answer.getheader("Set-Cookie", "").split(";", 1)[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if token is None:
        raise SystemExit("no CSRF token on the login page")
    body = urlencode({"csrf_token": token.group(1), "name": name, "password": password})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    conn.request("POST", "/login", body, headers)
    answer = conn.getresponse()
    answer.read()
    if answer.status != 302:
        raise SystemExit(f"login failed: {answer.status}")
    cookie = answer.getheader("Set-Cookie", "").split(";", 1)[0]
    # The first page after a login puts a new CSRF token in the session and sends
    # the cookie again; a browser keeps it. Without this, every measured request
    # made a token and signed a new cookie, which no browser's request does.
    conn.request("GET", "/sessions", headers={"Cookie": cookie})
    answer = conn.getresponse()
    answer.read()
    return answer.getheader("Set-Cookie", cookie).split(";", 1)[0]


def timed(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Median milliseconds of ``fn()``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


# -- the database --------------------------------------------------------------------


def sessionboard(env: dict[str, str], *args: str) -> None:
    """Run a ``sessionboard`` command with the benchmark's settings."""
    subprocess.run([str(BIN / "sessionboard"), *args], check=True, env=env, cwd=ROOT)


def build(env: dict[str, str], sessions: int, store: Any) -> float:
    """Make the demo database unless it has sessions; then apply the migrations.
    Returns the seconds ``db upgrade`` took (its backfills, on a first run)."""
    sessionboard(env, "db", "upgrade")
    if not store.count_by_status():
        sessionboard(env, "demo", "--sessions", str(sessions))
    t0 = time.perf_counter()
    sessionboard(env, "db", "upgrade")
    took = time.perf_counter() - t0
    if store.dialect == "postgresql":
        # The demo's bulk load leaves the planner's statistics behind until
        # autovacuum catches up (it guessed 861 top-level sessions of 155,000 and
        # sorted them all): measure with the statistics a running server has.
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return took


def add_big_session(manager: Any) -> None:
    """One session of :data:`BIG_MESSAGES` messages (once)."""
    from sqlalchemy import update

    from webapp.sessions.store import messages_t, sessions_t
    from webapp.sessions.types import Session, Status

    store = manager.store
    if store.get_session(BIG_SESSION) is not None:
        return
    start = datetime.now(UTC) - timedelta(hours=2)
    store.create_session(
        Session(
            id=BIG_SESSION,
            status=Status.COMPLETED,
            request="A long session: 50,000 messages",
            created_at=start,
            last_activity=start + timedelta(seconds=BIG_MESSAGES),
            expires_at=None,
            context={"project_path": "/src/bench", "model": "claude-sonnet-4-5"},
        )
    )
    rows: list[dict[str, Any]] = [
        {
            "session_id": BIG_SESSION,
            "role": "assistant" if i % 2 else "user",
            "content": f"Message {i}: " + "the quick brown fox jumps over the lazy dog. " * 6,
            "summary": "",
            "timestamp": start + timedelta(seconds=i),
            "meta": {"i": i},
            "source_key": None,
        }
        for i in range(BIG_MESSAGES)
    ]
    with store.write() as conn:
        store.bulk_insert(conn, messages_t, store.bulk_rows(rows))
        conn.execute(
            update(sessions_t)
            .where(sessions_t.c.id == BIG_SESSION)
            .values(message_count=BIG_MESSAGES)
        )


def render_big_session(store: Any) -> int:
    """Render and store the HTML of the long session's messages that have none,
    as a served app's renderer does once for each message appended (the
    benchmark holds the renderer's lease, and adds the session in bulk); returns
    how many. Without it every request of the session page rendered its window
    of messages again."""
    from sqlalchemy import func, select

    from webapp.prerender import Prerenderer
    from webapp.sessions.store import messages_t

    with store.read() as conn:
        first = conn.execute(
            select(func.min(messages_t.c.id)).where(messages_t.c.session_id == BIG_SESSION)
        ).scalar()
    renderer = Prerenderer(store)
    renderer.after = int(first or 1) - 1
    return renderer.run_pass().rendered


def deep_cursor(store: Any, depth: int) -> str:
    """The list's keyset position ``depth`` rows down (activity order)."""
    from sqlalchemy import select

    from webapp.sessions.queries import Keyset
    from webapp.sessions.store import sessions_t

    c = sessions_t.c
    query = (
        select(c.last_activity, c.id)
        .order_by(c.last_activity.desc(), c.id.desc())
        .offset(depth)
        .limit(1)
    )
    with store.read() as conn:
        at, sid = conn.execute(query).one()
    return Keyset(at, sid).encode()


# -- the sweeper ---------------------------------------------------------------------


class Stopwatch:
    """Times every read and write transaction of a store while it is installed."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.reads: list[float] = []
        self.writes: list[float] = []

    @contextmanager
    def installed(self) -> Iterator[Stopwatch]:
        store = self.store
        store.read = _timed(store.read, self.reads)
        store.write = _timed(store.write, self.writes)
        try:
            yield self
        finally:
            del store.read, store.write


def _timed(transaction: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    """``transaction`` (a store's ``read`` or ``write``), appending how long each
    block took to ``into``."""

    @contextmanager
    def timed(**options: Any) -> Iterator[Any]:
        t0 = time.perf_counter()
        with transaction(**options) as conn:
            yield conn
        into.append(time.perf_counter() - t0)

    return timed


class Writer:
    """A writer appending one message at a time to its own session, beside a sweep,
    through its own store (so the sweep's stopwatch times only the sweep): the
    longest any append waited."""

    def __init__(self, sweeping: Any) -> None:
        from webapp.sessions import Config, Manager, MessageStore

        url = sweeping.store.engine.url.render_as_string(hide_password=False)
        store = MessageStore(url, migrate=False)
        manager = Manager(Config(), store)
        self.manager = manager
        self.session = manager.create("bench writer", {}, expires_at=None).id
        manager.set_running(self.session)
        self.waits: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        from webapp.sessions.types import Message

        while not self._stop.is_set():
            t0 = time.perf_counter()
            self.manager.append_message(self.session, Message("user", "still here"))
            self.waits.append(time.perf_counter() - t0)
            time.sleep(0.005)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.manager.store.delete_session(self.session)
        self.manager.stop()


def bench_expiry(manager: Any, count: int) -> dict[str, float]:
    """Expire ``count`` sessions added for it (then removed), a writer beside."""
    from sqlalchemy import delete

    from webapp.sessions.store import sessions_t

    store = manager.store
    now = datetime.now(UTC)
    prefix = f"bench-expire-{uuid.uuid4().hex[:8]}-"
    rows: list[dict[str, Any]] = [
        {
            "id": f"{prefix}{i:07d}",
            "status": "running",
            "request": "expire me",
            "request_excerpt": "expire me",
            "response": "",
            "error": "",
            "created_at": now - timedelta(hours=1),
            "last_activity": now - timedelta(minutes=50),
            "expires_at": now - timedelta(minutes=30),
            "context": {},
            "message_count": 0,
            "keep": False,
            "parent_id": None,
        }
        for i in range(count)
    ]
    for first in range(0, count, 10_000):
        with store.write() as conn:
            store.bulk_insert(conn, sessions_t, store.bulk_rows(rows[first : first + 10_000]))
    # The bulk insert left a change row per session for the rollups (on SQLite),
    # which sessions created one by one would have had folded by the passes that
    # ran meanwhile: fold them before the measured expiry, and show how long.
    t0 = time.perf_counter()
    store.fold_rollups()
    setup_fold = time.perf_counter() - t0
    # The floor: the same writer, alone, for a few seconds just before.
    with Writer(manager) as alone:
        time.sleep(3)
    watch = Stopwatch(store)
    with Writer(manager) as writer, watch.installed():
        t0 = time.perf_counter()
        expired = store.expire_due(now, batch_size=manager.config.sweep_batch_size)
        elapsed = time.perf_counter() - t0
    for first in range(0, count, 5000):
        ids = [r["id"] for r in rows[first : first + 5000]]
        with store.write() as conn:
            conn.execute(delete(sessions_t).where(sessions_t.c.id.in_(ids)))
    floor = expiry_floor(store, [r["id"] for r in rows], max(len(watch.writes), 1))
    return {
        "expired": expired,
        "seconds": elapsed,
        "lock seconds": sum(watch.writes),
        "lock s per 100,000": sum(watch.writes) / max(expired, 1) * 100_000,
        "longest write ms": max(watch.writes, default=0) * 1000,
        "writes": len(watch.writes),
        "writer max wait ms": max(writer.waits, default=0) * 1000,
        "writer p99 wait ms": _p99(writer.waits) * 1000,
        "writer appends": len(writer.waits),
        "floor: lock s of a bare status table": floor,
        "floor: writer alone max ms": max(alone.waits, default=0) * 1000,
        "floor: writer alone p99 ms": _p99(alone.waits) * 1000,
        "fold of the insert's change rows before it, s": setup_fold,
    }


def expiry_floor(store: Any, ids: list[str], writes: int) -> float:
    """The floor of an expiry: the seconds of ``writes`` writes that change the
    status of ``ids`` in a bare table (the id, the status, one index on both), in
    the same database; the table is dropped after."""
    from sqlalchemy import bindparam, text

    table = "bench_expiry_floor"
    with store.write() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(text(f"CREATE TABLE {table} (id VARCHAR(64) PRIMARY KEY, status VARCHAR(16))"))
        conn.execute(text(f"CREATE INDEX ix_{table} ON {table} (status, id)"))
        for first in range(0, len(ids), 10_000):
            rows = [{"id": i, "status": "running"} for i in ids[first : first + 10_000]]
            conn.execute(text(f"INSERT INTO {table} (id, status) VALUES (:id, :status)"), rows)  # noqa: S608
    size, took = -(-len(ids) // writes), 0.0
    update = text(f"UPDATE {table} SET status = 'expired' WHERE id IN :ids").bindparams(  # noqa: S608
        bindparam("ids", expanding=True)
    )
    for first in range(0, len(ids), size):
        t0 = time.perf_counter()
        with store.write(durable=False) as conn:
            conn.execute(update, {"ids": ids[first : first + size]})
        took += time.perf_counter() - t0
    with store.write() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    return took


def _p99(values: list[float]) -> float:
    """The 99th percentile (the largest of fewer than 100 values)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)] if ordered else 0.0


def bench_purge(manager: Any, sessions: int, per_session: int) -> dict[str, float]:
    """A sweep pass with a backlog of old messages in ``sessions`` unkept sessions
    (added for it, then purged) among the demo's kept old messages, a writer beside."""
    from sqlalchemy import delete

    from webapp.sessions.store import messages_t, sessions_t

    store = manager.store
    now = datetime.now(UTC)
    cutoff = now - manager.config.message_retention
    old = cutoff - timedelta(days=2)
    prefix = f"bench-purge-{uuid.uuid4().hex[:8]}-"
    for first in range(0, sessions, 2000):
        session_rows: list[dict[str, Any]] = []
        message_rows: list[dict[str, Any]] = []
        for i in range(first, min(first + 2000, sessions)):
            sid = f"{prefix}{i:07d}"
            session_rows.append(
                {
                    "id": sid,
                    "status": "completed",
                    "request": "old",
                    "request_excerpt": "old",
                    "response": "",
                    "error": "",
                    "created_at": old,
                    "last_activity": now,
                    "expires_at": None,
                    "context": {},
                    "message_count": per_session,
                    "keep": False,
                    "parent_id": None,
                }  # fmt: skip
            )
            message_rows.extend(
                {
                    "session_id": sid,
                    "role": "user",
                    "content": "old message",
                    "summary": "",
                    "timestamp": old + timedelta(seconds=i * per_session + j),
                    "meta": None,
                    "source_key": None,
                }  # fmt: skip
                for j in range(per_session)
            )
        with store.write() as conn:
            store.bulk_insert(conn, sessions_t, store.bulk_rows(session_rows))
            store.bulk_insert(conn, messages_t, store.bulk_rows(message_rows))
    figures = sweep_pass(manager)
    for first in range(0, sessions, 5000):
        ids = [f"{prefix}{i:07d}" for i in range(first, min(first + 5000, sessions))]
        with store.write() as conn:
            conn.execute(delete(sessions_t).where(sessions_t.c.id.in_(ids)))
    return figures


def sweep_pass(manager: Any) -> dict[str, float]:
    """One recorded sweep pass (expiry, both purges, the fold), a writer beside."""
    watch = Stopwatch(manager.store)
    with Writer(manager) as writer, watch.installed():
        t0 = time.perf_counter()
        result = manager.sweep_and_record(trigger="bench")
        elapsed = time.perf_counter() - t0
    return {
        "purged messages": result.purged_messages,
        "purged sessions": result.purged_sessions,
        "seconds": elapsed,
        "lock seconds": sum(watch.writes),
        "writes": len(watch.writes),
        "longest write ms": max(watch.writes, default=0) * 1000,
        "reads": len(watch.reads),
        "longest read ms": max(watch.reads, default=0) * 1000,
        "median read ms": statistics.median(watch.reads or [0]) * 1000,
        "writer max wait ms": max(writer.waits, default=0) * 1000,
        "writer appends": len(writer.waits),
    }


# -- main ----------------------------------------------------------------------------


def main() -> None:
    """Build, serve, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a SQLite file in --dir")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/sessionboard-million"))  # noqa: S108
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--requests", type=int, default=400, help="requests per page")
    parser.add_argument("--cap", type=float, default=20.0, help="seconds per page at most")
    parser.add_argument("--expire", type=int, default=100_000, help="sessions to expire")
    parser.add_argument("--purge-sessions", type=int, default=20_000)
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument(
        "--sweeps",
        default="first,expire,backlog",
        help="which sweeper runs, comma-separated: first (a pass), expire, backlog",
    )
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--only", default="", help="measure the pages whose name matches")
    parser.add_argument(
        "--read-model", action="store_true", help="time the read model's calls only (no server)"
    )
    parser.add_argument(
        "--paired",
        action="store_true",
        help="load the floor again right before each page and give the page's ratio to that"
        " (a shared machine's speed drifts within a run)",
    )
    parser.add_argument(
        "--alternate",
        type=int,
        default=0,
        metavar="N",
        help="load each page and its floor in N alternated turns of a share of the requests"
        " each, their order flipped every turn (a drift of the machine's speed falls on both)",
    )
    args = parser.parse_args()

    from webapp.sessions import Config, Manager, MessageStore
    from webapp.sessions.queries import ReadModel

    args.dir.mkdir(parents=True, exist_ok=True)
    url = args.database_url or str(args.dir / f"sqlite-{args.sessions}.db")
    env = {
        **os.environ,
        "SESSIONBOARD_DATABASE_URL": url,
        "SESSIONBOARD_INSTANCE_PATH": str(args.dir),
        "SESSIONBOARD_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    store = MessageStore(url, migrate=False) if Path(url).exists() or "://" in url else None
    if store is None:
        sessionboard(env, "db", "upgrade")
        store = MessageStore(url, migrate=False)
    upgrade_seconds = build(env, args.sessions, store)
    store.fold_rollups()  # what a sweep does: the demo's bulk load left change rows
    if store.dialect == "postgresql":
        # The fold deleted a change row per session, and the demo's updates left dead
        # rows in ``sessions``: autovacuum clears them on a running server (0009 sets
        # the rollups' thresholds to 1,000 rows), but it may be off on a test server
        # (the status counters read 2,312 pages for 7 rows). Measure what a server has.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
    manager = Manager(Config(), store)
    add_big_session(manager)
    queries = ReadModel(store)
    counts = queries.count_by_status()
    total = sum(counts.values())
    print(
        f"\n{total:,} sessions ({store.dialect}); `db upgrade` took {upgrade_seconds:.1f} s; "
        f"gunicorn gthread 2 workers x 4 threads; {args.clients} clients; "
        f"{os.cpu_count()} CPUs\n",
        flush=True,
    )

    if not args.skip_pages:
        measure_pages(args, env, manager, queries)
    if not args.skip_sweep:
        print("\n| sweeper | figure |\n|---|---|")
        first = not store.purge_log(limit=1)
        runs: list[tuple[str, Callable[[], dict[str, float]]]] = [
            (
                "first sweep of the database" if first else "a sweep pass",
                lambda: sweep_pass(manager),
            ),
            (f"expire {args.expire:,} sessions", lambda: bench_expiry(manager, args.expire)),
            (
                f"sweep pass, backlog of {args.purge_sessions:,} unkept sessions x 10 old messages",
                lambda: bench_purge(manager, args.purge_sessions, 10),
            ),
        ]
        wanted = args.sweeps.split(",")
        runs = [
            r for r, key in zip(runs, ("first", "expire", "backlog"), strict=True) if key in wanted
        ]
        for name, run in runs:
            figures = run()
            shown = ", ".join(
                f"{k} {v:,.1f}" if isinstance(v, float) else f"{k} {v:,}"
                for k, v in figures.items()
            )
            print(f"| {name} | {shown} |", flush=True)
    store.close()


def measure_pages(
    args: argparse.Namespace,
    env: dict[str, str],
    manager: Any,
    queries: Any,
) -> None:
    """Serve the app and the floor; load every page beside its floor (a list
    page's: a plain page of the same keyset query; the others': the list's
    first page); print the table and the RSS."""
    from sqlalchemy import Table, select

    from webapp.accounts import service
    from webapp.prerender import LEASE as RENDERER
    from webapp.review.models import Verdict
    from webapp.sessions.queries import IdSet, day_range

    verdicts = cast(Table, Verdict.__table__)

    store = manager.store
    from webapp import create_app

    app = create_app({"DATABASE_URL": env["SESSIONBOARD_DATABASE_URL"]})
    with app.app_context():
        if service.get_user_by_name("bench") is None:
            service.create_user("bench", "admin", BENCH_PASSWORD, actor="bench")
    app.extensions["sessionboard.manager"].stop()
    # Hold the sweeper's lease for the run: no pass under the measured pages. And
    # the renderer's: a demo's bulk load leaves every message to render (millions),
    # which one worker would render in the background through the whole run (a
    # served app renders each message once, as it is appended).
    leases = ("sweeper", RENDERER)
    for lease in leases:
        store.claim_sweep(
            "bench",
            now=datetime.now(UTC),
            interval=timedelta(hours=1),
            lease_ttl=timedelta(hours=2),
            name=lease,
        )
    render_big_session(store)
    deep = deep_cursor(store, min(500_000, store_total(queries) // 2))
    day = datetime.now(UTC) - timedelta(days=10)
    created_from, _created_before = day_range(day, day)
    big = manager.get(BIG_SESSION)
    lists = list_calls(queries, deep, day)
    raw: dict[str, Callable[[], Any]] = {
        **lists,
        "poll": lambda: queries.live_state(BIG_SESSION),
        "counts": queries.count_by_status,
        "stats": lambda: (
            queries.sessions_per_day(created_from),
            queries.histogram("duration", created_from),
            queries.histogram("messages", created_from),
            queries.top_errors(created_from),
        ),
        "inbox": lambda: queries.inbox((IdSet(select(verdicts.c.session_id), negate=True),)),
        "window": lambda: queries.transcript_window(BIG_SESSION),
    }
    iso = day.date().isoformat()
    pages = [
        ("/sessions (first page)", "/sessions", "list"),
        ("/sessions deep (500,000 down)", f"/sessions?older={quote(deep)}", "deep"),
        ("status=failed", "/sessions?status=failed", "status"),
        ("status=completed+failed, sort=created", "/sessions?status=completed&status=failed"
         "&sort=created", "two"),
        (f"created on {iso}", f"/sessions?from={iso}&to={iso}", "day"),
        (f"created on {iso}, sort=created", f"/sessions?from={iso}&to={iso}&sort=created",
         "day by created"),
        ("context model=claude-opus-4-1", "/sessions?context=model%3Dclaude-opus-4-1", "context"),
        ("context project_path, no match", "/sessions?context=project_path%3D%2Fnowhere",
         "nomatch"),
        ("model=claude-haiku-4-5", "/sessions?model=claude-haiku-4-5", "model"),
        ("project=/home/dev/src/payments-api",
         "/sessions?project=%2Fhome%2Fdev%2Fsrc%2Fpayments-api", "project"),
        ("search q, no match", "/sessions?q=nowhere-xyzzy", "text"),
        ("sort=duration", "/sessions?sort=duration", "duration"),
        ("sort=cost", "/sessions?sort=cost", "cost"),
        ("subagents=1", "/sessions?subagents=1", "subagents"),
        ("verdict=approved", "/sessions?verdict=approved", "verdict"),
        ("reviewer=bench", "/sessions?reviewer=bench", "reviewer"),
        ("tag=bench", "/sessions?tag=bench", "tag"),
        ("/stats", "/stats", "stats"),
        ("/review (inbox)", "/review", "inbox"),
        (f"session of {big.message_count:,} messages", f"/sessions/{BIG_SESSION}", "window"),
        ("live poll, idle", f"/sessions/{BIG_SESSION}/poll?after=999999999999"
         f"&at={quote(big.last_activity.isoformat())}&count={big.message_count}", "poll"),
    ]  # fmt: skip
    pages = [p for p in pages if re.search(args.only, p[0])]
    if args.read_model:
        print("| page | read model ms |\n|---|---:|")
        for name, _path, call in pages:
            print(f"| {name} | {timed(raw[call]):.2f} |", flush=True)
        print(f"| nav counts | {timed(raw['counts']):.2f} |")
        for lease in leases:
            store.release_lease("bench", name=lease)
        return
    port, floor_port = free_port(), free_port()
    real = Server([str(BIN / "sessionboard"), "serve", "--port", str(port)], port, env)
    floor_env = {**env, "BENCH_FLOOR_DEEP": deep, "BENCH_FLOOR_DAY": day.isoformat()}
    floor = Server(
        [
            str(BIN / "gunicorn"), "million:make_floor_app()", "--bind", f"127.0.0.1:{floor_port}",
            "--workers", "2", "--threads", "4", "--worker-class", "gthread",
            "--pythonpath", str(ROOT / "bench"), "--access-logfile", "-",
        ],
        floor_port,
        floor_env,
    )  # fmt: skip
    try:
        cookie = log_in(port, "bench", BENCH_PASSWORD)
        options = {"clients": args.clients, "requests": args.requests, "cap": args.cap}
        for server, path in ((floor.port, "/floor/list"), (port, "/sessions")):
            load(server, path, cookie, clients=args.clients, requests=args.clients * 4, cap=5)

        def load_floor(path: str, **given: Any) -> Load:
            """The floor page at ``path``, loaded as the pages are; every answer a 200."""
            loaded = load(floor.port, path, cookie, **(given or options))
            if loaded.statuses != {200}:
                raise SystemExit(f"the floor's {path} answered {sorted(loaded.statuses)}")
            return loaded

        def alternated(path: str, floor_path: str) -> tuple[Load, Load]:
            """The page and its floor in ``--alternate`` turns each (their order
            flipped every turn), each turn a share of the requests and the cap."""
            turns = args.alternate
            share = {
                "clients": args.clients,
                "requests": max(args.requests // turns, args.clients),
                "cap": args.cap / turns,
            }
            pages: list[Load] = []
            floors: list[Load] = []
            for turn in range(turns):
                for which in ("floor", "page") if turn % 2 == 0 else ("page", "floor"):
                    if which == "floor":
                        floors.append(load_floor(floor_path, **share))
                    else:
                        pages.append(load(port, path, cookie, **share))
            return combined(pages), combined(floors)

        floor_load = load_floor("/floor/list")
        floor_sql = timed(raw["list"])
        print("| page | status | p50 ms | p99 ms | req/s | x floor req/s | read model ms |")
        print("|---|---|---:|---:|---:|---:|---:|")
        print(
            f"| floor: plain Flask, the list's keyset query | 200 | "
            f"{floor_load.percentile(50):.1f} | {floor_load.percentile(99):.1f} | "
            f"{floor_load.rate:,.0f} | 1.00 | {floor_sql:.2f} |",
            flush=True,
        )
        loaded = "/floor/list"
        for name, path, call in pages:
            # A list page's floor runs its own query; the others' is the list's.
            floor_path = f"/floor/{quote(call if call in lists else 'list')}"
            if args.alternate:
                result, floor_load = alternated(path, floor_path)
                loaded = floor_path
            else:
                if args.paired or floor_path != loaded:
                    floor_load = load_floor(floor_path)
                    loaded = floor_path
                result = load(port, path, cookie, **options)
            sql = f"{timed(raw[call]):.2f}" if call else ""
            print(
                f"| {name} | {','.join(map(str, sorted(result.statuses)))} | "
                f"{result.percentile(50):.1f} | {result.percentile(99):.1f} | "
                f"{result.rate:,.0f} | {result.rate / floor_load.rate:.2f} "
                f"(floor {floor_load.rate:,.0f}, p99 {floor_load.percentile(99):.1f}) | {sql} |",
                flush=True,
            )
        print(f"\nnav counts (read model): {timed(raw['counts']):.2f} ms")
        ttfb, size = first_byte(port, f"/sessions/{BIG_SESSION}", cookie)
        print(f"session of {BIG_MESSAGES:,} messages alone: first byte {ttfb:.1f} ms, {size:,} B")
        for pid in real.workers():
            rss, peak = memory(pid)
            print(f"worker {pid}: RSS {rss:.0f} MB (peak {peak:.0f} MB)")
    finally:
        real.stop()
        floor.stop()
        for lease in leases:
            store.release_lease("bench", name=lease)


def store_total(queries: Any) -> int:
    """How many sessions there are."""
    return int(sum(queries.count_by_status().values()))


if __name__ == "__main__":
    main()
