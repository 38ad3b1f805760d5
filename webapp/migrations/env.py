"""Alembic environment: runs on the engine the caller hands over (or the URL)."""

from __future__ import annotations

from alembic import context

import webapp.models  # noqa: F401  (registers every table on Base.metadata)
from webapp.sessions.models import Base

config = context.config
target_metadata = Base.metadata


#: The expression indexes of migration 0009, which the models cannot declare (their
#: SQL differs between SQLite and PostgreSQL).
EXPRESSION_INDEXES = ("ix_sessions_day_activity", "ix_sessions_duration")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, _: object) -> bool:
    """Leave autogenerate blind to migration 0009's expression indexes."""
    expression_index = type_ == "index" and (
        (name or "").startswith("ix_sessions_context_") or name in EXPRESSION_INDEXES
    )
    return not expression_index


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    engine = config.attributes.get("engine")
    if engine is None:
        from webapp.sessions.store import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,  # SQLite alters tables by copying them
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
