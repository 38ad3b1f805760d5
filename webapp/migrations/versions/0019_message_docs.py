"""a writer's search document of a message holds no copy of its text (the
background pass writes it when it adds the document to the index), and on
SQLite is written by the committing transaction, in one statement, instead of
a row trigger per message

Revision ID: 0019
Revises: 0018

Instant on both engines: SQLite's triggers on ``messages`` and PostgreSQL's
trigger functions change; the stored documents keep their texts. The DDL lives
in ``webapp.sessions.search_index``.
"""

from collections.abc import Sequence

from alembic import op

from webapp.sessions import search_index

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    search_index.install_message_docs(op.get_bind())


def downgrade() -> None:
    search_index.uninstall_message_docs(op.get_bind())
