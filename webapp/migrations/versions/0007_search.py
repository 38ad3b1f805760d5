"""the search index: search_docs, FTS5 trigram (SQLite) or pg_trgm GIN (PostgreSQL),
the triggers that keep it in step, filled from the sessions and messages stored

Revision ID: 0007
Revises: 0006

The DDL lives in ``webapp.sessions.search_index`` (``sessionboard search
--rebuild`` makes the same index); PostgreSQL needs ``CREATE EXTENSION pg_trgm``
(in contrib: a trusted extension, so the database owner may create it).
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from webapp.progress import timed_progress
from webapp.sessions import search_index

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    stored = conn.execute(text("SELECT count(*) FROM sessions")).scalar_one()
    if not stored:
        search_index.install(conn)
        return
    with timed_progress("Indexing for search", stored) as run:
        count = search_index.install(conn, progress=run.progress)
        run.done(f"Search index: {count} texts indexed")


def downgrade() -> None:
    search_index.uninstall(op.get_bind())
