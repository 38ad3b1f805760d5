"""saved views, review queues, rubric criteria, queue items and rubric scores

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import webapp.sessions.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = webapp.sessions.models.UTCDateTime(timezone=True)


def _fk(table: str, column: str, referred: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{referred}.id"],
        name=op.f(f"fk_{table}_{column}_{referred}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "saved_views",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
        sa.UniqueConstraint("owner", "name", name="uq_saved_views_owner_name"),
    )
    op.create_index("ix_saved_views_shared", "saved_views", ["shared", "name"])
    op.create_table(
        "queues",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("view_id", BigId, nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("assignment_ttl", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        _fk("queues", "view_id", "saved_views", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queues")),
        sa.UniqueConstraint("name", name=op.f("uq_queues_name")),
    )
    op.create_index(op.f("ix_queues_view_id"), "queues", ["view_id"])
    op.create_table(
        "queue_reviewers",
        sa.Column("queue_id", BigId, nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        _fk("queue_reviewers", "queue_id", "queues", "CASCADE"),
        sa.PrimaryKeyConstraint("queue_id", "reviewer", name=op.f("pk_queue_reviewers")),
    )
    op.create_table(
        "rubric_criteria",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("queue_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        _fk("rubric_criteria", "queue_id", "queues", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rubric_criteria")),
        sa.UniqueConstraint("queue_id", "label", name="uq_rubric_criteria_queue_label"),
    )
    op.create_index("ix_rubric_criteria_queue", "rubric_criteria", ["queue_id", "position"])
    op.create_table(
        "queue_items",
        sa.Column("queue_id", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("assigned_at", UTC, nullable=True),
        sa.Column("added_at", UTC, nullable=False),
        sa.Column("done_at", UTC, nullable=True),
        _fk("queue_items", "queue_id", "queues", "CASCADE"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_queue_items_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", "session_id", name=op.f("pk_queue_items")),
    )
    op.create_index("ix_queue_items_state", "queue_items", ["queue_id", "state", "added_at"])
    op.create_index("ix_queue_items_assignee", "queue_items", ["assignee", "queue_id", "state"])
    op.create_index("ix_queue_items_session", "queue_items", ["session_id"])
    op.create_table(
        "rubric_scores",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("criterion_id", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("at", UTC, nullable=False),
        _fk("rubric_scores", "criterion_id", "rubric_criteria", "CASCADE"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_rubric_scores_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rubric_scores")),
        sa.UniqueConstraint(
            "criterion_id", "session_id", "reviewer", name="uq_rubric_scores_one_answer"
        ),
    )
    op.create_index("ix_rubric_scores_session", "rubric_scores", ["session_id", "criterion_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_rubric_scores_session", "rubric_scores"),
        ("ix_queue_items_session", "queue_items"),
        ("ix_queue_items_assignee", "queue_items"),
        ("ix_queue_items_state", "queue_items"),
        ("ix_rubric_criteria_queue", "rubric_criteria"),
        ("ix_queues_view_id", "queues"),
        ("ix_saved_views_shared", "saved_views"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "rubric_scores",
        "queue_items",
        "rubric_criteria",
        "queue_reviewers",
        "queues",
        "saved_views",
    ):
        op.drop_table(table)
