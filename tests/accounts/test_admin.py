"""Admin pages (users, API tokens, audit log), the create-user command and the
first-run admin."""

from __future__ import annotations

import re
from typing import Any

from tests.accounts.test_login import audit_actions, post_login


def user_named(app: Any, name: str) -> Any:
    from webapp.accounts.service import get_user_by_name

    with app.app_context():
        return get_user_by_name(name)


def test_admin_manages_users(app: Any, client: Any, auth: Any) -> None:
    auth.login("admin", "ada")
    response = client.post("/admin/users", data={"name": "rita", "role": "reviewer"})
    assert response.status_code == 201
    password = re.search(r"shown once\): (\S+)</p>", response.get_data(as_text=True)).group(1)
    rita = user_named(app, "rita")
    assert (rita.role, rita.disabled) == ("reviewer", False)
    assert client.post("/admin/users", data={"name": "rita", "role": "viewer"}).status_code == 400
    client.post(f"/admin/users/{rita.id}/role", data={"role": "viewer"})
    client.post(f"/admin/users/{rita.id}/password", data={"password": "another password"})
    client.post(f"/admin/users/{rita.id}/disabled", data={"disabled": "1"})
    rita = user_named(app, "rita")
    assert (rita.role, rita.disabled) == ("viewer", True)
    other = app.test_client()
    assert post_login(other, "rita", "another password").status_code == 401
    client.post(f"/admin/users/{rita.id}/disabled", data={"disabled": "0"})
    assert post_login(other, "rita", password).status_code == 401
    assert post_login(other, "rita", "another password").status_code == 302
    assert [a for actor, a in audit_actions(app, actor="ada")] == [
        "user.create",
        "user.role",
        "user.password",
        "user.disable",
        "user.enable",
    ]


def test_the_last_admin_cannot_be_demoted_or_disabled(app: Any, client: Any, auth: Any) -> None:
    auth.login("admin", "ada")
    ada = user_named(app, "ada")
    response = client.post(f"/admin/users/{ada.id}/role", data={"role": "viewer"})
    assert response.status_code == 409
    assert "last enabled admin" in response.get_data(as_text=True)
    assert client.post(f"/admin/users/{ada.id}/disabled", data={"disabled": "1"}).status_code == 409
    assert user_named(app, "ada").role == "admin"


def test_short_password_is_refused(client: Any, auth: Any) -> None:
    auth.login("admin")
    response = client.post("/admin/users", data={"name": "bob", "role": "viewer", "password": "x"})
    assert response.status_code == 400
    assert "at least 8 characters" in response.get_data(as_text=True)


def test_admin_manages_api_tokens(app: Any, client: Any, auth: Any) -> None:
    from webapp.accounts import tokens

    auth.login("admin", "ada")
    response = client.post("/admin/tokens", data={"name": "ci runner", "scope": "ingest"})
    assert response.status_code == 201
    token = re.search(r'class="token-value">([^<]+)<', response.get_data(as_text=True)).group(1)
    engine = app.extensions["sessionboard.manager"].store.engine
    with app.app_context():
        assert tokens.authenticate(engine, token) is not None
        [info] = tokens.list_tokens(engine)
    assert token not in client.get("/admin/tokens").get_data(as_text=True)
    assert client.post(f"/admin/tokens/{info.id}/revoke").status_code == 200
    assert client.post(f"/admin/tokens/{info.id}/revoke").status_code == 409
    with app.app_context():
        assert tokens.authenticate(engine, token) is None
    assert [a for _, a in audit_actions(app, actor="ada")] == ["token.create", "token.revoke"]


def test_audit_page_filters_and_pages(app: Any, client: Any, auth: Any) -> None:
    from webapp.accounts import audit

    with app.app_context():
        for i in range(120):
            audit.record("verdict", session_id=f"s{i % 2}", actor="rita", detail={"n": i})
        audit.record("comment", session_id="s1", actor="ada")
    auth.login("admin")
    page = client.get("/admin/audit?actor=rita&session=s1").get_data(as_text=True)
    assert page.count('class="audit-entry"') == 60
    page = client.get("/admin/audit?action=verdict").get_data(as_text=True)
    assert page.count('class="audit-entry"') == 100
    more = re.search(r'<a href="([^"]+)" hx-get', page).group(1).replace("&amp;", "&")
    rest = client.get(more, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert rest.count('class="audit-entry"') == 20
    assert "<html" not in rest
    assert "n: 0<" in rest  # the oldest entry is on the last page
    assert client.get("/admin/audit?since=2000-01-01&until=2000-01-02").status_code == 200
    assert "No entries" in client.get("/admin/audit?until=2000-01-02").get_data(as_text=True)
    assert client.get("/admin/audit?since=yesterday").status_code == 400


def test_audit_log_has_no_edit_or_delete_route(app: Any) -> None:
    for rule in app.url_map.iter_rules():
        if "audit" in rule.rule:
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule


def test_create_user_command(app: Any, runner: Any) -> None:
    result = runner.invoke(
        args=["create-user", "rita", "--role", "reviewer", "--password-stdin"],
        input="a long password\n",
    )
    assert result.exit_code == 0, result.output
    client = app.test_client()
    assert post_login(client, "rita", "a long password").status_code == 302
    result = runner.invoke(args=["create-user", "vic"])
    assert result.exit_code == 0
    printed = re.search(r"password: (\S+)", result.output).group(1)
    assert post_login(app.test_client(), "vic", printed).status_code == 302
    assert user_named(app, "vic").role == "viewer"
    duplicate = runner.invoke(args=["create-user", "vic", "--role", "admin"])
    assert duplicate.exit_code != 0
    assert "exists already" in duplicate.output
    assert runner.invoke(args=["create-user", "x", "--role", "boss"]).exit_code != 0
    assert audit_actions(app, actor="cli") == [("cli", "user.create"), ("cli", "user.create")]


def test_first_run_creates_one_admin(app: Any, capsys: Any) -> None:
    from webapp.accounts import ensure_first_admin

    hooks = app.extensions["sessionboard.before_serve"]
    assert ensure_first_admin in hooks
    ensure_first_admin(app)
    printed = re.search(r"password (\S+)", capsys.readouterr().err).group(1)
    assert post_login(app.test_client(), "admin", printed).status_code == 302
    ensure_first_admin(app)
    assert capsys.readouterr().err == ""


def test_first_run_takes_the_configured_password(app: Any, capsys: Any) -> None:
    from webapp.accounts import ensure_first_admin

    app.config["ADMIN_PASSWORD"] = "from the environment"
    ensure_first_admin(app)
    assert "from the environment" not in capsys.readouterr().err
    assert post_login(app.test_client(), "admin", "from the environment").status_code == 302
