"""In Chromium: the list's usage columns are chosen in "Columns" and the choice
stays for the next visit (this browser's localStorage); /stats/usage draws."""

from __future__ import annotations

from typing import Any

from tests.usage.conftest import usage_message


def test_hidden_columns_stay_hidden(live_server: Any, page: Any, page_log: Any) -> None:
    manager = live_server.manager
    session = manager.create("costly", {"project_path": "/src/app"})
    manager.set_running(session.id)
    manager.append_message(session.id, usage_message("claude-opus-4-5"))
    live_server.login(page, "viewer")
    live_server.get(page, "/sessions?sort=cost")
    cost = page.locator("table.sessions td.col-cost").first
    assert cost.is_visible() and "$" in cost.inner_text()
    page.locator("summary", has_text="Columns").click()
    page.get_by_label("Cost", exact=True).uncheck()
    cost.wait_for(state="hidden")
    page.reload()
    page.locator("table.sessions td.col-cost").first.wait_for(state="hidden")
    assert page.locator("table.sessions td.col-tokens").first.is_visible()
    assert not page.get_by_label("Cost", exact=True).is_checked()
    page.locator("summary", has_text="Columns").click()
    page.get_by_label("Cost", exact=True).check()
    page.locator("table.sessions td.col-cost").first.wait_for(state="visible")
    live_server.get(page, "/stats/usage")
    assert page.locator("#chart-usage-cost-per-day svg rect.bar").count() >= 1
    assert page_log.console_errors == [] and page_log.page_errors == []
