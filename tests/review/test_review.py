"""Verdicts, comments, tags, keep and the inbox: services, views and audit entries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.accounts.test_login import audit_actions

HX = {"HX-Request": "true"}


@pytest.fixture
def manager_of(app: Any, clock: Any) -> Any:
    """The app's Manager, driven by the test clock."""
    manager = app.extensions["sessionboard.manager"]
    manager.clock = clock
    return manager


def make_session(manager: Any, status: str = "completed", request: str = "do it") -> str:
    """A session in ``status`` with one message; returns its id."""
    from webapp.sessions import Message

    session = manager.create(request)
    manager.set_running(session.id)
    manager.append_message(session.id, Message("user", request))
    if status == "completed":
        manager.set_completed(session.id, "done")
    elif status == "failed":
        manager.set_failed(session.id, "boom")
    elif status == "closed":
        manager.close(session.id)
    elif status == "expired":
        manager.update(session.id, lambda s: setattr(s, "status", "expired"))
    return str(session.id)


def review_of(app: Any, session_id: str) -> dict[str, Any]:
    from webapp.review import service

    with app.app_context():
        return service.session_review(session_id)


def test_verdict_round_trip_with_audit(app: Any, client: Any, auth: Any, manager_of: Any) -> None:
    sid = make_session(manager_of)
    auth.login("reviewer", "rita")
    response = client.post(
        f"/review/sessions/{sid}/verdict",
        data={"verdict": "flagged", "reason": "wrong file"},
        headers=HX,
    )
    assert response.status_code == 200
    assert 'id="review-verdict"' in response.get_data(as_text=True)
    review = review_of(app, sid)
    assert (review["verdict"], review["verdict_by"], review["reason"]) == (
        "flagged",
        "rita",
        "wrong file",
    )
    assert review["verdict_at"] == manager_of.clock()
    client.post(f"/review/sessions/{sid}/verdict", data={"verdict": "unreviewed"}, headers=HX)
    assert review_of(app, sid)["verdict"] == "unreviewed"
    assert audit_actions(app, action="verdict") == [("rita", "verdict"), ("rita", "verdict")]


def test_bad_verdict_is_refused_and_changes_nothing(
    app: Any, client: Any, auth: Any, manager_of: Any
) -> None:
    sid = make_session(manager_of)
    auth.login("reviewer")
    response = client.post(f"/review/sessions/{sid}/verdict", data={"verdict": "meh"}, headers=HX)
    assert response.status_code == 400
    assert "A verdict is one of" in response.get_data(as_text=True)
    assert review_of(app, sid)["verdict"] == "unreviewed"
    assert audit_actions(app, action="verdict") == []


def test_unknown_session_is_404(client: Any, auth: Any) -> None:
    auth.login("reviewer")
    assert (
        client.post("/review/sessions/nope/verdict", data={"verdict": "approved"}).status_code
        == 404
    )
    assert client.post("/review/sessions/nope/tags", data={"tag": "x"}).status_code == 404


def test_plain_form_post_redirects_back_to_the_session(
    client: Any, auth: Any, manager_of: Any
) -> None:
    sid = make_session(manager_of)
    auth.login("reviewer")
    response = client.post(f"/review/sessions/{sid}/verdict", data={"verdict": "approved"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/sessions/{sid}"


def test_comments_are_sanitised_markdown(app: Any, client: Any, auth: Any, manager_of: Any) -> None:
    sid = make_session(manager_of)
    auth.login("reviewer", "rita")
    body = "**looks** fine <script>alert(1)</script> [x](javascript:alert(1))"
    response = client.post(f"/review/sessions/{sid}/comments", data={"body": body}, headers=HX)
    html = response.get_data(as_text=True)
    assert "<strong>looks</strong>" in html
    assert "<script>" not in html
    assert 'href="javascript' not in html
    [comment] = review_of(app, sid)["comments"]
    assert comment["author"] == "rita"
    assert audit_actions(app, action="comment") == [("rita", "comment")]


def test_comment_on_a_message_shows_beside_it(
    app: Any, client: Any, auth: Any, manager_of: Any
) -> None:
    from webapp.review import service

    sid = make_session(manager_of)
    other = make_session(manager_of)
    message_id = manager_of.get_messages(sid)[0].id
    auth.login("reviewer")
    response = client.post(
        f"/review/sessions/{sid}/comments", data={"body": "this line", "message_id": message_id}
    )
    assert response.headers["Location"] == f"/sessions/{sid}#m-{message_id}"
    page = client.get(f"/sessions/{sid}").get_data(as_text=True)
    assert f'id="message-comments-{message_id}"' in page
    assert "this line" in page
    # A message of another session is refused.
    wrong = client.post(
        f"/review/sessions/{other}/comments",
        data={"body": "x", "message_id": message_id},
        headers=HX,
    )
    assert wrong.status_code == 400
    with app.app_context():
        assert list(service.comments_by_message(sid)) == [message_id]
        assert service.comments_by_message(other) == {}


def test_tags_add_remove_and_filter(app: Any, client: Any, auth: Any, manager_of: Any) -> None:
    from webapp.extensions import get_queries
    from webapp.review import service
    from webapp.sessions.queries import SessionFilter

    tagged = make_session(manager_of)
    plain = make_session(manager_of)
    auth.login("reviewer", "rita")
    client.post(f"/review/sessions/{tagged}/tags", data={"tag": "  Needs   Work "}, headers=HX)
    client.post(f"/review/sessions/{tagged}/tags", data={"tag": "needs work"}, headers=HX)
    client.post(f"/review/sessions/{tagged}/tags", data={"tag": "db"}, headers=HX)
    assert review_of(app, tagged)["tags"] == ["db", "needs work"]
    response = client.post(f"/review/sessions/{tagged}/tags/remove", data={"tag": "db"}, headers=HX)
    assert "db" not in response.get_data(as_text=True).split("Tags:")[1].split("<form")[0]
    assert review_of(app, tagged)["tags"] == ["needs work"]
    assert audit_actions(app, actor="rita") == [
        ("rita", "tag.add"),
        ("rita", "tag.add"),
        ("rita", "tag.remove"),
    ]
    client.post(f"/review/sessions/{plain}/verdict", data={"verdict": "approved"}, headers=HX)
    with app.app_context():
        annotations = service.list_annotations([tagged, plain])
        assert annotations[tagged] == {"verdict": "unreviewed", "tags": ["needs work"]}
        assert annotations[plain]["verdict"] == "approved"

        def ids(**kw: Any) -> set[str]:
            where = SessionFilter(within=service.session_filter(**kw))
            return {row.id for row in get_queries().list_sessions(where).rows}

        assert ids(tag="Needs Work") == {tagged}
        assert ids(verdicts=["approved"]) == {plain}
        assert ids(verdicts=["unreviewed"]) == {tagged}
        assert ids(verdicts=["unreviewed", "approved"]) == {tagged, plain}
        assert ids(reviewer="rita") == {plain}
        assert ids(reviewer="nobody") == set()
        assert service.session_filter() == ()


def test_empty_tag_is_refused(client: Any, auth: Any, manager_of: Any) -> None:
    sid = make_session(manager_of)
    auth.login("reviewer")
    assert (
        client.post(f"/review/sessions/{sid}/tags", data={"tag": "  "}, headers=HX).status_code
        == 400
    )


def test_keep_toggle_is_audited(app: Any, client: Any, auth: Any, manager_of: Any) -> None:
    sid = make_session(manager_of)
    auth.login("reviewer", "rita")
    response = client.post(f"/review/sessions/{sid}/keep", data={"keep": "1"}, headers=HX)
    assert "Kept:" in response.get_data(as_text=True)
    assert manager_of.get(sid).keep is True
    client.post(f"/review/sessions/{sid}/keep", data={"keep": "0"}, headers=HX)
    assert manager_of.get(sid).keep is False
    assert audit_actions(app, session_id=sid) == [("rita", "keep"), ("rita", "keep")]


def test_review_rows_go_with_a_deleted_session(
    app: Any, client: Any, auth: Any, manager_of: Any
) -> None:
    sid = make_session(manager_of)
    auth.login("reviewer")
    for path, data in [
        ("verdict", {"verdict": "flagged"}),
        ("tags", {"tag": "x"}),
        ("comments", {"body": "y"}),
    ]:
        client.post(f"/review/sessions/{sid}/{path}", data=data, headers=HX)
    manager_of.delete(sid)
    review = review_of(app, sid)
    assert (review["verdict"], review["tags"], review["comments"]) == ("unreviewed", [], [])
    assert len(audit_actions(app, session_id=sid)) == 3  # the log outlives the session


def test_inbox_order_paging_and_next(app: Any, client: Any, auth: Any, manager_of: Any) -> None:
    from webapp.review import service

    order = []
    for status in ["completed", "failed", "closed", "expired", "completed"]:
        order.append((status, make_session(manager_of, status)))
        manager_of.clock.advance(minutes=1)
    running = manager_of.create("still going")
    expected = [sid for s, sid in order if s in ("failed", "expired")] + [
        sid for s, sid in order if s not in ("failed", "expired")
    ]
    with app.app_context():
        first, after, total = service.inbox(service.InboxFilter(), limit=2)
        second, after2, _ = service.inbox(service.InboxFilter(), after=after, limit=2)
        third, after3, _ = service.inbox(service.InboxFilter(), after=after2, limit=2)
    assert total == 5
    assert [r.id for r in first + second + third] == expected
    assert after3 is None
    assert running.id not in expected

    auth.login("reviewer")
    page = client.get("/review").get_data(as_text=True)
    assert page.count('class="inbox-row"') == 5
    # Walk the whole inbox with "next", giving verdicts on the way.
    response = client.get("/review/next")
    seen = []
    while response.headers["Location"].startswith("/sessions/"):
        sid = response.headers["Location"].split("/")[2].split("?")[0]
        seen.append(sid)
        client.post(f"/review/sessions/{sid}/verdict", data={"verdict": "approved"}, headers=HX)
        response = client.get(f"/review/next?after={sid}")
    assert seen == expected
    assert response.headers["Location"] == "/review?done=1"
    previous = client.get(f"/review/previous?before={expected[2]}")
    assert previous.headers["Location"] == "/review?done=1"  # all reviewed now


def test_inbox_filters_by_tag_and_status(app: Any, client: Any, auth: Any, manager_of: Any) -> None:
    failed = make_session(manager_of, "failed")
    done = make_session(manager_of, "completed")
    auth.login("reviewer")
    client.post(f"/review/sessions/{done}/tags", data={"tag": "db"}, headers=HX)
    page = client.get("/review?tag=db").get_data(as_text=True)
    assert done in page and failed not in page
    page = client.get("/review?status=failed").get_data(as_text=True)
    assert failed in page and done not in page
    nxt = client.get(f"/review/next?after={failed}&tag=db")
    assert nxt.headers["Location"] == f"/sessions/{done}?inbox=1&tag=db"
    assert (
        client.get(f"/review/previous?before={done}")
        .headers["Location"]
        .startswith(f"/sessions/{failed}")
    )


def test_viewer_sees_the_panel_without_forms(client: Any, auth: Any, manager_of: Any) -> None:
    sid = make_session(manager_of)
    auth.login("viewer")
    page = client.get(f"/sessions/{sid}").get_data(as_text=True)
    assert 'id="review-panel"' in page
    assert "/review/sessions/" not in page


def test_verdict_time_is_the_clock(app: Any, client: Any, auth: Any, manager_of: Any) -> None:
    sid = make_session(manager_of)
    auth.login("reviewer")
    manager_of.clock.advance(timedelta(hours=2))
    client.post(f"/review/sessions/{sid}/verdict", data={"verdict": "approved"}, headers=HX)
    assert review_of(app, sid)["verdict_at"] == manager_of.clock()
