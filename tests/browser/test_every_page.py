"""Every page of the app, found from the URL map, on a phone and a laptop, light and dark:

- no page scrolls sideways (the document is as wide as the viewport, 390 and 1366 px);
- axe-core finds no serious or critical violation (light and dark);
- the session list on a phone keeps each row's status, request and time in view.

Pages are the GET rules that answer a whole HTML document to a signed-in admin, with
sample path values; a new rule with a path value this file has no sample for fails
(add one to ``SAMPLES``), so new pages are covered as they come.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from webapp.demo import generate

pytestmark = pytest.mark.browser

WIDTHS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1366, "height": 900}}
#: Pages seen logged out, and error pages (path, expected status).
ANONYMOUS = ["/login", "/login?next=/stats"]
ERRORS = ["/sessions/no-such-session", "/sessions?from=bogus", "/no/such/page"]


def _samples(live_server: Any) -> dict[str, str]:
    manager = live_server.manager
    session = max(manager.list(), key=lambda s: s.message_count if s.message_count < 80 else 0)
    message = manager.store.get_messages(session.id)[0]
    with live_server.app.test_request_context():
        from webapp.queues import service as queues
        from webapp.shares import links

        token = links.create(session.id, expires_in=links.DEFAULT_AGE, actor="test")[1]
        view = queues.save_view("Failed", "status=failed", shared=True)
        queue = queues.create_queue("Triage", view, "claim", [live_server.users["reviewer"]])
        criterion = queues.add_criterion(queue, "Triaged right", "score", "", True)
    return {
        "session_id": session.id,
        "message_id": str(message.id),
        "filename": "app.css",
        "token": token,
        "queue_id": str(queue),
        # not a path variable: the list with its rubric score filter, column and sort
        "score_list": f"/sessions?score={criterion}&sort=score&scored=no",
    }


def _pages(live_server: Any, page: Any, samples: dict[str, str]) -> list[str]:
    """The paths of every GET rule that answers a full HTML page."""
    found = []
    for rule in live_server.app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        missing = set(rule.arguments) - set(samples)
        assert not missing, f"{rule.rule}: add a sample value for {missing} to SAMPLES"
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: samples[m.group(1)], rule.rule)
        answer = page.request.get(live_server.url + path, max_redirects=0)
        kind = answer.headers.get("content-type", "")
        if answer.status == 200 and kind.startswith("text/html"):
            if answer.text().lstrip().lower().startswith("<!doctype html"):
                found.append(path)
    return sorted(found) + [samples["score_list"]]


@pytest.fixture
def site(live_server: Any, page: Any) -> Any:
    """The live server with demo data, ``page`` signed in as an admin."""
    now = datetime.now(UTC)
    generate(live_server.manager.store, 60, now=now, timeout=timedelta(minutes=30),
             retention=timedelta(days=7), seed=3)  # fmt: skip
    live_server.login(page, "admin")
    return live_server


def _width(page: Any) -> dict[str, int]:
    return page.evaluate(
        "() => ({doc: document.documentElement.scrollWidth, view: window.innerWidth})"
    )


def _sizes(page: Any, paths: list[str], site: Any) -> list[tuple[str, str, int]]:
    """(device, path, document width) of each page wider than the window, at each
    width: each page is loaded once and measured at both (the layout is CSS's; no
    script reads the window's size)."""
    wide = []
    for path in paths:
        site.get(page, path)
        for device, viewport in WIDTHS.items():
            page.set_viewport_size(viewport)
            size = _width(page)
            if size["doc"] > size["view"]:
                wide.append((device, path, size["doc"]))
    return wide


def test_no_page_scrolls_sideways(site: Any, page: Any, page_log: Any) -> None:
    pages = _pages(site, page, _samples(site))
    assert "/sessions" in pages and "/admin/import" in pages and "/review" in pages
    assert any(p.startswith("/queues/") for p in pages)
    wide = _sizes(page, pages + ERRORS, site)
    page.context.clear_cookies()
    shared = [p for p in pages if p.startswith("/s/")]
    assert shared, "the shared page (a share link) is measured logged out too"
    wide += _sizes(page, ANONYMOUS + shared, site)
    assert not wide, "\n".join(map(str, wide))
    assert page_log.page_errors == []


def views(page: Any, devices: dict[str, dict[str, int]] = WIDTHS) -> Iterator[tuple[str, str]]:
    """Switch the loaded ``page`` to each device's size and each colour scheme in
    turn, yielding (device, scheme): one load serves them all (the schemes and
    widths are CSS media queries, no colour is animated, and the one script that
    measures, the sideways-scrolling tables' focus, runs on ``resize``: a frame
    is awaited after each resize, so its handlers have run)."""
    for device, viewport in devices.items():
        page.set_viewport_size(viewport)
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => done()))")
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            yield device, scheme


#: axe's options for a page's second colour scheme: its colour rules only (the rest
#: turned off). The dark scheme only sets colours (custom properties and the code
#: highlighter's colours in static/*.css), so every other rule answers as in light.
COLOUR_RULES_ONLY = (
    "({resultTypes: ['violations'], rules: Object.fromEntries(axe.getRules()"
    ".filter(r => !r.tags.includes('cat.color')).map(r => [r.ruleId, {enabled: false}]))})"
)


def _serious(page: Any, scheme: str = "light") -> list[str]:
    """axe-core's serious and critical violations on ``page`` (axe injected if the
    page has not got it yet): every rule in light, the colour rules in dark."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_script())
    options = "{resultTypes: ['violations']}" if scheme == "light" else COLOUR_RULES_ONLY
    response = page.evaluate(f"axe.run({options})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:4]}"
        for v in response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@functools.cache
def _axe_script() -> str:
    from axe_playwright_python.sync_playwright import Axe

    return str(Axe().axe_script)


def test_axe_finds_no_serious_violation(site: Any, page: Any) -> None:
    pages = _pages(site, page, _samples(site))
    found = {}
    for path in pages + ERRORS:
        site.get(page, path)
        for device, scheme in views(page):
            if problems := _serious(page, scheme):
                found[f"{scheme} {device} {path}"] = problems
    page.context.clear_cookies()
    shared = [p for p in pages if p.startswith("/s/")]
    for path in ["/login", *shared]:
        site.get(page, path)
        for device, scheme in views(page):
            if problems := _serious(page, scheme):
                found[f"{scheme} {device} {path}"] = problems
    assert not found, "\n".join(f"{k}: {v}" for k, v in found.items())


def test_phone_list_keeps_status_request_and_time_in_view(site: Any, page: Any) -> None:
    page.set_viewport_size(WIDTHS["phone"])
    for path in ("/sessions", "/review"):
        site.get(page, path)
        rows = page.locator("tbody tr[data-href]")
        assert rows.count() > 3, path
        for i in range(4):
            row = rows.nth(i)
            for part in ("[data-cell=status]", "[data-cell=request]", "[data-cell=time]"):
                box = row.locator(part).bounding_box()
                assert box is not None, (path, part)
                assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (path, part, box)
            request = row.locator("[data-cell=request]").bounding_box()
            assert request["width"] >= 250, (path, request)
            text = row.locator("[data-cell=request] .preview")
            lines = text.evaluate(
                "el => Math.round(el.getBoundingClientRect().height"
                " / parseFloat(getComputedStyle(el).lineHeight))"
            )
            assert 1 <= lines <= 2, (path, lines)
