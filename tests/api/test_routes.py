"""Every route of DESIGN.md section 3: paths, bodies, status codes, JSON shapes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import ApiClient
from webapp.sessions import Status

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

META = {
    "model": "claude-sonnet-4-5",
    "usage": {"input_tokens": 1234, "output_tokens": 56, "cache": None},
    "tool": {"name": "Bash", "input": {"command": "ls -la", "timeout": 1.5}, "id": "toolu_01"},
    "thinking": "Let me look…  ünïcödé ✓ 🚀",
    "flags": [True, False, None, 0, -1, 2**53 + 1, 0.1, 1e-7, [], {}],
    "": "empty key",
}


def manager(app: Any) -> Any:
    return app.extensions["sessionboard.manager"]


def test_create_session_defaults(api: ApiClient, app: Any) -> None:
    response = api.post("/sessions", json={"request": "Fix the test", "context": {"chat": "c1"}})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {
        "id", "status", "request", "response", "error", "created_at",
        "last_activity", "expires_at", "context", "message_count",
    }  # fmt: skip
    assert body["status"] == "pending" and body["request"] == "Fix the test"
    assert body["context"] == {"chat": "c1"} and body["message_count"] == 0
    assert response.headers["Location"] == f"/api/v1/sessions/{body['id']}"
    for field in ("created_at", "last_activity", "expires_at"):
        assert ISO_UTC.match(body[field]), body[field]
    created = datetime.fromisoformat(body["created_at"])
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires - created == manager(app).config.timeout
    assert manager(app).get(body["id"]) is not None


def test_create_with_id_expiry_and_never(api: ApiClient) -> None:
    body = api.new_session(id="run-42.a:b~c", expires_at="2030-05-01T10:00:00+02:00")
    assert body["id"] == "run-42.a:b~c"
    assert body["expires_at"] == "2030-05-01T08:00:00.000000Z"
    never = api.new_session(expires_at=None)
    assert never["expires_at"] is None
    assert api.get(f"/sessions/{never['id']}").get_json()["expires_at"] is None


def test_create_duplicate_id_is_409_and_keeps_the_first(api: ApiClient) -> None:
    api.new_session(id="dup", request="first")
    response = api.post("/sessions", json={"id": "dup", "request": "second"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"
    assert api.get("/sessions/dup").get_json()["request"] == "first"


def test_get_session_and_404(api: ApiClient) -> None:
    created = api.new_session(request="q")
    response = api.get(f"/sessions/{created['id']}")
    assert response.status_code == 200 and response.get_json() == created
    missing = api.get("/sessions/nope")
    assert missing.status_code == 404
    assert missing.get_json() == {"error": {"code": "not_found", "message": "no session 'nope'"}}


def test_meta_and_context_round_trip_exactly(api: ApiClient) -> None:
    session = api.new_session(context=META)
    assert api.get(f"/sessions/{session['id']}").get_json()["context"] == META
    sent = {"role": "assistant", "content": "done", "summary": "s", "meta": META}
    assert api.post(f"/sessions/{session['id']}/messages", json=sent).status_code == 201
    [stored] = api.get(f"/sessions/{session['id']}/messages").get_json()["messages"]
    assert stored["meta"] == META
    assert {k: stored[k] for k in ("role", "content", "summary")} == {
        "role": "assistant",
        "content": "done",
        "summary": "s",
    }
    assert isinstance(stored["id"], int) and ISO_UTC.match(stored["timestamp"])


def test_message_timestamp_is_kept_in_utc(api: ApiClient) -> None:
    session = api.new_session()
    path = f"/sessions/{session['id']}/messages"
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()  # within retention
    api.post(path, json={"role": "user", "content": "a", "timestamp": f"{day}T13:00:00+01:00"})
    api.post(path, json={"role": "user", "content": "b", "timestamp": f"{day}T11:30:00.5Z"})
    messages = api.get(path).get_json()["messages"]
    assert [(m["content"], m["timestamp"]) for m in messages] == [
        ("b", f"{day}T11:30:00.500000Z"),
        ("a", f"{day}T12:00:00.000000Z"),
    ]


@pytest.mark.parametrize(
    ("status", "fields", "expected"),
    [
        ("running", {}, {"status": "running"}),
        ("completed", {"response": "all green"}, {"status": "completed", "response": "all green"}),
        ("failed", {"error": "boom"}, {"status": "failed", "error": "boom"}),
        ("closed", {}, {"status": "closed"}),
    ],
)
def test_patch_status(
    api: ApiClient, status: str, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    session = api.new_session(request="q")
    response = api.patch(f"/sessions/{session['id']}", json={"status": status, **fields})
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in expected} == expected
    assert body["last_activity"] >= session["last_activity"]
    assert api.get(f"/sessions/{session['id']}").get_json() == body


def test_patch_merges_context_and_sets_text_fields(api: ApiClient) -> None:
    session = api.new_session(request="old", context={"a": 1, "keep": {"x": 1}})
    response = api.patch(
        f"/sessions/{session['id']}",
        json={"context": {"a": 2, "b": [1, 2]}, "request": "new", "response": "r", "error": "e"},
    )
    body = response.get_json()
    assert response.status_code == 200
    assert body["context"] == {"a": 2, "b": [1, 2], "keep": {"x": 1}}
    assert (body["request"], body["response"], body["error"]) == ("new", "r", "e")
    assert body["status"] == "pending"


def test_completed_session_runs_again_on_the_next_turn(api: ApiClient) -> None:
    sid = api.new_session()["id"]
    api.patch(f"/sessions/{sid}", json={"status": "completed", "response": "turn 1"})
    body = api.patch(f"/sessions/{sid}", json={"status": "running"}).get_json()
    assert body["status"] == "running" and body["response"] == "turn 1"


@pytest.mark.parametrize("terminal", ["closed", "expired"])
def test_patch_of_a_terminal_session_is_409_and_changes_nothing(
    api: ApiClient, app: Any, terminal: str
) -> None:
    sid = api.new_session(context={"a": 1})["id"]
    manager(app).update(sid, lambda s: setattr(s, "status", Status(terminal)))
    before = api.get(f"/sessions/{sid}").get_json()
    for body in (
        {"status": "running"},
        {"status": "completed", "response": "x"},
        {"status": "closed"},
        {"context": {"b": 2}},
        {"request": "again"},
    ):
        response = api.patch(f"/sessions/{sid}", json=body)
        assert response.status_code == 409, body
        assert response.get_json()["error"]["code"] == "conflict"
    assert api.get(f"/sessions/{sid}").get_json() == before


def test_past_expiry_refuses_turns_but_may_be_closed(api: ApiClient) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    sid = api.new_session(expires_at=past)["id"]
    assert api.patch(f"/sessions/{sid}", json={"status": "running"}).status_code == 409
    assert api.patch(f"/sessions/{sid}", json={"context": {"a": 1}}).status_code == 409
    message = {"role": "user", "content": "late"}
    assert api.post(f"/sessions/{sid}/messages", json=message).status_code == 409
    closed = api.patch(f"/sessions/{sid}", json={"status": "closed"})
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert api.get(f"/sessions/{sid}").get_json()["message_count"] == 0


def test_patch_unknown_is_404(api: ApiClient) -> None:
    response = api.patch("/sessions/nope", json={"status": "running"})
    assert response.status_code == 404


def test_delete_needs_admin(api: ApiClient) -> None:
    sid = api.new_session()["id"]
    api.post(f"/sessions/{sid}/messages", json={"role": "user", "content": "x"})
    refused = api.delete(f"/sessions/{sid}")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    assert api.get(f"/sessions/{sid}").status_code == 200
    admin = api.as_admin()
    response = admin.delete(f"/sessions/{sid}")
    assert response.status_code == 204 and response.data == b""
    assert api.get(f"/sessions/{sid}").status_code == 404
    assert admin.delete(f"/sessions/{sid}").status_code == 404


def test_clear_needs_admin(api: ApiClient) -> None:
    for _ in range(3):
        api.new_session()
    assert api.delete("/sessions").status_code == 403
    assert len(api.get("/sessions").get_json()["sessions"]) == 3
    response = api.as_admin().delete("/sessions")
    assert response.status_code == 200 and response.get_json() == {"cleared": 3}
    assert api.get("/sessions").get_json() == {"sessions": [], "next_cursor": None}


def test_admin_token_can_do_what_ingest_does(api: ApiClient) -> None:
    admin = api.as_admin()
    sid = admin.new_session()["id"]
    assert (
        admin.post(f"/sessions/{sid}/messages", json={"role": "u", "content": "x"}).status_code
        == 201
    )
    assert admin.patch(f"/sessions/{sid}", json={"status": "running"}).status_code == 200
    assert admin.get(f"/sessions/{sid}/messages").status_code == 200
    assert admin.get("/stats").status_code == 200


def test_append_one_and_a_batch(api: ApiClient) -> None:
    sid = api.new_session()["id"]
    path = f"/sessions/{sid}/messages"
    one = api.post(path, json={"role": "user", "content": "q"})
    assert one.status_code == 201 and one.get_json() == {"appended": 1}
    batch = {"messages": [{"role": "assistant", "content": f"a{i}"} for i in range(5)]}
    response = api.post(path, json=batch)
    assert response.status_code == 201 and response.get_json() == {"appended": 5}
    messages = api.get(path).get_json()["messages"]
    assert [m["content"] for m in messages] == ["q", "a0", "a1", "a2", "a3", "a4"]
    assert api.get(f"/sessions/{sid}").get_json()["message_count"] == 6


def test_append_to_unknown_is_404_and_to_closed_is_409(api: ApiClient) -> None:
    message = {"role": "user", "content": "x"}
    assert api.post("/sessions/nope/messages", json=message).status_code == 404
    sid = api.new_session()["id"]
    api.patch(f"/sessions/{sid}", json={"status": "closed"})
    response = api.post(f"/sessions/{sid}/messages", json=message)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "conflict"


def test_source_key_stores_a_message_once(api: ApiClient) -> None:
    sid = api.new_session()["id"]
    path = f"/sessions/{sid}/messages"
    message = {"role": "user", "content": "x", "source_key": "line-1"}
    assert api.post(path, json=message).get_json() == {"appended": 1}
    assert api.post(path, json=message).get_json() == {"appended": 0}
    [stored] = api.get(path).get_json()["messages"]
    assert stored["source_key"] == "line-1"


def test_list_messages_of_unknown_session_is_404(api: ApiClient) -> None:
    assert api.get("/sessions/nope/messages").status_code == 404


def test_stats(api: ApiClient) -> None:
    api.new_session()
    sid = api.new_session()["id"]
    api.patch(f"/sessions/{sid}", json={"status": "running"})
    body = api.get("/stats").get_json()
    assert body["total"] == 2 and body["pending"] == 1 and body["running"] == 1
    assert body["active"] == 1
    assert body["recent_actions"] == {"pending": 1, "running": 1}
    assert isinstance(body["uptime"], str)


def test_openapi_is_public_and_healthz_works(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200 and spec.get_json()["openapi"] == "3.1.0"
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json() == {"status": "ok"}


def test_api_answers_are_not_cached(api: ApiClient) -> None:
    assert api.get("/stats").headers["Cache-Control"] == "no-store"


def test_api_requests_of_a_signed_in_browser_load_no_user(
    app: Any, auth: Any, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's answers are no-store without Flask-Login's lookup of the user
    (the app-wide hook that sets no-store for signed-in users skips /api/); a
    page still looks the user up."""
    auth.login("admin")
    loader = app.login_manager._user_callback
    loads: list[str] = []

    def counting_loader(user_id: str) -> Any:
        loads.append(user_id)
        return loader(user_id)

    monkeypatch.setattr(app.login_manager, "_user_callback", counting_loader)
    session_id = api.new_session()["id"]
    appended = api.post(f"/sessions/{session_id}/messages", json={"role": "user", "content": "hi"})
    assert appended.status_code == 201
    assert appended.headers["Cache-Control"] == "no-store"
    assert api.get("/stats").headers["Cache-Control"] == "no-store"
    assert loads == []
    page = api.client.get("/")
    assert page.headers["Cache-Control"] == "no-store"
    assert len(loads) == 1
