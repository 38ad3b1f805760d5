"""Who may see and do what: roles, the login gate and permission checks.

CONTRACT (used by every blueprint; the accounts feature implements it):
- ``Role``: viewer < reviewer < admin.
- ``requires(role)(view)``: the view needs a login with at least ``role``
  (``Role.VIEWER``: any login); no login gets the login page, too low a role 403.
- ``can(permission)``: for views and templates; permissions are ``"review"``
  (verdicts, comments, tags, keep, status changes, note-to-agent) and ``"admin"``
  (delete, clear, purge, users, tokens).
- ``current_actor()``: the name of the user acting, for the audit log.
- ``public(view)``: the view needs no login (the login page).

Besides the decorators, a gate before every request (``webapp.accounts.init_app``)
asks for a login on every route that is not public or under ``/api/`` (the API
checks its own tokens), and refuses a viewer every undecorated change (POST, PUT,
PATCH, DELETE): a view that forgets its decorator still fails safe.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import abort, current_app, has_request_context
from flask_login import current_user

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute that tells the gate what a view declared: "public" or a role.
ACCESS_ATTRIBUTE = "sessionboard_access"


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


def current_role() -> Role | None:
    """The logged-in user's role, or None for nobody (or outside a request)."""
    if not has_request_context() or not current_user.is_authenticated:
        return None
    return Role(current_user.role)


def _declare(view: Callable[..., Any], access: str) -> None:
    setattr(view, ACCESS_ATTRIBUTE, access)


def _unauthorized() -> Any:
    return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]


def public(view: F) -> F:
    """The view needs no login."""
    _declare(view, "public")
    return view


def requires(role: Role | str) -> Callable[[F], F]:
    """The one declaration of a view's access: it needs a logged-in user with at
    least ``role`` (``Role.VIEWER``: any login). No login gets the login page (401
    for htmx), too low a role 403."""
    needed = Role(role)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            have = current_role()
            if have is None:
                return _unauthorized()
            if have.rank < needed.rank:
                abort(403, f"This needs the {needed} role.")
            return view(*args, **kwargs)

        _declare(wrapper, needed.value)
        return cast(F, wrapper)

    return decorate


def can(permission: str) -> bool:
    """Whether the current user has ``permission`` (``"review"`` or ``"admin"``)."""
    needed = PERMISSIONS[permission]
    have = current_role()
    return have is not None and have.rank >= needed.rank


def current_actor() -> str:
    """The name of the acting user, for the audit log; ``system`` outside a login."""
    if current_role() is None:
        return "system"
    return str(current_user.name)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no open redirect), else None."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
