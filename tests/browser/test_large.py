"""A session with 50,000 messages opens without freezing and stays small in memory."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from webapp.sessions import Message

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MESSAGES = 50_000
MEMORY_LIMIT = 300 * 1024 * 1024


def test_fifty_thousand_messages(live_server: Any, page: Any, page_log: Any) -> None:
    manager = live_server.manager
    session = manager.create("A very long run", expires_at=None)
    start = datetime.now(UTC) - timedelta(days=1)
    messages = [
        Message(
            "assistant" if i % 2 else "user",
            f"Message {i}: some **markdown** and `code`.\n\n```python\nprint({i})\n```",
            timestamp=start + timedelta(seconds=i),
        )
        for i in range(MESSAGES)
    ]
    messages.append(Message("tool", "x" * 60_000 + "TAIL", timestamp=start + timedelta(days=1)))
    manager.store.append_messages(session.id, messages, now=start, require_open=False)

    live_server.login(page, "viewer")
    live_server.get(page, f"/sessions/{session.id}")
    # A pending session opens at its end, in whole turns (a prompt and its answer).
    turns = page.locator("#transcript [data-turn]")
    assert 40 <= turns.count() <= 61
    assert page.get_by_text(f"Message {MESSAGES - 1}:").count() == 1
    assert page.get_by_text(re.compile("xTAIL")).count() == 0

    # Responsive: the page answers a script and loads earlier turns on demand.
    assert page.evaluate("1 + 1") == 2
    shown = turns.count()
    page.get_by_role("button", name="Load earlier turns").click()
    turns.nth(shown + 40).wait_for(state="attached")
    assert page.get_by_text(f"Message {MESSAGES - 2 * shown - 1}:").count() == 1
    page.get_by_role("button", name="Show the whole message").click()
    page.get_by_text(re.compile("xTAIL")).wait_for()

    # The outline lists the prompts a page at a time and jumps anywhere.
    outline = page.locator("#outline-list a")
    outline.first.wait_for()
    assert 100 <= outline.count() <= 200
    outline.nth(10).click()
    page.wait_for_load_state()
    assert "around=" in page.url
    assert page.locator("#transcript").get_by_text("Message 20:").count() == 1

    # Memory, measured with CDP Performance.getMetrics (JSHeapTotalSize: the V8 heap
    # the page holds) after a forced garbage collection.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    assert 0 < metrics["JSHeapTotalSize"] < MEMORY_LIMIT
    assert metrics["Nodes"] < 100_000
    assert page_log.page_errors == []
