"""Bearer-token authentication of the API, and scope checks.

Only the ``Authorization: Bearer <token>`` header counts: the browser's session
cookie is never read here, so a logged-in browser (or a page that makes one send
requests) gets 401 from the API like anyone else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from webapp.accounts.tokens import Scope, TokenInfo, authenticate
from webapp.extensions import get_database

F = TypeVar("F", bound=Callable[..., Any])

#: Views that anyone may call (the API's own description).
PUBLIC_ENDPOINTS = {"api.openapi"}


def _challenge(message: str) -> Unauthorized:
    return Unauthorized(message, www_authenticate=WWWAuthenticate("bearer", {"realm": "api"}))


def bearer_token() -> str | None:
    """The token of the ``Authorization: Bearer`` header, if one is given."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate_request() -> None:
    """``before_request`` of the API: 401 without a live token; the token's info
    is ``g.api_token`` for the view."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    token = bearer_token()
    if token is None:
        raise _challenge("this needs an API token: Authorization: Bearer <token>")
    info = authenticate(get_database().engine, token)
    if info is None:
        raise _challenge("the API token is unknown or revoked")
    g.api_token = info


def current_token() -> TokenInfo:
    """The token this request was authenticated with."""
    return cast(TokenInfo, g.api_token)


def admin_required(view: F) -> F:
    """The view needs a token of scope ``admin`` (403 for ``ingest``)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_token().scope is not Scope.ADMIN:
            raise Forbidden("this needs a token of scope admin")
        return view(*args, **kwargs)

    return cast(F, wrapper)
