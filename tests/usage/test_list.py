"""The session list by cost and tokens, filtered by model and project, with its
usage columns (read model and page)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.usage.conftest import usage_message
from webapp.sessions import Manager
from webapp.sessions.queries import Keyset, ReadModel, SessionFilter, Sort


def _sessions(manager: Manager) -> list[str]:
    """Six sessions of rising output (so rising cost and tokens), two projects, two
    models; and one without usage."""
    ids = []
    for n in range(6):
        project = "/src/app" if n % 2 else "/src/lib"
        session = manager.create(f"request {n}", {"project_path": project}, expires_at=None)
        manager.set_running(session.id)
        model = "claude-opus-4-5" if n >= 4 else "claude-haiku-4-5"
        manager.append_message(session.id, usage_message(model, output=100 * (n + 1)))
        ids.append(session.id)
    manager.create("no usage", expires_at=None)
    return ids


def _walk(reads: ReadModel, where: SessionFilter, sort: Sort) -> list[str]:
    page = reads.list_sessions(where, sort=sort, limit=2)
    seen = [r.id for r in page.rows]
    while page.older is not None:
        encoded = Keyset.decode(page.older.encode())
        assert encoded == page.older
        page = reads.list_sessions(where, sort=sort, older=encoded, limit=2)
        seen += [r.id for r in page.rows]
    return seen


@pytest.mark.parametrize("sort", [Sort.COST, Sort.TOKENS])
def test_pages_by_cost_and_tokens(manager: Manager, sort: Sort) -> None:
    ids = _sessions(manager)
    reads = ReadModel(manager.store)
    walked = _walk(reads, SessionFilter(), sort)
    assert walked[:6] == ids[::-1] and len(walked) == 7  # the one without usage last
    first = reads.list_sessions(sort=sort, limit=2)
    second = reads.list_sessions(sort=sort, older=first.older, limit=2)
    back = reads.list_sessions(sort=sort, newer=second.newer, limit=2)
    assert [r.id for r in back.rows] == [r.id for r in first.rows]
    top = first.rows[0]
    assert (top.project, top.total_tokens) == ("/src/app", 10 + 600 + 1_000 + 200)
    assert top.cost_nanos > first.rows[1].cost_nanos > 0
    with pytest.raises(ValueError, match="position"):
        reads.list_sessions(sort=sort, older=Keyset(top.created_at, top.id))
    assert not Keyset(5, "x").fits(Sort.CREATED) and Keyset(5, "x").fits(sort)


def test_filters_by_model_and_project(manager: Manager) -> None:
    ids = _sessions(manager)
    reads = ReadModel(manager.store)
    opus = reads.list_sessions(SessionFilter(model="claude-opus-4-5"), sort=Sort.COST)
    assert [r.id for r in opus.rows] == [ids[5], ids[4]]
    app = reads.list_sessions(SessionFilter(project="/src/app"), sort=Sort.COST)
    assert [r.id for r in app.rows] == [ids[5], ids[3], ids[1]]
    both = SessionFilter(project="/src/lib", model="claude-opus-4-5")
    assert [r.id for r in reads.list_sessions(both).rows] == [ids[4]]
    assert reads.list_sessions(SessionFilter(model="gpt")).rows == []


def test_the_list_page_sorts_filters_and_shows_usage_columns(
    app: Any, client: Any, auth: Any
) -> None:
    auth.login("viewer")
    with app.app_context():
        ids = _sessions(app.extensions["sessionboard.manager"])
    page = client.get("/sessions?sort=cost").get_data(as_text=True)
    for header in ("Project", "Model", "Duration", "Tokens", "Cost"):
        assert f">{header}</th>" in page
    assert 'data-columns="sessions"' in page  # the column choice
    order = [page.index(f"row-{sid}") for sid in ids[::-1]]
    assert order == sorted(order)
    assert "claude-opus-4-5" in page and "1,810" in page  # tokens of the costliest
    opus = client.get("/sessions?model=claude-opus-4-5").get_data(as_text=True)
    assert f"row-{ids[5]}" in opus and f"row-{ids[3]}" not in opus
    lib = client.get("/sessions?project=/src/lib").get_data(as_text=True)
    assert f"row-{ids[4]}" in lib and f"row-{ids[5]}" not in lib


@pytest.mark.parametrize(
    "query",
    [
        "?sort=price",
        "?model=" + "m" * 501,
        "?project=%00",
        "?sort=cost&older=2026-01-15T12:00:00%2B00:00~abc",  # a time position, a cost sort
        "?sort=created&older=5~abc",
    ],
)
def test_bad_list_parameters_are_a_400(client: Any, auth: Any, query: str) -> None:
    auth.login("viewer")
    assert client.get(f"/sessions{query}").status_code == 400
