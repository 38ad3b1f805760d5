"""The browser dashboard: session list, transcripts, stats, admin actions."""

from flask import Flask

from webapp.sessions.pricing import format_usd


def init_app(app: Flask) -> None:
    """Register the dashboard blueprint and its template filters: ``|usd``
    (nano-dollars, or "no price"), ``|duration`` and ``|turn_cost`` (what a
    turn's responses cost, each one's part)."""
    from webapp.dashboard.usage import run_length, turn_cost
    from webapp.dashboard.views import bp

    app.jinja_env.filters["usd"] = format_usd
    app.jinja_env.filters["duration"] = run_length
    app.jinja_env.filters["turn_cost"] = turn_cost
    app.register_blueprint(bp)
