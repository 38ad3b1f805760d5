"""message_html: each message's markdown rendered once (sanitised HTML, by renderer
version and the digest of the text), so a transcript page renders nothing

Revision ID: 0013
Revises: 0012

A new table only: ``sessions`` is not touched (on SQLite a rebuild of it would
drop its triggers).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_html",
        sa.Column("message_id", BigId, autoincrement=False, nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=16), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_html_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_html")),
    )


def downgrade() -> None:
    op.drop_table("message_html")
