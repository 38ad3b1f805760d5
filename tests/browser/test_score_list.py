"""Rubric scores in the session list, in the browser: the filter form without
JavaScript (a plain GET form) and with htmx, the sort, the score column chosen
in *Columns* (remembered), and stored XSS in criterion and choice labels and
free-text answers shown in the list."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.browser.conftest import PASSWORD
from tests.browser.test_queues import INJECTED, acting_as, build_queue, finished_session
from tests.browser.test_xss import PAYLOADS, assert_inert

pytestmark = pytest.mark.browser


def scored_sessions(live_server: Any) -> tuple[dict[str, int], list[str]]:
    """Four finished sessions in a queue; the first three scored on pass/fail and
    quality by the reviewer (and the admin on one): the criteria ids, the sessions."""
    from webapp.queues import service

    sessions = [finished_session(live_server, f"Fix flaky test {n}") for n in range(4)]
    queue = build_queue(live_server, mode="claim")
    with acting_as(live_server, "admin"):
        service.sync(queue)
        rubric = service.queue_page(queue, service.ItemFilter())["criteria"]
        criteria = {c["label"]: c["id"] for c in rubric}
    answers = [("pass", "5"), ("fail", "2"), ("pass", "3")]
    with acting_as(live_server, "reviewer"):
        for sid, (ok, quality) in zip(sessions, answers, strict=False):
            service.score(sid, queue, criteria["Fixed the cause"], ok)
            service.score(sid, queue, criteria["Quality"], quality)
    with acting_as(live_server, "admin"):
        service.score(sessions[2], queue, criteria["Quality"], "4")  # mean 3.5
    return criteria, sessions


def shown(page: Any) -> list[str]:
    rows = page.locator("#rows tr[id^=row-]")
    return [str(rows.nth(i).get_attribute("id"))[4:] for i in range(rows.count())]


def test_the_score_filter_form_works_without_javascript(chromium: Any, live_server: Any) -> None:
    criteria, sessions = scored_sessions(live_server)
    context = chromium.new_context(java_script_enabled=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login")
        page.fill("input[name=name]", live_server.users["viewer"])
        page.fill("input[name=password]", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_load_state()
        live_server.get(page, "/sessions")
        form = page.locator("#filters")
        form.locator("select[name=score]").select_option(str(criteria["Fixed the cause"]))
        form.locator("input[name=score_value]").fill("pass")
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"score_value=pass"))
        assert set(shown(page)) == {sessions[0], sessions[2]}
        assert page.locator("th.col-score").inner_text() == "Fixed the cause"
        # the form keeps what it was given; now by quality, highest first, at least 3
        form = page.locator("#filters")
        assert form.locator("input[name=score_value]").input_value() == "pass"
        form.locator("select[name=score]").select_option(str(criteria["Quality"]))
        form.locator("input[name=score_value]").fill("")
        form.locator("input[name=score_min]").fill("3")
        form.locator("select[name=sort]").select_option("score")
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"sort=score"))
        assert shown(page) == [sessions[0], sessions[2]]
        cells = page.locator("td.col-score").all_inner_texts()
        assert cells == ["5 (1 reviewer)", "3.5 (2 reviewers)"]
        # a bad bound is a page that names it
        form = page.locator("#filters")
        form.locator("input[name=score_min]").fill("")
        form.locator("select[name=sort]").select_option("activity")
        form.locator("input[name=score_value]").fill("9")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert "score_value" in page.locator("main").inner_text()
    finally:
        context.close()


def test_the_score_filter_sort_and_column_with_htmx(
    live_server: Any, page: Any, page_log: Any
) -> None:
    criteria, sessions = scored_sessions(live_server)
    live_server.login(page, "reviewer")
    live_server.get(page, "/sessions")
    form = page.locator("#filters")
    form.locator("select[name=score]").select_option(str(criteria["Quality"]))
    page.wait_for_url(re.compile(rf"score={criteria['Quality']}"))  # htmx: the URL follows
    form.locator("select[name=sort]").select_option("score_asc")
    page.wait_for_url(re.compile(r"sort=score_asc"))
    page.locator("#rows tr").first.wait_for()
    assert shown(page) == [sessions[1], sessions[2], sessions[0], sessions[3]]
    # the Score column is chosen in Columns and stays hidden on the next page
    page.locator("details.column-choice > summary").click()
    page.locator("details.column-choice input[value=score]").uncheck()
    assert not page.locator("td.col-score").first.is_visible()
    page.reload()
    assert not page.locator("td.col-score").first.is_visible()
    page.locator("details.column-choice > summary").click()
    page.locator("details.column-choice input[value=score]").check()
    assert page.locator("td.col-score").first.is_visible()
    assert page_log.page_errors == [] and page_log.console_errors == []


def test_score_texts_in_the_list_stay_inert(live_server: Any, page: Any, page_log: Any) -> None:
    from webapp.queues import service

    sid = finished_session(live_server, "payload session")
    lists = []
    for i, payload in enumerate(PAYLOADS[::3]):
        label = f"{payload[:90]} {i}"
        with acting_as(live_server, "admin"):
            view = service.save_view(label, "status=completed", True)
            queue = service.create_queue(label, view, "claim", [live_server.users["admin"]])
            choice = service.add_criterion(queue, "choice " + label, "choice",
                                           f"{payload[:80].replace(',', ';')}\nplain",
                                           False)  # fmt: skip
            text = service.add_criterion(queue, "text " + label, "text", "", False)
            service.claim(queue, sid)
            labels = service.queue_page(queue, service.ItemFilter())["criteria"][0]["choices"]
            service.score(sid, queue, choice, labels[0])
            service.score(sid, queue, text, payload)
        lists += [f"/sessions?score={choice}", f"/sessions?score={text}"]
        lists.append("/sessions?" + urlencode({"score": choice, "score_value": labels[0]}))
    live_server.login(page, "admin")
    for path in lists:
        live_server.get(page, path)
        assert_inert(page, page_log, path)
        # The list's live poll carries the filters in its own URL (percent-encoded,
        # so a payload's words may show there): every other element must be clean.
        live = page.locator("#list-live").get_attribute("hx-get") or ""
        assert live.startswith("/sessions/live?") and "<" not in live, path
        injected = [e for e in page.evaluate(INJECTED) if not e.startswith('<div id="list-live"')]
        assert injected == [], path
        assert page.locator("td.col-score").count() == 1, path
    live_server.get(page, lists[1])
    assert PAYLOADS[0][:60] in page.locator("td.col-score").inner_text()
