"""Browser fixtures: a live server on a fresh database and Chromium through Playwright.

Fixtures (names are stable; other features' browser tests use them):

- ``chromium`` (session scope): one headless Debian Chromium
  (``/usr/bin/chromium``) for the whole run. Missing Chromium or Playwright
  skips the browser tests, except under ``CI=true``, where they fail.
- ``live_server``: the app served by a real HTTP server on 127.0.0.1 (a
  background thread) over a fresh migrated SQLite database. It is a
  :class:`LiveServer`: ``url`` (base URL, no trailing slash), ``app``,
  ``manager`` (the app's Manager: write through it or ``manager.store``),
  ``users`` (role -> user name; each role has a user, password ``PASSWORD``),
  ``login(page, role="admin")`` (logs ``page`` in through the login form) and
  ``get(page, path)`` (``page.goto`` with the base URL, waiting for the load).
- ``corpus_server``: ``live_server`` on a copy of a database that holds both
  corpus folders (``tests/corpus.py``), imported once per test process.

Data that many tests only read is written once into a database file (``app_on``
gives the app on a file) and each test serves a copy of it (``serve``), as
``corpus_server`` does.
- ``page``: a new browser context and page for one test (light colour scheme,
  1280x900). Every request to a host other than 127.0.0.1 is aborted and
  recorded; dialogs are dismissed and recorded. What happened is in
  ``page_log`` (a :class:`PageLog`).
- ``page_log``: ``foreign_requests`` (URLs), ``dialogs`` (messages),
  ``console_errors`` and ``page_errors`` of ``page``.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-precise-memory-info",
]
PASSWORD = "browser test password"
IN_CI = os.environ.get("CI", "").lower() == "true"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"the browser tests need Chromium under CI=true: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole run."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed ({exc})")
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium, or make browser)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class LiveServer:
    """A running app; see the module docstring."""

    url: str
    app: Any
    manager: Any
    users: dict[str, str]

    def get(self, page: Any, path: str) -> Any:
        """Open ``path`` on this server in ``page``."""
        return page.goto(self.url + path)

    def login(self, page: Any, role: str = "admin") -> None:
        """Log ``page`` in as the user of ``role`` through the login form."""
        page.goto(f"{self.url}/login")
        page.fill("input[name=name]", self.users[role])
        page.fill("input[name=password]", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_load_state()


@contextmanager
def app_on(database: Path, instance: Path) -> Iterator[Any]:
    """The app on the SQLite file ``database``; its manager stopped afterwards."""
    from webapp import create_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SESSIONBOARD_INSTANCE_PATH", str(instance))
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "browser-secret",
                "DATABASE_URL": f"sqlite:///{database}",
            }
        )
        try:
            yield app
        finally:
            app.extensions["sessionboard.manager"].stop()
            with app.app_context():
                from webapp.extensions import db

                db.engine.dispose()


def serve(database: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """The app on ``database`` (a copy this test owns), with a user of each role,
    served on 127.0.0.1 in a thread."""
    from werkzeug.serving import make_server

    with app_on(database, tmp_path / "instance") as app:
        users = {}
        with app.app_context():
            from webapp.accounts import service

            for role in ("admin", "reviewer", "viewer"):
                users[role] = f"{role}-user"
                service.create_user(users[role], role, PASSWORD, actor="test")
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        manager = app.extensions["sessionboard.manager"]
        try:
            yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, manager, users)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()


@pytest.fixture
def live_server(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveServer]:
    """The app on a fresh SQLite database, served on 127.0.0.1 in a thread."""
    database = tmp_path / "live.db"
    shutil.copyfile(sqlite_template, database)
    yield from serve(database, tmp_path)


@pytest.fixture(scope="session")
def corpus_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file holding both corpus folders, imported once through
    the app's importer; ``corpus_server`` serves a copy of it."""
    from tests.corpus import CORPUS, CORPUS_2
    from webapp.transfer.importer import Importer

    folder = tmp_path_factory.mktemp("corpus")
    database = folder / "corpus.db"
    shutil.copyfile(sqlite_template, database)
    with app_on(database, folder / "instance") as app:
        importer = Importer(app.extensions["sessionboard.manager"], remember=False)
        importer.run(importer.plan([CORPUS, CORPUS_2]))
    return database


@pytest.fixture
def corpus_server(tmp_path: Path, corpus_template: Path) -> Iterator[LiveServer]:
    """``live_server`` on a fresh copy of a database holding both corpus folders
    (imported once per test process instead of once per test)."""
    database = tmp_path / "live.db"
    shutil.copyfile(corpus_template, database)
    yield from serve(database, tmp_path)


@dataclass
class PageLog:
    """What a page did that a test may need to prove did not happen."""

    foreign_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@pytest.fixture
def page_log() -> PageLog:
    """The record of ``page``'s foreign requests, dialogs and errors."""
    return PageLog()


@pytest.fixture
def page(chromium: Any, page_log: PageLog) -> Iterator[Any]:
    """A fresh context and page; requests leaving 127.0.0.1 are aborted and logged."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    context.set_default_timeout(10_000)

    def route(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith("data:") or host == "127.0.0.1":
            route.continue_()
        else:
            page_log.foreign_requests.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    new_page = context.new_page()

    def on_dialog(dialog: Any) -> None:
        page_log.dialogs.append(dialog.message)
        dialog.dismiss()

    new_page.on("dialog", on_dialog)
    new_page.on(
        "console",
        lambda msg: page_log.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    new_page.on("pageerror", lambda exc: page_log.page_errors.append(str(exc)))
    yield new_page
    context.close()
