"""The search documents' per-session status trigger replaced: it stands
aside while the sweep's expiry moves its slice's documents' statuses itself, in
one statement a slice (SQLite: under the rollups' pause flag; PostgreSQL: under a
transaction-local setting, and its function names the documents as an array)

Revision ID: 0017
Revises: 0016

Only triggers and their functions change: no table is rebuilt or rewritten, so
it takes the same moment on a database of a million sessions as on an empty one.
"""

from collections.abc import Sequence

from alembic import op

from webapp.sessions import search_index

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    search_index.reinstall_status_triggers(op.get_bind())


def downgrade() -> None:
    # The triggers need nothing this revision adds: 0016 keeps them as they are.
    pass
