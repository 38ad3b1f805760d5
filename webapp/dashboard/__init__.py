"""The browser dashboard: session list, transcripts, stats, admin actions."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the dashboard blueprint."""
    from webapp.dashboard.views import bp

    app.register_blueprint(bp)
