"""PostgreSQL: the search index's foreign keys replaced by statement triggers
that delete a deleted message's, session's or document's rows of the index

Revision ID: 0021
Revises: 0020

Instant: constraints and triggers change, no row is read or written. SQLite
keeps its foreign keys. The DDL lives in ``webapp.sessions.search_index``.
"""

from collections.abc import Sequence

from alembic import op

from webapp.sessions import search_index

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    search_index.install_cascades(op.get_bind())


def downgrade() -> None:
    search_index.uninstall_cascades(op.get_bind())
