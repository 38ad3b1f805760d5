"""``GET /api/v1/search`` (issue 12, item 4): hits with their snippets, newest
first, keyset-paged, combinable with ``status``; in the OpenAPI document; bad
input is a 4xx; a token is needed, as for the list."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ApiClient


def make(api: ApiClient) -> list[str]:
    ids = []
    for i, status in enumerate(["completed", "failed", "completed"]):
        session = api.new_session(request=f"needle request {i}")
        api.patch(f"/sessions/{session['id']}", json={"status": "running"})
        api.post(
            f"/sessions/{session['id']}/messages",
            json={"messages": [{"role": "user", "content": f"a <b>needle</b> {i}"}]},
        )
        api.patch(f"/sessions/{session['id']}", json={"status": status})
        ids.append(session["id"])
    return ids


def test_search_answers_hits_newest_first_a_page_at_a_time(api: ApiClient) -> None:
    ids = make(api)
    seen: list[dict[str, Any]] = []
    url = "/search?q=needle&limit=4"
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.json
        body = response.json
        assert set(body) == {"results", "next_cursor"}
        seen += body["results"]
        url = (
            f"/search?q=needle&limit=4&cursor={body['next_cursor']}" if body["next_cursor"] else ""
        )
    assert len(seen) == 6
    assert set(seen[0]) == {"session_id", "message_id", "role", "kind", "snippet", "timestamp"}
    assert (
        seen[0]["session_id"] == ids[2]
        and seen[0]["snippet"] == "a &lt;b&gt;<mark>needle</mark>&lt;/b&gt; 2"
    )
    assert [h["message_id"] is None for h in seen] == [False, True] * 3
    failed = api.get("/search?q=needle&status=failed").json["results"]
    assert {h["session_id"] for h in failed} == {ids[1]}


def test_search_refuses_bad_input(api: ApiClient) -> None:
    for query in [
        "q=a%00b",
        "q=in:nowhere",
        "q=",
        "",
        "q=x&limit=0",
        "q=x&cursor=zzz",
        "q=x&status=nope",
        "q=x&sort=1",
        "q=" + "x" * 501,
    ]:
        response = api.get(f"/search?{query}")
        assert response.status_code == 422, query
        assert response.json["error"]["code"]


def test_search_needs_a_token(api: ApiClient) -> None:
    assert api.anonymous().get("/search?q=needle").status_code == 401


def test_search_is_in_the_openapi_document(api: ApiClient) -> None:
    document = api.get("/openapi.json").json
    operation = document["paths"]["/api/v1/search"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"q", "limit", "cursor", "status"}
    assert "SearchPage" in document["components"]["schemas"]
