"""The database engine: its URL, its options, the per-connection rules, and the
transactions every store runs on it (SQLite or PostgreSQL).

Every write runs in one transaction; on SQLite that transaction starts with
``BEGIN IMMEDIATE`` so concurrent writers queue on the busy timeout instead of
failing half-way with "database is locked". Errors raise; nothing is swallowed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

#: How long a SQLite writer waits for the write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30.0


def database_url(url_or_path: str | os.PathLike[str]) -> str:
    """Turn a SQLAlchemy URL or a SQLite file path (or ``:memory:``) into a URL."""
    text = os.fspath(url_or_path)
    if text == ":memory:":
        return "sqlite://"
    if "://" not in text:
        return f"sqlite:///{os.path.abspath(text)}"
    if text.startswith(("postgresql://", "postgres://")):
        # psycopg 3 is the driver we ship; SQLAlchemy's default would be psycopg2.
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def engine_options(url: str, *, busy_timeout: float = SQLITE_BUSY_TIMEOUT_S) -> dict[str, Any]:
    """Keyword arguments for ``create_engine`` that suit the URL's database.

    ``busy_timeout``: seconds a SQLite connection waits for the write lock (the
    driver's ``timeout``, i.e. ``sqlite3_busy_timeout``) before it gives up.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        options: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": busy_timeout}
        }
        if parsed.database in (None, "", ":memory:"):
            options["poolclass"] = StaticPool
        return options
    return {"pool_pre_ping": True}


def make_engine(url_or_path: str | os.PathLike[str]) -> Engine:
    """Create an engine for ``url_or_path`` with Sessionboard's connection rules."""
    url = database_url(url_or_path)
    engine = create_engine(url, **engine_options(url))
    configure_engine(engine)
    return engine


def configure_engine(engine: Engine) -> None:
    """Apply the per-connection rules: on SQLite WAL, foreign keys, durable commits,
    and transactions that begin as the caller asks (``sqlite_begin`` option)."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_sessionboard_configured", False):
        return
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk before the API acknowledges it.
        cursor.execute("PRAGMA synchronous=FULL")
        # 32 MiB of page cache (the default is 2 MiB): index pages of a big
        # database stay in memory; it is a ceiling, taken only as pages are read.
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    engine._sessionboard_configured = True  # type: ignore[attr-defined]


#: The write transaction open in this thread or task, with its engine.
_open_write: ContextVar[tuple[Engine, Connection] | None] = ContextVar(
    "sessionboard_open_write", default=None
)


class Database:
    """An engine with Sessionboard's rules and its two kinds of transaction.

    ``url_or_path`` is a SQLAlchemy URL, a SQLite file path, ``":memory:"``, or an
    existing :class:`Engine` (the web app shares Flask-SQLAlchemy's). With
    ``migrate=True`` the schema is brought up to date through the Alembic migrations.
    """

    def __init__(
        self, url_or_path: str | os.PathLike[str] | Engine = ":memory:", *, migrate: bool = True
    ) -> None:
        if isinstance(url_or_path, Engine):
            self.engine = url_or_path
            configure_engine(self.engine)
            self._owns_engine = False
        else:
            self.engine = make_engine(url_or_path)
            self._owns_engine = True
        self.dialect = self.engine.dialect.name
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._closed = False
        if migrate:
            from .schema import upgrade_schema

            upgrade_schema(self.engine)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success.

        A write opened inside another one on the same engine (in the same thread or
        task) joins it as a savepoint: it commits with the outer transaction, and an
        error inside it undoes only its own part. So a feature can make a change and
        its audit entry, or an import a whole file, one transaction::

            with database.write():
                manager.close(session_id)      # its own write joins this one
                audit.record("session.close", session_id=session_id)
        """
        outer = _open_write.get()
        if outer is not None and outer[0] is self.engine:
            with outer[1].begin_nested():
                yield outer[1]
            return
        with self._writer.begin() as conn:
            token = _open_write.set((self.engine, conn))
            try:
                yield conn
            finally:
                _open_write.reset(token)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection; its snapshot ends when the block ends. Inside an
        open write on this engine it is that write's connection, which sees its
        changes."""
        outer = _open_write.get()
        if outer is not None and outer[0] is self.engine:
            yield outer[1]
            return
        with self.engine.connect() as conn:
            yield conn

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def close(self) -> None:
        """Release the connections (only of an engine this store created)."""
        if not self._closed and self._owns_engine:
            self.engine.dispose()
        self._closed = True
