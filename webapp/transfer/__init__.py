"""Claude Code in and out: import, live sync through hooks, export."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the transfer blueprint and its commands."""
