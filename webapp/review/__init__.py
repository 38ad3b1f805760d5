"""The review feature: verdicts, comments, tags, keep, the inbox."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the review blueprint."""
    from webapp.review.views import bp

    app.register_blueprint(bp)
