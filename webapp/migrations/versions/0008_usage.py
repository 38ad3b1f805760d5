"""usage as first-class data: the ledger of responses, session totals, rollups

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import webapp.sessions.models
from webapp.sessions.pricing import PriceTable
from webapp.sessions.usage import backfill_usage

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = webapp.sessions.models.UTCDateTime(timezone=True)


TOKENS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")


def _tokens() -> list[sa.Column[int]]:
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in TOKENS]


def _sums() -> list[sa.Column[int]]:
    return [
        *_tokens(),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("priced", sa.Integer(), nullable=False),
    ]


def _session_key(table: str) -> list[Any]:
    return [
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f(f"fk_{table}_session_id_sessions"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("total_tokens", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("cost_nanos", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_index("ix_sessions_cost", ["cost_nanos", "id"], unique=False)
        batch_op.create_index("ix_sessions_tokens", ["total_tokens", "id"], unique=False)

    op.create_table(
        "usage_entries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        *_session_key("usage_entries"),
        sa.Column("at", UTC, nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        *_tokens(),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=True),
        sa.Column("cost_source", sa.String(length=8), nullable=False),
        sa.Column("project", sa.String(length=500), nullable=False),
        sa.Column("runner", sa.String(length=200), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_entries")),
    )
    with op.batch_alter_table("usage_entries", schema=None) as batch_op:
        batch_op.create_index("ix_usage_entries_at", ["at", "id"], unique=False)
        batch_op.create_index(
            "ix_usage_entries_session_source", ["session_id", "source_key"], unique=False
        )

    op.create_table(
        "session_usage",
        *_session_key("session_usage"),
        sa.Column("model", sa.String(length=200), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("session_id", "model", name=op.f("pk_session_usage")),
    )
    op.create_index("ix_session_usage_model", "session_usage", ["model", "session_id"])

    op.create_table(
        "usage_rollups",
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("period_start", UTC, nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        *_sums(),
        sa.Column("first_at", UTC, nullable=False),
        sa.Column("last_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint(
            "dimension", "period_start", "key", "model", name=op.f("pk_usage_rollups")
        ),
    )


    # The usage already stored goes into the ledger, priced with the shipped table
    # (`sessionboard reprice` afterwards applies an instance's prices.json).
    backfill_usage(op.get_bind(), PriceTable.load())


def downgrade() -> None:
    op.drop_table("usage_rollups")
    op.drop_index("ix_session_usage_model", table_name="session_usage")
    op.drop_table("session_usage")
    with op.batch_alter_table("usage_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_entries_session_source")
        batch_op.drop_index("ix_usage_entries_at")
    op.drop_table("usage_entries")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of `sessions`
    # would drop the table under the search index's triggers.
    op.drop_index("ix_sessions_tokens", table_name="sessions")
    op.drop_index("ix_sessions_cost", table_name="sessions")
    op.drop_column("sessions", "cost_nanos")
    op.drop_column("sessions", "total_tokens")
