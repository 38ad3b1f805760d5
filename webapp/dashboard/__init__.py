"""The browser dashboard: session list, transcripts, stats, admin actions."""

from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from webapp.extensions import get_queries
from webapp.sessions.pricing import format_usd
from webapp.sessions.types import UNFINISHED_STATUSES


def nav_context() -> dict[str, Any]:
    """``nav_counts()`` for the header of every page: sessions per status (the
    running and pending badges), or None when the database cannot say (an error
    page); ``unfinished``, the statuses a session still changes in (an expiry shows)."""

    def nav_counts() -> dict[str, int] | None:
        try:
            return get_queries().count_by_status()
        except SQLAlchemyError:
            return None

    unfinished = {status.value for status in UNFINISHED_STATUSES}
    return {"nav_counts": nav_counts, "unfinished": unfinished}


def init_app(app: Flask) -> None:
    """Register the dashboard blueprint and its template filters: ``|usd``
    (nano-dollars, or "no price"), ``|duration``, ``|turn_cost`` (what a turn's
    responses cost, each one's part) and ``|tool_output`` (no ANSI escapes or error
    tags); ``nav_counts()`` and ``brand_icon()`` for the header of every page."""
    from webapp.dashboard.usage import run_length, turn_cost
    from webapp.dashboard.views import bp, brand_icon
    from webapp.transcript.tools import clean_output

    app.jinja_env.filters["usd"] = format_usd
    app.jinja_env.filters["duration"] = run_length
    app.jinja_env.filters["turn_cost"] = turn_cost
    app.jinja_env.filters["tool_output"] = clean_output
    app.jinja_env.globals["brand_icon"] = brand_icon
    app.context_processor(nav_context)
    app.register_blueprint(bp)
