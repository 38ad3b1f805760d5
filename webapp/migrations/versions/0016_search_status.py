"""the session's status beside each search document (search_doc_status), kept by
triggers, so a search with a status filter walks only those sessions' texts

Revision ID: 0016
Revises: 0015

The DDL lives in ``webapp.sessions.search_index`` (a database made at head has
the table from 0007 already: then this does nothing). Fills the table from the
stored documents, in batches with a progress bar.
"""

from collections.abc import Sequence

from alembic import op

from webapp.progress import timed_progress
from webapp.sessions import search_index

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    if not search_index.is_installed(conn) or search_index.has_statuses(conn):
        return
    with timed_progress("Search index: statuses") as run:
        search_index.install_statuses(conn, progress=run.progress)
        run.done("Search index: statuses beside the texts")


def downgrade() -> None:
    search_index.uninstall_statuses(op.get_bind())
