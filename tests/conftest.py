"""Shared fixtures: databases (SQLite and PostgreSQL), stores, managers, the app.

Database-backed fixtures run each test against SQLite and, when it answers,
PostgreSQL. Without PostgreSQL those tests skip, except under CI=true, where
they fail: CI must prove both engines.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from webapp.extensions import db
from webapp.sessions import Config, Manager, MessageStore
from webapp.sessions.schema import upgrade_schema
from webapp.sessions.store import make_engine

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get(
    "SESSIONBOARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


class FakeClock:
    """A clock the test moves by hand: ``clock()`` is now, ``clock.advance(...)``."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move time forward by ``delta`` or ``timedelta(**kwargs)``."""
        self.now += delta if delta is not None else timedelta(**kwargs)
        return self.now


def postgres_unavailable(reason: str) -> None:
    """Skip a PostgreSQL test, or fail it under CI=true."""
    if IN_CI:
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(path)
    upgrade_schema(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database(worker_id: str, testrun_uid: str) -> Iterator[str | None]:
    """A migrated PostgreSQL database of this test run and worker's own, or None.

    The name carries the run's id, so two test runs on one server never share one.
    """
    base = make_url(POSTGRES_URL)
    name = f"sessionboard_test_{worker_id}_{testrun_uid[:12]}"
    try:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001  (any failure means "not available")
        os.environ["SESSIONBOARD_TEST_POSTGRES_ERROR"] = str(exc).splitlines()[0]
        yield None
        return
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade_schema(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    """Empty every table the migrations made (not alembic_version)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
            tables = ", ".join(f'"{n}"' for n in names)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh, migrated, empty database for this test: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "sessionboard.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_database")
    if url is None:
        postgres_unavailable(os.environ.get("SESSIONBOARD_TEST_POSTGRES_ERROR", "no server"))
    _reset_postgres(url)
    return str(url)


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh, migrated SQLite file (for tests about SQLite itself)."""
    path = tmp_path / "sessionboard.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock starting at 2026-01-15 12:00 UTC."""
    return FakeClock()


@pytest.fixture
def store(database_url: str) -> Iterator[MessageStore]:
    """A MessageStore on a fresh database (each backend in turn)."""
    s = MessageStore(database_url, migrate=False)
    yield s
    s.close()


@pytest.fixture
def manager(store: MessageStore, clock: FakeClock) -> Iterator[Manager]:
    """A Manager with default Config over ``store``, driven by ``clock``."""
    m = Manager(Config(), store, clock=clock)
    yield m
    m.stop()


@pytest.fixture
def app(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The Flask app on a fresh database, in testing mode."""
    from webapp import create_app

    monkeypatch.setenv("SESSIONBOARD_INSTANCE_PATH", str(tmp_path / "instance"))
    application = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
        }
    )
    yield application
    application.extensions["sessionboard.manager"].stop()
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    """A CLI runner bound to ``app``."""
    return app.test_cli_runner()


@pytest.fixture
def auth(app: Any, client: Any) -> Any:
    """``auth.login(role)`` logs ``client`` in as a user of that role."""
    from tests.auth_helpers import AuthActions

    return AuthActions(app, client)
