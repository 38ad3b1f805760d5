"""The webhooks admin page in Chromium: add through the form, send a test, see
it delivered in the log; stored payloads in URLs and receivers' answers stay
inert; screenshots (light and dark, laptop and phone) for a person to look at."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_xss import PAYLOADS, assert_inert
from tests.webhooks.conftest import make_dispatcher

pytestmark = pytest.mark.browser


@pytest.fixture
def answering() -> Any:
    """A receiver that answers each POST with the next payload (then 200 "ok")."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers = [p.encode() for p in PAYLOADS]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = answers.pop(0) if answers else b"ok"
            self.send_response(500 if b"<" in body else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_add_test_and_log_in_the_browser(
    live_server: Any, page: Any, page_log: Any, answering: str
) -> None:
    from webapp.webhooks import service

    app = live_server.app
    with app.app_context():
        for payload in PAYLOADS:
            if not any(c.isspace() for c in payload):
                service.add_webhook(f"{answering}?{payload}", ["failed"], actor="test")
    manager = live_server.manager
    for n in range(len(PAYLOADS)):
        manager.set_failed(manager.create(f"task {n}").id, "boom")
    dispatcher = make_dispatcher(app)
    while dispatcher.tick():
        pass
    live_server.login(page, "admin")
    live_server.get(page, "/admin/webhooks")
    assert_inert(page, page_log, "/admin/webhooks with payloads")
    assert page.locator("#delivery-log script, #delivery-log img, .webhooks script").count() == 0

    with app.app_context():
        for hook in service.list_webhooks():
            service.remove_webhook(hook.id, actor="test")
    live_server.get(page, "/admin/webhooks")
    page.fill("input[name=url]", answering)
    page.check("input[name=events][value=assigned]")
    page.click("form.add-webhook button[type=submit]")
    page.wait_for_selector(".new-token code")
    assert page.locator(".new-token code").inner_text().startswith("whsec_")
    page.click("text=Send test")
    page.wait_for_selector("text=Test event queued")
    while dispatcher.tick():
        pass
    page.click("#delivery-log button:has-text('Refresh')")
    page.wait_for_selector("#delivery-log .delivery-delivered")
    assert_inert(page, page_log, "after send test")

    SCREENSHOTS.mkdir(exist_ok=True)
    with app.app_context():
        [hook] = service.list_webhooks()
        service.add_webhook(
            "https://hooks.slack.example/services/T000/B000/XXXX", ["failed", "expired"],
            slack=True, actor="test",
        )  # fmt: skip
        service.set_enabled(hook.id, False, actor="test")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for device, viewport in {
            "laptop": {"width": 1366, "height": 900},
            "phone": {"width": 390, "height": 844},
        }.items():
            page.set_viewport_size(viewport)
            live_server.get(page, "/admin/webhooks")
            page.screenshot(
                path=str(SCREENSHOTS / f"webhooks-{device}-{scheme}.png"), full_page=True
            )
    assert page_log.page_errors == [] and page_log.foreign_requests == []
