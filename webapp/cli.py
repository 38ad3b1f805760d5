"""The ``sessionboard`` command: a Flask CLI group over ``create_app``."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from webapp import config as settings
from webapp.extensions import db, get_manager
from webapp.sessions import schema

log = logging.getLogger(__name__)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="gunicorn worker processes.",
)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Threads per worker (gthread).",
)
@with_appcontext
def serve_command(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the app with gunicorn; each worker runs the sweeper thread and the
    pass that stores new messages' HTML."""
    from gunicorn.app.base import BaseApplication
    from gunicorn.util import import_app

    for hook in current_app.extensions.get("sessionboard.before_serve", []):
        hook(current_app)
    db.engine.dispose()  # no connection may cross the fork into the workers

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "accesslog": "-",
                "graceful_timeout": 10,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            # Each worker builds its own app, as `gunicorn webapp.wsgi:app` would.
            app: Flask = import_app("webapp.wsgi:app")
            return app

    click.echo(f"Sessionboard on http://{host}:{port}/ ({workers} workers)", err=True)
    Server().run()


@click.group("db")
def db_group() -> None:
    """The database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply the migrations to the configured database."""
    schema.upgrade_schema(db.engine, revision)
    click.echo(f"database at revision {schema.current_revision(db.engine)}")


@db_group.command("current")
@with_appcontext
def db_current() -> None:
    """Print the revision the database is at, and the newest one."""
    click.echo(f"database: {schema.current_revision(db.engine)}  code: {schema.head_revision()}")


@db_group.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option(
    "--autogenerate/--empty",
    default=True,
    show_default=True,
    help="Compare the models with the database.",
)
@with_appcontext
def db_revision(message: str, autogenerate: bool) -> None:
    """Write a new migration script (for developers)."""
    from alembic import command

    command.revision(schema.alembic_config(db.engine), message=message, autogenerate=autogenerate)


@click.command("sweep")
@click.option("--dry-run", is_flag=True, help="Count what a pass would do; change nothing.")
@with_appcontext
def sweep_command(dry_run: bool) -> None:
    """Run one expiry and retention pass now and print what it did."""
    manager = get_manager()
    if dry_run:
        result = manager.sweep(dry_run=True)
    else:
        result = manager.sweep_and_record(trigger="cli")
    click.echo(result.describe())


@click.command("demo")
@click.option(
    "--sessions",
    "count",
    default=2000,
    show_default=True,
    type=click.IntRange(1, 10_000_000),
    help="How many sessions to generate.",
)
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has sessions.")
@click.option("--seed", default=1, show_default=True, type=int, help="Random seed.")
@with_appcontext
def demo_command(count: int, if_empty: bool, seed: int) -> None:
    """Fill the database with realistic generated sessions."""
    from webapp.demo import generate

    manager = get_manager()
    if if_empty and manager.stats():
        click.echo("database has sessions already; no demo data added")
        return
    with click.progressbar(length=count, label="Generating sessions", file=sys.stderr) as bar:
        totals = generate(
            manager.store,
            count,
            now=manager.clock(),
            timeout=manager.config.timeout,
            retention=manager.config.message_retention,
            seed=seed,
            progress=bar.update,
        )
    click.echo(
        f"added {totals['sessions']} sessions (and {totals['subagents']} subagent sessions) "
        f"with {totals['messages']} messages "
        f"({totals['kept']} older than the retention window marked keep)"
    )


@click.command("reprice")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only responses from this UTC day on (YYYY-MM-DD); all by default.",
)
@click.option(
    "--batch-size",
    default=5000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Responses per transaction.",
)
@with_appcontext
def reprice_command(since: datetime | None, batch_size: int) -> None:
    """Recompute stored costs with the current price table (the shipped one and
    instance/prices.json) and restate session totals and rollups; a second run
    changes nothing. Costs that runners sent stay as they are."""
    store = get_manager().store
    start = since.replace(tzinfo=UTC) if since is not None else None
    with click.progressbar(
        length=store.count_priced_by_table(start), label="Repricing responses", file=sys.stderr
    ) as bar:
        result = store.reprice(start, batch_size=batch_size, progress=bar.update)
    click.echo(
        f"repriced {result.entries} responses with prices {store.prices.version}: "
        f"{result.changed} changed"
    )


@click.command("render")
@click.option("--drop", is_flag=True, help="First remove the HTML other renderer versions left.")
@with_appcontext
def render_command(drop: bool) -> None:
    """Render every message that has no stored HTML of this renderer version now
    (what the serving processes' background pass does a little at a time)."""
    from webapp import rendering
    from webapp.prerender import Prerenderer

    store = get_manager().store
    dropped = store.drop_renders(keep_version=rendering.VERSION) if drop else 0
    done = Prerenderer(store).run_pass()
    stored, total = store.render_counts(rendering.VERSION)
    click.echo(
        f"rendered {done.rendered} messages ({rendering.VERSION}); "
        f"{stored} of {total} stored" + (f"; dropped {dropped} of other versions" if drop else "")
    )


@click.command("settings")
def settings_command() -> None:
    """List every SESSIONBOARD_* setting with its default."""
    for name, (default, doc) in settings.SETTINGS.items():
        shown = "" if default is None else f" (default: {default})"
        click.echo(f"SESSIONBOARD_{name}{shown}\n    {doc}")


COMMANDS: list[Any] = [
    serve_command,
    db_group,
    sweep_command,
    demo_command,
    reprice_command,
    render_command,
    settings_command,
]


def register_commands(app: Flask) -> None:
    """Add the core commands to the app's CLI."""
    for command in COMMANDS:
        app.cli.add_command(command)
