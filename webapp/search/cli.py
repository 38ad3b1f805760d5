"""``sessionboard search QUERY`` prints matching texts; ``--rebuild`` rebuilds the index."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from webapp.extensions import get_manager, get_queries
from webapp.progress import timed_progress
from webapp.sessions import Status
from webapp.sessions.search import Hit, parse
from webapp.sessions.search_index import rebuild


def _line(hit: Hit) -> str:
    where = f"message {hit.message_id}" if hit.message_id is not None else hit.source
    role = hit.role or "-"
    text = hit.snippet.striptags()
    return f"{hit.timestamp:%Y-%m-%d %H:%M:%S}  {hit.session_id}  {where}  {role}  {text}"


def _rebuild() -> None:
    store = get_manager().store
    with timed_progress("Rebuilding the search index", err=False) as run:
        with store.write() as conn:
            count = rebuild(conn, progress=run.progress)
        run.done(f"search index rebuilt: {count} texts")


@click.command("search")
@click.argument("query", required=False, default="")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in Status]),
    help="Only sessions of this status (may repeat).",
)
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="How many texts to print.",
)
@click.option(
    "--rebuild",
    "rebuild_index",
    is_flag=True,
    help="Rebuild the index from the stored sessions and messages (review comments are kept).",
)
@with_appcontext
def search_command(query: str, statuses: tuple[str, ...], limit: int, rebuild_index: bool) -> None:
    """Print the texts that match QUERY, newest first: one line each with its
    time, session, message (or request, response, error, comment), role and snippet.

    QUERY is the dashboard's: words (all must match), "exact phrases", -exclusions,
    role:, tool:, kind: (tool_use, tool_result, thinking, ...) and in:request,
    in:response, in:error, in:messages, in:comments.
    """
    if rebuild_index:
        _rebuild()
        if not query:
            return
    parsed = parse(query)
    if parsed.problem:
        raise click.UsageError(parsed.problem)
    if parsed.is_empty:
        raise click.UsageError("Give a QUERY (or --rebuild).")
    search = get_queries().search
    page = search.hits(parsed, statuses=statuses, limit=limit)
    for hit in page.hits:
        click.echo(_line(hit))
    if page.bounded:
        click.echo(
            "Terms shorter than 3 characters: only the latest texts were searched.", err=True
        )
    if not page.hits:
        click.echo("no match", err=True)
