"""Logins end on the server: a copied session cookie replayed after logout, "log
out everywhere", an admin's "end all", idle or absolute expiry, or a password
change gets the login page (401 for htmx) and writes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask_login.utils import encode_cookie

from tests.accounts.test_login import form_token, post_login
from tests.auth_helpers import TEST_PASSWORD


def logged_in_admin(app: Any, auth: Any, clock: Any) -> Any:
    """A client logged in as admin ``ada`` through the login form, on ``clock``."""
    app.extensions["sessionboard.manager"].clock = clock
    auth.user("admin", "ada")
    client = app.test_client()
    assert post_login(client, "ada", TEST_PASSWORD).status_code == 302
    return client


def copy_cookie(client: Any) -> tuple[str, str]:
    """The session cookie and a CSRF token valid for it, as an attacker would copy them."""
    token = form_token(client, "/admin/users")
    return client.get_cookie("session").value, token


def assert_replay_refused(app: Any, cookie: str, csrf_token: str) -> None:
    """A fresh browser with the copied cookie gets the login page, htmx gets 401,
    and a write is refused and changes nothing."""
    from webapp.accounts.service import get_user_by_name

    replay = app.test_client()
    replay.set_cookie("session", cookie)
    page = replay.get("/sessions")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login")
    fragment = replay.get("/sessions", headers={"HX-Request": "true"})
    assert fragment.status_code == 401
    write = replay.post(
        "/admin/users",
        data={"name": "eve", "role": "admin", "password": "a brand new password"},
        headers={"X-CSRFToken": csrf_token},
    )
    assert write.status_code == 302
    assert write.headers["Location"].startswith("/login")
    with app.app_context():
        assert get_user_by_name("eve") is None


def test_the_copied_cookie_works_while_the_login_lasts(app: Any, auth: Any, clock: Any) -> None:
    """The control for the tests below: the replay itself is sound."""
    from webapp.accounts.service import get_user_by_name

    client = logged_in_admin(app, auth, clock)
    cookie, token = copy_cookie(client)
    replay = app.test_client()
    replay.set_cookie("session", cookie)
    assert replay.get("/sessions").status_code == 200
    created = replay.post(
        "/admin/users",
        data={"name": "eve", "role": "viewer", "password": "a brand new password"},
        headers={"X-CSRFToken": token},
    )
    assert created.status_code == 201
    with app.app_context():
        assert get_user_by_name("eve") is not None


def test_logout_ends_the_login_for_a_copied_cookie(app: Any, auth: Any, clock: Any) -> None:
    client = logged_in_admin(app, auth, clock)
    cookie, token = copy_cookie(client)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert_replay_refused(app, cookie, token)


def test_log_out_everywhere_ends_every_login(app: Any, auth: Any, clock: Any) -> None:
    first = logged_in_admin(app, auth, clock)
    second = logged_in_admin(app, auth, clock)
    first_cookie, first_token = copy_cookie(first)
    second_cookie, second_token = copy_cookie(second)
    response = second.post("/logout/everywhere", data={"csrf_token": second_token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert_replay_refused(app, first_cookie, first_token)
    assert_replay_refused(app, second_cookie, second_token)


def test_the_user_menu_offers_log_out_everywhere(app: Any, auth: Any, clock: Any) -> None:
    client = logged_in_admin(app, auth, clock)
    page = client.get("/sessions").get_data(as_text=True)
    assert 'action="/logout/everywhere"' in page


def test_an_admin_ends_a_users_logins(app: Any, auth: Any, clock: Any) -> None:
    victim = logged_in_admin(app, auth, clock)
    cookie, token = copy_cookie(victim)
    admin = auth.login("admin", "root")
    ada = auth.user("admin", "ada")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "1 open" in page
    response = admin.post(f"/admin/users/{ada.id}/logins/end")
    assert response.status_code == 200
    assert "Ended every login of ada" in response.get_data(as_text=True)
    assert_replay_refused(app, cookie, token)
    assert admin.get("/sessions").status_code == 200


#: (setting, its value or None for the default, a use every ``step``, how many uses, wait)
LIFETIMES = [
    ("LOGIN_IDLE_TIMEOUT", None, timedelta(hours=11, minutes=59), 3, timedelta(hours=12)),
    ("LOGIN_IDLE_TIMEOUT", "10m", timedelta(minutes=9), 3, timedelta(minutes=10)),
    ("LOGIN_MAX_AGE", None, timedelta(hours=10, minutes=30), 15, timedelta(hours=10, minutes=30)),
    ("LOGIN_MAX_AGE", "1d", timedelta(hours=1, minutes=30), 15, timedelta(hours=1, minutes=30)),
]


@pytest.mark.parametrize(("setting", "value", "step", "uses", "wait"), LIFETIMES)
def test_a_login_ends_when_idle_or_too_old(
    app: Any,
    auth: Any,
    clock: Any,
    setting: str,
    value: str | None,
    step: timedelta,
    uses: int,
    wait: timedelta,
) -> None:
    """LOGIN_IDLE_TIMEOUT (12h): each use starts the idle time again; LOGIN_MAX_AGE
    (7d): counted from the login's start however it is used."""
    if value is not None:
        app.config[setting] = value
    client = logged_in_admin(app, auth, clock)
    cookie, token = copy_cookie(client)
    for _ in range(uses):
        clock.advance(step)
        assert client.get("/sessions").status_code == 200
    clock.advance(wait)
    assert_replay_refused(app, cookie, token)


def test_a_password_change_ends_the_users_logins(app: Any, auth: Any, clock: Any) -> None:
    from webapp.accounts import service

    client = logged_in_admin(app, auth, clock)
    cookie, token = copy_cookie(client)
    with app.app_context():
        user = service.get_user_by_name("ada")
        service.reset_password(user.id, "a brand new password", actor="test")
    assert_replay_refused(app, cookie, token)


@pytest.mark.parametrize("ended_by", ["logout", "everywhere"])
def test_a_remember_cookie_cannot_bring_a_login_back(
    app: Any, auth: Any, clock: Any, ended_by: str
) -> None:
    """Flask-Login's "remember me" cookie carries the same id as the session; an
    ended login's id is refused there too."""
    client = logged_in_admin(app, auth, clock)
    with client.session_transaction() as sess:
        login_id = sess["_user_id"]
    _cookie, token = copy_cookie(client)
    path = "/logout" if ended_by == "logout" else "/logout/everywhere"
    assert client.post(path, data={"csrf_token": token}).status_code == 302
    replay = app.test_client()
    with app.app_context():
        replay.set_cookie("remember_token", encode_cookie(login_id))
    assert replay.get("/sessions").status_code == 302


def test_a_forged_login_id_is_refused(app: Any, auth: Any) -> None:
    """What the cookie used to hold (user id and version) names no login now."""
    user = auth.user("admin", "ada")
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = f"{user.id}:0"
    assert client.get("/sessions").status_code == 302
    replay = app.test_client()
    with app.app_context():
        replay.set_cookie("remember_token", encode_cookie(f"{user.id}:0"))
    assert replay.get("/sessions").status_code == 302


def test_last_seen_is_written_at_most_once_a_minute(app: Any, auth: Any, clock: Any) -> None:
    from sqlalchemy import select

    from webapp.accounts.logins import logins_t

    def last_seen() -> Any:
        with app.app_context():
            store = app.extensions["sessionboard.manager"].store
            with store.read() as conn:
                return conn.execute(select(logins_t.c.last_seen_at)).scalar_one()

    client = logged_in_admin(app, auth, clock)
    started = last_seen()
    clock.advance(seconds=59)
    client.get("/sessions")
    assert last_seen() == started
    clock.advance(seconds=1)
    client.get("/sessions")
    assert last_seen() == started + timedelta(minutes=1)


def test_your_logins_lists_the_live_ones(app: Any, auth: Any, clock: Any) -> None:
    first = logged_in_admin(app, auth, clock)
    second = app.test_client()
    second.post(
        "/login",
        data={"name": "ada", "password": TEST_PASSWORD, "csrf_token": form_token(second)},
        headers={"User-Agent": "Second Browser/1.0"},
        environ_overrides={"REMOTE_ADDR": "198.51.100.9"},
    )
    page = first.get("/account/logins").get_data(as_text=True)
    assert page.count("<tr") == 3  # the head and two logins
    assert "Second Browser/1.0" in page and "198.51.100.9" in page
    assert page.count("(this browser)") == 1
    token = form_token(second, "/account/logins")
    second.post("/logout", data={"csrf_token": token})
    page = first.get("/account/logins").get_data(as_text=True)
    assert page.count("<tr") == 2
    assert "Second Browser/1.0" not in page


def test_a_bad_lifetime_setting_stops_the_start(
    database_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp import create_app

    monkeypatch.setenv("SESSIONBOARD_INSTANCE_PATH", str(tmp_path / "instance"))
    config = {"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": database_url}
    with pytest.raises(ValueError, match="not a duration"):
        create_app({**config, "LOGIN_MAX_AGE": "a week"})
