"""Every URL rule of the app, as anonymous, viewer, reviewer and admin, for every
method: the answer must match the declared permission of the route.

A route missing from ``PERMISSIONS`` fails the test: a new route must be classified.
"""

from __future__ import annotations

from typing import Any

from webapp.sessions import Message

#: No login needed (anyone gets an answer that is not a login redirect).
PUBLIC = "public"
#: The token-authenticated JSON API: 401 without a token, browser login or not.
TOKEN = "token"
#: Any logged-in user (reads, logging out).
LOGIN = "login"
#: Reviewers and admins (review actions, status changes).
REVIEW = "review"
#: Admins only (users, tokens, audit log, deletions, clears, purges).
ADMIN = "admin"

#: endpoint -> access class, or {method: access class}.
PERMISSIONS: dict[str, str | dict[str, str]] = {
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    "accounts.login": PUBLIC,
    "dashboard.favicon": PUBLIC,
    "api.openapi": PUBLIC,
    "accounts.logout": LOGIN,
    "accounts.logout_everywhere": LOGIN,
    "accounts.your_logins": LOGIN,
    "accounts.users": ADMIN,
    "accounts.create_user": ADMIN,
    "accounts.change_role": ADMIN,
    "accounts.change_disabled": ADMIN,
    "accounts.change_password": ADMIN,
    "accounts.end_logins": ADMIN,
    "accounts.tokens": ADMIN,
    "accounts.create_token": ADMIN,
    "accounts.revoke_token": ADMIN,
    "accounts.audit_log": ADMIN,
    "api.create_session": TOKEN,
    "api.list_sessions": TOKEN,
    "api.search": TOKEN,
    "api.usage": TOKEN,
    "api.clear_sessions": TOKEN,
    "api.get_session": TOKEN,
    "api.update_session": TOKEN,
    "api.delete_session": TOKEN,
    "api.append_messages": TOKEN,
    "api.list_messages": TOKEN,
    "api.stats": TOKEN,
    "dashboard.index": LOGIN,
    "dashboard.sessions": LOGIN,
    "dashboard.session_page": LOGIN,
    "dashboard.transcript_turns": LOGIN,
    "dashboard.transcript_outline": LOGIN,
    "dashboard.full_message": LOGIN,
    "dashboard.poll": LOGIN,
    "dashboard.sessions_live": LOGIN,
    "dashboard.stats": LOGIN,
    "dashboard.usage_stats": LOGIN,
    "dashboard.usage_csv": LOGIN,
    "dashboard.close_session": REVIEW,
    "dashboard.fail_session": REVIEW,
    "dashboard.set_expiry": REVIEW,
    "dashboard.add_note": REVIEW,
    "dashboard.confirm_delete": ADMIN,
    "dashboard.delete_session": ADMIN,
    "dashboard.admin": ADMIN,
    "dashboard.clear": ADMIN,
    "dashboard.purge": ADMIN,
    "dashboard.purge_preview": ADMIN,
    "review.inbox": LOGIN,
    "review.next_session": LOGIN,
    "review.previous_session": LOGIN,
    "review.set_verdict": REVIEW,
    "review.add_comment": REVIEW,
    "review.add_tag": REVIEW,
    "review.remove_tag": REVIEW,
    "review.set_keep": REVIEW,
    "transfer.session_markdown": LOGIN,
    "transfer.session_json": LOGIN,
    "transfer.upload": ADMIN,
    "queues.views": LOGIN,
    "queues.create_view": LOGIN,
    "queues.update_view": LOGIN,
    "queues.delete_view": LOGIN,
    "queues.index": LOGIN,
    "queues.queue_page": LOGIN,
    "queues.create_queue": ADMIN,
    "queues.delete_queue": ADMIN,
    "queues.set_reviewers": ADMIN,
    "queues.add_criterion": ADMIN,
    "queues.remove_criterion": ADMIN,
    "queues.next_item": REVIEW,
    "queues.claim": REVIEW,
    "queues.score": REVIEW,
    "shared.page_view": PUBLIC,
    "shared.turns": PUBLIC,
    "shares.create": REVIEW,
    "shares.revoke": REVIEW,
    "shares.all_links": ADMIN,
    "api.create_share": TOKEN,
    "api.revoke_share": TOKEN,
    "webhooks.admin": ADMIN,
    "webhooks.add": ADMIN,
    "webhooks.set_enabled": ADMIN,
    "webhooks.remove": ADMIN,
    "webhooks.send_test": ADMIN,
}

ROLES = [None, "viewer", "reviewer", "admin"]
RANK = {None: -1, "viewer": 0, "reviewer": 1, "admin": 2}
NEEDS = {LOGIN: 0, REVIEW: 1, ADMIN: 2}


def access_of(endpoint: str, method: str) -> str | None:
    """The declared access class of a route and method, or None if unclassified."""
    declared = PERMISSIONS.get(endpoint)
    if isinstance(declared, dict):
        return declared.get(method)
    return declared


class Fixtures:
    """Real ids for path parameters; the session is made again when an admin
    action deleted it."""

    def __init__(self, app: Any, auth: Any) -> None:
        from webapp.accounts import tokens

        self.app = app
        self.manager = app.extensions["sessionboard.manager"]
        self.target_user = auth.user("viewer", "target")
        with app.app_context():
            self.token_id = tokens.create_token(self.manager.store.engine, "matrix")[0].id
            from webapp.webhooks import service as webhooks

            hook = webhooks.add_webhook("http://127.0.0.1:9/matrix", ["failed"], actor="test")
            self.webhook_id = hook[0].id
        self.session_id = ""
        self.message_id = 0

    def values(self) -> dict[str, Any]:
        if not self.session_id or self.manager.get(self.session_id) is None:
            session = self.manager.create("matrix session")
            self.manager.set_running(session.id)
            self.manager.append_message(session.id, Message("user", "hello"))
            self.session_id = session.id
            self.message_id = self.manager.get_messages(session.id)[0].id
        return {
            "session_id": self.session_id,
            "message_id": self.message_id,
            "user_id": self.target_user.id,
            "token_id": self.token_id,
            "webhook_id": self.webhook_id,
            "filename": "app.css",
            "view_id": 1,
            "queue_id": 1,
            "criterion_id": 1,
            "token": "no-such-token",
            "share_id": 999_999,
        }


def snapshot(app: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to prove a refused request changed nothing."""
    from webapp.models import Base

    engine = app.extensions["sessionboard.manager"].store.engine
    with engine.connect() as conn:
        return {
            t.name: sorted(map(tuple, conn.execute(t.select())), key=repr)
            for t in Base.metadata.sorted_tables
        }


def check(role: str | None, access: str, method: str, response: Any) -> str | None:
    """What is wrong with ``response`` for ``role`` on a route of ``access``, or None."""
    status = response.status_code
    location = response.headers.get("Location", "")
    body = response.get_data(as_text=True)
    if status >= 500:
        return f"server error {status}"
    if "form expired" in body:
        return "CSRF refused (the test client sends a valid token)"
    if access == PUBLIC:
        return "login asked" if location.startswith("/login") or status == 403 else None
    if access == TOKEN:
        return None if status == 401 else f"{status}, expected 401 without a token"
    if role is None:
        if status == 302 and location.startswith("/login"):
            return None
        return f"{status} {location}, expected a redirect to /login"
    if RANK[role] < NEEDS[access]:
        return None if status == 403 else f"{status}, expected 403"
    # (POST /logout rightly ends at /login; a GET sent there was not let in.)
    if status in (401, 403) or (method == "GET" and location.startswith("/login")):
        return f"{status} {location}, expected to be let through"
    return None


def test_every_route_answers_each_role_as_declared(app: Any, client: Any, auth: Any) -> None:
    fixtures = Fixtures(app, auth)
    unclassified: list[str] = []
    wrong: list[str] = []
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    for role in ROLES:
        for rule in rules:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                access = access_of(rule.endpoint, method)
                if access is None:
                    unclassified.append(f"{method} {rule.rule} ({rule.endpoint})")
                    continue
                if role is None:
                    auth.logout()
                    auth.csrf()
                else:
                    auth.login(role)
                values = fixtures.values()
                unknown = set(rule.arguments) - set(values)
                assert not unknown, f"no test value for {unknown} in {rule.rule}"
                path = rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)[1]
                refused = role is None or (access in NEEDS and RANK[role] < NEEDS[access])
                before = snapshot(app) if refused and access != PUBLIC else None
                response = client.open(path, method=method)
                problem = check(role, access, method, response)
                response.close()
                if problem is None and before is not None and snapshot(app) != before:
                    problem = "refused, but the database changed"
                if problem:
                    wrong.append(f"{role or 'anonymous'} {method} {path}: {problem}")
    assert not sorted(set(unclassified)), "routes missing from PERMISSIONS:\n" + "\n".join(
        sorted(set(unclassified))
    )
    assert not wrong, "\n".join(wrong)


def test_permission_table_has_no_stale_routes(app: Any) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert sorted(set(PERMISSIONS) - endpoints) == []


def test_htmx_anonymous_gets_401_not_a_page(client: Any) -> None:
    response = client.get("/review", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_viewer_post_is_refused_with_nothing_changed(app: Any, client: Any, auth: Any) -> None:
    manager = app.extensions["sessionboard.manager"]
    session = manager.create("look but do not touch")
    auth.login("viewer")
    before = snapshot(app)
    for path, data in [
        (f"/review/sessions/{session.id}/verdict", {"verdict": "approved"}),
        (f"/review/sessions/{session.id}/tags", {"tag": "x"}),
        (f"/review/sessions/{session.id}/keep", {"keep": "1"}),
        (f"/sessions/{session.id}/close", {}),
        (f"/sessions/{session.id}/delete", {}),
        ("/admin/users", {"name": "mallory", "role": "admin", "password": "long enough pw"}),
    ]:
        assert client.post(path, data=data).status_code == 403, path
    assert snapshot(app) == before
    assert manager.get(session.id).status == "pending"


def test_gate_refuses_a_viewer_on_an_undecorated_change(app: Any, auth: Any) -> None:
    """A view that forgot its role decorator still refuses a viewer's POST."""
    app.add_url_rule("/forgot", "forgot", lambda: "changed", methods=["GET", "POST"])
    client = app.test_client()
    assert client.post("/forgot").status_code in (302, 400)
    helper = type(auth)(app, client)
    helper.login("viewer")
    assert client.get("/forgot").status_code == 200
    assert client.post("/forgot").status_code == 403
    helper.login("reviewer")
    assert client.post("/forgot").status_code == 200


def test_csrf_enabled_by_default_and_required(app: Any, auth: Any) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    client = app.test_client()
    helper = type(auth)(app, client)
    helper.login("admin")
    client.environ_base.pop("HTTP_X_CSRFTOKEN")
    manager = app.extensions["sessionboard.manager"]
    session = manager.create("keep me")
    before = snapshot(app)
    response = client.post(f"/sessions/{session.id}/delete")
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)
    assert snapshot(app) == before
