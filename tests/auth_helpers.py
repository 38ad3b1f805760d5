"""Log a test client in as a user of a given role (used by the ``auth`` fixture).

CONTRACT: ``AuthActions(app, client).login(role="admin", name=None)`` makes a user
of that role if needed, logs the client in and returns the client;
``logout()`` logs it out.

Logging in starts a server-side login and writes its secret into the client's
session cookie as Flask-Login's user id (no password round trip), and makes the
client send a valid CSRF token in the ``X-CSRFToken`` header with every request,
as the dashboard's htmx does; tests of CSRF itself use a client without it.
"""

from __future__ import annotations

import secrets
from typing import Any

from itsdangerous import URLSafeTimedSerializer

TEST_PASSWORD = "correct horse battery"


class AuthActions:
    """Login helpers for one test client."""

    def __init__(self, app: Any, client: Any) -> None:
        self.app = app
        self.client = client

    def user(self, role: str = "admin", name: str | None = None) -> Any:
        """The user ``name`` (default ``test-<role>``) with ``role``, made if needed."""
        from webapp.accounts import service

        name = name or f"test-{role}"
        with self.app.app_context():
            user = service.get_user_by_name(name)
            if user is None:
                return service.create_user(name, role, TEST_PASSWORD, actor="test")
            if user.role != role:
                return service.set_role(user.id, role, actor="test")
            return user

    def csrf(self) -> Any:
        """Make the client send a valid CSRF token header (logged in or not)."""
        with self.client.session_transaction() as sess:
            raw = sess.setdefault("csrf_token", secrets.token_hex(20))
        secret = self.app.config.get("WTF_CSRF_SECRET_KEY") or self.app.secret_key
        token = URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)
        self.client.environ_base["HTTP_X_CSRFTOKEN"] = token
        return self.client

    def login(self, role: str = "admin", name: str | None = None) -> Any:
        """Log in as a user with ``role``; return the client."""
        from webapp.accounts import service

        user = self.user(role, name)
        with self.app.app_context():
            user = service.start_login(user, address="127.0.0.1", user_agent="test client")
        with self.client.session_transaction() as sess:
            sess["_user_id"] = user.get_id()
            sess["_fresh"] = True
        return self.csrf()

    def logout(self) -> Any:
        """Log out; return the client."""
        with self.client.session_transaction() as sess:
            sess.clear()
        self.client.environ_base.pop("HTTP_X_CSRFTOKEN", None)
        return self.client
