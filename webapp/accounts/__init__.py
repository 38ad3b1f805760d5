"""The accounts feature (blueprint registered in ``init_app``)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the accounts blueprint and its commands."""
