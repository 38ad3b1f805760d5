"""The dashboard's search (issue 12, items 3 and 7): the search box on every
page, results listing sessions with escaped, highlighted snippets and "N more
hits", combinable with the list filters and keyset-paged; a snippet opens the
session at its message with next/previous hit across the whole transcript; the
permissions are the list's."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from tests.corpus import CORPUS
from webapp.extensions import get_manager
from webapp.sessions import Message

JAPANESE = CORPUS / "claude-code-viewer__5c0375b4-57a5-4f26-b12d-d022ee4e51b7.jsonl"
AUDIO = CORPUS / "claude-code-log__7acd37a8-2745-4b58-a8a9-46164b22ad9e.jsonl"
AUDIO_ID = "7acd37a8-2745-4b58-a8a9-46164b22ad9e"
JAPANESE_ID = "5c0375b4-57a5-4f26-b12d-d022ee4e51b7"


@pytest.fixture
def corpus(runner: Any) -> None:
    """The Japanese session and 7acd37a8, imported (kept: their messages are old)."""
    result = runner.invoke(args=["import", "--keep", str(JAPANESE), str(AUDIO)])
    assert result.exit_code == 0, result.output


def page(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.data[:500]
    return str(response.data.decode())


def test_the_search_box_is_on_every_page(client: Any, auth: Any) -> None:
    auth.login("viewer")
    for url in ["/sessions", "/stats", "/review"]:
        html = page(client, url)
        assert re.search(r'<form[^>]*role="search"[^>]*action="/sessions"', html), url
        assert 'name="q"' in html


@pytest.mark.usefixtures("corpus")
def test_results_list_sessions_with_snippets(client: Any, auth: Any) -> None:
    auth.login("viewer")
    html = page(client, "/sessions?q=webkitAudioContext")
    assert f'id="row-{AUDIO_ID}"' in html and f'id="row-{JAPANESE_ID}"' not in html
    assert "<mark>webkitAudioContext</mark>" in html
    assert re.search(r"\d+ more hits", html)


@pytest.mark.usefixtures("corpus")
def test_japanese_by_a_word_and_by_two_characters(client: Any, auth: Any) -> None:
    auth.login("viewer")
    assert f'id="row-{JAPANESE_ID}"' in page(client, "/sessions?q=最新の状態")
    short = page(client, "/sessions?q=修正")
    assert f'id="row-{JAPANESE_ID}"' in short
    assert "latest" in short  # the bounded scan says so


@pytest.mark.usefixtures("corpus")
def test_a_snippet_opens_the_session_at_its_message(client: Any, auth: Any) -> None:
    auth.login("viewer")
    html = page(client, "/sessions?q=webkitAudioContext")
    link = re.search(
        rf'href="(/sessions/{AUDIO_ID}\?q=webkitAudioContext&amp;hit=(\d+))#m-(\d+)"', html
    )
    assert link and link.group(2) == link.group(3)
    message_id = int(link.group(2))
    with client.application.app_context():
        stored = {m.id: m.content for m in get_manager().get_messages(AUDIO_ID) or []}
    assert "webkitAudioContext" in stored[message_id]
    opened = page(client, link.group(1).replace("&amp;", "&"))
    assert f'id="m-{message_id}"' in opened
    assert re.search(r"Hit 1 of \d+", opened)
    assert "Next hit" in opened


def test_a_step_to_another_hit_loads_the_turns_around_it_in_place(
    client: Any, auth: Any, app: Any
) -> None:
    with app.app_context():
        manager = get_manager()
        s = manager.create("a long session", expires_at=None)
        manager.set_running(s.id)
        texts = ["the needle at the start"] + [f"filler {i}" for i in range(400)]
        texts.append("the needle at the end")
        manager.append_messages(s.id, [Message("assistant", t) for t in texts])
        messages = manager.get_messages(s.id) or []
        manager.set_completed(s.id, "done")
    first, last = messages[0].id, messages[-1].id
    auth.login("viewer")
    opened = page(client, f"/sessions/{s.id}?q=needle&hit={first}")
    assert f'id="m-{first}"' in opened and f'id="m-{last}"' not in opened
    step = re.search(
        r'<a rel="next" href="([^"]+)" hx-get="([^"]+)" hx-target="#transcript-area"', opened
    )
    assert step and step.group(1) == f"{step.group(2)}#m-{last}"
    url = step.group(2).replace("&amp;", "&")
    assert f"hit={last}" in url
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    fragment = response.data.decode()
    # The transcript around the later hit and the navigation, not a whole page.
    assert fragment.lstrip().startswith('<div id="transcript-area"') and "<html" not in fragment
    assert f'id="m-{last}"' in fragment and f'id="m-{first}"' not in fragment
    assert f'data-hit="{last}"' in fragment and "Hit 2 of 2" in fragment
    assert re.search(rf'<a rel="prev" href="[^"]*hit={first}[^"]*" hx-get=', fragment)
    # Without htmx (or on a history restore) the same URL is the whole page.
    whole = page(client, url)
    assert "<html" in whole and "Hit 2 of 2" in whole


def test_snippets_are_escaped(client: Any, auth: Any, app: Any) -> None:
    with app.app_context():
        manager = get_manager()
        s = manager.create("x", expires_at=None)
        manager.set_running(s.id)
        manager.append_message(s.id, Message("user", "<script>alert('needle')</script>"))
    auth.login("viewer")
    html = page(client, "/sessions?q=needle")
    assert "&lt;script&gt;alert(&#39;<mark>needle</mark>&#39;)&lt;/script&gt;" in html
    assert "<script>alert" not in html


def test_combinable_with_the_list_filters_and_paged(client: Any, auth: Any, app: Any) -> None:
    with app.app_context():
        manager = get_manager()
        ids = []
        for i in range(5):
            s = manager.create(f"needle {i}", expires_at=None)
            manager.set_running(s.id)
            (manager.set_failed if i % 2 else manager.set_completed)(s.id, "done")
            ids.append(s.id)
    auth.login("viewer")
    failed = page(client, "/sessions?q=needle&status=failed")
    assert {i for i in ids if f'id="row-{i}"' in failed} == {ids[1], ids[3]}


def test_anonymous_users_cannot_search(client: Any) -> None:
    response = client.get("/sessions?q=needle")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_a_comment_is_found(client: Any, auth: Any, app: Any) -> None:
    with app.app_context():
        manager = get_manager()
        s = manager.create("quiet session", expires_at=None)
        manager.set_completed(s.id, "done")
    auth.login("reviewer")
    response = client.post(
        f"/review/sessions/{s.id}/comments",
        data={"body": "flaky retry loop here"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = page(client, "/sessions?q=flaky+in:comments")
    assert f'id="row-{s.id}"' in html and "<mark>flaky</mark> retry loop" in html


@pytest.mark.usefixtures("corpus")
def test_export_search_uses_the_index(runner: Any) -> None:
    result = runner.invoke(
        args=["export", "--format", "csv", "--search", "webkitAudioContext", "-"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["id"] for r in rows] == [AUDIO_ID]
