"""The browser dashboard: session list, transcripts, stats, admin actions."""

from flask import Flask

from webapp import rendering


def init_app(app: Flask) -> None:
    """Register the dashboard blueprint and the template filters it (and the
    review pages) use: ``|markdown`` (sanitised HTML) and ``|json_code``."""
    from webapp.dashboard.views import bp

    app.jinja_env.filters["markdown"] = rendering.render_markdown
    app.jinja_env.filters["json_code"] = rendering.highlight_json
    app.jinja_env.globals["is_safe_image_url"] = rendering.is_safe_image_url
    app.register_blueprint(bp)
