"""The audit log: who did what, when, on which session.

CONTRACT: ``record(action, *, session_id=None, detail=None, actor=None)`` appends
one entry (actor defaults to the current user); every change made from the UI,
and logins, purges, clears, user and token changes, call it. Entries cannot be
edited from the app. The accounts feature implements the storage.
"""

from __future__ import annotations

from typing import Any


def record(
    action: str,
    *,
    session_id: str | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Append one audit entry."""
