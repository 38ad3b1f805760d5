"""webhooks: the domain's event outbox (session_events), the webhooks and their
deliveries, and the triggers that record failed/expired sessions and fan events
out to deliveries

Revision ID: 0012
Revises: 0011

The trigger DDL lives in ``webapp.sessions.events`` and ``webapp.webhooks.models``.
On SQLite a later migration must not copy ``sessions`` (``batch_alter_table``
with a table rebuild): that drops the table's triggers with it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import webapp.sessions.models
from webapp.webhooks.models import install_triggers, uninstall_triggers

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = webapp.sessions.models.UTCDateTime(timezone=True)
JSON = webapp.sessions.models.JSONType


def upgrade() -> None:
    op.create_table(
        "session_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_events")),
    )
    op.create_index("ix_session_events_at", "session_events", ["at", "id"])
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.String(length=200), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", UTC, nullable=True),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("lease_until", UTC, nullable=True),
        sa.Column("last_attempt_at", UTC, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_response", sa.Text(), nullable=False),
        sa.Column("last_duration_ms", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["session_events.id"],
            name=op.f("fk_webhook_deliveries_event_id_session_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "uq_webhook_deliveries_event", "webhook_deliveries", ["event_id", "webhook_id"], unique=True
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["state", "next_at"])
    op.create_index("ix_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "id"])
    install_triggers(op.get_bind())


def downgrade() -> None:
    uninstall_triggers(op.get_bind())
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_index("ix_session_events_at", table_name="session_events")
    op.drop_table("session_events")
