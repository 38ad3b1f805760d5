"""The dashboard in Chromium, used as a person would: list, filter, page, open,
watch a live append, change a status, stats charts, keyboard keys."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from webapp.sessions import Message

pytestmark = pytest.mark.browser


def make_sessions(manager: Any, n: int, **kwargs: Any) -> list[Any]:
    start = datetime.now(UTC) - timedelta(hours=1)
    made = []
    for i in range(n):
        s = manager.create(
            f"Task number {i:03d}",
            {"project_path": f"/src/p{i % 3}"},
            created_at=start + timedelta(seconds=i),
            expires_at=None,
            **kwargs,
        )
        made.append(s)
    return made


def wait_for_query(page: Any, text: str) -> None:
    """Wait until the address bar's query has ``text`` (htmx pushes URLs)."""
    page.wait_for_function("t => decodeURIComponent(location.search).includes(t)", arg=text)


def test_list_filter_page_and_open(live_server: Any, page: Any, page_log: Any) -> None:
    manager = live_server.manager
    made = make_sessions(manager, 60)
    manager.set_running(made[59].id)
    manager.set_failed(made[58].id, "tool crashed")
    live_server.login(page, "viewer")
    live_server.get(page, "/sessions?sort=created")
    rows = page.locator("#rows tr")
    assert rows.count() == 50
    assert "Task number 059" in rows.first.inner_text()

    page.get_by_role("link", name="Older →").click()
    wait_for_query(page, "older=")
    assert page.locator("#rows tr").count() == 10
    page.get_by_role("link", name="← Newer").click()
    wait_for_query(page, "newer=")
    assert page.locator("#rows tr").count() == 50

    page.get_by_label("failed", exact=True).check()
    wait_for_query(page, "status=failed")
    page.locator("#rows tr").first.wait_for()
    assert page.locator("#rows tr").count() == 1
    assert "Task number 058" in page.locator("#rows").inner_text()
    # The pushed URL works on its own: a full page with the filter applied.
    page.reload()
    assert page.locator("#rows tr").count() == 1
    assert page.get_by_label("failed", exact=True).is_checked()

    page.get_by_label("failed", exact=True).uncheck()
    page.fill("input[name=context]", "project_path=/src/p1")
    page.press("input[name=context]", "Enter")
    wait_for_query(page, "context=project_path=/src/p1")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 20")

    page.get_by_role("link", name=re.compile("Task number 058")).click()
    page.wait_for_url(re.compile(r"/sessions/" + made[58].id))
    assert "tool crashed" in page.locator("#session-header").inner_text()
    assert page_log.page_errors == []
    assert page_log.foreign_requests == []


def test_a_refused_filter_says_why_and_the_form_still_works(
    live_server: Any, page: Any, page_log: Any
) -> None:
    make_sessions(live_server.manager, 3)
    live_server.login(page, "viewer")
    live_server.get(page, "/sessions")
    page.fill("input[name=context]", "=/src/p1")
    page.press("input[name=context]", "Enter")
    page.locator("#results .error-fragment").wait_for()
    assert "must be key=value or a key alone" in page.locator("#results").inner_text()
    page.fill("input[name=context]", "project_path=/src/p1")
    page.press("input[name=context]", "Enter")
    wait_for_query(page, "context=project_path=/src/p1")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 1")
    assert page_log.page_errors == []


def test_keyboard_navigation(live_server: Any, page: Any) -> None:
    made = make_sessions(live_server.manager, 3)
    live_server.login(page, "viewer")
    live_server.get(page, "/sessions")
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.locator("tr.selected").get_attribute("id") == f"row-{made[1].id}"
    page.keyboard.press("k")
    assert page.locator("tr.selected").get_attribute("id") == f"row-{made[2].id}"
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(f"/sessions/{made[2].id}$"))


def test_times_are_local_with_utc_on_hover(live_server: Any, page: Any) -> None:
    make_sessions(live_server.manager, 1)
    live_server.login(page, "viewer")
    live_server.get(page, "/sessions")
    first = page.locator("#rows time").first
    first.wait_for()
    page.wait_for_function("document.querySelector('#rows time[data-local]') !== null")
    assert first.get_attribute("title").endswith("UTC")
    assert "UTC" not in first.inner_text()


def test_live_append_and_status_change(live_server: Any, page: Any, page_log: Any) -> None:
    manager = live_server.manager
    session = manager.create("Watch me", {"model": "opus"})
    manager.set_running(session.id)
    manager.append_message(session.id, Message("user", "first message"))
    live_server.login(page, "reviewer")
    live_server.get(page, f"/sessions/{session.id}")
    page.locator("#transcript").get_by_text("first message").wait_for()
    manager.append_message(session.id, Message("assistant", "a **live** answer"))
    page.locator("#transcript strong", has_text="live").wait_for(timeout=3000)
    manager.set_completed(session.id, "finished")
    page.locator("#session-header .s-completed").wait_for(timeout=3000)
    page.wait_for_function("!document.querySelector('#live[hx-trigger]')")

    # A reviewer marks it failed: only the header, panel and counters change.
    page.fill("input[name=reason]", "wrong answer")
    page.get_by_role("button", name="Mark failed").click()
    page.locator("#session-header .s-failed").wait_for()
    assert "wrong answer" in page.locator("#session-header").inner_text()
    assert "Session marked failed." in page.locator("#session-actions").inner_text()
    assert page.locator("#transcript").get_by_text("first message").count() == 1

    page.fill("textarea[name=note]", "please try again")
    page.get_by_role("button", name="Add note").click()
    page.locator("#transcript .prompt.is-note", has_text="please try again").wait_for()
    assert page.locator("#transcript .prompt.is-note").count() == 1
    page.get_by_role("button", name="Close session").click()
    page.locator("#session-header .s-closed").wait_for()
    assert manager.get(session.id).status == "closed"
    assert page_log.page_errors == []
    assert page_log.console_errors == []


def test_admin_deletes_with_confirmation(live_server: Any, page: Any) -> None:
    session = live_server.manager.create("Delete me")
    live_server.login(page, "admin")
    live_server.get(page, f"/sessions/{session.id}")
    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete for good").click()
    page.wait_for_url(re.compile(r"/sessions\?deleted="))
    assert "was deleted" in page.locator("main").inner_text()
    assert live_server.manager.get(session.id) is None


def test_stats_charts_and_admin_purge(live_server: Any, page: Any) -> None:
    manager = live_server.manager
    for i, s in enumerate(make_sessions(manager, 6)):
        if i % 2:
            manager.set_failed(s.id, "Rate limited")
    live_server.login(page, "admin")
    live_server.get(page, "/stats")
    assert page.locator("svg.chart").count() == 4
    assert page.locator("svg.chart rect.s-failed").count() >= 1
    page.get_by_text("Data table").first.click()
    assert page.locator(".chart-data table").first.is_visible()
    page.get_by_role("link", name="Rate limited").click()
    page.wait_for_url(re.compile(r"error=Rate"))
    assert page.locator("#rows tr").count() == 3

    live_server.get(page, "/admin")
    page.get_by_role("button", name="Count what a purge would do").click()
    page.get_by_text("A purge now would expire").wait_for()
    page.get_by_role("button", name="Purge now").click()
    page.get_by_text("Done: expired").wait_for()
    assert page.locator("#purge-log tbody tr").count() == 1
    page.fill("input[name=confirm]", "CLEAR")
    page.get_by_role("button", name="Clear all sessions").click()
    page.get_by_text("Cleared 6 session(s).").wait_for()
    assert manager.stats() == {}
