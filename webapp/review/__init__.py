"""The review feature (blueprint registered in ``init_app``)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the review blueprint and its commands."""
