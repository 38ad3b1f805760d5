"""Fixtures of the API tests: tokens of each scope and a client that sends them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from webapp.accounts.tokens import create_token
from webapp.sessions.store import make_engine


@dataclass
class Tokens:
    """An ``ingest`` and an ``admin`` token of the test's app."""

    ingest: str
    admin: str


@pytest.fixture
def tokens(app: Any) -> Tokens:
    """Two fresh tokens in the test's database: ``tokens.ingest``, ``tokens.admin``."""
    engine = app.extensions["sessionboard.manager"].store.engine
    return Tokens(
        ingest=create_token(engine, "runner", "ingest")[1],
        admin=create_token(engine, "operator", "admin")[1],
    )


class ApiClient:
    """The Flask test client with a bearer token and the /api/v1 prefix:
    ``api.post("/sessions", json={...})``; ``as_admin()`` switches tokens."""

    def __init__(self, client: Any, token: str | None, tokens: Tokens) -> None:
        self.client = client
        self.token = token
        self.tokens = tokens

    def as_admin(self) -> ApiClient:
        """The same client with the admin token."""
        return ApiClient(self.client, self.tokens.admin, self.tokens)

    def anonymous(self) -> ApiClient:
        """The same client without a token."""
        return ApiClient(self.client, None, self.tokens)

    def open(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request to /api/v1 + ``path``."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET."""
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST."""
        return self.open("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        """PATCH."""
        return self.open("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        """DELETE."""
        return self.open("DELETE", path, **kwargs)

    def new_session(self, **fields: Any) -> dict[str, Any]:
        """Create a session through the API and return it (asserting 201)."""
        response = self.post("/sessions", json=fields)
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())


@pytest.fixture
def api(client: Any, tokens: Tokens) -> ApiClient:
    """A test client of the API with the ingest token (``api.as_admin()`` for admin)."""
    return ApiClient(client, tokens.ingest, tokens)


@pytest.fixture
def clock_app(app: Any) -> Any:
    """The app's Manager on a hand-moved clock (``clock_app.advance(seconds=1)``),
    starting now so that new sessions are not born expired."""
    from datetime import UTC, datetime

    from tests.conftest import FakeClock

    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    app.extensions["sessionboard.manager"].clock = clock
    return clock


@pytest.fixture
def make_app(
    database_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Any]]:
    """``make_app(MAX_BATCH_MESSAGES=3, ...)``: the app on the test's database with
    these settings (as ``instance/config.py`` would set them); closed at the end."""
    from webapp import create_app
    from webapp.extensions import db

    monkeypatch.setenv("SESSIONBOARD_INSTANCE_PATH", str(tmp_path / "instance"))
    made: list[Any] = []

    def make(**settings: Any) -> Any:
        base = {"TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": database_url}
        made.append(create_app({**base, **settings}))
        return made[-1]

    yield make
    for application in made:
        application.extensions["sessionboard.manager"].stop()
        with application.app_context():
            db.engine.dispose()


@contextmanager
def write_lock_held(database_url: str) -> Iterator[None]:
    """Another connection holds what every write of the API needs, until the block
    ends: SQLite's write lock (``BEGIN IMMEDIATE``); on PostgreSQL the sessions and
    messages tables (``EXCLUSIVE``: plain reads go on, writes wait)."""
    engine = make_engine(database_url)
    try:
        if engine.dialect.name == "sqlite":
            with engine.execution_options(sqlite_begin="IMMEDIATE").begin():
                yield
        else:
            with engine.begin() as conn:
                conn.exec_driver_sql("LOCK TABLE sessions, messages IN EXCLUSIVE MODE")
                yield
    finally:
        engine.dispose()


@pytest.fixture
def server(database_url: str, tmp_path: Any) -> Iterator[Any]:
    """A gunicorn (``tests.api.test_durability.Gunicorn``) serving the test's
    database with the default settings; stopped at the end whatever happens."""
    from tests.api.test_durability import Gunicorn

    gunicorn = Gunicorn(database_url, tmp_path / "instance", tmp_path / "gunicorn.log")
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()
