"""Bearer-token authentication of the API, and scope checks.

Only the ``Authorization: Bearer <token>`` header counts: the browser's session
cookie is never read here, so a logged-in browser (or a page that makes one send
requests) gets 401 from the API like anyone else.

Appends, the hot path, look their token up in a cache of this process (per
database) instead of the database: a lookup cost a connection and a query per
request. Revocation still takes effect at once, in every process: an append
checks that its token is live in its own transaction, in the statement that
claims the session (:func:`append_guard`; no statement of its own), and a
refused one answers 401, writes nothing and drops the cache entry. A cached
entry is used for at most ``LAST_USED_PRECISION`` (then the token is looked up
again, which notes its last use as before). Every other route looks its token
up each time. One difference: a request with a token revoked since its cached
lookup and a body refused before the write (400, 413, 415, 422) gets that
refusal rather than 401; it writes nothing either way.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, request
from sqlalchemy import Engine
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from webapp.accounts.tokens import (
    LAST_USED_PRECISION,
    MAX_TOKEN_LENGTH,
    Scope,
    TokenInfo,
    authenticate,
    hash_token,
)
from webapp.extensions import get_database
from webapp.sessions import AppendGuard
from webapp.sessions.types import utcnow

F = TypeVar("F", bound=Callable[..., Any])

#: Views that anyone may call (the API's own description).
PUBLIC_ENDPOINTS = {"api.openapi"}
#: Views that take their token from the cache (each checks it in its write).
CACHED_ENDPOINTS = {"api.append_messages"}
#: Most tokens one process keeps (the cache is emptied when it is full).
TOKEN_CACHE_SIZE = 1024
#: The claim of an append also needs its token live (see :func:`append_guard`).
STILL_LIVE = (
    "EXISTS (SELECT 1 FROM api_tokens WHERE id = {mark} "
    "AND token_hash = {mark} AND revoked_at IS NULL)"
)


class _TokenCache:
    """Token hashes to what they authenticated, and when, for one database."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[TokenInfo, Any]] = {}
        self.lock = threading.Lock()


_caches_guard = threading.Lock()


def _cache_of(engine: Engine) -> _TokenCache:
    cache = engine.__dict__.get("_sessionboard_token_cache")
    if cache is None:
        with _caches_guard:
            cache = engine.__dict__.setdefault("_sessionboard_token_cache", _TokenCache())
    return cast(_TokenCache, cache)


def _lookup(engine: Engine, token: str, digest: str, cached: bool) -> TokenInfo | None:
    """The live token ``token`` (whose hash is ``digest``) is, from the cache when
    ``cached`` and fresh."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    cache = _cache_of(engine)
    now = utcnow()
    if cached:
        hit = cache.entries.get(digest)
        if hit is not None and now - hit[1] < LAST_USED_PRECISION:
            return hit[0]
    info = authenticate(engine, token, now=now)
    with cache.lock:
        if info is None:
            cache.entries.pop(digest, None)
        else:
            if len(cache.entries) >= TOKEN_CACHE_SIZE:
                cache.entries.clear()
            cache.entries[digest] = (info, now)
    return info


def forget_token(token: str) -> None:
    """Drop ``token`` from this process's cache (it was found revoked)."""
    cache = _cache_of(get_database().engine)
    with cache.lock:
        cache.entries.pop(hash_token(token), None)


def append_guard() -> AppendGuard:
    """The condition an append of this request also needs: its token still live."""
    info = current_token()
    return AppendGuard(STILL_LIVE, (info.id, g.api_token_hash))


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
    digest = hash_token(token)
    info = _lookup(get_database().engine, token, digest, request.endpoint in CACHED_ENDPOINTS)
    if info is None:
        raise _challenge("the API token is unknown or revoked")
    g.api_token = info
    g.api_token_hash = digest


def revoked() -> Unauthorized:
    """The 401 of a request whose token was revoked since its cached lookup (its
    write refused it); the token leaves the cache."""
    token = bearer_token()
    if token is not None:
        forget_token(token)
    return _challenge("the API token is unknown or revoked")


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
