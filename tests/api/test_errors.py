"""Bad input gets the documented JSON error, and a refused request writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tests.api.conftest import ApiClient
from webapp.sessions.store import idempotency_t, messages_t, sessions_t

GOOD_MESSAGE = {"role": "user", "content": "hello"}


def database_state(app: Any) -> dict[str, list[Any]]:
    """Every row the API can write, for before/after comparisons."""
    store = app.extensions["sessionboard.manager"].store
    with store.read() as conn:
        return {
            t.name: sorted(map(repr, conn.execute(select(t)).all()))
            for t in (sessions_t, messages_t, idempotency_t)
        }


def raw(data: bytes | str, content_type: str = "application/json") -> dict[str, Any]:
    """Keyword arguments for a request with this exact body."""
    return {"data": data, "headers": {"Content-Type": content_type}}


@pytest.fixture
def session_id(api: ApiClient) -> str:
    """A pending session with one message."""
    sid = api.new_session(request="q", context={"a": 1})["id"]
    assert api.post(f"/sessions/{sid}/messages", json=GOOD_MESSAGE).status_code == 201
    return str(sid)


# (method, path, request kwargs, expected status, expected code); "{sid}" is the session.
BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int, str]] = [
    # 400: not JSON
    ("POST", "/sessions", raw("{"), 400, "bad_request"),
    ("POST", "/sessions", raw(b"\xff\xfe{}"), 400, "bad_request"),
    ("POST", "/sessions", raw(""), 400, "bad_request"),
    ("POST", "/sessions", raw("[" * 100_000 + "]" * 100_000), 400, "bad_request"),
    ("PATCH", "/sessions/{sid}", raw("{'status': 'running'}"), 400, "bad_request"),
    ("POST", "/sessions/{sid}/messages", raw('{"role": "user",'), 400, "bad_request"),
    # 415: not sent as JSON
    ("POST", "/sessions", raw("{}", "text/plain"), 415, "unsupported_media_type"),
    ("POST", "/sessions", {"data": {"request": "x"}}, 415, "unsupported_media_type"),
    (
        "PATCH",
        "/sessions/{sid}",
        raw('{"status": "running"}', "text/json"),
        415,
        "unsupported_media_type",
    ),
    (
        "POST",
        "/sessions/{sid}/messages",
        raw(json.dumps(GOOD_MESSAGE), ""),
        415,
        "unsupported_media_type",
    ),
    # 422: wrong field types and values
    ("POST", "/sessions", {"json": []}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"request": 5}}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"context": "not an object"}}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"context": [1]}}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"context": {"a": "nul\u0000"}}}, 422, "invalid"),
    ("POST", "/sessions", raw('{"context": {"a": NaN}}'), 422, "invalid"),
    ("POST", "/sessions", raw('{"context": {"a": 1e999}}'), 422, "invalid"),
    ("POST", "/sessions", raw('{"request": "\\ud800"}'), 422, "invalid"),
    ("POST", "/sessions", {"json": {"expires_at": "tomorrow"}}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"expires_at": "2026-01-15T12:00:00"}}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"expires_at": "0001-01-01T00:00:00+05:00"}}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"expires_at": 1737000000}}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"id": ""}}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"id": "a/b"}}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"id": "x" * 65}}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"id": 7}}, 422, "invalid"),
    ("POST", "/sessions", {"json": {"status": "running"}}, 422, "invalid"),
    ("PATCH", "/sessions/{sid}", {"json": {"status": "expired"}}, 422, "invalid"),
    ("PATCH", "/sessions/{sid}", {"json": {"status": "pending"}}, 422, "invalid"),
    ("PATCH", "/sessions/{sid}", {"json": {"status": "done"}}, 422, "invalid"),
    ("PATCH", "/sessions/{sid}", {"json": {"status": None}}, 422, "invalid"),
    ("PATCH", "/sessions/{sid}", {"json": {"status": "completed", "response": 1}}, 422, "invalid"),
    ("PATCH", "/sessions/{sid}", {"json": {"status": "running", "context": [1]}}, 422, "invalid"),
    ("PATCH", "/sessions/{sid}", {"json": {"status": "closed", "colour": "red"}}, 422, "invalid"),
    ("POST", "/sessions/{sid}/messages", {"json": {"role": "", "content": "x"}}, 422, "invalid"),
    ("POST", "/sessions/{sid}/messages", {"json": {"role": "  ", "content": "x"}}, 422, "invalid"),
    (
        "POST",
        "/sessions/{sid}/messages",
        {"json": {"role": "r" * 33, "content": "x"}},
        422,
        "invalid",
    ),
    ("POST", "/sessions/{sid}/messages", {"json": {"role": "user"}}, 422, "invalid"),
    (
        "POST",
        "/sessions/{sid}/messages",
        {"json": {"role": "user", "content": None}},
        422,
        "invalid",
    ),
    (
        "POST",
        "/sessions/{sid}/messages",
        {"json": {**GOOD_MESSAGE, "timestamp": "yesterday"}},
        422,
        "invalid",
    ),
    (
        "POST",
        "/sessions/{sid}/messages",
        {"json": {**GOOD_MESSAGE, "timestamp": "2026-13-01"}},
        422,
        "invalid",
    ),
    (
        "POST",
        "/sessions/{sid}/messages",
        {"json": {**GOOD_MESSAGE, "meta": "text"}},
        422,
        "invalid",
    ),
    (
        "POST",
        "/sessions/{sid}/messages",
        {"json": {**GOOD_MESSAGE, "meta": {"k\u0000": 1}}},
        422,
        "invalid",
    ),
    (
        "POST",
        "/sessions/{sid}/messages",
        {"json": {**GOOD_MESSAGE, "source_key": ""}},
        422,
        "invalid",
    ),
    ("POST", "/sessions/{sid}/messages", {"json": {**GOOD_MESSAGE, "extra": 1}}, 422, "invalid"),
    ("POST", "/sessions/{sid}/messages", {"json": {"messages": []}}, 422, "invalid"),
    ("POST", "/sessions/{sid}/messages", {"json": {"messages": GOOD_MESSAGE}}, 422, "invalid"),
    (
        "POST",
        "/sessions/{sid}/messages",
        {"json": {"messages": [GOOD_MESSAGE, GOOD_MESSAGE, {"role": "", "content": "x"}]}},
        422,
        "invalid",
    ),
    (
        "POST",
        "/sessions/{sid}/messages",
        {"json": GOOD_MESSAGE, "headers": {"Idempotency-Key": "k" * 201}},
        422,
        "invalid",
    ),
    (
        "POST",
        "/sessions/{sid}/messages",
        {"json": GOOD_MESSAGE, "headers": {"Idempotency-Key": "has space"}},
        422,
        "invalid",
    ),
    ("GET", "/sessions?limit=0", {}, 422, "invalid"),
    ("GET", "/sessions?limit=ten", {}, 422, "invalid"),
    ("GET", "/sessions?limit=-1", {}, 422, "invalid"),
    ("GET", "/sessions?status=sleeping", {}, 422, "invalid"),
    ("GET", "/sessions?cursor=garbage", {}, 422, "invalid"),
    ("GET", "/sessions/{sid}/messages?after=garbage", {}, 422, "invalid"),
    ("GET", "/sessions/{sid}/messages?limit=1.5", {}, 422, "invalid"),
    # 404
    ("GET", "/sessions/unknown", {}, 404, "not_found"),
    ("PATCH", "/sessions/unknown", {"json": {"status": "running"}}, 404, "not_found"),
    ("POST", "/sessions/unknown/messages", {"json": GOOD_MESSAGE}, 404, "not_found"),
    ("GET", "/sessions/unknown/messages", {}, 404, "not_found"),
    ("GET", "/no-such-route", {}, 404, "not_found"),
    # ids no session can have never reach the database (PostgreSQL refuses NUL)
    ("GET", "/sessions/a%00b", {}, 404, "not_found"),
    ("PATCH", "/sessions/a%00b", {"json": {"status": "running"}}, 404, "not_found"),
    ("POST", "/sessions/a%00b/messages", {"json": GOOD_MESSAGE}, 404, "not_found"),
    ("GET", "/sessions/a%00b/messages", {}, 404, "not_found"),
    ("GET", "/sessions/" + "x" * 65, {}, 404, "not_found"),
    # 405
    ("PUT", "/sessions/{sid}", {"json": {}}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    BAD_REQUESTS,
    ids=[f"{m} {p} {s} #{i}" for i, (m, p, _, s, _) in enumerate(BAD_REQUESTS)],
)
def test_bad_request_gets_its_json_error_and_writes_nothing(
    api: ApiClient,
    app: Any,
    session_id: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    before = database_state(app)
    response = api.open(method, path.replace("{sid}", session_id), **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert database_state(app) == before


def test_body_over_the_limit_is_413_and_the_limit_is_settable(
    database_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp import create_app
    from webapp.accounts.tokens import create_token

    monkeypatch.setenv("SESSIONBOARD_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("SESSIONBOARD_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("SESSIONBOARD_DATABASE_URL", database_url)
    app = create_app()
    try:
        manager = app.extensions["sessionboard.manager"]
        token = create_token(manager.store.engine, "t", "ingest")[1]
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        sid = client.post("/api/v1/sessions", json={}, headers=headers).get_json()["id"]
        before = database_state(app)
        big = {"role": "user", "content": "x" * 4096}
        for body in (big, {"messages": [big]}):
            response = client.post(f"/api/v1/sessions/{sid}/messages", json=body, headers=headers)
            assert response.status_code == 413
            error = response.get_json()["error"]
            assert error["code"] == "too_large" and "2048" in error["message"]
        response = client.post("/api/v1/sessions", json={"request": "x" * 4096}, headers=headers)
        assert response.status_code == 413
        assert database_state(app) == before
        small = {"role": "user", "content": "x" * 1000}
        ok = client.post(f"/api/v1/sessions/{sid}/messages", json=small, headers=headers)
        assert ok.status_code == 201
    finally:
        manager.stop()
        from webapp.extensions import db

        with app.app_context():
            db.engine.dispose()


AUTH_FAILURES: list[tuple[str, Callable[[Any], dict[str, str]]]] = [
    ("no header", lambda tokens: {}),
    ("empty bearer", lambda tokens: {"Authorization": "Bearer "}),
    ("basic scheme", lambda tokens: {"Authorization": "Basic dXNlcjpwYXNz"}),
    ("unknown token", lambda tokens: {"Authorization": "Bearer sb_not-a-token"}),
    ("token with a typo", lambda tokens: {"Authorization": f"Bearer {tokens.ingest[:-1]}x"}),
    ("very long token", lambda tokens: {"Authorization": "Bearer " + "x" * 5000}),
]


@pytest.mark.parametrize(("what", "headers"), AUTH_FAILURES, ids=[w for w, _ in AUTH_FAILURES])
def test_every_route_needs_a_valid_token(
    api: ApiClient, app: Any, session_id: str, what: str, headers: Callable[[Any], dict[str, str]]
) -> None:
    anonymous = api.anonymous()
    before = database_state(app)
    for method, path, kwargs in [
        ("POST", "/sessions", {"json": {}}),
        ("GET", "/sessions", {}),
        ("DELETE", "/sessions", {}),
        ("GET", f"/sessions/{session_id}", {}),
        ("PATCH", f"/sessions/{session_id}", {"json": {"status": "running"}}),
        ("DELETE", f"/sessions/{session_id}", {}),
        ("POST", f"/sessions/{session_id}/messages", {"json": GOOD_MESSAGE}),
        ("GET", f"/sessions/{session_id}/messages", {}),
        ("GET", "/stats", {}),
        # the token is checked before the body is read
        ("POST", "/sessions", raw("{not json")),
    ]:
        sent = {**kwargs.pop("headers", {}), **headers(api.tokens)}
        response = anonymous.open(method, path, headers=sent, **kwargs)
        assert response.status_code == 401, (method, path)
        assert response.get_json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert database_state(app) == before


def test_a_revoked_token_is_refused_at_once(api: ApiClient, app: Any) -> None:
    from webapp.accounts.tokens import revoke_token

    assert api.get("/stats").status_code == 200
    revoke_token(app.extensions["sessionboard.manager"].store.engine, "runner")
    assert api.get("/stats").status_code == 401


def test_the_browser_session_cookie_is_not_accepted(app: Any, client: Any, auth: Any) -> None:
    """A logged-in admin's browser gets 401 from the API, and CSRF does not apply."""
    auth.login("admin")
    response = client.get("/api/v1/stats")
    assert response.status_code == 401
    response = client.post("/api/v1/sessions", json={})
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers


def test_csrf_does_not_block_the_api(api: ApiClient, app: Any) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    response = api.post("/sessions", json={"request": "no csrf token needed"})
    assert response.status_code == 201
