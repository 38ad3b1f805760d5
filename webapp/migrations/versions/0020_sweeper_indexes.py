"""the sweeper: drop ix_sessions_expires (expires_at), which no query reads
(the expiry reads ix_sessions_status_expires) and every status change paid for

Revision ID: 0020
Revises: 0019

On PostgreSQL a status change is not a HOT update (status is indexed), so an
expired session writes an entry in every index of ``sessions``: one index fewer
is one entry fewer a row (docs/scale.md, "Round 7: the sweeper").
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_sessions_expires", table_name="sessions")


def downgrade() -> None:
    op.create_index("ix_sessions_expires", "sessions", ["expires_at"], unique=False)
