"""Fixtures of the API tests: tokens of each scope and a client that sends them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from webapp.accounts.tokens import create_token


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
