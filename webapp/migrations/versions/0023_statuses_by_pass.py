"""PostgreSQL: a waiting search document's status row is written by the
background pass as it moves the document into the trigram index, not by its
writer (as on SQLite); a session's new status is upserted for its documents

Revision ID: 0023
Revises: 0022

Instant: trigger functions change. The DDL lives in
``webapp.sessions.search_index``.
"""

from collections.abc import Sequence

from alembic import op

from webapp.sessions import search_index

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    search_index.install_statuses_by_pass(op.get_bind())


def downgrade() -> None:
    search_index.uninstall_statuses_by_pass(op.get_bind())
