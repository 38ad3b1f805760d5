"""Migration 0002 makes exactly the api_tokens table of the model, and undoes it."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from webapp.accounts.tokens import ApiToken
from webapp.sessions.schema import alembic_config, upgrade_schema
from webapp.sessions.store import make_engine


def test_0002_matches_the_model_and_downgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff: list[Any] = [
                d for d in compare_metadata(context, ApiToken.metadata) if "api_tokens" in repr(d)
            ]
        assert diff == []
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("api_tokens")}
        assert "uq_api_tokens_token_hash" in indexes
        command.downgrade(alembic_config(engine), "0001")
        assert "api_tokens" not in inspect(engine).get_table_names()
        command.upgrade(alembic_config(engine), "0002")
        assert "api_tokens" in inspect(engine).get_table_names()
    finally:
        upgrade_schema(engine)  # the database stays at head for the tests after this one
        engine.dispose()
