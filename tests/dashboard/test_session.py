"""The session page: header, transcript windows, live poll, actions."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from webapp.sessions import Message


@pytest.fixture
def audit_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """What the dashboard recorded in the audit log (the call, not the storage)."""
    calls: list[tuple[str, str | None]] = []
    from webapp.accounts import audit

    def record(action: str, *, session_id: str | None = None, **_: Any) -> None:
        calls.append((action, session_id))

    monkeypatch.setattr(audit, "record", record)
    return calls


def test_header_and_transcript(client: Any, auth: Any, make_session: Any, clock: Any) -> None:
    auth.login("viewer")
    messages = [
        Message("user", "Please **fix** it\n\n```python\nx = 1\n```"),
        Message("assistant", "long answer body", summary="Short summary"),
        Message("assistant", "Bash(ls)", meta={"kind": "tool_use", "tool_name": "Bash",
                                               "tool_input": {"command": "ls -la"}}),
        Message("tool", "total 0", meta={"kind": "tool_result", "is_error": True}),
        Message("assistant", "hmm", meta={"kind": "thinking"}),
        Message("user", "[png]", meta={"kind": "image", "media_type": "image/png",
                                       "data": "iVBORw0KGgo="}),
        Message("user", "[svg]", meta={"kind": "image", "media_type": "image/svg+xml",
                                       "data": "PHN2Zz4="}),
    ]  # fmt: skip
    session = make_session(
        "failed", "Do <it>", messages=messages, error="boom <b>", context={"model": "opus"}
    )
    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "boom &lt;b&gt;" in html
    assert '<th scope="row">model</th><td>opus</td>' in html
    assert "<strong>fix</strong>" in html
    assert 'class="hl-n"' in html
    # the transcript as turns: each text once, in full (no summary beside it)
    assert html.count("long answer body") == 1 and "Short summary" not in html
    assert '<span class="tool-name">Bash</span>' in html and "ls -la" in html
    assert "total 0" in html and '<span class="flag-error">error</span>' in html
    assert "<summary>Thinking" in html
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in html
    assert "data:image/svg+xml" not in html
    assert html.count("data-turn=") == 2  # the prompt, then the images the user sent
    assert "hx-trigger" not in html.split('id="live"')[1].split(">")[0]  # failed: no polling


def test_unknown_session_is_a_404_page(client: Any, auth: Any) -> None:
    auth.login("viewer")
    response = client.get("/sessions/nope")
    assert response.status_code == 404
    assert "No session has this id" in response.get_data(as_text=True)
    fragment = client.get("/sessions/nope", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True)


def test_large_transcript_loads_latest_and_earlier_on_demand(
    client: Any, auth: Any, make_session: Any, clock: Any
) -> None:
    auth.login("viewer")
    start = clock()
    messages = [
        Message("user", f"message number {i}.", timestamp=start + timedelta(seconds=i))
        for i in range(250)
    ]
    session = make_session("completed", messages=messages)
    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    shown = re.findall(r"message number (\d+)\.", html)
    assert shown == [str(i) for i in range(len(shown))] and 50 < len(shown) < 250
    assert "Load earlier" not in html  # a finished session opens at its first prompt
    while (more := re.search(r'hx-get="([^"]+/turns\?after=[^"]+)"', html)) is not None:
        html = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
        html = html.get_data(as_text=True)
        shown += re.findall(r"message number (\d+)\.", html)
    assert shown == [str(i) for i in range(250)]
    html = client.get(f"/sessions/{session.id}?at=end").get_data(as_text=True)
    shown = re.findall(r"message number (\d+)\.", html)
    assert shown[-1] == "249"
    while (less := re.search(r'hx-get="([^"]+/turns\?before=[^"]+)"', html)) is not None:
        html = client.get(less.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
        html = html.get_data(as_text=True)
        shown = re.findall(r"message number (\d+)\.", html) + shown
    assert shown == [str(i) for i in range(250)]
    assert 'data-turn="250"' in html or 'data-turn="1"' in html


def test_big_message_arrives_truncated(client: Any, auth: Any, make_session: Any) -> None:
    auth.login("viewer")
    body = "a" * 30_000 + "THE-END"
    session = make_session("completed", messages=[Message("assistant", body)])
    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "THE-END" not in html
    assert "30,007 characters" in html
    link = re.search(r'hx-get="([^"]+/messages/\d+)"', html)
    assert link is not None
    full = client.get(link.group(1), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "THE-END" in full


def test_poll_sees_a_message_of_the_same_instant(
    client: Any, auth: Any, make_session: Any, app_manager: Any
) -> None:
    """The idle check reads the session's row only (its last activity and
    message count): a message appended at the same instant as the page's last
    activity (the clock not moved) still brings the update, and the next poll,
    drawn with the new count, is idle again."""
    auth.login("viewer")
    session = make_session("running")
    url = _poll_url(client.get(f"/sessions/{session.id}").get_data(as_text=True))
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 204
    app_manager.append_message(session.id, Message("assistant", "same instant"))
    update = client.get(url, headers={"HX-Request": "true"})
    assert update.status_code == 200
    text = update.get_data(as_text=True)
    assert "same instant" in text
    idle = client.get(_poll_url(text), headers={"HX-Request": "true"})
    assert idle.status_code == 204


def _poll_url(html: str) -> str:
    """The URL the live poller of ``html`` (a page or an update) asks every second."""
    poll = re.search(r'hx-get="([^"]+/poll\?[^"]+)" hx-trigger="every 1s"', html)
    assert poll is not None
    return poll.group(1).replace("&amp;", "&")


def test_poll_is_204_until_something_changes_and_stops_when_ended(
    client: Any, auth: Any, make_session: Any, app_manager: Any, clock: Any
) -> None:
    auth.login("viewer")
    session = make_session("running")
    url = _poll_url(client.get(f"/sessions/{session.id}").get_data(as_text=True))
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 204
    clock.advance(seconds=1)
    app_manager.append_message(session.id, Message("assistant", "fresh news"))
    update = client.get(url, headers={"HX-Request": "true"})
    text = update.get_data(as_text=True)
    assert update.status_code == 200
    assert "fresh news" in text
    assert 'hx-swap-oob="innerHTML:#live-tail"' in text
    assert 'hx-trigger="every 1s"' in text
    clock.advance(seconds=1)
    app_manager.set_completed(session.id, "all done")
    next_url = re.search(r'hx-get="([^"]+/poll\?[^"]+)"', text)
    assert next_url is not None
    ended = client.get(next_url.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    ended_text = ended.get_data(as_text=True)
    assert "s-completed" in ended_text
    assert "fresh news" not in ended_text
    assert "hx-trigger" not in ended_text


def test_reviewer_actions(
    client: Any, auth: Any, make_session: Any, app_manager: Any, audit_log: list[Any]
) -> None:
    auth.login("reviewer")
    session = make_session("running")
    hx = {"HX-Request": "true"}
    assert "Give a reason" in client.post(f"/sessions/{session.id}/fail", headers=hx).get_data(
        as_text=True
    )
    text = client.post(
        f"/sessions/{session.id}/fail", data={"reason": "stuck"}, headers=hx
    ).get_data(as_text=True)
    assert "Session marked failed." in text
    assert 'id="session-header" class="session-header" hx-swap-oob="true"' in text
    assert 'id="nav-counts"' in text
    got = app_manager.get(session.id)
    assert (got.status, got.error) == ("failed", "stuck")

    client.post(f"/sessions/{session.id}/expiry", data={"hours": "24"}, headers=hx)
    extended = app_manager.get(session.id).expires_at
    assert extended == got.expires_at + timedelta(hours=24)
    client.post(f"/sessions/{session.id}/expiry", data={"never": "1"}, headers=hx)
    assert app_manager.get(session.id).expires_at is None

    note = client.post(
        f"/sessions/{session.id}/notes", data={"note": "please retry", "after": "0"}, headers=hx
    ).get_data(as_text=True)
    assert "please retry" in note
    stored = app_manager.get_messages(session.id)[-1]
    assert stored.meta == {"kind": "note", "author": "test-reviewer"}

    closed = client.post(f"/sessions/{session.id}/close", headers=hx).get_data(as_text=True)
    assert "s-closed" in closed
    assert app_manager.get(session.id).status == "closed"
    assert [a for a, _ in audit_log if a.startswith("session.")] == [
        "session.fail", "session.expiry", "session.expiry", "session.note", "session.close",
    ]  # fmt: skip


def test_viewer_cannot_change_and_reviewer_cannot_delete(
    client: Any, auth: Any, make_session: Any, app_manager: Any
) -> None:
    session = make_session("running")
    auth.login("viewer")
    assert client.post(f"/sessions/{session.id}/close").status_code == 403
    assert "Viewers can read" in client.get(f"/sessions/{session.id}").get_data(as_text=True)
    auth.login("reviewer")
    assert client.post(f"/sessions/{session.id}/delete").status_code == 403
    assert "Delete…" not in client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert app_manager.get(session.id).status == "running"


def test_admin_deletes_after_confirmation(
    client: Any, auth: Any, make_session: Any, app_manager: Any, audit_log: list[Any]
) -> None:
    auth.login("admin")
    session = make_session("completed")
    confirm = client.get(f"/sessions/{session.id}/delete", headers={"HX-Request": "true"})
    assert "Delete for good" in confirm.get_data(as_text=True)
    assert app_manager.get(session.id) is not None
    gone = client.post(f"/sessions/{session.id}/delete", headers={"HX-Request": "true"})
    assert gone.headers["HX-Redirect"].startswith("/sessions?deleted=")
    assert app_manager.get(session.id) is None
    assert [a for a in audit_log if a[0].startswith("session.")] == [("session.delete", session.id)]


def test_session_page_offers_markdown_and_json_downloads(
    client: Any, auth: Any, make_session: Any
) -> None:
    auth.login("viewer")
    session = make_session("completed", messages=[Message("user", "key sk-ant-api03-" + "a" * 40)])
    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    links = re.findall(r'href="(/sessions/[^"]+/export\.(?:md|json)[^"]*)"', html)
    assert len(links) == 3
    for link in links:
        response = client.get(link.replace("&amp;", "&"))
        assert response.status_code == 200
        assert "attachment" in response.headers["Content-Disposition"]
        body = response.get_data(as_text=True)
        assert session.id in body
        assert ("sk-ant-api03-" in body) == ("redact" not in link)


def test_a_running_session_opened_around_a_message_stays_live(
    client: Any, auth: Any, make_session: Any, app_manager: Any, clock: Any
) -> None:
    auth.login("viewer")
    start = clock()
    messages = [
        Message("user" if i % 2 == 0 else "assistant", f"message number {i}.",
                timestamp=start + timedelta(seconds=i))
        for i in range(300)
    ]  # fmt: skip
    session = make_session("running", messages=messages)
    html = client.get(f"/sessions/{session.id}?at=start").get_data(as_text=True)
    first_id = re.search(r'id="m-(\d+)"', html)
    assert first_id is not None
    html = client.get(f"/sessions/{session.id}?around={first_id.group(1)}").get_data(as_text=True)
    assert 'id="live-tail"' not in html  # the window is short of the end
    poll = re.search(r'hx-get="([^"]+/poll\?[^"]+)" hx-trigger="every 1s"', html)
    assert poll is not None and "follow=0" in poll.group(1)
    clock.advance(seconds=400)
    app_manager.append_message(session.id, Message("user", "a late prompt"))
    update = client.get(poll.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    text = update.get_data(as_text=True)
    # the header, the count and the outline follow; no turn is drawn after a gap
    assert update.status_code == 200
    assert "(301 messages)" in text
    assert "beforeend:#outline-list" in text and "a late prompt" in text
    assert "#live-tail" not in text
    assert "message number 200." not in text  # prompts the outline lists already
    # "Load later turns" up to the end: the last turn becomes the live tail again
    while (more := re.search(r'hx-get="([^"]+/turns\?after=[^"]+)"', html)) is not None:
        html = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
        html = html.get_data(as_text=True)
    assert 'id="live-tail"' in html and "a late prompt" in html
    poll = re.search(r'hx-get="([^"]+/poll\?[^"]+)" hx-trigger="every 1s"', html)
    assert poll is not None and "follow=1" in poll.group(1)
    clock.advance(seconds=1)
    app_manager.append_message(session.id, Message("assistant", "the answer, live"))
    text = client.get(poll.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    text = text.get_data(as_text=True)
    assert 'hx-swap-oob="innerHTML:#live-tail"' in text and "the answer, live" in text
