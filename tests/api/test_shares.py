"""POST /api/v1/sessions/{id}/shares and DELETE /api/v1/shares/{id}, on both engines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.accounts.test_role_matrix import snapshot
from tests.api.conftest import ApiClient


@pytest.fixture
def admin(api: ApiClient) -> ApiClient:
    """The API client with the admin token."""
    return api.as_admin()


def test_an_admin_token_makes_a_link_that_opens_the_page(
    app: Any, admin: ApiClient, client: Any
) -> None:
    session = admin.new_session(request="share me")
    response = admin.post(f"/sessions/{session['id']}/shares", json={"expires_in": 3600})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "url", "expires_at"}
    assert body["url"].startswith("http://localhost/s/")
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    made = datetime.fromisoformat(session["created_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expires - made < timedelta(minutes=61)
    path = body["url"].removeprefix("http://localhost")
    page = app.test_client().get(path)
    assert page.status_code == 200 and "share me" in page.get_data(as_text=True)
    assert page.headers["X-Robots-Tag"] == "noindex, nofollow"
    # a JSON number with no fraction is the integer it is (JSON Schema's integer)
    whole = admin.post(f"/sessions/{session['id']}/shares", json={"expires_in": 3600.0})
    assert whole.status_code == 201
    # absent: 7 days; redact is taken
    default = admin.post(f"/sessions/{session['id']}/shares", json={"redact": True})
    assert default.status_code == 201
    again = datetime.fromisoformat(default.get_json()["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=7) - timedelta(minutes=1) < again - made < timedelta(days=7, minutes=1)


def test_delete_revokes_at_once(app: Any, admin: ApiClient) -> None:
    session = admin.new_session()
    body = admin.post(f"/sessions/{session['id']}/shares", json={}).get_json()
    path = body["url"].removeprefix("http://localhost")
    stranger = app.test_client()
    assert stranger.get(path).status_code == 200
    assert admin.delete(f"/shares/{body['id']}").status_code == 204
    assert stranger.get(path).status_code == 404
    assert admin.delete(f"/shares/{body['id']}").status_code == 204  # already revoked
    assert admin.delete("/shares/987654").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in": 0},
        {"expires_in": -1},
        {"expires_in": 30 * 86400 + 1},
        {"expires_in": 10**30},
        {"expires_in": "3600"},
        {"expires_in": 1.5},
        {"expires_in": True},
        {"redact": "yes"},
        {"extra": 1},
        [],
    ],
)
def test_a_bad_body_is_a_422_and_changes_nothing(app: Any, admin: ApiClient, body: Any) -> None:
    session = admin.new_session()
    before = snapshot(app)
    response = admin.post(f"/sessions/{session['id']}/shares", json=body)
    assert response.status_code == 422, response.get_json()
    assert snapshot(app) == before


def test_unknown_session_404_and_ingest_token_403(app: Any, api: ApiClient) -> None:
    admin = api.as_admin()
    assert admin.post("/sessions/nope/shares", json={"expires_in": 60}).status_code == 404
    session = admin.new_session()
    body = admin.post(f"/sessions/{session['id']}/shares", json={}).get_json()
    assert api.get("/stats").status_code == 200  # (the token's last use is noted now)
    before = snapshot(app)
    assert api.post(f"/sessions/{session['id']}/shares", json={}).status_code == 403
    assert api.delete(f"/shares/{body['id']}").status_code == 403
    assert api.anonymous().delete(f"/shares/{body['id']}").status_code == 401
    assert snapshot(app) == before


def test_the_api_writes_the_audit_log(app: Any, admin: ApiClient) -> None:
    from sqlalchemy import text

    session = admin.new_session()
    body = admin.post(f"/sessions/{session['id']}/shares", json={}).get_json()
    admin.delete(f"/shares/{body['id']}")
    engine = app.extensions["sessionboard.manager"].store.engine
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT actor, action FROM audit_log WHERE action LIKE 'share.%' ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("token:operator", "share.create"),
        ("token:operator", "share.revoke"),
    ]


def test_both_routes_are_in_the_openapi_document(api: ApiClient) -> None:
    document = api.anonymous().get("/openapi.json").get_json()
    post = document["paths"]["/api/v1/sessions/{session_id}/shares"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewShare"
    }
    assert "201" in post["responses"] and "422" in post["responses"]
    assert "204" in document["paths"]["/api/v1/shares/{share_id}"]["delete"]["responses"]
    assert set(document["components"]["schemas"]["Share"]["properties"]) == {
        "id",
        "url",
        "expires_at",
    }
