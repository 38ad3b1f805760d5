"""The share feature: links that open one session read-only, without login, until
they expire or are revoked."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the share blueprints, and ``share_panel(session_id)`` for the
    session page's share panel."""
    from webapp.shares.views import bp, panel_context, shared

    app.register_blueprint(shared)
    app.register_blueprint(bp)
    app.jinja_env.globals["share_panel"] = panel_context
