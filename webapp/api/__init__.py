"""The JSON HTTP API for agent runners, under /api/v1, and /healthz."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API blueprint and the health check."""
    from webapp.api.health import bp as health_bp

    app.register_blueprint(health_bp)
