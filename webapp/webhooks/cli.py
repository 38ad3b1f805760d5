"""``sessionboard webhook add|list|remove``: manage webhooks from the shell.

Bad input exits with status 2 and a message saying what is wrong; nothing is
written then."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.webhooks import service
from webapp.webhooks.models import SUBSCRIBABLE

ACTOR = "cli"


@click.group("webhook")
def webhook_group() -> None:
    """Webhooks: alerts when sessions fail, expire, are flagged or assigned."""


@webhook_group.command("add")
@click.argument("url")
@click.option(
    "--events",
    required=True,
    help=f"Comma-separated event kinds: {', '.join(SUBSCRIBABLE)}.",
)
@click.option("--secret", default=None, help="Signing secret (16+ characters); default: made.")
@click.option("--slack", is_flag=True, help='Send Slack-compatible {"text": ...} payloads.')
@with_appcontext
def add_command(url: str, events: str, secret: str | None, slack: bool) -> None:
    """Add a webhook to URL; prints its id, and the secret when it was made."""
    try:
        info, made = service.add_webhook(
            url,
            events.split(","),
            secret=secret,
            slack=slack,
            base_url=current_app.config.get("BASE_URL") or "",
            actor=ACTOR,
        )
    except service.WebhookError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"added webhook {info.id}: {info.url} ({','.join(info.events)})", err=True)
    if secret is None:
        click.echo(f"secret (shown once): {made}")


@webhook_group.command("list")
@with_appcontext
def list_command() -> None:
    """List the webhooks: id, state, format, events, deliveries, URL."""
    hooks = service.list_webhooks()
    if not hooks:
        click.echo("no webhooks", err=True)
    for h in hooks:
        state = "enabled" if h.enabled else "disabled"
        counts = f"delivered={h.delivered} pending={h.pending} failed={h.failed}"
        click.echo(f"{h.id}\t{state}\t{h.format}\t{','.join(h.events)}\t{counts}\t{h.url}")


@webhook_group.command("remove")
@click.argument("webhook_id", type=click.IntRange(min=1))
@with_appcontext
def remove_command(webhook_id: int) -> None:
    """Remove webhook WEBHOOK_ID and its delivery log."""
    try:
        info = service.remove_webhook(webhook_id, actor=ACTOR)
    except service.UnknownWebhookError:
        raise click.UsageError(f"No webhook has id {webhook_id}.") from None
    click.echo(f"removed webhook {info.id}: {info.url}", err=True)
