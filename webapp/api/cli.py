"""``sessionboard create-token``, ``list-tokens`` and ``revoke-token``."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from webapp.accounts import audit
from webapp.accounts.tokens import Scope, TokenError, create_token, list_tokens, revoke_token
from webapp.extensions import get_database
from webapp.sessions.types import format_utc


@click.command("create-token")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice([s.value for s in Scope]),
    default=Scope.INGEST.value,
    show_default=True,
    help="ingest: create, update, append, read; admin: also delete and clear.",
)
@with_appcontext
def create_token_command(name: str, scope: str) -> None:
    """Make an API token and print it, alone on stdout; only its hash is kept."""
    try:
        info, token = create_token(get_database().engine, name, scope)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record("token.create", detail={"token": info.name, "scope": info.scope}, actor="cli")
    click.echo(f"created {info.scope} token {info.name!r}; it is shown once:", err=True)
    click.echo(token)


@click.command("list-tokens")
@with_appcontext
def list_tokens_command() -> None:
    """List the API tokens: name, scope, created, last used, revoked."""
    rows = [("NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED")]
    for info in list_tokens(get_database().engine):
        rows.append(
            (
                info.name,
                info.scope.value,
                _when(info.created_at),
                _when(info.last_used_at),
                _when(info.revoked_at),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


def _when(moment: Any) -> str:
    return "-" if moment is None else format_utc(moment)[:19].replace("T", " ") + "Z"


@click.command("revoke-token")
@click.argument("name")
@with_appcontext
def revoke_token_command(name: str) -> None:
    """Revoke an API token at once; requests with it get 401 from then on."""
    try:
        info = revoke_token(get_database().engine, name)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record("token.revoke", detail={"token": info.name}, actor="cli")
    click.echo(f"revoked token {info.name!r}")


TOKEN_COMMANDS = [create_token_command, list_tokens_command, revoke_token_command]
