"""``sessionboard import`` and ``sessionboard export``."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import IO

import click
from flask.cli import with_appcontext

from webapp.extensions import get_manager, get_queries
from webapp.sessions import Status
from webapp.sessions.queries import SessionFilter, day_range
from webapp.transfer.export import FORMATS, Redactor, Writer, export_sessions
from webapp.transfer.importer import Importer, ImportRefused
from webapp.transfer.report import retention_facts

#: Reading processes of an import at most: one writer takes what a few parse.
MAX_WORKERS = 4


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--keep", is_flag=True, help="Mark the imported sessions kept (never purged).")
@click.option(
    "--accept-retention",
    is_flag=True,
    help="Import even messages the next sweep will purge (older than the retention window).",
)
@with_appcontext
def import_command(paths: tuple[Path, ...], keep: bool, accept_retention: bool) -> None:
    """Import Claude Code transcripts (.jsonl files, or folders such as
    ~/.claude/projects, walked recursively) and Sessionboard JSON exports.

    Importing again adds nothing; a transcript that grew is read from where the
    last import stopped. Every file is checked before anything is written, and
    each is written whole or not at all: a bad record stops the import with the
    file and line at fault. A session that exists already keeps its fields; only
    the record's new messages are added (a conflict, listed in the summary).
    When the next sweep would purge some of the import (messages older than the
    retention window, sessions last active before it), nothing is written unless
    --keep or --accept-retention.
    """
    manager = get_manager()
    importer = Importer(manager, keep=keep, workers=min(os.cpu_count() or 1, MAX_WORKERS))
    plans = importer.plan(paths)
    total = sum(plan.todo for plan in plans)
    try:
        with click.progressbar(length=total, label="Checking", file=sys.stderr) as bar:
            check = importer.check_retention(plans, bar.update)
    except ImportRefused as exc:
        raise click.ClickException(f"{exc}. Nothing was imported.") from None
    if check and not accept_retention:
        facts = retention_facts(check, manager.config.message_retention)
        click.echo(
            f"{facts} Nothing was written. Import again with --keep to mark these "
            "sessions kept, or with --accept-retention to import them anyway.",
            err=True,
        )
        sys.exit(1)
    try:
        with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
            summary = importer.run(plans, bar.update)
    except ImportRefused as exc:
        raise click.ClickException(f"{exc}. Nothing of that file was imported.") from None
    for line in summary.describe():
        click.echo(line)


def _context_filter(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and "=" not in value:
        raise click.BadParameter("use KEY=VALUE")
    return value


@click.command("export")
@click.argument("output", type=click.File("w", encoding="utf-8", lazy=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="json (importable, with messages and review), markdown (readable), csv (a row a session).",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in Status]),
    help="Only sessions of this status (repeatable).",
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Created on or after this day.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Created on or before this day.")
@click.option("--context", "context", callback=_context_filter, help="KEY=VALUE of the context.")
@click.option("--search", default="", help="Text in the request or the response.")
@click.option("--redact", is_flag=True, help="Replace secrets with [REDACTED:kind].")
@with_appcontext
def export_command(
    output: IO[str],
    fmt: str,
    statuses: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    context: str | None,
    search: str,
    redact: bool,
) -> None:
    """Export sessions to OUTPUT (a file, or - for stdout), streaming.

    The filters are the session list's; the newest created session comes first.
    """
    key, _, value = (context or "").partition("=")
    created_from, created_before = day_range(since, until)
    filters = SessionFilter(
        statuses=statuses,
        created_from=created_from,
        created_before=created_before,
        context_key=key,
        context_value=value if key else None,
        text=search,
    )
    manager = get_manager()
    writer = Writer(fmt, get_queries(), Redactor(redact))
    sessions = get_queries().iter_sessions(filters)
    with click.progressbar(sessions, label="Exporting", file=sys.stderr) as bar:
        count = export_sessions(bar, writer, output.write, manager.clock())
    output.flush()
    click.echo(f"exported {count} session(s)", err=True)


COMMANDS = [import_command, export_command]
