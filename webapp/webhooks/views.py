"""The admin page of webhooks (/admin/webhooks): add, enable or disable, remove,
send a test, and the delivery log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request
from werkzeug.wrappers import Response

from webapp import params
from webapp.accounts.auth import Role, requires
from webapp.htmx import html, wants_fragment
from webapp.webhooks import service
from webapp.webhooks.models import SUBSCRIBABLE

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")


def _page(
    status: int = 200,
    *,
    notice: str | None = None,
    error: str | None = None,
    new_secret: str | None = None,
    webhook_id: int | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    log = service.deliveries(webhook_id)
    if wants_fragment() and request.method == "GET":
        return html(render_template("webhooks/_deliveries.html", log=log, webhook_id=webhook_id))
    body = render_template(
        "webhooks/admin.html",
        webhooks=service.list_webhooks(),
        log=log,
        webhook_id=webhook_id,
        kinds=SUBSCRIBABLE,
        notice=notice,
        error=error,
        new_secret=new_secret,
        form=form or {},
        base_url=current_app.config.get("BASE_URL") or "",
    )
    return html(body, status)


@bp.get("")
@requires(Role.ADMIN)
def admin() -> Response:
    """The webhooks and the delivery log (of one webhook with ``webhook``)."""
    return _page(webhook_id=params.integer(request.args, "webhook"))


@bp.post("")
@requires(Role.ADMIN)
def add() -> Response:
    """Add a webhook (form: ``url``, ``events``, ``secret``, ``slack``); the
    secret is shown once."""
    form = request.form
    url, events, slack = form.get("url", ""), form.getlist("events"), form.get("slack") == "1"
    given = form.get("secret", "").strip() or None
    try:
        info, secret = service.add_webhook(
            url,
            events,
            secret=given,
            slack=slack,
            base_url=request.host_url,
        )
    except service.WebhookError as exc:
        return _page(400, error=str(exc), form={"url": url, "events": events, "slack": slack})
    shown = None if given else secret  # a secret the admin gave is not echoed back
    return _page(201, notice=f"Added webhook {info.id} to {info.url}.", new_secret=shown)


def _change(webhook_id: int, change: Any, success: str) -> Response:
    try:
        change()
    except service.UnknownWebhookError:
        return _page(404, error=f"No webhook {webhook_id}; it may have been removed.")
    return _page(notice=success)


@bp.post("/<int:webhook_id>/enabled")
@requires(Role.ADMIN)
def set_enabled(webhook_id: int) -> Response:
    """Enable (``enabled=1``) or disable (``enabled=0``) a webhook."""
    enabled = request.form.get("enabled") == "1"
    word = "enabled" if enabled else "disabled"
    return _change(
        webhook_id,
        lambda: service.set_enabled(webhook_id, enabled),
        f"Webhook {webhook_id} {word}.",
    )


@bp.post("/<int:webhook_id>/remove")
@requires(Role.ADMIN)
def remove(webhook_id: int) -> Response:
    """Remove a webhook and its delivery log."""
    return _change(
        webhook_id, lambda: service.remove_webhook(webhook_id), f"Webhook {webhook_id} removed."
    )


@bp.post("/<int:webhook_id>/test")
@requires(Role.ADMIN)
def send_test(webhook_id: int) -> Response:
    """Queue a test event for this webhook; the log shows its answer."""
    return _change(
        webhook_id,
        lambda: service.send_test(webhook_id),
        f"Test event queued for webhook {webhook_id}; its delivery is in the log below.",
    )
