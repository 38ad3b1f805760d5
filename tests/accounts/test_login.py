"""Login, logout, the throttle, cookies, CSRF messages and the login gate."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.auth_helpers import TEST_PASSWORD


def audit_actions(app: Any, **where: str) -> list[tuple[str, str]]:
    """(actor, action) of every audit entry, oldest first."""
    from webapp.accounts.audit import AuditFilter, entries

    with app.app_context():
        rows, _ = entries(AuditFilter(**where), limit=1000)
    return [(r["actor"], r["action"]) for r in reversed(rows)]


def form_token(client: Any, path: str = "/login") -> str:
    """The CSRF token of the form on ``path``."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def post_login(client: Any, name: str, password: str, **extra: str) -> Any:
    data = {"name": name, "password": password, "csrf_token": form_token(client), **extra}
    return client.post("/login", data=data)


def test_anonymous_page_redirects_to_login_with_next(client: Any) -> None:
    response = client.get("/sessions?status=failed")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/sessions?status%3Dfailed"


def test_anonymous_htmx_gets_401_and_hx_redirect(client: Any) -> None:
    response = client.get(
        "/sessions", headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/stats"}
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/stats"
    assert "Log in again" in response.get_data(as_text=True)


def test_login_round_trip_with_form_and_audit(app: Any, client: Any, auth: Any) -> None:
    auth.user("reviewer", "rita")
    response = post_login(client, "rita", TEST_PASSWORD, next="/stats")
    assert response.status_code == 302
    assert response.headers["Location"] == "/stats"
    assert client.get("/sessions").status_code == 200
    token = form_token(client, "/sessions")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/sessions").status_code == 302
    assert audit_actions(app, actor="rita") == [("rita", "login"), ("rita", "logout")]


def test_login_refuses_an_offsite_next(client: Any, auth: Any) -> None:
    auth.user("viewer", "vic")
    response = post_login(client, "vic", TEST_PASSWORD, next="//evil.example/")
    assert response.headers["Location"] == "/"


def test_wrong_password_is_refused_and_audited(app: Any, client: Any, auth: Any) -> None:
    auth.user("viewer", "vic")
    response = post_login(client, "vic", "not the password")
    assert response.status_code == 401
    assert "Wrong name or password" in response.get_data(as_text=True)
    assert client.get("/sessions").status_code == 302
    assert audit_actions(app)[-1] == ("vic", "login.failed")


def test_throttle_locks_the_name_from_one_address(app: Any, client: Any, auth: Any) -> None:
    from webapp.accounts.throttle import MAX_FAILURES_PER_PAIR

    auth.user("viewer", "vic")
    for _ in range(MAX_FAILURES_PER_PAIR):
        assert post_login(client, "vic", "wrong password").status_code == 401
    response = post_login(client, "vic", TEST_PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert client.get("/sessions").status_code == 302
    # Another name from the same address is not locked.
    auth.user("viewer", "val")
    assert post_login(client, "val", TEST_PASSWORD).status_code == 302


def test_disabling_a_user_ends_their_login(app: Any, client: Any, auth: Any) -> None:
    from webapp.accounts import service

    auth.login("reviewer", "rita")
    user = auth.user("reviewer", "rita")
    assert client.get("/sessions").status_code == 200
    with app.app_context():
        service.set_disabled(user.id, True, actor="test")
    assert client.get("/sessions").status_code == 302
    assert post_login(client, "rita", TEST_PASSWORD).status_code == 401


def test_password_reset_ends_older_logins(app: Any, client: Any, auth: Any) -> None:
    from webapp.accounts import service

    auth.login("reviewer", "rita")
    user = auth.user("reviewer", "rita")
    with app.app_context():
        service.reset_password(user.id, "a brand new password", actor="test")
    assert client.get("/sessions").status_code == 302
    assert post_login(client, "rita", "a brand new password").status_code == 302


def test_session_cookie_flags(app: Any, client: Any, auth: Any) -> None:
    auth.user("viewer", "vic")
    response = post_login(client, "vic", TEST_PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    https = app.test_client().get("/login", base_url="https://localhost")
    https_cookie = https.headers["Set-Cookie"]
    assert "Secure" in https_cookie


def test_csrf_missing_is_refused_with_a_clear_message(app: Any, client: Any, auth: Any) -> None:
    auth.login("admin")
    client.environ_base.pop("HTTP_X_CSRFTOKEN")
    response = client.post("/admin/users", data={"name": "eve", "role": "admin"})
    assert response.status_code == 400
    assert "Your form expired" in response.get_data(as_text=True)
    fragment = client.post("/logout", headers={"HX-Request": "true"})
    assert fragment.status_code == 400
    assert "<html" not in fragment.get_data(as_text=True)
    assert "Reload the page" in fragment.get_data(as_text=True)
    from webapp.accounts.service import get_user_by_name

    with app.app_context():
        assert get_user_by_name("eve") is None


def test_csrf_stale_token_is_refused(app: Any, client: Any, auth: Any) -> None:
    auth.login("admin")
    client.environ_base["HTTP_X_CSRFTOKEN"] = "IjAwMDAi.AAAAAA.not-a-signature"
    response = client.post("/logout")
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)
    assert client.get("/sessions").status_code == 200


@pytest.mark.parametrize("path", ["/login", "/healthz"])
def test_public_routes_answer_anonymous(client: Any, path: str) -> None:
    assert client.get(path).status_code == 200
