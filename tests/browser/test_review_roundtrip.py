"""A reviewer's round trip in Chromium: verdict by key and by click, a tag, a
comment, keep, the next session by one key, and the audit entries that follow."""

from __future__ import annotations

from typing import Any

import pytest

from webapp.sessions import Message

pytestmark = pytest.mark.browser


def failed_session(manager: Any, request: str) -> str:
    session = manager.create(request)
    manager.set_running(session.id)
    manager.append_message(session.id, Message("user", request))
    manager.append_message(session.id, Message("assistant", "I could not do it."))
    manager.set_failed(session.id, "tests still red")
    return str(session.id)


def audit_of(live_server: Any, session_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    from webapp.accounts.audit import AuditFilter, entries

    with live_server.app.app_context():
        rows, _ = entries(AuditFilter(session_id=session_id))
    return [(r["actor"], r["action"], r["detail"]) for r in reversed(rows)]


def test_review_round_trip(live_server: Any, page: Any, page_log: Any) -> None:
    from playwright.sync_api import expect

    first = failed_session(live_server.manager, "Fix the flaky test")
    second = failed_session(live_server.manager, "Upgrade the parser")
    reviewer = live_server.users["reviewer"]
    live_server.login(page, "reviewer")

    # The inbox lists both; "n" opens the first, failed and oldest.
    live_server.get(page, "/review")
    expect(page.locator("tr.inbox-row")).to_have_count(2)
    page.keyboard.press("n")
    page.wait_for_url(f"**/sessions/{first}?*")
    verdict = page.locator("#review-verdict")

    # One key approves; one click with a reason flags.
    page.keyboard.press("a")
    expect(verdict.locator(".verdict-value")).to_have_text("approved")
    verdict.locator("input[name=reason]").fill("the test is still flaky")
    verdict.get_by_role("button", name="Flag").click()
    expect(verdict.locator(".verdict-value")).to_have_text("flagged")
    expect(verdict).to_contain_text(f"by {reviewer}")
    expect(verdict.locator(".verdict-reason")).to_have_text("the test is still flaky")

    # Tags: added and removed inline.
    tags = page.locator("#review-tags")
    for name in ("flaky", "ci"):
        tags.get_by_role("textbox", name="New tag").fill(name)
        tags.get_by_role("button", name="Add tag").click()
        expect(tags.locator(".tag", has_text=name)).to_be_visible()
    tags.get_by_role("button", name="Remove tag ci").click()
    expect(tags.locator(".tag")).to_have_count(1)

    # A markdown comment, rendered sanitised.
    comments = page.locator("#review-comments")
    comments.locator("textarea[name=body]").fill("**Retry** did not help <b onclick=x>")
    comments.get_by_role("button", name="Comment").click()
    expect(comments.locator(".comment .md strong")).to_have_text("Retry")
    expect(comments.locator("[onclick]")).to_have_count(0)

    # Keep.
    page.locator("#review-keep").get_by_role("button").click()
    expect(page.locator("#review-keep")).to_contain_text("Kept")

    # The page survives a reload with everything in place.
    page.reload()
    expect(page.locator("#review-verdict .verdict-value")).to_have_text("flagged")
    expect(page.locator("#review-tags .tag")).to_have_text(["flaky"])

    # One key opens the next session awaiting review.
    page.keyboard.press("n")
    page.wait_for_url(f"**/sessions/{second}?*")

    actions = [(actor, action) for actor, action, _ in audit_of(live_server, first)]
    assert actions == [
        (reviewer, "verdict"),
        (reviewer, "verdict"),
        (reviewer, "tag.add"),
        (reviewer, "tag.add"),
        (reviewer, "tag.remove"),
        (reviewer, "comment"),
        (reviewer, "keep"),
    ]
    details = [detail for _, _, detail in audit_of(live_server, first)]
    assert details[1] == {"verdict": "flagged", "reason": "the test is still flaky"}
    assert live_server.manager.get(first).keep is True
    assert page_log.console_errors == [] and page_log.page_errors == []
