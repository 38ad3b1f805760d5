"""Share links, on both engines: made by reviewers, opened without login, read-only,
redacted on request, counted and audited, revocable at once, gone when expired."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text

from tests.accounts.test_role_matrix import snapshot
from tests.corpus import CORPUS
from tests.shares.conftest import SECRET, make_link
from webapp.sessions import Manager, Message

SHARED_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _audit(app: Any, action: str) -> list[dict[str, Any]]:
    engine = app.extensions["sessionboard.manager"].store.engine
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT actor, session_id, detail FROM audit_log WHERE action = :a ORDER BY id"),
            {"a": action},
        )
        found = [dict(r._mapping) for r in rows]
    for entry in found:
        if isinstance(entry["detail"], str):
            entry["detail"] = json.loads(entry["detail"])
    return found


def _links(app: Any) -> list[dict[str, Any]]:
    engine = app.extensions["sessionboard.manager"].store.engine
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM share_links"))]


def test_a_reviewer_makes_a_link_and_only_its_hash_is_stored(
    app: Any, client: Any, auth: Any, session_id: str
) -> None:
    auth.login("reviewer")
    made = make_link(client, session_id)
    assert len(made.token) >= 43  # token_urlsafe(32): 256 bits
    [row] = _links(app)
    assert row["token_hash"] == hashlib.sha256(made.token.encode()).hexdigest()
    everything = repr(snapshot(app))
    assert made.token not in everything
    assert row["created_by"] == "test-reviewer"
    [entry] = _audit(app, "share.create")
    assert entry["actor"] == "test-reviewer" and entry["session_id"] == session_id
    # the session page lists it, and the address is shown only once
    page = client.get(f"/sessions/{session_id}").get_data(as_text=True)
    assert 'id="share-panel"' in page and "by test-reviewer" in page
    assert made.token not in page


def test_the_shared_page_opens_without_login_read_only(
    app: Any, client: Any, auth: Any, session_id: str
) -> None:
    auth.login("reviewer")
    made = make_link(client, session_id)
    stranger = app.test_client()
    response = stranger.get(made.path)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    for name, value in SHARED_HEADERS.items():
        assert response.headers[name] == value
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert '<meta name="robots" content="noindex, nofollow">' in body
    assert "Deployed <strong>fine</strong>" in body
    assert "<form" not in body
    assert "Set-Cookie" not in response.headers
    links = re.findall(r'(?:href|hx-get|action|src)="([^"]*)"', body)
    outside = [u for u in links if not u.startswith(("?", made.path, "/static/", "#"))]
    assert outside == []


def test_views_are_counted_and_audited_with_the_address(
    app: Any, client: Any, auth: Any, session_id: str
) -> None:
    auth.login("reviewer")
    made = make_link(client, session_id)
    stranger = app.test_client()
    for _ in range(2):
        assert (
            stranger.get(made.path, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200
        )
    # more turns are part of the view, not another one
    assert stranger.get(f"{made.path}/turns?after=0").status_code == 200
    [row] = _links(app)
    assert row["views"] == 2
    entries = _audit(app, "share.view")
    assert len(entries) == 2
    assert {e["actor"] for e in entries} == {f"share link {made.id}"}
    assert entries[0]["detail"]["address"] == "203.0.113.9"
    assert entries[0]["session_id"] == session_id


def test_unknown_expired_and_revoked_tokens_get_the_same_404(
    app: Any, client: Any, auth: Any, session_id: str, board: Manager, clock: Any
) -> None:
    auth.login("reviewer")
    stranger = app.test_client()
    unknown = stranger.get("/s/" + "x" * 43)
    revoked = make_link(client, session_id)
    client.post(f"/shares/{revoked.id}/revoke")
    short = make_link(client, session_id, expires_in="3600")
    assert stranger.get(short.path).status_code == 200
    clock.advance(hours=1)
    answers = [unknown, stranger.get(revoked.path), stranger.get(short.path)]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert len({a.get_data() for a in answers}) == 1
    for answer in answers:
        for name, value in SHARED_HEADERS.items():
            assert answer.headers[name] == value
    assert stranger.get(f"{short.path}/turns?after=0").status_code == 404
    assert [r["views"] for r in _links(app)] == [0, 1]


def test_redacted_links_redact_at_render_and_store_nothing_redacted(
    app: Any, client: Any, auth: Any, session_id: str, board: Manager
) -> None:
    auth.login("reviewer")
    plain = make_link(client, session_id)
    redacted = make_link(client, session_id, redact="1")
    stranger = app.test_client()
    assert SECRET in stranger.get(plain.path).get_data(as_text=True)
    body = stranger.get(redacted.path).get_data(as_text=True)
    assert SECRET not in body
    assert "[REDACTED:anthropic_key]" in body
    more = stranger.get(f"{redacted.path}/turns?after=0").get_data(as_text=True)
    assert SECRET not in more
    assert any(SECRET in m.content for m in board.get_messages(session_id) or [])


def test_stored_html_is_never_served_across_redaction(
    app: Any, client: Any, auth: Any, session_id: str, board: Manager, monkeypatch: Any
) -> None:
    """The secret's message has stored HTML (marked here, as the pass would store
    it): the plain link shows it, the redacted link never does (its text is
    another text), and a redacted render never reaches the plain link, in
    either order, with the process's cache shared by both."""
    from webapp import rendering
    from webapp.prerender import Prerenderer

    monkeypatch.setattr(rendering, "_cache", rendering.RenderCache(rendering.CACHE_BYTES))
    assert Prerenderer(board.store).run_pass().rendered == 2
    prompt = (board.get_messages(session_id) or [])[0]
    assert prompt.id is not None and SECRET in prompt.content
    marked = f"<p>stored: {SECRET}</p>"
    board.store.save_renders(
        rendering.VERSION, [(prompt.id, rendering.RenderCache.key(prompt.content), marked)]
    )
    auth.login("reviewer")
    plain = make_link(client, session_id)
    redacted = make_link(client, session_id, redact="1")
    stranger = app.test_client()
    for path in (plain.path, redacted.path, plain.path, redacted.path):
        body = stranger.get(path).get_data(as_text=True)
        if path == plain.path:
            assert marked in body
        else:
            assert SECRET not in body and "stored:" not in body
            assert "use the key [REDACTED:anthropic_key] to deploy" in body
    assert SECRET not in stranger.get(f"{redacted.path}/turns?after=0").get_data(as_text=True)


def test_comments_show_only_when_chosen_and_without_forms(
    app: Any, client: Any, auth: Any, session_id: str, board: Manager
) -> None:
    auth.login("reviewer")
    client.post(f"/review/sessions/{session_id}/comments", data={"body": "Looks *risky*"})
    message_id = (board.get_messages(session_id) or [])[0].id
    client.post(
        f"/review/sessions/{session_id}/comments",
        data={"body": f"this line leaks {SECRET}", "message_id": str(message_id)},
    )
    without = make_link(client, session_id)
    with_comments = make_link(client, session_id, comments="1", redact="1")
    stranger = app.test_client()
    assert "risky" not in stranger.get(without.path).get_data(as_text=True)
    body = stranger.get(with_comments.path).get_data(as_text=True)
    assert "Looks <em>risky</em>" in body
    assert "this line leaks [REDACTED:anthropic_key]" in body
    assert SECRET not in body
    assert "<form" not in body and "<textarea" not in body


def test_subagents_show_as_cards_without_a_way_to_them(
    app: Any, client: Any, auth: Any, board: Manager
) -> None:
    """Decided: a shared page shows a subagent's card (status, size) but neither a
    link to its session nor its transcript in place; only the link's session is
    reachable, whatever parameters are sent."""
    from webapp.transfer.importer import Importer

    folder = CORPUS / "claude-code-log__"
    parent_id = "ef958aa1-0e93-49f0-bb71-150f63befcd1"
    child_id = parent_id + "-agent-a52886dc180afb356"
    importer = Importer(board, remember=False)
    importer.run(
        importer.plan([f"{folder}{parent_id}.jsonl", f"{folder}agent-a52886dc180afb356.jsonl"])
    )
    assert board.get(child_id) is not None
    auth.login("reviewer")
    on_dashboard = client.get(f"/sessions/{parent_id}?tools=1").get_data(as_text=True)
    assert f"/sessions/{child_id}" in on_dashboard  # the reviewer's page links to it
    made = make_link(client, parent_id)
    stranger = app.test_client()
    body = stranger.get(f"{made.path}?tools=1").get_data(as_text=True)
    assert 'class="subagent-card"' in body
    assert child_id not in " ".join(re.findall(r'(?:href|hx-get)="([^"]*)"', body))
    assert "subagent-transcript" not in body
    first = (board.get_messages(parent_id) or [])[0].id
    for query, same_as in (
        (f"after={first}&session_id={child_id}", f"after={first}"),
        (f"embed=1&session={child_id}", ""),
    ):
        more = stranger.get(f"{made.path}/turns?{query}").get_data(as_text=True)
        assert more == stranger.get(f"{made.path}/turns?{same_as}").get_data(as_text=True)
        assert "data-turn=" in more


def test_revoking_is_for_the_creator_or_an_admin_and_works_at_once(
    app: Any, client: Any, auth: Any, session_id: str
) -> None:
    auth.login("reviewer", "alice")
    made = make_link(client, session_id)
    stranger = app.test_client()
    assert stranger.get(made.path).status_code == 200
    auth.login("reviewer", "bob")
    before = snapshot(app)
    assert client.post(f"/shares/{made.id}/revoke").status_code == 403
    assert snapshot(app) == before
    auth.login("viewer")
    before = snapshot(app)
    assert client.post(f"/shares/{made.id}/revoke").status_code == 403
    assert (
        client.post(f"/shares/sessions/{session_id}", data={"expires_in": "60"}).status_code == 403
    )
    assert snapshot(app) == before
    auth.login("reviewer", "alice")
    response = client.post(f"/shares/{made.id}/revoke", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "revoked" in response.get_data(as_text=True)
    assert stranger.get(made.path).status_code == 404
    other = make_link(client, session_id)
    auth.login("admin")
    assert client.post(f"/shares/{other.id}/revoke", data={"back": "admin"}).status_code == 303
    assert stranger.get(other.path).status_code == 404
    assert [e["actor"] for e in _audit(app, "share.revoke")] == ["alice", "test-admin"]
    assert client.post("/shares/999999/revoke").status_code == 404


@pytest.mark.parametrize(
    "value", ["0", "-5", "abc", "", "1.5", str(31 * 86400), "9" * 40, "\x00", "²", "\ud800"]
)
def test_a_bad_expiry_is_a_400_and_changes_nothing(
    app: Any, client: Any, auth: Any, session_id: str, value: str
) -> None:
    auth.login("reviewer")
    before = snapshot(app)
    # sent as a browser would, a lone surrogate as the bytes a broken client sends
    body = "expires_in=" + quote(value.encode("utf-8", "surrogatepass"), safe="")
    form = "application/x-www-form-urlencoded"
    response = client.post(f"/shares/sessions/{session_id}", data=body, content_type=form)
    assert response.status_code == 400
    fragment = client.post(
        f"/shares/sessions/{session_id}",
        data=body,
        content_type=form,
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 400
    assert "expires_in" in fragment.get_data(as_text=True)
    assert snapshot(app) == before


def test_an_unknown_session_is_a_404(app: Any, client: Any, auth: Any) -> None:
    auth.login("reviewer")
    before = snapshot(app)
    response = client.post("/shares/sessions/nope", data={"expires_in": "60"})
    assert response.status_code == 404
    assert snapshot(app) == before


def test_the_max_age_is_a_setting(app: Any, client: Any, auth: Any, session_id: str) -> None:
    app.config["SHARE_MAX_AGE"] = "2d"
    auth.login("reviewer")
    page = client.get(f"/sessions/{session_id}").get_data(as_text=True)
    assert 'value="172800" selected>2 days (the most)' in page  # 7 days is over the max
    assert 'value="604800"' not in page
    response = client.post(f"/shares/sessions/{session_id}", data={"expires_in": "172801"})
    assert response.status_code == 400
    assert make_link(client, session_id, expires_in="172800").id


def test_admins_list_every_link(app: Any, client: Any, auth: Any, session_id: str) -> None:
    auth.login("reviewer", "alice")
    first = make_link(client, session_id)
    make_link(client, session_id, redact="1")
    client.post(f"/shares/{first.id}/revoke")
    auth.login("admin")
    page = client.get("/shares").get_data(as_text=True)
    assert page.count("alice") == 2
    assert "share-revoked" in page and "share-live" in page
    assert page.count('name="back" value="admin"') == 1  # the live one can be revoked


def test_the_create_dialog_is_on_the_session_page_for_reviewers_only(
    client: Any, auth: Any, session_id: str
) -> None:
    auth.login("viewer")
    page = client.get(f"/sessions/{session_id}").get_data(as_text=True)
    assert 'id="share-panel"' in page and 'id="share-dialog"' not in page
    auth.login("reviewer")
    page = client.get(f"/sessions/{session_id}").get_data(as_text=True)
    assert 'id="share-dialog"' in page


def test_a_live_link_holds_its_session_from_retention(
    app: Any, client: Any, auth: Any, board: Manager, clock: Any
) -> None:
    session = board.create("old work")
    board.append_message(session.id, Message("user", "old message"))
    board.set_running(session.id)
    board.set_completed(session.id, "done")
    auth.login("reviewer")
    made = make_link(client, session.id)  # 7 days
    clock.advance(days=31)  # past the 30-day retention, link expired
    board.sweep()
    assert board.get(session.id) is None  # the link's hold ended with it

    session = board.create("old work")
    board.append_message(session.id, Message("user", "old message"))
    board.set_running(session.id)
    board.set_completed(session.id, "done")
    clock.advance(days=25)
    auth.login("reviewer")  # (the first login ended with the days gone by)
    made = make_link(client, session.id)  # until day 32 of the session
    clock.advance(days=6)
    board.sweep()
    kept = board.get(session.id)
    assert kept is not None and kept.message_count == 1
    assert len(board.get_messages(session.id) or []) == 1
    assert app.test_client().get(made.path).status_code == 200
    clock.advance(days=1, seconds=1)
    board.sweep()
    assert board.get(session.id) is None
