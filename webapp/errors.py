"""Errors in one place: JSON for the API, a page for a browser, a fragment for htmx."""

from __future__ import annotations

import logging
import sqlite3

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from webapp.api.schemas import Error, ErrorDetail
from webapp.htmx import is_htmx, vary
from webapp.security import API_PREFIX

log = logging.getLogger(__name__)

#: Seconds a client is asked to wait before trying a busy write again.
BUSY_RETRY_AFTER = 1
#: PostgreSQL's SQLSTATEs for a lock not had in time (``lock_timeout``) and a deadlock.
_PG_LOCK_STATES = frozenset({"55P03", "40P01"})

#: Machine-readable codes of the API's JSON errors.
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class Busy(ServiceUnavailable):
    """503: the database's write lock could not be had in time. Nothing was
    written; the same request (with the same ``Idempotency-Key``) may be sent again
    after ``Retry-After`` seconds."""

    error_code = "busy"
    description = "the database is busy with other writes; nothing was written: try again"

    def __init__(self) -> None:
        super().__init__(retry_after=BUSY_RETRY_AFTER)


def is_lock_timeout(exc: DBAPIError) -> bool:
    """Whether the database refused ``exc``'s statement only because another
    transaction held a lock longer than we wait: SQLite's ``database is locked``
    (SQLITE_BUSY, SQLITE_LOCKED), PostgreSQL's ``lock_timeout`` or a deadlock."""
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        primary = getattr(orig, "sqlite_errorcode", 0) & 0xFF
        return primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return getattr(orig, "sqlstate", None) in _PG_LOCK_STATES


def wants_json() -> bool:
    """API clients get JSON errors; browsers get pages."""
    return request.path.startswith(API_PREFIX) or request.path == "/healthz"


def json_error(status: int, message: str, code: str | None = None) -> Response:
    """``{"error": {"code", "message"}}`` (``webapp.api.schemas.Error``) with ``status``."""
    detail = ErrorDetail(code=code or ERROR_CODES.get(status, "error"), message=message)
    response = jsonify(Error(error=detail).model_dump(mode="json"))
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    """Register one handler for every HTTP error and one for crashes."""

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | tuple[str, int]:
        status = exc.code or 500
        if wants_json():
            code = getattr(exc, "error_code", None)
            response = json_error(status, exc.description or exc.name, code)
        else:
            template = "_partials/error_fragment.html" if is_htmx() else "error.html"
            response = Response(render_template(template, error=exc, status=status), status)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            value = exc.get_response().headers.get(header)
            if value:
                response.headers[header] = value
        vary(response)
        return response

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError) -> Response | tuple[str, int]:
        if not is_lock_timeout(exc):
            return _crash(exc)
        log.warning("%s %s: no write lock in time (%s)", request.method, request.path, exc.orig)
        return _http_error(Busy())

    @app.errorhandler(PoolTimeout)
    def _no_connection(exc: PoolTimeout) -> Response | tuple[str, int]:
        log.warning("%s %s: no database connection free in time", request.method, request.path)
        return _http_error(Busy())

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response | tuple[str, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _http_error(InternalServerError())
