"""Dashboard pages."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from webapp.extensions import get_manager

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index() -> Response:
    """The front page is the session list."""
    return redirect(url_for("dashboard.sessions"))


@bp.get("/sessions")
def sessions() -> str:
    """The newest sessions."""
    return render_template("dashboard/sessions.html", sessions=get_manager().list(limit=50))
