"""The browser dashboard: session list, transcripts, stats, admin actions."""

from flask import Flask

from webapp.sessions.pricing import format_usd


def init_app(app: Flask) -> None:
    """Register the dashboard blueprint and its template filters: ``|usd``
    (nano-dollars, or "no price"), ``|duration`` and ``|response_cost`` (of a
    message's ``meta``)."""
    from webapp.dashboard.usage import response_cost, run_length
    from webapp.dashboard.views import bp

    app.jinja_env.filters["usd"] = format_usd
    app.jinja_env.filters["duration"] = run_length
    app.jinja_env.filters["response_cost"] = response_cost
    app.register_blueprint(bp)
