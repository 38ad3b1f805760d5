"""The JSON HTTP API for agent runners, under /api/v1, and /healthz."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the health check, the API blueprint (exempt from CSRF: it takes
    bearer tokens, never the browser's cookie) and the token commands."""
    from webapp.api.cli import TOKEN_COMMANDS
    from webapp.api.health import bp as health_bp
    from webapp.api.views import bp as api_bp
    from webapp.extensions import csrf

    app.register_blueprint(health_bp)
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    for command in TOKEN_COMMANDS:
        app.cli.add_command(command)
