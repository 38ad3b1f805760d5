"""What a reader of the list and the header sees (issue 16): request previews without
markdown, relative times, the live check, the context key filter, one header on every
page, the favicon."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from tests.dashboard.test_list import ids_on


def test_plain_preview_strips_markdown() -> None:
    from webapp.rendering import plain_preview

    assert plain_preview("Ask **bob** to run `lint`") == "Ask bob to run lint"
    assert plain_preview("# Title\n\n- one\n- [two](http://x.example)") == "Title one two"
    assert plain_preview("a <b>tag</b> & 1 < 2") == "a <b>tag</b> & 1 < 2"
    assert plain_preview("") == ""


def test_list_and_inbox_show_requests_without_markdown(
    client: Any, auth: Any, make_session: Any
) -> None:
    make_session("completed", "Ask **bob** to run `lint` <script>x</script>")
    auth.login("reviewer")
    for path in ("/sessions", "/review"):
        html = client.get(path).get_data(as_text=True)
        assert "Ask bob to run lint &lt;script&gt;x&lt;/script&gt;" in html, path
        assert "**bob**" not in html and "`lint`" not in html, path


def test_times_are_relative_with_the_exact_second_on_hover(
    client: Any, auth: Any, make_session: Any, app_manager: Any, clock: Any
) -> None:
    session = make_session("running", "x", expires_at=None)
    clock.advance(seconds=125)
    auth.login("viewer")
    html = client.get("/sessions").get_data(as_text=True)
    exact = session.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f'title="{exact}" data-relative>2 min ago</time>' in html


def test_expires_is_shown_only_while_a_session_can_expire(
    client: Any, auth: Any, make_session: Any, app_manager: Any
) -> None:
    soon = app_manager.clock() + timedelta(hours=2)
    running = make_session("running", "live one", expires_at=soon)
    done = make_session("completed", "done one", expires_at=soon)
    auth.login("viewer")
    html = client.get("/sessions").get_data(as_text=True)
    cells = dict(re.findall(r'id="row-([^"]+)".*?<td class="col-expires">(.*?)</td>', html, re.S))
    assert "in 2 h" in cells[running.id]
    assert cells[done.id] == ""
    assert ">Expires<" in client.get(f"/sessions/{running.id}").get_data(as_text=True)
    assert ">Expires<" not in client.get(f"/sessions/{done.id}").get_data(as_text=True)


def test_a_context_key_alone_finds_sessions_that_have_it(
    client: Any, auth: Any, make_session: Any
) -> None:
    with_key = make_session("running", "a", context={"ticket": "T-1"})
    make_session("running", "b", context={"other": "x"})
    auth.login("viewer")
    for query in ("ticket", "ticket%3D", "%20ticket%20"):
        assert ids_on(client.get(f"/sessions?context={query}").get_data(as_text=True)) == [
            with_key.id
        ], query
    bad = client.get("/sessions?context=%3Dx")
    assert bad.status_code == 400 and "key=value or a key alone" in bad.get_data(as_text=True)


def _live_url(html: str) -> str:
    found = re.search(r'id="list-live"[^>]*hx-get="([^"]+)"', html)
    assert found, "the list has no live check"
    return found.group(1).replace("&amp;", "&")


def test_the_list_live_check_answers_204_until_something_changes(
    client: Any, auth: Any, make_session: Any, app_manager: Any, clock: Any
) -> None:
    first = make_session("running", "first")
    auth.login("viewer")
    live = _live_url(client.get("/sessions?status=running").get_data(as_text=True))
    assert client.get(live).status_code == 204
    clock.advance(seconds=5)
    make_session("running", "second")
    make_session("completed", "not in the filter")
    answer = client.get(live)
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert "1 new session: show" in text
    assert f'id="badge-{first.id}"' not in text
    # A status change of a shown row swaps its badge in place (out of band).
    app_manager.close(first.id)
    text = client.get(live).get_data(as_text=True)
    assert f'<span id="badge-{first.id}" class="badge s-closed" hx-swap-oob="true">' in text
    # The answer's own check knows the new state: nothing changed since, a 204.
    again = _live_url(text)
    assert "closed:" + first.id in unquote(again)
    assert "1 new session" in text
    assert client.get(again).status_code == 200  # still one new session to show
    for bad in ("row=bogus", "row=running:%00", "at=yesterday"):
        response = client.get(f"/sessions/live?{bad}")
        assert response.status_code == 400, bad


def test_the_live_check_is_quiet_when_only_its_own_state_is_sent_back(
    client: Any, auth: Any, make_session: Any, clock: Any
) -> None:
    make_session("running", "first")
    auth.login("viewer")
    live = _live_url(client.get("/sessions").get_data(as_text=True))
    clock.advance(seconds=5)
    second = make_session("running", "second")
    shown = client.get("/sessions", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert second.id in ids_on(shown)
    assert client.get(_live_url(shown)).status_code == 204
    assert client.get(live).status_code == 200


def test_every_page_has_the_same_header(client: Any, auth: Any, make_session: Any) -> None:
    session = make_session("running", "x")
    auth.login("admin")
    paths = ["/sessions", f"/sessions/{session.id}", "/stats", "/stats/usage", "/review",
             "/admin", "/admin/users", "/admin/tokens", "/admin/audit", "/account/logins",
             "/admin/import"]  # fmt: skip
    for path in paths:
        html = client.get(path).get_data(as_text=True)
        assert 'id="nav-counts"' in html, path
        assert 'class="menu-button"' in html and 'class="user-menu"' in html, path


def test_the_logged_out_login_page_shows_no_app_links(client: Any) -> None:
    html = client.get("/login").get_data(as_text=True)
    header = html[html.index("<header") : html.index("</header>")]
    assert re.findall(r"<a [^>]*href", header) == ['<a class="brand" href']
    for link in ('href="/stats"', 'href="/review"', 'id="nav-counts"', 'type="search"'):
        assert link not in html


def test_favicon(client: Any) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.get_data(as_text=True).startswith("<svg")
    icon.close()
    login = client.get("/login").get_data(as_text=True)
    assert 'rel="icon" href="/favicon.ico"' in login
    # The header draws the same icon inline: no request of its own to fail.
    assert '<svg class="brand-icon" width="20" height="20" aria-hidden="true"' in login
    assert "<img" not in login.split("</header>")[0]


def test_a_whole_tool_message_names_its_tool_once_and_shows_errors_as_errors(
    client: Any, auth: Any, make_session: Any, app_manager: Any
) -> None:
    from webapp.sessions import Message

    meta = {"kind": "tool_use", "tool_name": "Glob", "tool_input": {"pattern": "**/*.py"}}
    call = Message("assistant", '{"pattern": "**/*.py"}', summary="Glob: **/*.py", meta=meta)
    failed = Message("tool", "<tool_use_error>File does not exist.</tool_use_error>",
                     meta={"kind": "tool_result"})  # fmt: skip
    session = make_session("completed", "x", messages=[call, failed])
    stored = app_manager.store.get_messages(session.id)
    auth.login("viewer")
    html = client.get(f"/sessions/{session.id}/messages/{stored[0].id}").get_data(as_text=True)
    assert html.count('<span class="tool-name">Glob</span>') == 1
    assert "Glob: " not in html
    html = client.get(f"/sessions/{session.id}/messages/{stored[1].id}").get_data(as_text=True)
    assert "tool_use_error" not in html
    assert 'class="call tool-json is-error' in html and '<span class="flag-error">' in html
    assert "File does not exist." in html


def test_relative_times_in_words() -> None:
    from datetime import UTC, datetime

    from webapp.times import exact, relative

    now = datetime(2026, 1, 15, 12, 0, 5, tzinfo=UTC)
    cases = {
        timedelta(seconds=-10): "just now",
        timedelta(seconds=-125): "2 min ago",
        timedelta(hours=-3): "3 h ago",
        timedelta(days=-1): "1 day ago",
        timedelta(days=-9): "9 days ago",
        timedelta(days=-60): "2 months ago",
        timedelta(days=-400): "1 year ago",
        timedelta(hours=2): "in 2 h",
    }
    for delta, words in cases.items():
        assert relative(now + delta, now) == words
    assert exact(now) == "2026-01-15 12:00:05 UTC"


def test_the_project_column_shows_the_last_folder_with_the_path_on_hover(
    client: Any, auth: Any, make_session: Any
) -> None:
    session = make_session("running", "x", context={"project_path": "/home/ada/src/<billing>/"})
    auth.login("viewer")
    html = client.get("/sessions").get_data(as_text=True)
    row = html[html.index(f'id="row-{session.id}"') :]
    cell = re.search(r'<td class="col-project"[^>]*>.*?</td>', row, re.S)
    assert cell is not None
    assert 'title="/home/ada/src/&lt;billing&gt;/">&lt;billing&gt;</td>' in cell.group(0)
