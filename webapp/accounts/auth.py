"""Who may see and do what: roles, the login gate and permission checks.

CONTRACT (used by every blueprint; the accounts feature implements it):
- ``Role``: viewer < reviewer < admin.
- ``login_required(view)``: the view needs a logged-in user (401/redirect to login).
- ``role_required(role)(view)``: the view needs at least ``role`` (403 otherwise).
- ``can(permission)``: for views and templates; permissions are ``"review"``
  (verdicts, comments, tags, keep, status changes, note-to-agent) and ``"admin"``
  (delete, clear, purge, users, tokens).
- ``current_actor()``: the name of the user acting, for the audit log.

Until the accounts feature lands these let everyone through as an admin.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Role(enum.StrEnum):
    """A user's role, from least to most allowed."""

    VIEWER = "viewer"
    REVIEWER = "reviewer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Order of privilege: viewer 0, reviewer 1, admin 2."""
        return list(Role).index(self)


PERMISSIONS = {"review": Role.REVIEWER, "admin": Role.ADMIN}


def login_required(view: F) -> F:
    """The view needs a logged-in user."""
    return view


def role_required(role: Role | str) -> Callable[[F], F]:
    """The view needs at least ``role``."""

    def decorate(view: F) -> F:
        return view

    return decorate


def can(permission: str) -> bool:
    """Whether the current user has ``permission`` (``"review"`` or ``"admin"``)."""
    return permission in PERMISSIONS


def current_actor() -> str:
    """The name of the acting user, for the audit log."""
    return "admin"
