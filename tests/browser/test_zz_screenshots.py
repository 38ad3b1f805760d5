"""Screenshots of every page in light and dark mode, on a laptop and a phone, into
``screenshots/`` (git-ignored) for a person to look at: ``make screenshots``
(``make test`` leaves them out; what they would catch, a page's script error, the
walks of tests/browser/test_every_page.py and test_transcript.py assert)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_every_page import ERRORS, _pages, _samples, views
from webapp.demo import generate

pytestmark = [pytest.mark.browser, pytest.mark.screenshots]

VIEWPORTS = {"laptop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


def _shot_name(path: str, samples: dict[str, str]) -> str:
    """A file name for ``path``: its words, with sample values named by their kind."""
    for name, value in samples.items():
        path = path.replace(value, name)
    return re.sub(r"[^a-z0-9_]+", "-", path.lower()).strip("-") or "root"


def test_screenshots(live_server: Any, page: Any, page_log: Any) -> None:
    manager = live_server.manager
    now = datetime.now(UTC)
    generate(manager.store, 120, now=now, timeout=timedelta(minutes=30),
             retention=timedelta(days=7), seed=4)  # fmt: skip
    richest = max(manager.list(), key=lambda s: s.message_count if s.message_count < 60 else 0)
    live_server.login(page, "admin")
    samples = {**_samples(live_server), "session_id": richest.id}
    paths = _pages(live_server, page, samples) + ERRORS
    pages = {_shot_name(path, samples): path for path in paths}
    pages["login-logged-out"] = "/login"
    SCREENSHOTS.mkdir(exist_ok=True)
    for name, path in pages.items():  # (the logged-out login page last)
        if name == "login-logged-out":
            page.context.clear_cookies()
        live_server.get(page, path)
        if name == "sessions-session_id":
            for summary in page.locator("#transcript .card > summary").all()[:3]:
                summary.click()
        for device, scheme in views(page, VIEWPORTS):
            target = SCREENSHOTS / f"{name}-{device}-{scheme}.png"
            page.screenshot(
                path=str(target), full_page=device == "laptop" and name != "sessions-session_id"
            )
            assert target.stat().st_size > 0
    assert page_log.page_errors == []
    assert page_log.foreign_requests == []


CORPUS_VIEWPORTS = {
    "laptop": {"width": 1366, "height": 900},
    "phone": {"width": 390, "height": 844},
}


#: True once the side panel's outline has replaced its "Loading" line (or has none).
LOADED = (
    "() => !Array.from(document.querySelectorAll('#outline-list > li.muted'))"
    ".some(li => li.textContent.startsWith('Loading'))"
)


def test_corpus_screenshots(corpus_server: Any, page: Any, page_log: Any) -> None:
    """Every corpus session (laptop light, phone dark, laptop dark with tools open),
    for comparing with another viewer's pages of the same files."""
    live_server = corpus_server
    live_server.login(page, "viewer")
    SCREENSHOTS.mkdir(exist_ok=True)
    folded, opened = "?thinking=0&tools=0&hooks=0", "?tools=1"
    # each query is loaded once and shot in each of its views
    shots = {folded: [("laptop", "light"), ("phone", "dark")], opened: [("laptop", "dark")]}
    sessions = [s for s in live_server.manager.list() if s.message_count]
    for session in sessions:
        for query, looks in shots.items():
            live_server.get(page, f"/sessions/{session.id}{query}")
            page.wait_for_function(LOADED)  # the outline loads after the page
            for device, scheme in looks:
                page.emulate_media(color_scheme=scheme)
                page.set_viewport_size(CORPUS_VIEWPORTS[device])
                suffix = "-tools" if query == opened else ""
                name = f"corpus-{session.id[:40]}-{device}-{scheme}{suffix}.png"
                page.screenshot(path=str(SCREENSHOTS / name))
    assert page_log.page_errors == []
    assert page_log.foreign_requests == []


def test_share_screenshots(live_server: Any, page: Any, page_log: Any) -> None:
    """The share dialog on the session page and the shared page (redacted, with
    comments), at 1366 and 390 px, light and dark."""
    manager = live_server.manager
    now = datetime.now(UTC)
    generate(manager.store, 30, now=now, timeout=timedelta(minutes=30),
             retention=timedelta(days=7), seed=4)  # fmt: skip
    richest = max(manager.list(), key=lambda s: s.message_count if s.message_count < 60 else 0)
    live_server.login(page, "reviewer")
    live_server.get(page, f"/sessions/{richest.id}")
    page.locator("[data-share-open]").click()
    page.locator("#share-dialog [name=comments]").check()
    page.locator("#share-dialog button[type=submit]").click()
    url = page.locator("[data-share-url]").input_value()
    assert "/s/" in url
    SCREENSHOTS.mkdir(exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for device, viewport in CORPUS_VIEWPORTS.items():
            page.set_viewport_size(viewport)
            live_server.get(page, f"/sessions/{richest.id}")
            page.locator("[data-share-open]").click()
            page.screenshot(path=str(SCREENSHOTS / f"share-dialog-{device}-{scheme}.png"))
            page.keyboard.press("Escape")
            page.locator("#share-panel").scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / f"share-panel-{device}-{scheme}.png"))
            page.goto(url)
            page.screenshot(path=str(SCREENSHOTS / f"shared-page-{device}-{scheme}.png"))
    assert page_log.page_errors == []
    assert page_log.foreign_requests == []
