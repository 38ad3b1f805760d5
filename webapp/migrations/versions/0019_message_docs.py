"""a message's search document holds no copy of its text (SQLite: FTS5 reads
it from the message; PostgreSQL: until the pass moves it into the trigram
index), and on SQLite is written by the committing transaction, in one
statement, instead of a row trigger per message

Revision ID: 0019
Revises: 0018

FTS5 is made again over the view ``search_doc_texts`` and given every text,
with a progress bar (minutes at a million sessions, like 0007's fill), then
its time. The copies stored before stay until ``sessionboard search
--rebuild``. On PostgreSQL the triggers' functions change (instant). The DDL lives in
``webapp.sessions.search_index``.
"""

import time
from collections.abc import Sequence

import click
from alembic import op

from webapp.progress import progress_bar
from webapp.sessions import search_index

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite" or not search_index.is_installed(conn):
        search_index.install_message_docs(conn)  # PostgreSQL: functions, instant; no bar
        return
    started = time.monotonic()
    with progress_bar("Search index: texts read from their messages") as progress:
        added = search_index.install_message_docs(conn, progress=progress)
    if added:
        click.echo(
            f"Search index: {added} texts indexed in {time.monotonic() - started:.1f} s",
            err=True,
        )


def downgrade() -> None:
    search_index.uninstall_message_docs(op.get_bind())
