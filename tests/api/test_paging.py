"""Lists page with opaque cursors that stay correct while rows arrive and change."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.conftest import ApiClient


def page_through(api: ApiClient, path: str, cursor_name: str, limit: int, between: Any = None):
    """Every row of a list, a page of ``limit`` at a time; ``between(page_no)`` runs
    after each page (to change the data while paging)."""
    rows: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        query = f"?limit={limit}" + (f"&{cursor_name}={cursor}" if cursor else "")
        body = api.get(path + query).get_json()
        key = "sessions" if "sessions" in body else "messages"
        assert len(body[key]) <= limit
        rows.extend(body[key])
        pages += 1
        if between is not None:
            between(pages)
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, pages


def test_sessions_page_newest_first_by_creation(api: ApiClient, app: Any, clock_app: Any) -> None:
    ids = []
    for i in range(23):
        ids.append(api.new_session(request=f"s{i}")["id"])
        clock_app.advance(seconds=1)
    rows, pages = page_through(api, "/sessions", "cursor", 5)
    assert [r["id"] for r in rows] == ids[::-1]
    assert pages == 5


def test_no_session_skipped_or_repeated_while_rows_arrive_and_change(
    api: ApiClient, clock_app: Any
) -> None:
    """Between pages: new sessions arrive, old ones get messages (their activity moves
    to the front), some are deleted. Every session that existed when paging began
    and still exists is listed exactly once."""
    ids = []
    for i in range(30):
        ids.append(api.new_session(request=f"s{i}")["id"])
        if i % 3:  # some share a creation time: the id breaks the tie
            clock_app.advance(seconds=1)
    existing = set(ids)
    deleted: set[str] = set()
    admin = api.as_admin()

    def churn(page: int) -> None:
        clock_app.advance(seconds=1)
        api.new_session(request=f"new after page {page}")
        for sid in ids[page::7]:  # touch sessions on both sides of the cursor
            api.post(f"/sessions/{sid}/messages", json={"role": "user", "content": "bump"})
        victim = ids[(page * 11) % len(ids)]
        if victim not in deleted:
            admin.delete(f"/sessions/{victim}")
            deleted.add(victim)

    rows, _ = page_through(api, "/sessions", "cursor", 4, churn)
    seen = [r["id"] for r in rows]
    assert len(seen) == len(set(seen)), "a session was listed twice"
    assert existing - deleted <= set(seen), "a session was skipped"


def test_status_filter_and_limit_cap(api: ApiClient, app: Any) -> None:
    for _ in range(4):
        sid = api.new_session()["id"]
        api.patch(f"/sessions/{sid}", json={"status": "running"})
    api.new_session()
    running = api.get("/sessions?status=running").get_json()
    assert len(running["sessions"]) == 4
    assert {s["status"] for s in running["sessions"]} == {"running"}
    app.config["API_PAGE_LIMIT"] = 2
    capped = api.get("/sessions?limit=1000").get_json()
    assert len(capped["sessions"]) == 2 and capped["next_cursor"]
    default = api.get("/sessions").get_json()
    assert len(default["sessions"]) == 2


def test_the_cursor_is_opaque_and_tied_to_its_list(api: ApiClient) -> None:
    for _ in range(3):
        api.new_session()
    cursor = api.get("/sessions?limit=1").get_json()["next_cursor"]
    assert isinstance(cursor, str) and "=" not in cursor
    base64.urlsafe_b64decode(cursor + "==")  # url-safe: no escaping needed
    sid = api.new_session()["id"]
    # A session cursor is not a message cursor.
    response = api.get(f"/sessions/{sid}/messages?after={cursor}")
    assert response.status_code == 422


def test_messages_page_in_order_with_after(api: ApiClient) -> None:
    sid = api.new_session()["id"]
    path = f"/sessions/{sid}/messages"
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # within retention
    batch = [
        {
            "role": "user",
            "content": f"m{i}",
            "timestamp": (base + timedelta(seconds=i // 2)).isoformat(),
        }
        for i in range(25)
    ]  # pairs share a timestamp: the id keeps their order
    api.post(path, json={"messages": batch})
    rows, pages = page_through(api, path, "after", 4)
    assert [r["content"] for r in rows] == [f"m{i}" for i in range(25)]
    assert pages == 7


def test_messages_appended_while_paging_are_seen_once(api: ApiClient) -> None:
    sid = api.new_session()["id"]
    path = f"/sessions/{sid}/messages"
    api.post(path, json={"messages": [{"role": "user", "content": f"m{i}"} for i in range(10)]})

    def more(page: int) -> None:
        api.post(path, json={"role": "assistant", "content": f"late{page}"})

    rows, _ = page_through(api, path, "after", 3, more)
    contents = [r["content"] for r in rows]
    assert len(contents) == len(set(contents))
    assert contents[:10] == [f"m{i}" for i in range(10)]
    assert {c for c in contents[10:]} <= {f"late{p}" for p in range(1, 20)}
    assert "late1" in contents


def forged(*parts: object) -> str:
    """A cursor made by hand, as a client could."""
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def test_forged_cursors_are_refused_without_reaching_the_database(api: ApiClient) -> None:
    sid = api.new_session()["id"]
    bad_sessions = [
        forged("sessions", "2026-01-15T12:00:00Z", "a\u0000b"),
        forged("sessions", "2026-01-15T12:00:00Z", "\ud800"),
        forged("sessions", "2026-01-15T12:00:00Z", 5),
        forged("sessions", "0001-01-01T00:00:00+05:00", "x"),
        forged("sessions", "not a time", "x"),
        forged("sessions", "2026-01-15T12:00:00Z"),
        forged("messages", "2026-01-15T12:00:00Z", "x"),
        "%%%",
    ]
    for cursor in bad_sessions:
        response = api.get("/sessions", query_string={"cursor": cursor})
        assert response.status_code == 422, cursor
    bad_messages = [
        forged("messages", "2026-01-15T12:00:00Z", 2**63),
        forged("messages", "2026-01-15T12:00:00Z", -1),
        forged("messages", "2026-01-15T12:00:00Z", True),
        forged("messages", "2026-01-15T12:00:00Z", 1.5),
    ]
    for cursor in bad_messages:
        response = api.get(f"/sessions/{sid}/messages", query_string={"after": cursor})
        assert response.status_code == 422, cursor
    fine = forged("messages", "2026-01-15T12:00:00Z", 2**63 - 1)
    assert api.get(f"/sessions/{sid}/messages", query_string={"after": fine}).status_code == 200
