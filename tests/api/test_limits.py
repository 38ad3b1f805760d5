"""The API's bounds (Sessionboard issue 9): how big a batch may be, chunked bodies
over the limit, message timestamps too far ahead or already past retention, and
writes that cannot get the database's write lock in time (503, never 500)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.request import Request

import pytest
from werkzeug.serving import make_server

from tests.api.conftest import write_lock_held
from tests.api.test_errors import database_state
from tests.conftest import FakeClock
from webapp.accounts.tokens import create_token
from webapp.client import SessionboardClient


class Api:
    """A test client of one app with an ingest token, and a session to append to."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.manager = app.extensions["sessionboard.manager"]
        token = create_token(self.manager.store.engine, "runner", "ingest")[1]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.client = app.test_client()
        answer = self.client.post("/api/v1/sessions", json={}, headers=self.headers)
        assert answer.status_code == 201
        self.session_id = answer.get_json()["id"]

    def append(self, body: Any, **kwargs: Any) -> Any:
        """POST ``body`` to the session's messages."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        url = f"/api/v1/sessions/{self.session_id}/messages"
        return self.client.post(url, json=body, headers=headers, **kwargs)


def batch(count: int, content: str = "x", **fields: Any) -> dict[str, Any]:
    """A batch of ``count`` user messages."""
    return {"messages": [{"role": "user", "content": content, **fields} for _ in range(count)]}


def assert_error(response: Any, status: int, code: str, *words: str) -> str:
    """The answer is the API's JSON error with this status and code, and its message
    names every one of ``words``; return the message."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["code"] == code
    for word in words:
        assert word in error["message"], (word, error["message"])
    return str(error["message"])


# -- the size of a batch -------------------------------------------------------------


def test_a_batch_over_max_batch_messages_is_413_and_writes_nothing(
    make_app: Callable[..., Any],
) -> None:
    api = Api(make_app(MAX_BATCH_MESSAGES=3))
    before = database_state(api.app)
    assert_error(api.append(batch(4)), 413, "too_large", "3 messages", "MAX_BATCH_MESSAGES")
    assert database_state(api.app) == before
    assert api.append(batch(3)).get_json() == {"appended": 3}


def test_a_batch_over_max_batch_bytes_is_413_and_other_bodies_keep_their_limit(
    make_app: Callable[..., Any],
) -> None:
    api = Api(make_app(MAX_BATCH_BYTES=2048))
    before = database_state(api.app)
    for body in (batch(1, "x" * 3000), {"role": "user", "content": "x" * 3000}):
        assert_error(api.append(body), 413, "too_large", "2048 bytes", "MAX_BATCH_BYTES")
    assert database_state(api.app) == before
    assert api.append(batch(1, "x" * 1000)).status_code == 201
    created = api.client.post("/api/v1/sessions", json={"request": "x" * 3000}, headers=api.headers)
    assert created.status_code == 201


@pytest.mark.parametrize(
    ("route", "start"),
    [
        ("/api/v1/sessions", b'{"request": "'),
        ("/api/v1/sessions/{sid}/messages", b'{"role": "user", "content": "'),
    ],
)
def test_a_chunked_body_over_the_limit_is_413_not_400(
    make_app: Callable[..., Any], route: str, start: bytes
) -> None:
    """Transfer-Encoding: chunked has no Content-Length: the body is read up to the
    limit. gunicorn says it ends the stream (``wsgi.input_terminated``), as here."""
    api = Api(make_app(MAX_BODY_BYTES=2048))
    url = route.replace("{sid}", api.session_id)
    headers = {**api.headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    chunked = {"wsgi.input_terminated": True}
    before = database_state(api.app)
    for size in (2100, 50_000):
        body = start + b"x" * size + b'"}'
        answer = api.client.post(
            url, input_stream=io.BytesIO(body), headers=headers, environ_overrides=chunked
        )
        assert_error(answer, 413, "too_large", "2048 bytes")
    assert database_state(api.app) == before
    small = start + b"x" * 1000 + b'"}'
    answer = api.client.post(
        url, input_stream=io.BytesIO(small), headers=headers, environ_overrides=chunked
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)


# -- message timestamps --------------------------------------------------------------


@pytest.fixture
def timed_api(make_app: Callable[..., Any]) -> tuple[Api, FakeClock]:
    """An API whose Manager runs on a hand-moved clock, 30 days' retention, 5 min skew."""
    api = Api(make_app(MESSAGE_RETENTION="30d", CLOCK_SKEW="5m"))
    clock = FakeClock(api.manager.clock().replace(microsecond=0))
    api.manager.clock = clock
    return api, clock


def stamp(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


def test_a_timestamp_beyond_the_clock_skew_is_422_naming_the_field(
    timed_api: tuple[Api, FakeClock],
) -> None:
    api, clock = timed_api
    before = database_state(api.app)
    ahead = stamp(clock() + timedelta(minutes=6))
    body = {"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "later",
                                                            "timestamp": ahead}]}  # fmt: skip
    assert_error(api.append(body), 422, "invalid", "timestamp of messages[1]", "CLOCK_SKEW")
    year_3000 = {"role": "user", "content": "x", "timestamp": "3000-01-01T00:00:00Z"}
    assert_error(api.append(year_3000), 422, "invalid", "timestamp of the message")
    assert database_state(api.app) == before
    within = {"role": "user", "content": "x", "timestamp": stamp(clock() + timedelta(minutes=4))}
    assert api.append(within).status_code == 201


def test_a_timestamp_past_retention_is_422_unless_the_session_is_kept(
    timed_api: tuple[Api, FakeClock],
) -> None:
    api, clock = timed_api
    before = database_state(api.app)
    for old in ("1900-01-01T00:00:00Z", stamp(clock() - timedelta(days=30, seconds=1))):
        body = batch(2, timestamp=old)
        message = assert_error(api.append(body), 422, "invalid", "timestamp of messages[0]")
        assert "past retention (30 days)" in message and "purged at once" in message
    assert database_state(api.app) == before
    recent = {"role": "user", "content": "x", "timestamp": stamp(clock() - timedelta(days=29))}
    assert api.append(recent).status_code == 201
    api.manager.set_keep(api.session_id, True)  # a kept session is never purged
    assert api.append(batch(1, timestamp="1900-01-01T00:00:00Z")).status_code == 201


def test_without_retention_any_past_timestamp_is_taken(make_app: Callable[..., Any]) -> None:
    api = Api(make_app(MESSAGE_RETENTION="0"))
    assert api.append(batch(1, timestamp="1900-01-01T00:00:00Z")).status_code == 201


# -- the write lock ------------------------------------------------------------------


@pytest.fixture
def locked_app(make_app: Callable[..., Any]) -> Api:
    """An API whose writes wait 0.2 s for the write lock."""
    return Api(make_app(WRITE_LOCK_TIMEOUT="0.2s"))


def test_a_write_that_cannot_get_the_lock_is_503_busy_with_retry_after(
    locked_app: Api, database_url: str
) -> None:
    api = locked_app
    sid = api.session_id
    before = database_state(api.app)
    key = {"Idempotency-Key": "turn-1"}
    with write_lock_held(database_url):
        answers = [
            api.append(batch(2), headers=key),
            api.client.post("/api/v1/sessions", json={}, headers=api.headers),
            api.client.patch(f"/api/v1/sessions/{sid}", json={"status": "running"},
                             headers=api.headers),
        ]  # fmt: skip
        read = api.client.get(f"/api/v1/sessions/{sid}", headers=api.headers)
    for answer in answers:
        assert_error(answer, 503, "busy", "try again")
        assert answer.headers["Retry-After"].isdigit()
    assert read.status_code == 200  # reads do not wait for the write lock
    assert database_state(api.app) == before
    assert api.append(batch(2), headers=key).get_json() == {"appended": 2}


def test_a_browser_page_that_cannot_get_the_lock_is_the_503_page(
    locked_app: Api, database_url: str
) -> None:
    from tests.auth_helpers import AuthActions

    browser = AuthActions(locked_app.app, locked_app.app.test_client()).login("reviewer")
    with write_lock_held(database_url):
        answer = browser.post(f"/review/sessions/{locked_app.session_id}/keep", data={"keep": "1"})
    assert answer.status_code == 503 and answer.mimetype == "text/html"
    assert answer.headers["Retry-After"].isdigit()
    assert '<p class="error-code">503</p>' in answer.get_data(as_text=True)


class WatchedClient(SessionboardClient):
    """The client, with the tries it made and the waits it chose written down; the
    first 503 calls ``on_busy`` (which lets the lock go)."""

    def __init__(self, *args: Any, on_busy: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_busy = on_busy
        self.tries: list[tuple[int, str | None, str | None]] = []
        self.waits: list[float] = []

    def _open(self, request: Request) -> tuple[int, Any, Any]:
        status, payload, headers = super()._open(request)
        self.tries.append((status, request.get_header("Idempotency-key"),
                           headers.get("Retry-After")))  # fmt: skip
        if status == 503:
            self.on_busy()
        return status, payload, headers

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        self.waits.append(super()._delay(attempt, retry_after))
        return self.waits[-1]


@pytest.fixture
def served(locked_app: Api) -> Iterator[str]:
    """``locked_app`` served on a free port in a thread: its base URL."""
    httpd = make_server("127.0.0.1", 0, locked_app.app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_the_client_waits_as_retry_after_says_and_retries_with_the_same_key(
    locked_app: Api, served: str, database_url: str
) -> None:
    held, release, released = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with write_lock_held(database_url):
            held.set()
            release.wait()
        released.set()

    def let_go() -> None:
        release.set()
        released.wait()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait()
    token = locked_app.headers["Authorization"].removeprefix("Bearer ")
    board = WatchedClient(served, token, on_busy=let_go, max_backoff=0.5)
    assert board.append(locked_app.session_id, "user", "once", idempotency_key="k-1") == 1
    holder.join()
    statuses = [status for status, _key, _after in board.tries]
    assert statuses == [503, 201]
    assert {key for _status, key, _after in board.tries} == {"k-1"}
    retry_after = board.tries[0][2]
    assert retry_after is not None and retry_after.isdigit()
    assert board.waits == [min(float(retry_after), 0.5)]  # honoured, and bounded
    messages = locked_app.manager.store.get_messages(locked_app.session_id)
    assert [m.content for m in messages] == ["once"]
