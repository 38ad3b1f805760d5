"""The corpus sessions in a real browser, as a reviewer reads them.

Every tool result is drawn inside its call's element, no card is empty, the first
screen of 7acd37a8 holds its first prompt and the agent's first answer, an Edit
shows removed and added lines. The expected pairs come from the raw JSONL lines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.corpus import CORPUS, CORPUS_2
from tests.transcript.helpers import CORPUS_FILES, raw_pairs
from webapp.claude import parse_paths
from webapp.transcript.window import is_prompt

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: For every [data-call] element: its id, whether a result is drawn inside it, and
#: whether it says that no result was recorded.
CALLS_JS = """() => Array.from(document.querySelectorAll('[data-call]')).map(el => [
  el.getAttribute('data-call'),
  el.querySelector('[data-result]') !== null,
  el.querySelector('[data-result-missing]') !== null,
])"""
#: Blocks and calls with neither text nor an image.
EMPTY_JS = """() => Array.from(document.querySelectorAll('[data-block], [data-call]'))
  .filter(el => !el.textContent.trim() && !el.querySelector('img')).length"""


def open_whole(live_server: Any, page: Any, session_id: str, query: str = "") -> None:
    """Open a session page and load every later window of its transcript."""
    live_server.get(page, f"/sessions/{session_id}{query}")
    more = page.locator("#later-turns button")
    while more.count():
        before = page.locator("[data-turn]").count()
        more.click()
        page.locator("[data-turn]").nth(before).wait_for(state="attached")


def test_every_result_is_inside_its_call_and_no_card_is_empty(
    corpus_server: Any, page: Any, page_log: Any
) -> None:
    corpus_server.login(page, "viewer")
    by_file: dict[str, list[str]] = {}
    prompted: set[str] = set()
    for session in parse_paths([CORPUS, CORPUS_2]).sessions:
        by_file.setdefault(str(session.source_path), []).append(session.id)
        if any(is_prompt(m) for m in session.messages):
            prompted.add(session.id)
    for path in CORPUS_FILES:
        raw = raw_pairs(Path(path))
        drawn: dict[str, tuple[bool, bool]] = {}
        for session_id in by_file.get(str(path), []):
            corpus_server.get(page, f"/sessions/{session_id}")
            # a finished session opens at its first prompt (also when its first
            # turn is longer than a window); agent-c8d9b115's file has none
            shown = page.locator("#transcript [data-prompt]").count()
            assert shown >= 1 if session_id in prompted else shown == 0, session_id
            open_whole(corpus_server, page, session_id)
            for tuid, has_result, says_missing in page.evaluate(CALLS_JS):
                drawn[tuid] = (has_result, says_missing)
            assert page.evaluate(EMPTY_JS) == 0, session_id
        for tuid in raw.names:
            assert tuid in drawn, (path.name, tuid)
            assert drawn[tuid] == ((True, False) if tuid in raw.results else (False, True)), tuid
    assert page_log.page_errors == []


def test_first_screen_of_7acd37a8_holds_its_first_prompt_and_answer(
    corpus_server: Any, chromium: Any
) -> None:
    session_id = "7acd37a8-2745-4b58-a8a9-46164b22ad9e"
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    try:
        corpus_server.login(page, "viewer")
        corpus_server.get(page, f"/sessions/{session_id}")
        turn = page.locator('[data-turn="1"]')
        prompt = turn.locator("[data-prompt]")
        answer = turn.locator(".answer")
        assert "/init" in prompt.inner_text()
        assert "CLAUDE.md" in answer.inner_text()
        for element in (prompt, answer):
            box = element.bounding_box()
            assert box is not None and box["y"] < 900, box
    finally:
        context.close()


def test_an_edit_shows_removed_and_added_lines(corpus_server: Any, page: Any) -> None:
    corpus_server.login(page, "viewer")
    corpus_server.get(page, "/sessions/7acd37a8-2745-4b58-a8a9-46164b22ad9e")
    edit = page.locator(".call.tool-diff:has(tr.ddel):has(tr.dadd)").first
    assert not edit.locator("tr.ddel").first.is_visible(), "folded at first"
    run = edit.locator("xpath=ancestor::details[contains(@class, 'run')]")
    if run.count():
        run.first.locator("summary").first.click()
    edit.locator("summary").first.click()
    removed, added = edit.locator("tr.ddel").first, edit.locator("tr.dadd").first
    assert removed.is_visible() and added.is_visible()
    assert removed.inner_text().strip().startswith("-")
    assert added.inner_text().strip().startswith("+")
    assert "\\n" not in edit.inner_text()


def test_toggles_live_in_the_url_and_the_browser(corpus_server: Any, page: Any) -> None:
    corpus_server.login(page, "viewer")
    session = "/sessions/7acd37a8-2745-4b58-a8a9-46164b22ad9e"
    corpus_server.get(page, session)
    assert not page.locator("details.run").first.evaluate("el => el.open")
    page.locator('[data-noise-toggle="tools"]').click()
    assert page.locator("details.run").first.evaluate("el => el.open")
    assert "tools=1" in page.url
    corpus_server.get(page, session)  # no parameter: the browser remembers
    assert page.locator("details.run").first.evaluate("el => el.open")
    assert "tools=1" in page.url


def test_subagents_open_in_place_or_say_not_imported(corpus_server: Any, page: Any) -> None:
    corpus_server.login(page, "viewer")
    corpus_server.get(page, "/sessions/ef958aa1-0e93-49f0-bb71-150f63befcd1?tools=1")
    bob = page.locator(
        '[data-subagent="ef958aa1-0e93-49f0-bb71-150f63befcd1-agent-a52886dc180afb356"]'
    )
    card = bob.locator(".subagent-card")
    assert "open the subagent's session" in card.inner_text()
    # the child's own status, size, tokens, cost and time (the ledger's totals)
    assert card.locator(".badge").inner_text() == "completed"
    assert card.locator("[data-card-messages]").inner_text() == "44 messages"
    assert re.fullmatch(r"[\d.]+k tokens", card.locator("[data-card-tokens]").inner_text())
    assert card.locator("[data-card-cost]").inner_text().startswith("$")
    assert re.fullmatch(r"\d+ min \d+ s", card.locator("[data-card-duration]").inner_text())
    opener = bob.locator("details.subagent-transcript")
    opener.locator("summary").click()
    opener.locator("[data-turn]").first.wait_for()
    assert "You are **bob**" in opener.inner_text() or "You are bob" in opener.inner_text()
    missing = page.locator('[data-subagent$="-agent-ab1e6e141221a29ab"]')
    assert "not imported" in missing.inner_text()


def test_turn_times_are_the_readers_local_time_and_utc_without_script(
    corpus_server: Any, chromium: Any
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    path = "/sessions/7acd37a8-2745-4b58-a8a9-46164b22ad9e"
    for script in (True, False):
        context = chromium.new_context(
            viewport={"width": 1366, "height": 900},
            timezone_id="Asia/Kolkata",
            locale="en-GB",
            java_script_enabled=script,
        )
        page = context.new_page()
        try:
            corpus_server.login(page, "viewer")
            corpus_server.get(page, path)
            clock = page.locator('[data-turn="1"] .turn-head time')
            moment = datetime.fromisoformat(clock.get_attribute("datetime") or "")
            if script:  # the reader's zone, with seconds; the zone and UTC on hover
                local = moment.astimezone(ZoneInfo("Asia/Kolkata"))
                assert local.strftime("%H:%M:%S") in clock.inner_text()
                title = clock.get_attribute("title") or ""
                assert "India Standard Time" in title
                assert moment.strftime("%Y-%m-%d %H:%M:%S UTC") in title
            else:  # the server's text: UTC, labelled
                assert clock.inner_text().endswith(moment.strftime("%H:%M:%S UTC"))
        finally:
            context.close()


def test_live_appends_update_the_turns_the_count_and_the_outline(
    live_server: Any, page: Any, page_log: Any
) -> None:
    from webapp.sessions import Message

    manager = live_server.manager
    session = manager.create("a running agent")
    manager.set_running(session.id)
    manager.append_messages(
        session.id, [Message("user", "first question"), Message("assistant", "first answer")]
    )
    live_server.login(page, "viewer")
    live_server.get(page, f"/sessions/{session.id}")
    outline = page.locator("#outline-list a")
    outline.first.wait_for()
    assert outline.count() == 1
    assert "(2 messages)" in page.locator("#transcript-count").inner_text()
    manager.append_messages(
        session.id,
        [Message("assistant", "more of the first answer"), Message("user", "second question")],
    )
    page.locator("#live-tail").get_by_text("second question").wait_for()
    page.locator("#transcript-count").get_by_text("(4 messages)").wait_for()
    assert outline.count() == 2 and "second question" in outline.nth(1).inner_text()
    manager.append_messages(session.id, [Message("assistant", "second answer")])
    page.locator("#live-tail").get_by_text("second answer").wait_for()
    page.locator("#transcript-count").get_by_text("(5 messages)").wait_for()
    # the first turn went on and was finished; each turn is drawn once
    assert page.get_by_text("more of the first answer").count() == 1
    assert page.locator('[data-turn="2"]').count() == 1
    assert outline.count() == 2
    assert page_log.page_errors == []


def test_the_whole_message_is_drawn_as_the_turn_draws_it(live_server: Any, page: Any) -> None:
    from webapp.sessions import Message

    manager = live_server.manager
    session = manager.create("long answer")
    manager.set_running(session.id)
    long_text = "word " * 5_000 + "\n\nthe **closing line**"
    manager.append_messages(session.id, [Message("user", "go"), Message("assistant", long_text)])
    manager.set_completed(session.id, "done")
    live_server.login(page, "viewer")
    live_server.get(page, f"/sessions/{session.id}")
    assert page.get_by_text("closing line").count() == 0
    page.get_by_role("button", name="Show the whole message").click()
    closing = page.locator(".turn .answer .block.text .md strong", has_text="closing line")
    closing.wait_for()
    assert page.locator("article.message, .card").count() == 0  # not the old card
    assert page.locator(".answer [data-block]").count() == 1


def test_a_running_session_opened_around_a_message_follows_again_at_the_end(
    live_server: Any, page: Any, page_log: Any
) -> None:
    from webapp.sessions import Message

    manager = live_server.manager
    session = manager.create("a long running agent")
    manager.set_running(session.id)
    manager.append_messages(
        session.id,
        [Message("user" if i % 2 else "assistant", f"message number {i}.") for i in range(300)],
    )
    first = manager.store.get_messages(session.id, limit=1)[0]
    live_server.login(page, "viewer")
    live_server.get(page, f"/sessions/{session.id}?around={first.id}")
    page.locator("#outline-list a").first.wait_for()
    prompts = page.locator("#outline-list a").count()
    manager.append_messages(session.id, [Message("user", "a late prompt")])
    # the outline and the count follow; no turn is drawn after the gap
    page.locator("#outline-list a", has_text="a late prompt").wait_for()
    page.locator("#transcript-count").get_by_text("(301 messages)").wait_for()
    assert page.locator("#outline-list a").count() == prompts + 1
    assert page.locator("#transcript").get_by_text("a late prompt").count() == 0
    while (button := page.query_selector("#later-turns button")) is not None:
        button.click()
        button.wait_for_element_state("hidden")  # swapped out: the next part is in
    page.locator("#live-tail").get_by_text("a late prompt").wait_for()
    manager.append_messages(session.id, [Message("assistant", "the live answer")])
    page.locator("#live-tail").get_by_text("the live answer").wait_for()
    assert page.locator("#transcript").get_by_text("message number 299.").count() == 1
    assert page_log.page_errors == []
