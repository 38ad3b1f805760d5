"""The login throttle (OWASP): per (name, address) pair, a much higher per-name
ceiling, a per-address ceiling; atomic under parallel attempts; a clear wait."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from tests.accounts.test_login import form_token
from tests.auth_helpers import TEST_PASSWORD

ATTACKER = "203.0.113.7"
OWNER = "198.51.100.20"


def attempt(client: Any, name: str, password: str, address: str, token: str | None = None) -> Any:
    """POST the login form from ``address``."""
    token = token or form_token(client)
    return client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": token},
        environ_overrides={"REMOTE_ADDR": address},
    )


def password_checks(app: Any) -> int:
    """How many login attempts had their password checked (not refused by the throttle)."""
    from webapp.accounts.audit import AuditFilter, entries

    with app.app_context():
        rows, _ = entries(AuditFilter(action="login.failed"), limit=10_000)
    return sum(1 for r in rows if "throttled" not in r["detail"])


def test_parallel_wrong_passwords_check_exactly_the_limit(app: Any, auth: Any) -> None:
    from webapp.accounts.throttle import MAX_FAILURES_PER_PAIR

    auth.user("admin", "ada")
    clients = [app.test_client() for _ in range(40)]
    tokens = [form_token(c) for c in clients]
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def fire(client: Any, token: str) -> None:
        start.wait()
        statuses.append(attempt(client, "ada", "wrong password", ATTACKER, token).status_code)

    threads = [
        threading.Thread(target=fire, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [401] * MAX_FAILURES_PER_PAIR + [429] * (40 - MAX_FAILURES_PER_PAIR)
    assert password_checks(app) == MAX_FAILURES_PER_PAIR


def test_a_hammered_name_still_lets_its_owner_in_from_elsewhere(
    app: Any, client: Any, auth: Any
) -> None:
    from webapp.accounts.throttle import MAX_FAILURES_PER_PAIR

    auth.user("admin", "ada")
    for _ in range(MAX_FAILURES_PER_PAIR):
        assert attempt(client, "ada", "wrong password", ATTACKER).status_code == 401
    refused = attempt(client, "ada", TEST_PASSWORD, ATTACKER)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    page = refused.get_data(as_text=True)
    assert "Too many failed logins for this name from your address" in page
    assert "Try again in 15 minutes" in page
    owner = app.test_client()
    assert attempt(owner, "ada", TEST_PASSWORD, OWNER).status_code == 302
    # Refused attempts checked no password.
    assert password_checks(app) == MAX_FAILURES_PER_PAIR


def test_the_name_ceiling_holds_across_addresses(app: Any, client: Any, auth: Any) -> None:
    from webapp.accounts.throttle import MAX_FAILURES_PER_NAME, MAX_FAILURES_PER_PAIR

    auth.user("admin", "ada")
    token = form_token(client)
    for i in range(MAX_FAILURES_PER_NAME):
        address = f"10.0.{i // MAX_FAILURES_PER_PAIR}.{i % MAX_FAILURES_PER_PAIR}"
        assert attempt(client, "ada", "wrong password", address, token).status_code == 401
    refused = attempt(client, "ada", TEST_PASSWORD, OWNER, token)
    assert refused.status_code == 429
    assert "Too many failed logins for this name. Try again in" in refused.get_data(as_text=True)
    # Other names are not affected.
    auth.user("viewer", "vic")
    assert attempt(app.test_client(), "vic", TEST_PASSWORD, OWNER).status_code == 302


def test_the_address_ceiling_holds_across_names(app: Any, client: Any, auth: Any) -> None:
    from webapp.accounts.throttle import MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_PAIR

    auth.user("admin", "ada")
    token = form_token(client)
    for i in range(MAX_FAILURES_PER_ADDRESS):
        name = f"guess{i // (MAX_FAILURES_PER_PAIR - 1)}"
        assert attempt(client, name, "wrong password", ATTACKER, token).status_code == 401
    refused = attempt(client, "ada", TEST_PASSWORD, ATTACKER, token)
    assert refused.status_code == 429
    assert "Too many failed logins from your address" in refused.get_data(as_text=True)
    assert attempt(app.test_client(), "ada", TEST_PASSWORD, OWNER).status_code == 302


def test_a_success_forgives_the_pair(app: Any, client: Any, auth: Any) -> None:
    from webapp.accounts.throttle import MAX_FAILURES_PER_PAIR

    auth.user("admin", "ada")
    for _ in range(MAX_FAILURES_PER_PAIR - 1):
        assert attempt(client, "ada", "wrong password", OWNER).status_code == 401
    assert attempt(client, "ada", TEST_PASSWORD, OWNER).status_code == 302
    other = app.test_client()
    for _ in range(MAX_FAILURES_PER_PAIR - 1):
        assert attempt(other, "ada", "wrong password", OWNER).status_code == 401
    assert attempt(other, "ada", TEST_PASSWORD, OWNER).status_code == 302


def test_the_lock_lifts_when_the_window_passes(
    app: Any, client: Any, auth: Any, clock: Any
) -> None:
    from webapp.accounts.throttle import MAX_FAILURES_PER_PAIR, WINDOW

    app.extensions["sessionboard.manager"].clock = clock
    auth.user("admin", "ada")
    for _ in range(MAX_FAILURES_PER_PAIR):
        attempt(client, "ada", "wrong password", ATTACKER)
    clock.advance(WINDOW - timedelta(seconds=61))
    refused = attempt(client, "ada", TEST_PASSWORD, ATTACKER)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "61"
    assert "Try again in 2 minutes" in refused.get_data(as_text=True)
    clock.advance(seconds=61)
    assert attempt(client, "ada", TEST_PASSWORD, ATTACKER).status_code == 302


def test_odd_names_and_passwords_are_wrong_logins_not_errors(
    app: Any, client: Any, auth: Any
) -> None:
    """NUL, invalid UTF-8 and huge input through the form, lone surrogates straight
    to the service: each a wrong login, counted like any failure, never a 500."""
    from urllib.parse import quote

    from webapp.accounts import service

    auth.user("admin", "ada")
    token = form_token(client)
    for name, password in [
        ("ada%00", "wrong%20password"),
        ("ada", "wrong%00password"),
        ("%ED%A0%80ada", "wrong%20password"),
        ("ada", "wrong%20%ED%BF%BF%20password"),
        ("a" * 100_000, "b" * 100_000),
    ]:
        body = f"name={name}&password={password}&csrf_token={quote(token)}"
        response = client.post(
            "/login",
            data=body.encode(),
            content_type="application/x-www-form-urlencoded",
            environ_overrides={"REMOTE_ADDR": OWNER},
        )
        assert response.status_code == 401
    with app.test_request_context():
        for name, password in [("\ud800ada", "wrong password"), ("ada", "wrong \udfff pass")]:
            result = service.authenticate(name, password, address=OWNER, user_agent="\ud800")
            assert (result.user, result.refusal) == (None, None)
    assert password_checks(app) == 7
