"""Errors in one place: JSON for the API, a page for a browser, a fragment for htmx."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

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


def wants_json() -> bool:
    """API clients get JSON errors; browsers get pages."""
    return request.path.startswith("/api/") or request.path == "/healthz"


def json_error(status: int, message: str, code: str | None = None) -> Response:
    """``{"error": {"code", "message"}}`` with ``status``."""
    response = jsonify(
        {"error": {"code": code or ERROR_CODES.get(status, "error"), "message": message}}
    )
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    """Register one handler for every HTTP error and one for crashes."""

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | tuple[str, int]:
        status = exc.code or 500
        if wants_json():
            response = json_error(status, exc.description or exc.name)
        else:
            template = (
                "_partials/error_fragment.html"
                if request.headers.get("HX-Request")
                else "error.html"
            )
            response = Response(render_template(template, error=exc, status=status), status)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            value = exc.get_response().headers.get(header)
            if value:
                response.headers[header] = value
        response.vary.add("HX-Request")
        return response

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response | tuple[str, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _http_error(InternalServerError())
