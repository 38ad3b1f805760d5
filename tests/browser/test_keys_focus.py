"""Keys and focus (issue 16): the help lists every key the page handles, Tab reaches
every control of the list and the session page with a visible focus ring, and a key
hint inside a button is readable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from webapp.demo import generate

pytestmark = pytest.mark.browser

#: What a visible focus is: an outline of some width, or a box shadow.
FOCUS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
  const ring = outline || s.boxShadow !== 'none';
  const text = (el.textContent || el.value || el.name || el.type || '').trim().slice(0, 30);
  return {tag: el.tagName, text, ring};
}"""


@pytest.fixture
def site(live_server: Any, page: Any) -> Any:
    generate(live_server.manager.store, 20, now=datetime.now(UTC), timeout=timedelta(minutes=30),
             retention=timedelta(days=7), seed=5)  # fmt: skip
    live_server.login(page, "admin")
    return live_server


def test_help_lists_every_key_the_page_handles(site: Any, page: Any) -> None:
    site.get(page, "/sessions")
    page.keyboard.press("?")
    help_dialog = page.locator("#help")
    help_dialog.wait_for(state="visible")
    keys = help_dialog.locator("dt kbd").all_inner_texts()
    for key in ("j", "k", "Enter", "/", "?", "Esc", "a", "f", "n", "p"):
        assert key in keys


def test_tab_reaches_every_control_with_a_visible_focus(site: Any, page: Any) -> None:
    session = max(site.manager.list(), key=lambda s: s.message_count if s.message_count < 60 else 0)
    for path in ("/sessions", f"/sessions/{session.id}"):
        site.get(page, path)
        controls = page.evaluate(
            "() => [...document.querySelectorAll('a[href], button, input, select, textarea,"
            " summary, [tabindex]')].filter(e => e.offsetParent !== null"
            " && e.tabIndex >= 0 && !e.disabled).length"
        )
        seen, unseen = 0, []
        for _ in range(controls + 5):
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUS)
            if focused is None:
                continue
            seen += 1
            if not focused["ring"]:
                unseen.append(focused)
        assert seen >= controls, (path, seen, controls)
        assert unseen == [], (path, unseen)


def _luminance(rgb: list[float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_the_approve_key_hint_is_readable(site: Any, page: Any) -> None:
    session = next(s for s in site.manager.list() if s.status in ("completed", "failed"))
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        site.get(page, f"/sessions/{session.id}")
        colours = page.locator('[data-review-key="a"] kbd').evaluate(
            """el => {
              const rgb = v => v.match(/[\\d.]+/g).map(Number);
              let bg = el, c = getComputedStyle(el).backgroundColor;
              while (rgb(c).length === 4 && rgb(c)[3] === 0) {
                bg = bg.parentElement;
                c = getComputedStyle(bg).backgroundColor;
              }
              return {fg: rgb(getComputedStyle(el).color), bg: rgb(c)};
            }"""
        )
        light, dark = sorted((_luminance(colours["fg"]), _luminance(colours["bg"])), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, (scheme, colours)


def test_the_list_shows_new_sessions_and_status_changes_live(site: Any, page: Any) -> None:
    site.get(page, "/sessions?status=running&status=pending")
    first = page.locator("tbody tr[data-href]").first
    row_id = (first.get_attribute("id") or "").removeprefix("row-")
    top = first.bounding_box()
    manager = site.manager
    manager.create("A brand new session")
    manager.close(row_id)
    page.locator("#list-live button").wait_for(timeout=15_000)
    assert page.locator("#list-live button").inner_text() == "1 new session: show"
    page.locator(f"#badge-{row_id}.s-closed").wait_for(timeout=15_000)
    after = page.locator("tbody tr[data-href]").first.bounding_box()
    assert top and after and (after["x"], after["y"]) == (top["x"], top["y"])  # nothing moved
    page.locator("#list-live button").click()
    page.get_by_text("A brand new session").wait_for()
