"""Migration 0006 makes exactly the logins and login_throttle tables of the model,
drops what they replace, and undoes it all."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from webapp.accounts.models import Login
from webapp.sessions.schema import alembic_config, upgrade_schema
from webapp.sessions.store import make_engine

TABLES = ("logins", "login_throttle", "login_failures", "users")


def test_0006_matches_the_model_and_downgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff: list[Any] = [
                d
                for d in compare_metadata(context, Login.metadata)
                if any(name in repr(d) for name in TABLES)
            ]
        assert diff == []
        command.downgrade(alembic_config(engine), "0005")
        tables = inspect(engine).get_table_names()
        assert "logins" not in tables and "login_throttle" not in tables
        assert "login_failures" in tables
        assert "login_version" in {c["name"] for c in inspect(engine).get_columns("users")}
        command.upgrade(alembic_config(engine), "0006")
        tables = inspect(engine).get_table_names()
        assert {"logins", "login_throttle"} <= set(tables)
        assert "login_failures" not in tables
    finally:
        upgrade_schema(engine)
        engine.dispose()
