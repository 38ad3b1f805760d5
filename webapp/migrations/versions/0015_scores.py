"""scores: an index for the session list's sort and range filter by a rubric
criterion's mean score (rubric_scores by criterion, session, number)

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_rubric_scores_rank",
        "rubric_scores",
        ["criterion_id", "session_id", "number"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_rubric_scores_rank", table_name="rubric_scores")
