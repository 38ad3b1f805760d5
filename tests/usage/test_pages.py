"""The usage page (/stats/usage): charts with their tables, the CSV of each, the
costliest sessions, a range of days; bad parameters are a 400."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.usage.conftest import usage_message
from webapp.sessions import Message


@pytest.fixture
def filled(app: Any, auth: Any) -> Any:
    """Two sessions with usage today (one of a model without a price), logged in."""
    auth.login("viewer")
    manager = app.extensions["sessionboard.manager"]
    with app.app_context():
        for project, model in (("/src/app", "claude-haiku-4-5"), ("=cmd()", "claude-fable-5")):
            session = manager.create("go " + project, {"project_path": project, "user": "ana"})
            manager.set_running(session.id)
            manager.append_message(session.id, usage_message(model))
    return manager


def test_the_usage_page_shows_charts_tables_and_the_costliest(client: Any, filled: Any) -> None:
    page = client.get("/stats/usage")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for chart in ("usage-cost-per-day", "usage-tokens-per-day", "usage-projects", "usage-runners",
                  "usage-users", "usage-blocks"):  # fmt: skip
        assert f'id="chart-{chart}"' in text
        assert f"chart={chart}" in text  # its CSV link
    assert "/src/app" in text and "no price" in text
    assert "$0.0009" in text  # the haiku response (860,000 nano-dollars)
    assert "go /src/app" in text  # among the costliest sessions
    assert 'href="/stats/usage"' in client.get("/stats").get_data(as_text=True)


def test_a_chart_as_csv(client: Any, filled: Any) -> None:
    response = client.get("/stats/usage.csv?chart=usage-projects")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["project", "responses", "input", "output", "cache read", "cache write",
                       "tokens", "cost"]  # fmt: skip
    by_project = {row[0]: row for row in rows[1:]}
    assert by_project["/src/app"][1:] == ["1", "10", "100", "1000", "200", "1310", "$0.0009"]
    assert by_project["'=cmd()"][-1] == "no price"  # a formula stays text in a spreadsheet


def test_a_range_of_days(client: Any, filled: Any) -> None:
    today = datetime.now(UTC).date()
    before = today - timedelta(days=3)
    empty = client.get(f"/stats/usage?since={before}&until={before}")
    assert empty.status_code == 200
    assert "No usage in these days" in empty.get_data(as_text=True)
    data = client.get(f"/stats/usage.csv?chart=usage-cost-per-day&since={before}&until={today}")
    rows = list(csv.reader(io.StringIO(data.get_data(as_text=True))))
    assert [row[0] for row in rows[1:]] == [
        (before + timedelta(days=i)).isoformat() for i in range(4)
    ]
    assert rows[-1][-1] == "$0.00"  # the day's total: haiku's cost under a cent


@pytest.mark.parametrize(
    "query",
    [
        "?since=yesterday",
        "?since=2026-02-30",
        "?since=2026-01-10&until=2026-01-01",
        "?since=2024-01-01&until=2026-01-01",
        "?until=%00",
    ],
)
def test_bad_ranges_are_a_400(client: Any, filled: Any, query: str) -> None:
    assert client.get(f"/stats/usage{query}").status_code == 400
    assert client.get(f"/stats/usage.csv{query}").status_code == 400


def test_an_unknown_chart_is_a_400_and_a_visitor_logs_in_first(
    app: Any, client: Any, filled: Any
) -> None:
    assert client.get("/stats/usage.csv?chart=sessions").status_code == 400
    anonymous = app.test_client()
    assert anonymous.get("/stats/usage").status_code in (302, 303)
    assert anonymous.get("/stats/usage.csv").status_code in (302, 303)


def test_the_session_page_shows_its_totals_own_and_with_subagents(
    app: Any, client: Any, auth: Any
) -> None:
    auth.login("viewer")
    manager = app.extensions["sessionboard.manager"]
    with app.app_context():
        parent = manager.create("parent")
        child = manager.create("child")
        quiet = manager.create("quiet")
        manager.update(child.id, lambda s: setattr(s, "parent_id", parent.id))
        for sid, output in ((parent.id, 100), (child.id, 2_000)):
            manager.set_running(sid)
            manager.append_message(sid, usage_message("claude-haiku-4-5", output=output))
    page = client.get(f"/sessions/{parent.id}").get_data(as_text=True)
    own, _, with_subagents = page.partition("With its subagents (as ccusage counts a session)")
    assert "own responses" in own and ">100<" in own
    assert ">2,100<" in with_subagents  # output of both
    child_page = client.get(f"/sessions/{child.id}").get_data(as_text=True)
    assert ">2,000<" in child_page and "With its subagents" not in child_page
    assert "No usage reported." in client.get(f"/sessions/{quiet.id}").get_data(as_text=True)


def test_each_turn_shows_its_cost_with_each_response_inside(
    app: Any, client: Any, auth: Any
) -> None:
    auth.login("viewer")
    manager = app.extensions["sessionboard.manager"]
    with app.app_context():
        session = manager.create("turns")
        manager.set_running(session.id)
        manager.append_messages(
            session.id,
            [
                Message("user", "first prompt"),
                usage_message("claude-haiku-4-5"),
                usage_message("claude-fable-5"),
                usage_message("claude-fable-5", cost_usd=0.25),
                Message("user", "second prompt"),
                usage_message("claude-haiku-4-5", cost_usd=1.5),
            ],
        )
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "this response's cost" not in page  # no chip per response
    costs = page.split("data-turn-cost>")[1:]
    assert len(costs) == 2  # one per turn
    first, second = (c.split("</details>")[0] for c in costs)
    summary, _, breakdown = first.partition("</summary>")
    # the priced responses summed ($0.0009 + $0.25), the unpriced one said
    assert ">$0.25 <span class=\"muted\">+ unpriced</span>" in summary
    assert "$0.0009 + no price + $0.25" in summary  # the breakdown on hover
    for each in ("$0.0009", "no price", "$0.25"):
        assert f"<strong>{each}</strong>" in breakdown
    assert breakdown.count("<li>") == 3
    assert ">$1.50" in second.partition("</summary>")[0]
