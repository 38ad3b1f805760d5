"""A session with 50,000 messages opens without freezing and stays small in memory."""

from __future__ import annotations

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
    assert page.locator("#transcript [data-message]").count() == 100
    assert page.get_by_text(f"Message {MESSAGES - 1}:").count() == 1
    assert page.get_by_text("TAIL").count() == 0

    # Responsive: the page answers a script and loads earlier messages on demand.
    assert page.evaluate("1 + 1") == 2
    page.get_by_role("button", name="Load earlier messages").click()
    page.get_by_text(f"Message {MESSAGES - 199}:").wait_for()
    assert page.locator("#transcript [data-message]").count() == 200
    page.get_by_role("button", name="Show the whole message").click()
    page.get_by_text("TAIL", exact=False).wait_for()

    # Memory, measured with CDP Performance.getMetrics (JSHeapTotalSize: the V8 heap
    # the page holds) after a forced garbage collection.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    assert 0 < metrics["JSHeapTotalSize"] < MEMORY_LIMIT
    assert metrics["Nodes"] < 100_000
    assert page_log.page_errors == []
