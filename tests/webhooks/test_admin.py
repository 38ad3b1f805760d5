"""Managing webhooks: the admin page and the ``webhook`` commands, on both
engines; bad input is a clear refusal that writes nothing; every change is
audited in its own transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.webhooks.conftest import Receiver, deliveries, make_dispatcher
from webapp.webhooks import service

BAD_URLS = [
    ("", "Give the receiver"),
    ("ftp://example.com/hook", "http:// or https://"),
    ("javascript:alert(1)", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("https://user:pw@example.com/hook", "no user or password"),
    ("https://token@example.com/hook", "no user or password"),
    ("https:///nohost", "needs a host"),
    ("https://example.com:99999/", "Not a URL"),
    ("https://example.com/a b", "no spaces"),
    ("https://example.com/\x00", "no spaces or control"),
    ("https://exämple.com/", "no spaces or control"),
    ("https://example.com/" + "a" * 2001, "at most 2000"),
    ("https://example.com/#frag", "fragment"),
]


def table(app: Any, name: str) -> list[Any]:
    from webapp.models import Base

    with app.app_context(), app.extensions["sessionboard.database"].read() as conn:
        return list(conn.execute(select(Base.metadata.tables[name])))


def audit_actions(app: Any) -> list[str]:
    return [row.action for row in table(app, "audit_log") if row.action.startswith("webhook")]


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_page_refuses_bad_urls_and_writes_nothing(
    app: Any, auth: Any, client: Any, url: str, message: str
) -> None:
    auth.login("admin")
    response = client.post("/admin/webhooks", data={"url": url, "events": ["failed"]})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert table(app, "webhooks") == [] and audit_actions(app) == []


def test_lone_surrogate_is_refused(app: Any, auth: Any, client: Any) -> None:
    """As Python holds it; as a broken client sends it (its UTF-8-like bytes), the
    form keeps the escapes as they are: a plain ASCII URL."""
    auth.login("admin")
    body = "url=https%3A%2F%2Fexample.com%2F%ED%A0%80&events=failed"
    response = client.post(
        "/admin/webhooks", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 201
    [row] = table(app, "webhooks")
    assert row.url == "https://example.com/%ED%A0%80"
    client.post(f"/admin/webhooks/{row.id}/remove")
    with pytest.raises(service.WebhookError), app.app_context():
        service.add_webhook("https://example.com/\ud800", ["failed"], actor="t")
    with pytest.raises(service.WebhookError), app.app_context():
        service.add_webhook("https://example.com/", ["failed"], secret="\ud800" * 20, actor="t")
    assert table(app, "webhooks") == []


@pytest.mark.parametrize(
    ("events", "secret", "message"),
    [
        ([], "", "at least one event"),
        (["failed", "exploded"], "", "Unknown event exploded"),
        (["test"], "", "Unknown event test"),
        (["failed"], "short", "16 to 200"),
        (["failed"], "x" * 201, "16 to 200"),
        (["failed"], "sixteen chars but spaces", "without spaces"),
    ],
)
def test_page_refuses_bad_events_and_secrets(
    app: Any, auth: Any, client: Any, events: list[str], secret: str, message: str
) -> None:
    auth.login("admin")
    data = {"url": "https://example.com/hook", "events": events, "secret": secret}
    response = client.post("/admin/webhooks", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert table(app, "webhooks") == []


def test_page_adds_shows_the_secret_once_tests_disables_removes_with_audit(
    app: Any, auth: Any, client: Any, receiver: Receiver
) -> None:
    auth.login("admin")
    added = client.post(
        "/admin/webhooks",
        data={"url": receiver.url, "events": ["failed", "flagged"], "slack": "1"},
    )
    assert added.status_code == 201
    [row] = table(app, "webhooks")
    page = added.get_data(as_text=True)
    assert row.secret.startswith("whsec_") and row.secret in page
    assert row.events == ",failed,flagged," and row.format == "slack"
    assert row.base_url == "http://localhost/" and row.created_by == "test-admin"
    listing = client.get("/admin/webhooks").get_data(as_text=True)
    assert row.secret not in listing and receiver.url in listing

    assert client.post(f"/admin/webhooks/{row.id}/test").status_code == 200
    make_dispatcher(app).tick()
    [got] = receiver.received
    assert got.json == {"text": "Sessionboard: a test event. This webhook works."}
    log = client.get("/admin/webhooks", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="delivery-log"' in log and "<html" not in log and "delivered" in log

    assert (
        client.post(f"/admin/webhooks/{row.id}/enabled", data={"enabled": "0"}).status_code == 200
    )
    assert table(app, "webhooks")[0].enabled is False or table(app, "webhooks")[0].enabled == 0
    assert client.post(f"/admin/webhooks/{row.id}/remove").status_code == 200
    assert table(app, "webhooks") == [] and deliveries(app) == []
    assert client.post(f"/admin/webhooks/{row.id}/remove").status_code == 404
    assert audit_actions(app) == ["webhook.add", "webhook.test", "webhook.change", "webhook.remove"]


def test_given_secret_is_kept_and_not_shown(app: Any, auth: Any, client: Any) -> None:
    auth.login("admin")
    secret = "my-own-secret-0123456789"
    response = client.post(
        "/admin/webhooks",
        data={"url": "https://example.com/h", "events": ["expired"], "secret": secret},
    )
    assert response.status_code == 201
    assert secret not in response.get_data(as_text=True)
    assert table(app, "webhooks")[0].secret == secret


def test_untrusted_text_is_escaped_on_the_page(
    app: Any, auth: Any, client: Any, receiver: Receiver
) -> None:
    """A URL and a receiver's answer are shown as text, never as markup."""
    url = receiver.url + '?"><script>alert(1)</script>'
    with app.app_context():
        service.add_webhook(url, ["failed"], actor="test")
    receiver.statuses.append(500)
    manager = app.extensions["sessionboard.manager"]
    manager.set_failed(manager.create("x").id, "boom")
    make_dispatcher(app).tick()
    auth.login("admin")
    page = client.get("/admin/webhooks").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "<b>down</b>" not in page and "&lt;b&gt;down&lt;/b&gt;" in page


def test_a_change_and_its_audit_entry_are_one_transaction(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.accounts import audit

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit down")

    monkeypatch.setattr(audit, "record", broken)
    with app.app_context(), pytest.raises(RuntimeError):
        service.add_webhook("https://example.com/h", ["failed"], actor="t")
    assert table(app, "webhooks") == []


# -- the command line -------------------------------------------------------------------


def test_cli_add_list_remove(app: Any, runner: Any) -> None:
    result = runner.invoke(
        args=["webhook", "add", "https://example.com/h", "--events", "failed,expired"]
    )
    assert result.exit_code == 0, result.output
    [row] = table(app, "webhooks")
    assert row.secret in result.stdout and row.events == ",failed,expired,"
    assert row.created_by == "cli"
    given = runner.invoke(
        args=["webhook", "add", "http://10.0.0.5/h", "--events", "flagged",
              "--secret", "s" * 20, "--slack"]
    )  # fmt: skip
    assert given.exit_code == 0 and "s" * 20 not in given.stdout
    listed = runner.invoke(args=["webhook", "list"])
    assert listed.exit_code == 0
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 2 and "failed,expired" in lines[0] and "\tslack\t" in lines[1]
    assert row.secret not in listed.stdout
    removed = runner.invoke(args=["webhook", "remove", str(row.id)])
    assert removed.exit_code == 0
    assert len(table(app, "webhooks")) == 1
    assert audit_actions(app) == ["webhook.add", "webhook.add", "webhook.remove"]


@pytest.mark.parametrize(
    "args",
    [
        ["webhook", "add", "ftp://example.com/h", "--events", "failed"],
        ["webhook", "add", "https://u:p@example.com/h", "--events", "failed"],
        ["webhook", "add", "https://example.com/h", "--events", "failed,nope"],
        ["webhook", "add", "https://example.com/h", "--events", ","],
        ["webhook", "add", "https://example.com/h"],
        ["webhook", "add", "https://example.com/h", "--events", "failed", "--secret", "short"],
        ["webhook", "remove", "999"],
        ["webhook", "remove", "x"],
        ["webhook", "remove", "0"],
    ],
)
def test_cli_bad_input_exits_2_and_changes_nothing(app: Any, runner: Any, args: list[str]) -> None:
    with app.app_context():
        service.add_webhook("https://example.com/keep", ["failed"], actor="t")
    before = table(app, "webhooks"), table(app, "audit_log")
    result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert "Error" in result.output
    assert (table(app, "webhooks"), table(app, "audit_log")) == before
