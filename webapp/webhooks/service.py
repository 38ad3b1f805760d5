"""Webhooks: add, change, remove, test, and the delivery log.

CONTRACT (for the admin page and the command line):
- ``add_webhook(url, events, *, secret=None, slack=False, base_url="", actor=None)
  -> (WebhookInfo, secret)``: checks the input (``WebhookError`` names what is
  wrong, and nothing is written), generates a secret unless one is given; the
  secret is returned once and never shown again.
- ``list_webhooks()``, ``get_webhook(id)``; ``set_enabled(id, enabled)``,
  ``remove_webhook(id)``, ``send_test(id)``: each one transaction with its audit
  entry (``webhook.add``, ``webhook.change``, ``webhook.remove``,
  ``webhook.test``); an unknown id raises ``UnknownWebhookError``.
- ``deliveries(webhook_id=None, limit=100)``: the delivery log, newest first.

Which URLs: ``http`` and ``https`` only, with a host and without credentials
(``user:pass@``: the secret goes in the signature, not the URL). Addresses on the
private network and loopback are allowed on purpose: managing webhooks is an
admin's right, and the usual receiver (a chat bridge, an internal alerting
service) lives on the same network. See docs/webhooks.md.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import Table, delete, func, insert, select, update

from webapp.accounts import audit
from webapp.accounts.auth import current_actor
from webapp.extensions import get_database, get_manager
from webapp.sessions.events import record_event, session_events_t
from webapp.webhooks.models import SUBSCRIBABLE, Webhook, WebhookDelivery

webhooks_t = cast(Table, Webhook.__table__)
deliveries_t = cast(Table, WebhookDelivery.__table__)

MAX_URL_LENGTH = 2000
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 200
FORMATS = ("json", "slack")


class WebhookError(ValueError):
    """Input the rules refuse; the message says what and why."""


class UnknownWebhookError(LookupError):
    """No webhook has this id."""


@dataclass(frozen=True)
class WebhookInfo:
    """A webhook as the page and the command line show it (never its secret)."""

    id: int
    url: str
    events: tuple[str, ...]
    format: str
    enabled: bool
    created_at: datetime
    created_by: str
    delivered: int = 0
    pending: int = 0
    failed: int = 0


def check_url(url: str) -> str:
    """The URL if a webhook may post to it; else ``WebhookError`` saying why."""
    url = url.strip()
    if not url:
        raise WebhookError("Give the receiver's URL.")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(f"A URL has at most {MAX_URL_LENGTH} characters.")
    if not url.isprintable() or any(c.isspace() for c in url) or not url.isascii():
        raise WebhookError("A URL has no spaces or control characters (encode them).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookError(f"Not a URL: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookError("A webhook URL starts with http:// or https://.")
    if parts.username is not None or parts.password is not None:
        raise WebhookError(
            "A webhook URL carries no user or password; the signature authenticates it."
        )
    if not parts.hostname:
        raise WebhookError("A webhook URL needs a host.")
    if port == 0:
        raise WebhookError("A webhook URL's port is 1 to 65535.")
    if parts.fragment:
        raise WebhookError("A webhook URL has no #fragment (it is never sent).")
    return url


def check_events(events: Iterable[str]) -> tuple[str, ...]:
    """The event kinds, each known, in their usual order; ``WebhookError`` if none or
    one is unknown."""
    wanted = {e.strip().lower() for e in events if e.strip()}
    unknown = sorted(wanted - set(SUBSCRIBABLE))
    if unknown:
        raise WebhookError(
            f"Unknown event {', '.join(unknown)!s}; choose from {', '.join(SUBSCRIBABLE)}."
        )
    if not wanted:
        raise WebhookError(f"Choose at least one event: {', '.join(SUBSCRIBABLE)}.")
    return tuple(e for e in SUBSCRIBABLE if e in wanted)


def check_secret(secret: str) -> str:
    """A given secret, if it is long enough and plain; else ``WebhookError``."""
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        raise WebhookError(
            f"A secret has {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters "
            "(leave it empty to have one made)."
        )
    if not secret.isascii() or not secret.isprintable() or any(c.isspace() for c in secret):
        raise WebhookError("A secret is printable ASCII without spaces.")
    return secret


def new_secret() -> str:
    """A random signing secret (256 bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def _stored_events(events: tuple[str, ...]) -> str:
    return "," + ",".join(events) + ","


def _info(row: Any, counts: dict[tuple[int, str], int] | None = None) -> WebhookInfo:
    m = row._mapping
    counts = counts or {}
    return WebhookInfo(
        id=m["id"],
        url=m["url"],
        events=tuple(e for e in m["events"].split(",") if e),
        format=m["format"],
        enabled=bool(m["enabled"]),
        created_at=m["created_at"],
        created_by=m["created_by"],
        delivered=counts.get((m["id"], "delivered"), 0),
        pending=counts.get((m["id"], "pending"), 0),
        failed=counts.get((m["id"], "failed"), 0),
    )


def add_webhook(
    url: str,
    events: Iterable[str],
    *,
    secret: str | None = None,
    slack: bool = False,
    base_url: str = "",
    actor: str | None = None,
) -> tuple[WebhookInfo, str]:
    """Add a webhook (see the module's contract); returns it and its secret."""
    url = check_url(url)
    kinds = check_events(events)
    secret = check_secret(secret) if secret else new_secret()
    actor = actor or current_actor()
    with get_database().write() as conn:
        row = conn.execute(
            insert(webhooks_t)
            .values(
                url=url,
                events=_stored_events(kinds),
                secret=secret,
                format="slack" if slack else "json",
                enabled=True,
                base_url=base_url[:MAX_URL_LENGTH],
                created_at=get_manager().clock(),
                created_by=actor,
            )
            .returning(*webhooks_t.c)
        ).one()
        info = _info(row)
        audit.record(
            "webhook.add",
            detail={"webhook": info.id, "url": url, "events": list(kinds), "format": info.format},
            actor=actor,
        )
    return info, secret


def list_webhooks() -> list[WebhookInfo]:
    """Every webhook, oldest first, with its deliveries counted by state."""
    d = deliveries_t.c
    with get_database().read() as conn:
        counts = {
            (webhook_id, state): n
            for webhook_id, state, n in conn.execute(
                select(d.webhook_id, d.state, func.count()).group_by(d.webhook_id, d.state)
            )
        }
        rows = conn.execute(select(webhooks_t).order_by(webhooks_t.c.id))
        return [_info(r, counts) for r in rows]


def get_webhook(webhook_id: int) -> WebhookInfo:
    """One webhook; ``UnknownWebhookError`` if there is none with this id."""
    with get_database().read() as conn:
        row = conn.execute(select(webhooks_t).where(webhooks_t.c.id == webhook_id)).first()
    if row is None:
        raise UnknownWebhookError(webhook_id)
    return _info(row)


def set_enabled(webhook_id: int, enabled: bool, *, actor: str | None = None) -> WebhookInfo:
    """Enable or disable a webhook. A disabled one gets no new deliveries, and its
    pending ones wait until it is enabled again."""
    with get_database().write() as conn:
        before = get_webhook(webhook_id)
        conn.execute(
            update(webhooks_t).where(webhooks_t.c.id == webhook_id).values(enabled=enabled)
        )
        if before.enabled != enabled:
            audit.record(
                "webhook.change",
                detail={"webhook": webhook_id, "url": before.url, "enabled": enabled},
                actor=actor,
            )
        return get_webhook(webhook_id)


def remove_webhook(webhook_id: int, *, actor: str | None = None) -> WebhookInfo:
    """Remove a webhook and its delivery log."""
    with get_database().write() as conn:
        info = get_webhook(webhook_id)
        conn.execute(delete(webhooks_t).where(webhooks_t.c.id == webhook_id))
        audit.record("webhook.remove", detail={"webhook": webhook_id, "url": info.url}, actor=actor)
    return info


def send_test(webhook_id: int, *, actor: str | None = None) -> int:
    """Queue a ``test`` event for this webhook alone, through the same deliveries
    as every event (signed, retried, logged); returns the delivery's id."""
    actor = actor or current_actor()
    with get_database().write() as conn:
        info = get_webhook(webhook_id)
        event_id = record_event(conn, "test", None, {"by": actor}, at=get_manager().clock())
        delivery_id = conn.execute(
            insert(deliveries_t)
            .values(
                event_id=event_id,
                webhook_id=webhook_id,
                state="pending",
                attempts=0,
                next_at=None,
                last_error="",
                last_response="",
            )
            .returning(deliveries_t.c.id)
        ).scalar_one()
        audit.record("webhook.test", detail={"webhook": webhook_id, "url": info.url}, actor=actor)
    dispatcher = current_app.extensions.get("sessionboard.webhooks.dispatcher")  # see DISPATCHER
    if dispatcher is not None:
        dispatcher.wake()
    return int(delivery_id)


def deliveries(webhook_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The latest deliveries, newest first: event kind and session, webhook URL,
    state, attempts, when next, the last response's status, excerpt and time."""
    d, e, w = deliveries_t.c, session_events_t.c, webhooks_t.c
    query = (
        select(
            d.id,
            d.state,
            d.attempts,
            d.next_at,
            d.last_attempt_at,
            d.last_status,
            d.last_error,
            d.last_response,
            d.last_duration_ms,
            d.webhook_id,
            e.kind,
            e.session_id,
            e.at,
            w.url,
        )  # fmt: skip
        .join(session_events_t, e.id == d.event_id)
        .join(webhooks_t, w.id == d.webhook_id)
        .order_by(d.id.desc())
        .limit(limit)
    )
    if webhook_id is not None:
        query = query.where(d.webhook_id == webhook_id)
    with get_database().read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
