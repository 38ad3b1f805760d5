"""Fixtures of the webhook tests: a real HTTP receiver in a thread, webhooks and
dispatchers on the test's app."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from webapp.webhooks.delivery import Dispatcher, DispatchSettings

BASE = "http://sessionboard.test/"


@dataclass
class Received:
    """One POST the receiver got."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local webhook receiver: answers each POST with the next of ``statuses``
    (200 when none is left); with ``hold`` set, it waits for ``release`` first."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    hold: bool = False
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event_ids(self) -> list[str]:
        """The event id of every POST, in order."""
        return [r.headers["Sessionboard-Event-Id"] for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (a real HTTP server in a thread)."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            me = state["r"]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if me.hold:
                me.entered.set()
                me.release.wait(30)
            with me.lock:
                me.received.append(Received(dict(self.headers.items()), body))
                status = me.statuses.popleft() if me.statuses else 200
            payload = b'{"ok": true}' if status < 300 else b"<b>down</b> for maintenance"
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["r"]
    state["r"].release.set()
    server.shutdown()
    server.server_close()


FAST = DispatchSettings(
    timeout=timedelta(seconds=10),
    max_attempts=3,
    retry_base=timedelta(seconds=10),
    poll_interval=timedelta(milliseconds=50),
    base_url="",
)


def make_dispatcher(app: Any, settings: DispatchSettings = FAST, **kw: Any) -> Dispatcher:
    """A dispatcher on ``app``'s database (not started)."""
    manager = app.extensions["sessionboard.manager"]
    return Dispatcher(app.extensions["sessionboard.database"], manager.get, settings, **kw)


def add_hook(app: Any, url: str, events: str = "failed,expired,flagged,assigned", **kw: Any) -> Any:
    """Add a webhook on ``app`` as ``test``; returns (info, secret)."""
    from webapp.webhooks import service

    with app.app_context():
        return service.add_webhook(url, events.split(","), base_url=BASE, actor="test", **kw)


def deliveries(app: Any) -> list[dict[str, Any]]:
    """The delivery log, oldest first."""
    from webapp.webhooks import service

    with app.app_context():
        return list(reversed(service.deliveries()))
