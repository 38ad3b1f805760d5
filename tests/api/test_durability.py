"""An acknowledged append is durable: gunicorn (2 workers) takes concurrent appends
with idempotency keys, is SIGKILLed as a whole process group mid-load (twice), and
started again. Every message that got a 2xx is then stored exactly once, retries
across the crash append nothing twice, and the database is consistent
(``PRAGMA integrity_check`` on SQLite)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import Request

import pytest
from sqlalchemy import func, select, text

from webapp.accounts.tokens import create_token
from webapp.client import SessionboardClient, message
from webapp.sessions.store import make_engine, messages_t, sessions_t

ROOT = Path(__file__).resolve().parents[2]
RUNNERS = 6
CALLS_PER_RUNNER = 40
BATCH = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """``gunicorn wsgi:app`` with 2 workers in its own process group."""

    def __init__(self, database_url: str, instance: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            "SESSIONBOARD_DATABASE_URL": database_url,
            "SESSIONBOARD_INSTANCE_PATH": str(instance),
            "SESSIONBOARD_SECRET_KEY": "durability-test",
            "SESSIONBOARD_LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "gunicorn", "wsgi:app",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", "2", "--worker-class", "gthread", "--threads", "4",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("gunicorn did not answer: " + self.log.read_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: no shutdown code runs."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class CountingClient(SessionboardClient):
    """Counts the tries cut off mid-request (reset, closed without an answer), as
    opposed to refused while the server was down."""

    cut_off = 0
    lock = threading.Lock()

    def _open(self, request: Request) -> tuple[int, Any, Any]:
        try:
            return super()._open(request)
        except OSError as exc:
            refused = isinstance(exc, URLError) and isinstance(exc.reason, ConnectionRefusedError)
            if not refused:
                with CountingClient.lock:
                    CountingClient.cut_off += 1
            raise


@pytest.mark.slow
def test_acknowledged_appends_survive_sigkill_of_the_server(
    server: Gunicorn, database_url: str
) -> None:
    CountingClient.cut_off = 0
    engine = make_engine(database_url)
    try:
        token = create_token(engine, "durability", "ingest")[1]
        setup = SessionboardClient(server.url, token)
        sessions = [
            setup.create_session(f"runner {r}", never_expires=True)["id"] for r in range(RUNNERS)
        ]
        acked: list[list[str]] = [[] for _ in range(RUNNERS)]
        errors: list[BaseException] = []
        progress = threading.Semaphore(0)

        def runner(r: int) -> None:
            board = CountingClient(server.url, token, retries=240, backoff=0.05, max_backoff=0.5)
            try:
                for call in range(CALLS_PER_RUNNER):
                    contents = [f"r{r}-c{call}-m{i}" for i in range(1 if call % 2 else BATCH)]
                    key = f"runner-{r}-call-{call}"
                    if len(contents) == 1:
                        appended = board.append(
                            sessions[r], "user", contents[0], idempotency_key=key
                        )
                    else:
                        batch = [message("assistant", c, meta={"call": call}) for c in contents]
                        appended = board.append_many(sessions[r], batch, idempotency_key=key)
                    assert appended == len(contents)
                    acked[r].extend(contents)
                    progress.release()
            except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
                errors.append(exc)
                progress.release()

        threads = [threading.Thread(target=runner, args=(r,), daemon=True) for r in range(RUNNERS)]
        deadline = time.monotonic() + 180
        for thread in threads:
            thread.start()
        for kill_after in (RUNNERS * CALLS_PER_RUNNER // 4, RUNNERS * CALLS_PER_RUNNER // 2):
            for _ in range(kill_after // 2):  # wait for this many more acknowledged calls
                remaining = deadline - time.monotonic()
                assert progress.acquire(timeout=max(remaining, 0)), "the runners stalled"
            server.kill()
            time.sleep(0.3)
            server.start()
        for thread in threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))
            assert not thread.is_alive(), "a runner did not finish in time"
        assert not errors, errors
        assert CountingClient.cut_off > 0, "the kills hit no request in flight"
        server.stop()

        with engine.connect() as conn:
            for r, sid in enumerate(sessions):
                stored = list(
                    conn.execute(
                        select(messages_t.c.content).where(messages_t.c.session_id == sid)
                    ).scalars()
                )
                expected = [
                    f"r{r}-c{call}-m{i}"
                    for call in range(CALLS_PER_RUNNER)
                    for i in range(1 if call % 2 else BATCH)
                ]
                assert sorted(acked[r]) == sorted(expected)
                assert sorted(stored) == sorted(expected), f"runner {r}: lost or doubled"
            counts = conn.execute(
                select(sessions_t.c.id, sessions_t.c.message_count, func.count(messages_t.c.id))
                .join(messages_t, messages_t.c.session_id == sessions_t.c.id, isouter=True)
                .group_by(sessions_t.c.id, sessions_t.c.message_count)
            ).all()
            assert all(kept == real for _, kept, real in counts), counts
            if engine.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    finally:
        engine.dispose()
