"""Queues in the browser: scoring a session with the keyboard, stored XSS in every
new place user text is shown (view names, queue names, criterion and choice
labels, free-text answers), and screenshots of the queue page and rubric panel."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_xss import PAYLOADS, assert_inert
from webapp.sessions import Message

pytestmark = pytest.mark.browser


@contextmanager
def acting_as(live_server: Any, role: str) -> Iterator[None]:
    """A request context of the app with the user of ``role`` logged in."""
    from flask import g

    from webapp.accounts import service

    with live_server.app.test_request_context():
        g._login_user = service.get_user_by_name(live_server.users[role])  # Flask-Login's slot
        yield


def finished_session(live_server: Any, request: str = "Fix the flaky test") -> str:
    manager = live_server.manager
    session = manager.create(request)
    manager.set_running(session.id)
    manager.append_messages(
        session.id, [Message("user", request), Message("assistant", "Done: the clock was fake.")]
    )
    manager.set_completed(session.id, "Done")
    return str(session.id)


def build_queue(live_server: Any, *, name: str = "Flaky fixes", mode: str = "round_robin") -> int:
    """A shared view of completed sessions and a queue over it with a four-part
    rubric, worked by the reviewer (and the admin)."""
    from webapp.queues import service

    with acting_as(live_server, "admin"):
        view = service.save_view(f"{name} view", "status=completed", True)
        users = live_server.users
        queue = service.create_queue(name, view, mode, [users["reviewer"], users["admin"]])
        service.add_criterion(queue, "Fixed the cause", "passfail", "", True)
        service.add_criterion(queue, "Quality", "score", "", True)
        service.add_criterion(queue, "Kind of change", "choice", "test, code, config", True)
        service.add_criterion(queue, "Notes", "text", "", False)
    return queue


def stored_scores(live_server: Any) -> dict[str, str]:
    from webapp.queues import service

    with live_server.app.app_context(), service.get_database().read() as conn:
        c, s = service.criteria_t.c, service.scores_t.c
        rows = conn.execute(
            select(c.label, s.value, s.reviewer).join(service.criteria_t, c.id == s.criterion_id)
        )
        return {r.label: r.value for r in rows if r.reviewer == live_server.users["reviewer"]}


def test_a_reviewer_scores_a_session_with_the_keyboard(
    live_server: Any, page: Any, page_log: Any
) -> None:
    sid = finished_session(live_server)
    queue = build_queue(live_server, mode="claim")
    live_server.login(page, "reviewer")
    live_server.get(page, f"/queues/{queue}")
    page.keyboard.press("n")  # the reviewer's next: claims the open session
    page.wait_for_url(f"**/sessions/{sid}?queue={queue}")
    panel = page.locator("#rubric-panel")
    assert panel.locator(".criterion.current .label-text").inner_text() == "Fixed the cause"
    page.keyboard.press("1")  # pass
    page.locator(".criterion.current .label-text", has_text="Quality").wait_for()
    page.keyboard.press("4")
    page.locator(".criterion.current .label-text", has_text="Kind of change").wait_for()
    page.keyboard.press("2")  # code
    page.locator(".criterion.current .label-text", has_text="Notes").wait_for()
    page.keyboard.press("t")
    page.keyboard.type("Replaced sleep with the fake clock")
    page.keyboard.press("Enter")
    page.locator("#rubric-panel [data-criterion] .rubric-answer", has_text="written").wait_for()
    assert stored_scores(live_server) == {
        "Fixed the cause": "pass",
        "Quality": "4",
        "Kind of change": "code",
        "Notes": "Replaced sleep with the fake clock",
    }
    live_server.get(page, f"/queues/{queue}")
    assert "1 / 1" in page.locator(".progress-line").inner_text()
    assert page_log.page_errors == [] and page_log.console_errors == []


def test_user_text_of_queues_stays_inert(live_server: Any, page: Any, page_log: Any) -> None:
    from webapp.queues import service

    sid = finished_session(live_server, "payload session")
    queue_ids = []
    for i, payload in enumerate(PAYLOADS):
        label = f"{payload[:90]} {i}"
        with acting_as(live_server, "admin"):
            view = service.save_view(label, "status=completed", True)
            members = [live_server.users["admin"], live_server.users["reviewer"]]
            queue = service.create_queue(label, view, "claim", members)
            passfail = service.add_criterion(queue, label, "passfail", "", False)
            service.add_criterion(queue, "choice " + label, "choice",
                                  f"{payload[:80].replace(',', ';')}\nplain", False)  # fmt: skip
            text = service.add_criterion(queue, "text " + label, "text", "", False)
            service.claim(queue, sid)
            service.score(sid, queue, passfail, "pass")
            service.score(sid, queue, text, payload)
        with acting_as(live_server, "reviewer"):  # a second opinion: the agreement table
            service.score(sid, queue, passfail, "fail")
        queue_ids.append(queue)
    live_server.login(page, "admin")
    pages = ["/views", "/queues", "/sessions", f"/sessions/{sid}"]
    pages += [f"/queues/{q}" for q in queue_ids[:: max(1, len(queue_ids) // 12)]]
    pages += [f"/sessions/{sid}?queue={q}" for q in queue_ids[:3]]
    for path in pages:
        live_server.get(page, path)
        page.locator("details.views-menu > summary").click()
        assert_inert(page, page_log, path)
        # CSP would stop most payloads anyway: check that none became markup at all.
        assert page.evaluate(INJECTED) == [], path
    live_server.get(page, f"/queues/{queue_ids[0]}")
    assert PAYLOADS[0][:90] in page.locator(".queue-title").inner_text()
    assert page.locator("main script, main iframe, main svg").count() == 0
    assert page.locator("[hx-get*='evil'], [data-hx-get]").count() == 0


#: Elements that only a payload could have made: scripts, frames and the like, and
#: any element with an event handler or an htmx attribute aimed at another site.
INJECTED = """
[...document.querySelectorAll('body *')].filter(el =>
  ['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'BASE', 'META', 'STYLE', 'LINK', 'X', 'VIDEO', 'AUDIO',
   'MATH', 'NOSCRIPT'].includes(el.tagName.toUpperCase()) && !el.closest('head')
  || [...el.attributes].some(a => a.name.startsWith('on')
       || (a.name.startsWith('hx-') && /evil|clear|alert/.test(a.value)))
  || (el.tagName === 'IMG' && /evil|^x$/.test(el.getAttribute('src') || ''))
  || (el.tagName === 'svg' && el.closest('main'))
).map(el => el.outerHTML.slice(0, 80))
"""

VIEWPORTS = {"laptop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.screenshots
def test_queue_screenshots(live_server: Any, page: Any, page_log: Any) -> None:
    from webapp.queues import service

    sessions = [finished_session(live_server, f"Fix flaky test number {n}") for n in range(6)]
    queue = build_queue(live_server)
    with acting_as(live_server, "admin"):
        service.sync(queue)
        rubric = service.queue_page(queue, service.ItemFilter())["criteria"]
        criteria = {c["label"]: c["id"] for c in rubric}
        for n, sid in enumerate(sessions[:4]):
            service.score(sid, queue, criteria["Fixed the cause"], "pass" if n % 3 else "fail")
            service.score(sid, queue, criteria["Quality"], str(2 + n))
    with acting_as(live_server, "reviewer"):
        for n, sid in enumerate(sessions[:4]):
            service.score(sid, queue, criteria["Fixed the cause"], "pass" if n % 2 else "fail")
    live_server.login(page, "reviewer")
    SCREENSHOTS.mkdir(exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for device, viewport in VIEWPORTS.items():
            page.set_viewport_size(viewport)
            live_server.get(page, f"/queues/{queue}")
            page.screenshot(path=str(SCREENSHOTS / f"queue-{device}-{scheme}.png"), full_page=True)
            live_server.get(page, f"/sessions/{sessions[1]}?queue={queue}")
            page.locator("#rubric-panel").scroll_into_view_if_needed()
            page.locator("#rubric-panel").screenshot(
                path=str(SCREENSHOTS / f"rubric-{device}-{scheme}.png")
            )
            live_server.get(page, "/sessions")
            if device == "phone":  # the nav sits behind the header's Menu button
                page.click("button[data-menu]")
            page.locator("details.views-menu > summary").click()
            page.screenshot(path=str(SCREENSHOTS / f"views-nav-{device}-{scheme}.png"))
    assert page_log.page_errors == []


def test_save_view_keeps_the_filters_the_list_shows(live_server: Any, page: Any) -> None:
    finished_session(live_server, "kept one")
    live_server.login(page, "viewer")
    live_server.get(page, "/sessions")
    page.check("#filters input[name=status][value=completed]")  # htmx: the URL changes
    page.wait_for_url("**/sessions?*status=completed*")
    page.locator("details.save-view > summary").click()
    page.fill("form[data-save-view] input[name=name]", "Completed ones")
    page.click("form[data-save-view] button[type=submit]")
    page.wait_for_load_state()
    page.locator("details.views-menu > summary").click()
    link = page.locator("details.views-menu a", has_text="Completed ones")
    assert "status=completed" in (link.get_attribute("href") or "")
    assert link.locator(".view-count").inner_text() == "1"
