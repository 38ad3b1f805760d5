"""Password hashes (the unknown-name path hashes like the real one) and the
password rule (common, breached-style and name-like passwords are refused)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.accounts.test_admin import user_named
from tests.accounts.test_login import post_login
from tests.auth_helpers import TEST_PASSWORD

WEAK_PASSWORDS = [
    ("12345678", "too easy to guess"),
    (" " * 8, "only spaces"),
    ("password1", "too easy to guess"),
    ("qwertyuiop", "too easy to guess"),
    ("iloveyou", "too easy to guess"),
    ("rita", "at least 8 characters"),
    ("rita1234", "user name"),
    ("RITA.rita", "user name"),
    ("x" * 1025, "at most 1024"),
    ("a good\x00password here", "control characters"),
]


@pytest.fixture
def hashed_with(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The method and parameters of every hash werkzeug computes from now on."""
    import werkzeug.security

    methods: list[str] = []
    real = werkzeug.security._hash_internal

    def recording(method: str, salt: str, password: str) -> tuple[str, str]:
        methods.append(method)
        return real(method, salt, password)

    monkeypatch.setattr(werkzeug.security, "_hash_internal", recording)
    return methods


@pytest.mark.parametrize("testing", [False, True])
def test_an_unknown_name_checks_a_hash_like_a_real_one(
    app: Any, client: Any, auth: Any, hashed_with: list[str], testing: bool
) -> None:
    """Timing cannot tell names apart: both paths hash with one method and one set
    of parameters (the real N=32768 outside tests)."""
    app.testing = testing
    auth.user("viewer", "vic")
    stored = user_named_hash(app, "vic")
    hashed_with.clear()
    assert post_login(client, "vic", "not the password").status_code == 401
    assert post_login(client, "nobody-by-this-name", "not the password").status_code == 401
    assert len(hashed_with) >= 2  # the user's hash, the dummy (made once, then checked)
    assert set(hashed_with) == {stored.partition("$")[0]}
    if not testing:
        assert hashed_with[0] == "scrypt:32768:8:1"


def user_named_hash(app: Any, name: str) -> str:
    """The stored password hash of user ``name``."""
    from sqlalchemy import select

    from webapp.accounts.service import users_t

    with app.app_context():
        with app.extensions["sessionboard.manager"].store.read() as conn:
            query = select(users_t.c.password_hash).where(users_t.c.name == name)
            return str(conn.execute(query).scalar_one())


@pytest.mark.parametrize(("password", "reason"), WEAK_PASSWORDS)
def test_the_users_page_refuses_a_weak_password(
    app: Any, client: Any, auth: Any, password: str, reason: str
) -> None:
    auth.login("admin", "ada")
    response = client.post(
        "/admin/users", data={"name": "rita", "role": "viewer", "password": password}
    )
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert user_named(app, "rita") is None


@pytest.mark.parametrize(("password", "reason"), WEAK_PASSWORDS)
def test_a_password_reset_refuses_a_weak_password(
    app: Any, client: Any, auth: Any, password: str, reason: str
) -> None:
    auth.login("admin", "ada")
    rita = auth.user("viewer", "rita")
    before = user_named_hash(app, "rita")
    response = client.post(f"/admin/users/{rita.id}/password", data={"password": password})
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert user_named_hash(app, "rita") == before


@pytest.mark.parametrize(("password", "reason"), WEAK_PASSWORDS[:4])
def test_create_user_refuses_a_weak_password(
    app: Any, runner: Any, password: str, reason: str
) -> None:
    result = runner.invoke(args=["create-user", "rita", "--password-stdin"], input=f"{password}\n")
    assert result.exit_code != 0
    assert reason in result.output
    assert user_named(app, "rita") is None


def test_a_strong_password_and_the_random_ones_pass(app: Any, client: Any, auth: Any) -> None:
    auth.login("admin", "ada")
    response = client.post(
        "/admin/users", data={"name": "rita", "role": "viewer", "password": TEST_PASSWORD}
    )
    assert response.status_code == 201
    response = client.post("/admin/users", data={"name": "abc", "role": "viewer"})
    assert response.status_code == 201
    shown = re.search(r"shown once\): (\S+)</p>", response.get_data(as_text=True))
    assert shown is not None
    assert "abc" not in shown.group(1).casefold()
    assert post_login(app.test_client(), "abc", shown.group(1)).status_code == 302


def test_the_first_admin_password_follows_the_rule(app: Any) -> None:
    from webapp.accounts.service import AccountError, ensure_admin

    with app.app_context(), pytest.raises(AccountError, match="too easy to guess"):
        ensure_admin("12345678")
