"""A change and its audit entry commit together: when the entry cannot be written,
the change is undone too (dashboard, review and API), on both engines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from webapp.accounts import audit
from webapp.accounts.tokens import Scope, create_token
from webapp.sessions import Manager, Message, Session

HX = {"HX-Request": "true"}


def _audit_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the audit log cannot be written")

    monkeypatch.setattr(audit, "record", refuse)


@pytest.mark.parametrize(
    ("path", "form", "unchanged"),
    [
        ("close", {}, lambda s: s.status == "running"),
        ("fail", {"reason": "broken"}, lambda s: s.status == "running"),
        ("expiry", {"never": "1"}, lambda s: s.expires_at is not None),
        ("notes", {"note": "look here"}, lambda s: s.message_count == 1),
        ("delete", {}, lambda s: s is not None),
    ],
)
def test_a_dashboard_action_is_undone_when_its_audit_entry_fails(
    client: Any,
    auth: Any,
    app_manager: Manager,
    make_session: Callable[..., Session],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    form: dict[str, str],
    unchanged: Callable[[Session | None], bool],
) -> None:
    session = make_session("running", messages=[Message("user", "hello")])
    auth.login("admin")
    _audit_fails(monkeypatch)
    response = client.post(f"/sessions/{session.id}/{path}", data=form, headers=HX)
    assert response.status_code == 500
    assert unchanged(app_manager.get(session.id))


def test_clear_and_keep_are_undone_too(
    client: Any,
    auth: Any,
    app_manager: Manager,
    make_session: Callable[..., Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = make_session("completed")
    auth.login("admin")
    _audit_fails(monkeypatch)
    assert client.post("/admin/clear", data={"confirm": "CLEAR"}, headers=HX).status_code == 500
    assert client.post(f"/review/sessions/{session.id}/keep", headers=HX).status_code == 500
    stored = app_manager.get(session.id)
    assert stored is not None and not stored.keep


def test_api_deletes_are_undone_when_their_audit_entry_fails(
    app: Any, client: Any, app_manager: Manager, make_session: Callable[..., Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    session = make_session("completed")
    with app.app_context():
        _info, token = create_token(app_manager.store.engine, "admin", Scope.ADMIN)
    headers = {"Authorization": f"Bearer {token}"}
    _audit_fails(monkeypatch)
    assert client.delete(f"/api/v1/sessions/{session.id}", headers=headers).status_code == 500
    assert client.delete("/api/v1/sessions", headers=headers).status_code == 500
    assert app_manager.get(session.id) is not None
