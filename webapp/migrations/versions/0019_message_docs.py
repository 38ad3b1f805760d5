"""SQLite: a new message's search document is written by the committing
transaction, in one statement, instead of a row trigger per message

Revision ID: 0019
Revises: 0018

Drops the trigger that wrote each new message's document and makes the one
that rewrites a changed message's document skip a message without one yet
(instant; nothing to fill: every stored message has its document). Nothing on
PostgreSQL. The DDL lives in ``webapp.sessions.search_index``.
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
