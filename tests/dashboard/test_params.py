"""Query parameters of the pages: a bad value is a 400 that names it, as a page
(or, for htmx, a fragment); an empty one means "not given"; good ones still work."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard.test_list import ids_on
from webapp.sessions import Message

HTMX = {"HX-Request": "true"}
BAD_LIST_PARAMETERS = [
    ("context=%00", "context", "NUL"),
    ("context=model%3D%00", "context", "NUL"),
    ("context=%3Dopus", "context", "key=value"),
    ("context=" + "k" * 201 + "%3Dv", "context", "at most 200"),
    ("q=" + "x" * 501, "q", "longer than 500"),
    ("q=%ED%A0%80%00", "q", "NUL"),
    ("tag=%00", "tag", "NUL"),
    ("from=2026-02-30", "from", "2026-01-31"),
    ("to=9999-12-31", "to", "2026-01-31"),
    ("from=2026-1-5", "from", "2026-01-31"),
    ("status=bogus", "status", "one of pending"),
    ("status=running&status=bogus", "status", "one of pending"),
    ("verdict=bogus", "verdict", "one of"),
    ("sort=bogus", "sort", "one of"),
    ("older=bogus", "older", "page position"),
    ("newer=9999-12-31T23:59:59-05:00~x", "newer", "page position"),
    ("older=2026-01-15T12:00:00~x", "older", "page position"),
]


@pytest.mark.parametrize(("query", "name", "why"), BAD_LIST_PARAMETERS)
def test_a_bad_list_parameter_is_a_400_page_that_names_it(
    client: Any, auth: Any, make_session: Any, query: str, name: str, why: str
) -> None:
    auth.login("viewer")
    make_session()
    response = client.get(f"/sessions?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert '<p class="error-code">400</p>' in html
    assert f"The “{name}” parameter" in html
    assert why in html
    fragment = client.get(f"/sessions?{query}", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 400
    assert "error-fragment" in text
    assert "<html" not in text
    assert f"The “{name}” parameter" in text
    # It takes the results' place (hx-target="#results"), so the form still works.
    assert text.lstrip().startswith('<section id="results"')


def test_the_issue_s_three_500s_are_4xx(client: Any, auth: Any, make_session: Any) -> None:
    auth.login("viewer")
    session = make_session(messages=[Message("user", "hello")])
    assert client.get("/sessions?context=%00").status_code == 400
    earlier = client.get(f"/sessions/{session.id}/turns?before={'9' * 30}")
    assert earlier.status_code == 400
    assert "The “before” parameter must be a whole number" in earlier.get_data(as_text=True)
    assert client.get(f"/sessions/{session.id}/messages/{'9' * 20}").status_code == 404
    assert client.get(f"/sessions/{session.id}/poll?after={'9' * 20}").status_code == 400
    assert client.get(f"/sessions/{session.id}/poll?at=yesterday").status_code == 400
    assert client.get(f"/sessions/{session.id}/turns?before=-1").status_code == 400
    assert client.get("/sessions/a%00b").status_code == 404


def test_a_bad_action_position_changes_nothing(
    client: Any, auth: Any, make_session: Any, app_manager: Any
) -> None:
    auth.login("reviewer")
    session = make_session()
    response = client.post(
        f"/sessions/{session.id}/notes", data={"note": "look here", "after": "9" * 30}
    )
    assert response.status_code == 400
    assert app_manager.get_messages(session.id) == []


def test_empty_fields_of_the_filter_form_mean_not_given(
    client: Any, auth: Any, make_session: Any
) -> None:
    auth.login("viewer")
    session = make_session()
    response = client.get("/sessions?status=&q=&context=&from=&to=&sort=&older=")
    assert response.status_code == 200
    assert ids_on(response.get_data(as_text=True)) == [session.id]


def test_the_context_filter_finds_string_values_alike_on_both_engines(
    client: Any, auth: Any, make_session: Any
) -> None:
    auth.login("viewer")
    context = {"a.b": "1", "modèle": "opus", 'say "hi"\\': "ok", "n": 1, "a": {"b": "2"}}
    session = make_session(context=context)
    make_session(context={"modèle": "sonnet"})
    found = {
        "a.b=1": [session.id],
        "modèle=opus": [session.id],
        'say "hi"\\=ok': [session.id],
        "n=1": [],  # a number is not the text "1"
        "$.a=1": [],
        "a=2": [],
    }
    for context_filter, expected in found.items():
        page = client.get("/sessions", query_string={"context": context_filter})
        assert page.status_code == 200
        assert ids_on(page.get_data(as_text=True)) == expected, context_filter


def test_inbox_and_audit_parameters_are_checked_too(client: Any, auth: Any) -> None:
    auth.login("admin")
    assert client.get("/review?status=running").status_code == 400
    assert client.get("/review?after=%00").status_code == 400
    assert client.get("/review/next?after=" + "x" * 65).status_code == 400
    assert client.get("/review?status=failed").status_code == 200
    assert client.get(f"/admin/audit?before={'9' * 20}").status_code == 400
    assert client.get("/admin/audit?until=9999-12-31").status_code == 400
    assert client.get("/admin/audit?actor=%00").status_code == 400
    assert client.get("/admin/audit?until=2026-01-31&before=5").status_code == 200


@pytest.mark.parametrize(
    ("action", "form", "why"),
    [
        ("fail", {"reason": "a\x00b"}, "NUL"),
        ("fail", {"reason": "x" * 2_001}, "longer than 2000"),
        ("notes", {"note": "a\x00b"}, "NUL"),
        ("notes", {"note": "x" * 20_001}, "longer than 20000"),
    ],
)
def test_bad_action_text_is_a_400_and_changes_nothing(
    client: Any, auth: Any, make_session: Any, app_manager: Any, action: str, form: Any, why: str
) -> None:
    auth.login("reviewer")
    session = make_session()
    before = app_manager.get(session.id)
    response = client.post(f"/sessions/{session.id}/{action}", data=form, headers=HTMX)
    assert response.status_code == 400
    assert why in response.get_data(as_text=True)
    assert app_manager.get(session.id) == before
    assert app_manager.get_messages(session.id) == []
