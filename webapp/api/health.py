"""GET /healthz: is the database reachable? No prefix, no auth."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webapp.errors import json_error
from webapp.extensions import get_database

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """200 when a trivial query succeeds, 503 otherwise."""
    try:
        with get_database().read() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health check failed: %s", exc)
        return json_error(503, "database unreachable")
    return jsonify({"status": "ok"})
