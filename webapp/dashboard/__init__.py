"""The browser dashboard: session list, transcripts, stats, admin actions."""

from flask import Flask

from webapp import params, rendering
from webapp.sessions.pricing import format_usd


def init_app(app: Flask) -> None:
    """Register the dashboard blueprint, the ``session_id`` route converter and
    the template filters the pages use: ``|markdown`` (sanitised HTML),
    ``|json_code``, ``|usd`` (nano-dollars, or "no price"), ``|duration`` and
    ``|response_cost`` (of a message's ``meta``)."""
    from webapp.dashboard.usage import response_cost, run_length
    from webapp.dashboard.views import bp

    # An id the database cannot hold (NUL, over 64 characters) matches no route
    # of the pages (nor of the export downloads): a 404.
    app.url_map.converters["session_id"] = params.SessionIdConverter
    app.jinja_env.filters["markdown"] = rendering.render_markdown
    app.jinja_env.filters["json_code"] = rendering.highlight_json
    app.jinja_env.filters["usd"] = format_usd
    app.jinja_env.filters["duration"] = run_length
    app.jinja_env.filters["response_cost"] = response_cost
    app.jinja_env.globals["is_safe_image_url"] = rendering.is_safe_image_url
    app.register_blueprint(bp)
