"""the sweep's set-based rollup changes on SQLite: a pause flag for the per-row
rollup trigger

Revision ID: 0014
Revises: 0013

On SQLite the rollup trigger of migration 0009 runs per row: an expiry of 100,000
sessions ran it 100,000 times, most of each write's time. The sweep now writes a
slice's change rows summed per key itself, so for the length of its UPDATE it
sets ``rollup_pause.paused`` (in its own write transaction: SQLite has one writer
and the flag is back to 0 before the commit, so no other write ever sees it set).
The update trigger is recreated with the flag in its WHEN clause; its body, and
the insert and delete triggers, are unchanged. PostgreSQL's rollup triggers are
per statement already: there the table exists but is not read.
"""

# ruff: noqa: S608  (the SQL here is built from this file's own constants)

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = "trg_sessions_rollup_update"
PAUSED = "(SELECT paused FROM rollup_pause WHERE id = 1) IS NOT 1"


def _trigger_sql() -> str:
    found = op.get_bind().exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (TRIGGER,)
    )
    return str(found.scalar_one())


def upgrade() -> None:
    op.create_table(
        "rollup_pause",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("paused", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_pause")),
    )
    op.execute("INSERT INTO rollup_pause (id, paused) VALUES (1, 0)")
    if op.get_bind().dialect.name != "sqlite":
        return
    sql = _trigger_sql()
    head, sep, rest = sql.partition(" ON sessions WHEN ")
    condition, begin, body = rest.partition(" BEGIN ")
    assert sep and begin and PAUSED not in sql, "unexpected trigger text"
    op.execute(f"DROP TRIGGER {TRIGGER}")
    op.execute(f"{head} ON sessions WHEN {PAUSED} AND ({condition}) BEGIN {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        sql = _trigger_sql()
        op.execute(f"DROP TRIGGER {TRIGGER}")
        restored = sql.replace(f"WHEN {PAUSED} AND (", "WHEN ", 1).replace(") BEGIN ", " BEGIN ", 1)
        op.execute(restored)
    op.drop_table("rollup_pause")
