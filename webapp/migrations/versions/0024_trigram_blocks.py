"""PostgreSQL: the trigram index by block of document ids, so that a search
asks it for a few blocks' matches instead of a common trigram's whole posting list

Revision ID: 0024
Revises: 0023

PostgreSQL only (``btree_gin``, a trusted extension beside ``pg_trgm``): the
trigram index is rebuilt with each text's block of ids (``id / 8192``) as its
first column: one ``CREATE INDEX`` over every text, whose progress bar follows
the table's blocks as PostgreSQL reports them, then its time. SQLite: nothing.
The DDL lives in ``webapp.sessions.search_index``.
"""

from collections.abc import Sequence

from alembic import op

from webapp.progress import timed_progress
from webapp.sessions import search_index

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    if not search_index.needs_blocks(conn):  # SQLite, or nothing to rebuild
        return
    with timed_progress("Search index: trigram index by block") as run:
        if search_index.install_blocks(conn, progress=run.progress):
            run.done("Search index: trigram index by block rebuilt")


def downgrade() -> None:
    search_index.uninstall_blocks(op.get_bind())
