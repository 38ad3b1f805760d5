"""Stepping through a session's search hits in a real browser (issue 12, item 3):
"Next hit" reaches a hit far past the loaded turns, loads the turns around it in
place (no page load), marks it and brings it into view; "Previous hit" goes back."""

from __future__ import annotations

from typing import Any

import pytest

from webapp.sessions import Message

pytestmark = [pytest.mark.browser]


def test_next_and_previous_hit_load_in_place(live_server: Any, page: Any, page_log: Any) -> None:
    manager = live_server.manager
    s = manager.create("a long session", expires_at=None)
    manager.set_running(s.id)
    texts = ["the needle at the start"] + [f"filler {i}" for i in range(400)]
    texts.append("the needle at the end")
    manager.append_messages(s.id, [Message("assistant", t) for t in texts])
    manager.set_completed(s.id, "done")
    messages = manager.get_messages(s.id) or []
    first, last = messages[0].id, messages[-1].id
    live_server.login(page, "viewer")
    live_server.get(page, f"/sessions/{s.id}?q=needle&hit={first}")
    assert page.locator(f"#m-{last}").count() == 0  # past the loaded turns
    page.evaluate("() => { window.stayedOnThePage = true; }")

    page.get_by_role("link", name="Next hit →").click()
    page.locator(f'.hit-nav[data-hit="{last}"]').wait_for()
    assert page.evaluate("() => window.stayedOnThePage === true")  # no page load
    hit = page.locator(f"#m-{last}")
    page.locator(f"#m-{last}[data-hit-shown]").wait_for()  # marked once htmx settled
    hit.wait_for(state="visible")
    assert page.evaluate(
        "(id) => { const r = document.getElementById(id).getBoundingClientRect();"
        " return r.bottom > 0 && r.top < window.innerHeight; }",
        f"m-{last}",
    )
    assert f"hit={last}" in page.url
    assert "Hit 2 of 2" in page.locator(".hit-nav").inner_text()

    page.get_by_role("link", name="← Previous hit").click()
    page.locator(f'.hit-nav[data-hit="{first}"]').wait_for()
    assert page.evaluate("() => window.stayedOnThePage === true")
    page.locator(f"#m-{first}[data-hit-shown]").wait_for()
    assert page.locator("[data-hit-shown]").count() == 1
    assert not page_log.console_errors and not page_log.page_errors
