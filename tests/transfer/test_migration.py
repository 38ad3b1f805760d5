"""Migration 0004 makes exactly the imported_files table of the model, and undoes it."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from webapp.sessions.schema import alembic_config, upgrade_schema
from webapp.sessions.store import make_engine
from webapp.transfer.models import ImportedFile


def test_0004_matches_the_model_and_downgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff: list[Any] = [
                d
                for d in compare_metadata(context, ImportedFile.metadata)
                if "imported_files" in repr(d)
            ]
        assert diff == []
        command.downgrade(alembic_config(engine), "0003")
        assert "imported_files" not in inspect(engine).get_table_names()
        command.upgrade(alembic_config(engine), "0004")
        assert "imported_files" in inspect(engine).get_table_names()
    finally:
        upgrade_schema(engine)
        engine.dispose()
