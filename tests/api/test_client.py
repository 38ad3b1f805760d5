"""webapp.client.SessionboardClient against a live server (werkzeug, threaded),
including retries that reuse the Idempotency-Key after a lost answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.request import Request

import pytest
from werkzeug.serving import make_server

from tests.api.conftest import Tokens
from webapp.client import SessionboardClient, SessionboardError, message


class FlakyNetwork:
    """WSGI middleware that answers 503 to the next ``fail_next`` requests."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.fail_next = 0
        self.seen: list[tuple[str, str, str | None]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.seen.append(
            (environ["REQUEST_METHOD"], environ["PATH_INFO"], environ.get("HTTP_IDEMPOTENCY_KEY"))
        )
        if self.fail_next > 0:
            self.fail_next -= 1
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"error": {"code": "unavailable", "message": "try again"}}']
        return self.app(environ, start_response)


@pytest.fixture
def server(app: Any) -> Iterator[tuple[str, FlakyNetwork]]:
    """The app served on a free port of 127.0.0.1 in a thread: (base URL, middleware)."""
    network = FlakyNetwork(app)
    httpd = make_server("127.0.0.1", 0, network, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", network
    httpd.shutdown()
    httpd.server_close()
    thread.join()


class LosesAnswers(SessionboardClient):
    """A client whose network loses the next ``lose`` successful answers to requests
    whose path ends with ``suffix``: the server did the work, the client sees a reset."""

    def __init__(self, *args: Any, lose: int = 1, suffix: str = "/messages", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lose = lose
        self.suffix = suffix

    def _open(self, request: Request) -> tuple[int, Any, Any]:
        answer = super()._open(request)
        if self.lose > 0 and answer[0] < 400 and request.full_url.endswith(self.suffix):
            self.lose -= 1
            raise ConnectionResetError("connection reset by peer (simulated)")
        return answer


def test_a_runner_reports_a_chat_turn(server: tuple[str, Any], tokens: Tokens) -> None:
    base_url, _ = server
    board = SessionboardClient(base_url, tokens.ingest)
    session = board.create_session("Fix the failing test", {"project_path": "/src/app"})
    assert session["status"] == "pending" and session["context"] == {"project_path": "/src/app"}
    assert board.update_session(session["id"], status="running")["status"] == "running"
    assert board.append(session["id"], "user", "Fix the failing test") == 1
    usage = {"model": "claude", "usage": {"input_tokens": 10, "output_tokens": 3}}
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # within retention
    turn = [
        message("assistant", "Looking at the test.", meta=usage),
        message("tool", "ok", summary="pytest", timestamp=when, source_key="tool-1"),
    ]
    assert board.append_many(session["id"], turn) == 2
    done = board.update_session(
        session["id"], status="completed", response="Done.", context={"turns": 1}
    )
    assert done["status"] == "completed" and done["response"] == "Done."
    assert done["context"] == {"project_path": "/src/app", "turns": 1}
    messages = list(board.list_messages(session["id"], page_size=2))
    assert [m["role"] for m in messages] == ["tool", "user", "assistant"]
    assert messages[2]["meta"] == usage
    assert messages[0]["timestamp"] == when.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert [s["id"] for s in board.list_sessions(status="completed")] == [session["id"]]
    assert board.stats()["completed"] == 1
    assert board.get_session(session["id"])["message_count"] == 3


def test_errors_raise_with_status_and_code(server: tuple[str, Any], tokens: Tokens) -> None:
    base_url, _ = server
    board = SessionboardClient(base_url, tokens.ingest, retries=0)
    with pytest.raises(SessionboardError) as unknown:
        board.get_session("nope")
    assert (unknown.value.status, unknown.value.code) == (404, "not_found")
    sid = board.create_session()["id"]
    with pytest.raises(SessionboardError) as scope:
        board.delete_session(sid)
    assert scope.value.status == 403
    with pytest.raises(SessionboardError) as invalid:
        board.append(sid, "", "x")
    assert invalid.value.status == 422
    admin = SessionboardClient(base_url, tokens.admin)
    admin.delete_session(sid)
    assert admin.clear() == 0
    with pytest.raises(SessionboardError) as bad_token:
        SessionboardClient(base_url, "sb_wrong", retries=0).stats()
    assert bad_token.value.status == 401


def test_a_lost_answer_is_retried_with_the_same_key_and_appends_once(
    server: tuple[str, FlakyNetwork], tokens: Tokens
) -> None:
    base_url, network = server
    board = LosesAnswers(base_url, tokens.ingest, backoff=0.01)
    sid = SessionboardClient(base_url, tokens.ingest).create_session()["id"]
    network.seen.clear()
    assert board.append(sid, "user", "only once") == 1
    assert board.append_many(sid, [message("assistant", "a"), message("assistant", "b")]) == 2
    posts = [(key, path) for method, path, key in network.seen if method == "POST"]
    # Each call reached the server twice with one key; the two calls had different keys.
    assert len(posts) == 3 and posts[0][0] is not None
    assert posts[0] == posts[1] and posts[2][0] != posts[0][0]
    contents = [m["content"] for m in board.list_messages(sid)]
    assert contents == ["only once", "a", "b"]


def test_a_given_key_is_reused_on_every_try(
    server: tuple[str, FlakyNetwork], tokens: Tokens
) -> None:
    base_url, network = server
    board = LosesAnswers(base_url, tokens.ingest, lose=2, backoff=0.01)
    sid = SessionboardClient(base_url, tokens.ingest).create_session()["id"]
    network.seen.clear()
    network.fail_next = 1  # and one 503 before that
    assert board.append(sid, "user", "x", idempotency_key="turn-7/user") == 1
    keys = [key for method, _, key in network.seen if method == "POST"]
    assert keys == ["turn-7/user"] * 4
    assert board.get_session(sid)["message_count"] == 1
    # Later retries of the same logical append (a runner restarted) append nothing.
    assert board.append(sid, "user", "x", idempotency_key="turn-7/user") == 1
    assert board.get_session(sid)["message_count"] == 1


def test_lost_answers_to_create_and_close_are_handled(
    server: tuple[str, FlakyNetwork], tokens: Tokens
) -> None:
    base_url, _ = server
    creates = LosesAnswers(base_url, tokens.ingest, suffix="/sessions", backoff=0.01)
    session = creates.create_session("q", id="run-1")
    assert session["id"] == "run-1" and session["request"] == "q"
    closes = LosesAnswers(base_url, tokens.ingest, suffix="/run-1", backoff=0.01)
    assert closes.update_session("run-1", status="closed")["status"] == "closed"
    with pytest.raises(SessionboardError) as refused:  # a real 409 on a first try raises
        SessionboardClient(base_url, tokens.ingest).update_session("run-1", status="running")
    assert refused.value.status == 409


def test_no_server_raises_after_the_retries(tokens: Tokens) -> None:
    board = SessionboardClient("http://127.0.0.1:9", tokens.ingest, retries=2, backoff=0.01)
    with pytest.raises(SessionboardError) as unreachable:
        board.stats()
    assert unreachable.value.status == 0 and unreachable.value.code == "unreachable"
