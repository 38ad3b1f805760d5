"""new search texts wait outside the trigram index until the background pass
moves them in (PostgreSQL), so an append pays no trigram extraction; on SQLite
the pass, not a trigger per document, writes a new text's status row

Revision ID: 0018
Revises: 0017

Adds ``search_docs.unindexed`` (empty: every stored text is indexed; instant on
both engines). On PostgreSQL the trigram index is rebuilt over the rows where
it is NULL, with an index of the waiting texts and the trigger that bounds
them: one ``CREATE INDEX`` over every text, whose progress bar follows the
table's blocks as PostgreSQL reports them (``pg_stat_progress_create_index``),
then its time. On SQLite the
documents' status trigger is dropped (instant). The DDL lives in
``webapp.sessions.search_index``.
"""

from collections.abc import Sequence

from alembic import op

from webapp.progress import timed_progress
from webapp.sessions import search_index

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    texts = search_index.is_installed(conn) and conn.exec_driver_sql(
        "SELECT EXISTS (SELECT 1 FROM search_docs)"
    ).scalar()
    if conn.dialect.name != "postgresql" or not texts:
        search_index.install_waiting(conn)  # no index to rebuild that takes time
        return
    with timed_progress("Search index: trigram index") as run:
        if search_index.install_waiting(conn, progress=run.progress):
            run.done("Search index: trigram index rebuilt")


def downgrade() -> None:
    search_index.uninstall_waiting(op.get_bind())
