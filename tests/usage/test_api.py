"""``GET /api/v1/usage`` and the usage of messages appended through the API (counted
for the token that sent them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import ApiClient

USAGE = {
    "input_tokens": 10,
    "output_tokens": 100,
    "cache_read_input_tokens": 1000,
    "cache_creation_input_tokens": 200,
}
HAIKU_COST = 10 * 1_000 + 100 * 5_000 + 1_000 * 100 + 200 * 1_250


def _report(api: ApiClient, query: str = "") -> dict[str, Any]:
    response = api.get(f"/usage{query}")
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def _fill(api: ApiClient) -> str:
    session = api.new_session(request="go", context={"project_path": "/src/app", "user": "ana"})
    messages = [
        {
            "role": "assistant",
            "content": "a",
            "meta": {"model": "claude-haiku-4-5", "usage": USAGE},
        },
        {"role": "assistant", "content": "b", "meta": {"model": "claude-fable-5", "usage": USAGE}},
        {
            "role": "assistant",
            "content": "c",
            "meta": {"model": "claude-haiku-4-5", "usage": USAGE, "cost_usd": 0.5},
        },
    ]
    response = api.post(f"/sessions/{session['id']}/messages", json={"messages": messages})
    assert response.status_code == 201, response.get_json()
    return str(session["id"])


def test_usage_by_token_model_project_user_and_day(api: ApiClient) -> None:
    _fill(api)
    by_token = _report(api, "?group_by=token")
    assert by_token["group_by"] == "token"
    assert {(r["key"], r["model"]) for r in by_token["rows"]} == {
        ("runner", "claude-fable-5"),  # the ingest token's name, not the context's
        ("runner", "claude-haiku-4-5"),
    }
    by_model = {r["model"]: r for r in _report(api, "?group_by=model")["rows"]}
    haiku, fable = by_model["claude-haiku-4-5"], by_model["claude-fable-5"]
    assert (haiku["responses"], haiku["priced"], haiku["output"], haiku["tokens"]) == (
        2,
        2,
        200,
        2 * 1310,
    )
    assert haiku["cost_nanos"] == HAIKU_COST + 500_000_000
    assert haiku["cost_usd"] == pytest.approx((HAIKU_COST + 500_000_000) / 1e9)
    assert (fable["cost_nanos"], fable["cost_usd"], fable["priced"]) == (None, None, 0)
    assert {r["key"] for r in _report(api, "?group_by=project")["rows"]} == {"/src/app"}
    assert {r["key"] for r in _report(api, "?group_by=user")["rows"]} == {"ana"}
    today = datetime.now(UTC).date()
    days = _report(api, f"?since={today}&until={today + timedelta(days=1)}")
    assert days["group_by"] == "day" and {r["key"] for r in days["rows"]} == {today.isoformat()}
    assert days["since"] == f"{today}T00:00:00.000000Z"
    assert _report(api, f"?until={today}")["rows"] == []
    assert _report(api, f"?since={today}&until={today}")["rows"] == []  # an empty range
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert _report(api, f"?since={later.replace('+00:00', 'Z')}")["rows"] == []


@pytest.mark.parametrize(
    "query",
    [
        "?group_by=session",
        "?group_by=",
        "?since=yesterday",
        "?since=2026-13-01",
        "?since=2026-01-15T12:00:00",  # no zone
        "?since=0001-01-01",
        "?until=2026-01-15%00",
        "?limit=5",
    ],
)
def test_bad_usage_queries_are_422(api: ApiClient, query: str) -> None:
    response = api.get(f"/usage{query}")
    assert response.status_code == 422, query
    assert response.get_json()["error"]["message"]


def test_usage_needs_a_token(api: ApiClient) -> None:
    assert api.anonymous().get("/usage").status_code == 401


@pytest.mark.parametrize(
    "meta",
    [
        {"model": "claude-haiku-4-5", "usage": {"input_tokens": -1}},
        {"model": "claude-haiku-4-5", "usage": "lots"},
        {"model": "claude-haiku-4-5", "usage": USAGE, "cost_usd": "free"},
        {"model": 7, "usage": USAGE},
    ],
)
def test_malformed_usage_through_the_api_is_422_and_writes_nothing(
    api: ApiClient, meta: dict[str, Any]
) -> None:
    session = api.new_session(request="go")
    good = {"role": "assistant", "content": "ok", "meta": {"usage": USAGE}}
    bad = {"role": "assistant", "content": "bad", "meta": meta}
    response = api.post(f"/sessions/{session['id']}/messages", json={"messages": [good, bad]})
    assert response.status_code == 422
    assert "meta" in response.get_json()["error"]["message"]
    assert api.get(f"/sessions/{session['id']}/messages").get_json()["messages"] == []
    assert _report(api, "?group_by=model")["rows"] == []


def test_the_openapi_document_describes_usage(api: ApiClient) -> None:
    document = api.get("/openapi.json").get_json()
    operation = document["paths"]["/api/v1/usage"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"group_by", "since", "until"}
    report = document["components"]["schemas"]["UsageReport"]
    assert set(report["properties"]) == {"group_by", "since", "until", "rows"}
    figures = document["components"]["schemas"]["UsageFigures"]
    assert {"cost_nanos", "cost_usd", "tokens", "priced"} <= set(figures["properties"])
