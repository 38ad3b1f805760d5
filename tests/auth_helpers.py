"""Log a test client in as a user of a given role (used by the ``auth`` fixture).

CONTRACT: ``AuthActions(app, client).login(role="admin", name=None)`` makes a user
of that role if needed, logs the client in and returns the client;
``logout()`` logs it out. The accounts feature implements it.
"""

from __future__ import annotations

from typing import Any


class AuthActions:
    """Login helpers for one test client."""

    def __init__(self, app: Any, client: Any) -> None:
        self.app = app
        self.client = client

    def login(self, role: str = "admin", name: str | None = None) -> Any:
        """Log in as a user with ``role``; return the client."""
        return self.client

    def logout(self) -> Any:
        """Log out; return the client."""
        return self.client
