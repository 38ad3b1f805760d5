"""The session list: columns, filters in the URL, keyset pages, fragments."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from webapp.sessions import Manager, Message


def ids_on(html: str) -> list[str]:
    return re.findall(r'id="row-([^"]+)"', html)


def test_front_page_redirects_and_needs_login(client: Any, auth: Any) -> None:
    assert client.get("/sessions").status_code in (302, 401)
    auth.login("viewer")
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/sessions")


def test_empty_list_says_what_to_do(client: Any, auth: Any) -> None:
    auth.login("viewer")
    html = client.get("/sessions").get_data(as_text=True)
    assert "No sessions yet" in html
    assert "sessionboard demo" in html


def test_list_shows_the_columns(client: Any, auth: Any, make_session: Any, clock: Any) -> None:
    auth.login("viewer")
    session = make_session(
        "running", "Refactor the <b>parser</b>", messages=[Message("user", "SECRET-CONTENT")]
    )
    clock.advance(seconds=1)
    forever = make_session("completed", "Never ending", expires_at=None)
    html = client.get("/sessions").get_data(as_text=True)
    assert ids_on(html) == [forever.id, session.id]
    assert "Refactor the &lt;b&gt;parser&lt;/b&gt;" in html
    assert "SECRET-CONTENT" not in html
    assert 'class="badge s-running"' in html
    assert ">never<" not in html  # a completed session shows no expiry (issue 16)
    assert "unreviewed" in html
    assert f'datetime="{session.created_at.isoformat()}"' in html


def test_filters_statuses_text_context_dates(
    client: Any, auth: Any, make_session: Any, app_manager: Any, clock: Any
) -> None:
    auth.login("viewer")
    old = make_session(
        "completed", "Old job", context={"model": "opus"},
        created_at=app_manager.clock() - timedelta(days=10),
    )  # fmt: skip
    running = make_session("running", "Add the frobnicator", context={"model": "sonnet"})
    failed = make_session("failed", "Something else", context={"model": "opus"})
    page = client.get("/sessions?status=running&status=failed").get_data(as_text=True)
    assert set(ids_on(page)) == {running.id, failed.id}
    assert ids_on(client.get("/sessions?q=frobni").get_data(as_text=True)) == [running.id]
    assert ids_on(client.get("/sessions?q=100%25").get_data(as_text=True)) == []
    by_context = client.get("/sessions?context=model%3Dopus").get_data(as_text=True)
    assert set(ids_on(by_context)) == {old.id, failed.id}
    day = old.created_at.date().isoformat()
    dated = client.get(f"/sessions?from={day}&to={day}").get_data(as_text=True)
    assert ids_on(dated) == [old.id]
    errors = client.get("/sessions?error=failed").get_data(as_text=True)
    assert ids_on(errors) == [failed.id]
    assert "No session matches these filters" in client.get("/sessions?q=zzz").get_data(
        as_text=True
    )


def test_sort_by_created(
    client: Any, auth: Any, make_session: Any, app_manager: Any, clock: Any
) -> None:
    auth.login("viewer")
    first = make_session("running", "first", created_at=app_manager.clock() - timedelta(hours=2))
    second = make_session("running", "second", created_at=app_manager.clock() - timedelta(hours=1))
    clock.advance(seconds=1)
    app_manager.append_message(first.id, Message("user", "bump"))
    assert ids_on(client.get("/sessions").get_data(as_text=True))[0] == first.id
    assert ids_on(client.get("/sessions?sort=created").get_data(as_text=True))[0] == second.id


def test_keyset_pages_cover_every_session_once(
    client: Any, auth: Any, make_session: Any, app_manager: Any
) -> None:
    auth.login("viewer")
    now = app_manager.clock()
    made = [
        make_session("pending", f"s{i}", created_at=now - timedelta(minutes=i)) for i in range(57)
    ]
    html = client.get("/sessions?sort=created").get_data(as_text=True)
    first_page = ids_on(html)
    assert len(first_page) == 50
    older = re.search(r'rel="next" href="([^"]+)"', html)
    assert older is not None
    html2 = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    second_page = ids_on(html2)
    assert len(second_page) == 7
    assert sorted(first_page + second_page) == sorted(s.id for s in made)
    assert 'rel="next"' not in html2
    newer = re.search(r'rel="prev" href="([^"]+)"', html2)
    assert newer is not None
    back = client.get(newer.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert ids_on(back) == first_page
    assert "OFFSET" not in str(newer)


def test_htmx_gets_only_the_results_and_responses_vary(
    client: Any, auth: Any, make_session: Any
) -> None:
    auth.login("viewer")
    make_session()
    fragment = client.get("/sessions?status=running", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert text.lstrip().startswith('<section id="results"')
    assert "<html" not in text
    assert "HX-Request" in fragment.headers["Vary"]
    restore = client.get(
        "/sessions?status=running",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.get_data(as_text=True)
    assert "<html" in client.get("/sessions?status=running").get_data(as_text=True)


def test_counts_per_status(client: Any, auth: Any, make_session: Any) -> None:
    auth.login("viewer")
    make_session("running")
    make_session("running")
    make_session("failed")
    html = client.get("/sessions").get_data(as_text=True)
    assert "running 2" in html
    assert "failed 1" in html
    assert re.search(r"2(<[^>]+>)? running", html)  # the nav counter (its word hidden on a phone)


def test_the_list_keeps_subagents_under_their_parent(
    client: Any, auth: Any, app_manager: Manager
) -> None:
    parent = app_manager.create("the parent task")
    children = [app_manager.create(f"subtask {i}") for i in range(2)]
    app_manager.store.link_parents({c.id: parent.id for c in children})
    children = [app_manager.get(c.id) for c in children]
    auth.login("viewer")
    page = client.get("/sessions").get_data(as_text=True)
    assert "the parent task" in page and "subtask" not in page
    assert "2 subagents" in page
    listed = client.get(f"/sessions?parent={parent.id}").get_data(as_text=True)
    assert all(f"subtask {i}" in listed for i in range(2)) and "the parent task" not in listed
    everything = client.get("/sessions?subagents=1").get_data(as_text=True)
    assert "the parent task" in everything and "subtask 1" in everything
    assert client.get("/sessions?subagents=2").status_code == 400
    assert {c.parent_id for c in children if c is not None} == {parent.id}
