"""The webhooks feature: alerts to other systems when a session fails, expires,
is flagged or is assigned; signed, retried, logged (see docs/webhooks.md)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from webapp import config as settings
from webapp.webhooks.delivery import Dispatcher, DispatchSettings

#: Where the app keeps its process's dispatcher once started.
DISPATCHER = "sessionboard.webhooks.dispatcher"


def dispatch_settings(config: dict[str, Any]) -> DispatchSettings:
    """The dispatcher's settings from the app's."""
    return DispatchSettings(
        timeout=settings.parse_duration(config["WEBHOOK_TIMEOUT"]),
        max_attempts=int(config["WEBHOOK_MAX_ATTEMPTS"]),
        retry_base=settings.parse_duration(config["WEBHOOK_RETRY_BASE"]),
        poll_interval=settings.parse_duration(config["WEBHOOK_POLL_INTERVAL"]),
        base_url=str(config.get("BASE_URL") or ""),
    )


def make_dispatcher(app: Flask) -> Dispatcher:
    """A dispatcher over the app's database and Manager (not started)."""
    manager = app.extensions["sessionboard.manager"]
    return Dispatcher(
        app.extensions["sessionboard.database"], manager.get, dispatch_settings(app.config)
    )


def start_dispatcher(app: Flask) -> None:
    """Start this process's dispatcher thread (beside the sweeper's)."""
    dispatcher = make_dispatcher(app)
    dispatcher.start()
    app.extensions[DISPATCHER] = dispatcher


def init_app(app: Flask) -> None:
    """Register the admin page, the ``webhook`` commands and the dispatcher."""
    from webapp.webhooks.cli import webhook_group
    from webapp.webhooks.views import bp

    dispatch_settings(app.config)  # a bad setting stops the start, not a delivery
    app.register_blueprint(bp)
    app.cli.add_command(webhook_group)
    app.extensions.setdefault("sessionboard.background", []).append(start_dispatcher)
