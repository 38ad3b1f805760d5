"""PostgreSQL: a floor under which no text waits for the trigram index, raised
by the background pass, from which a writer's bound check and a search's read
of the waiting texts start (they stepped over a dead index entry for every text
moved in since the last VACUUM)

Revision ID: 0022
Revises: 0021

Instant: a one-row table and the tail trigger's function. The downgrade keeps
them: the floor belongs with the waiting texts (0018), whose downgrade drops
it, and a floor at any height is correct for the code before this revision,
which does not read it. The DDL lives in ``webapp.sessions.search_index``.
"""

from collections.abc import Sequence

from alembic import op

from webapp.sessions import search_index

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    search_index.install_floor(op.get_bind())


def downgrade() -> None:
    """Nothing: see the module's docstring."""
