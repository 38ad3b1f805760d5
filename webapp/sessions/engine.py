"""The database engine: its URL, its options, the per-connection rules, and the
transactions every store runs on it (SQLite or PostgreSQL).

Every write runs in one transaction; on SQLite that transaction starts with
``BEGIN IMMEDIATE`` so concurrent writers queue on the busy timeout instead of
failing half-way with "database is locked". Errors raise; nothing is swallowed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Engine,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from .search_index import keep_fts_current

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How long a SQLite writer waits for the write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30.0

#: Each SQLite connection's page cache, in KiB (SQLite's default is 2 MiB). A
#: worker pools several connections, each of which filled its own cache: 32 MiB
#: each kept a gunicorn worker at 170 MB after the million-session benchmark,
#: 8 MiB at 140-152 MB (round 8), 4 MiB at 137-144 MB (round 6) with the pages
#: as fast within the runs' spread. Pages it drops stay in the operating
#: system's file cache (a read of one is a copy, not a disk read); see
#: docs/scale.md for the pages' speed at each size.
SQLITE_CACHE_KIB = 4096


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


#: PostgreSQL: the settings every connection starts with. No JIT compilation:
#: Sessionboard's reads are index walks that stop after a page, which the
#: planner costs as if they read whole tables, and past ``jit_above_cost`` the
#: server compiled them first: 15-25 ms for a statement that runs in a few (a
#: session list narrowed by a search, 28 ms against 12 ms without; docs/search.md,
#: round 11).
POSTGRES_OPTIONS = "-c jit=off"


def engine_options(url: str, *, busy_timeout: float = SQLITE_BUSY_TIMEOUT_S) -> dict[str, Any]:
    """Keyword arguments for ``create_engine`` that suit the URL's database.

    ``busy_timeout``: seconds a SQLite connection waits for the write lock (the
    driver's ``timeout``, i.e. ``sqlite3_busy_timeout``) before it gives up.

    PostgreSQL: each connection starts with ``jit`` off (:data:`POSTGRES_OPTIONS`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        options: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": busy_timeout}
        }
        if parsed.database in (None, "", ":memory:"):
            options["poolclass"] = StaticPool
        return options
    return {"pool_pre_ping": True, "connect_args": {"options": POSTGRES_OPTIONS}}


def make_engine(url_or_path: str | os.PathLike[str]) -> Engine:
    """Create an engine for ``url_or_path`` with Sessionboard's connection rules."""
    url = database_url(url_or_path)
    engine = create_engine(url, **engine_options(url))
    configure_engine(engine)
    return engine


#: SQLite's own checkpoint threshold (pages of WAL), for the writes that keep it.
SQLITE_AUTOCHECKPOINT = 1000


def configure_engine(engine: Engine) -> None:
    """Apply the per-connection rules: on SQLite WAL, foreign keys, durable commits,
    and transactions that begin as the caller asks (``sqlite_begin`` option)."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_sessionboard_configured", False):
        return
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk before the API acknowledges it.
        cursor.execute("PRAGMA synchronous=FULL")
        # The page cache of each pooled connection (a ceiling, taken only as pages
        # are read): see SQLITE_CACHE_KIB.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()
        record.info["synchronous"] = "FULL"

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        # A write that may be lost on power failure (the sweep's: the next pass
        # redoes it) commits without its own fsync; the next FULL commit syncs
        # the WAL, and every write before it with it.
        synchronous = options.get("sqlite_synchronous", "FULL")
        info = connection.connection.info
        if info.get("synchronous") != synchronous:
            run_sql(connection, f"PRAGMA synchronous={synchronous}")
            info["synchronous"] = synchronous
        # The same writes leave the WAL's checkpoint to the caller, who runs it
        # after the write lock is free (Database.checkpoint).
        checkpoint = options.get("sqlite_autocheckpoint", SQLITE_AUTOCHECKPOINT)
        if info.get("autocheckpoint", SQLITE_AUTOCHECKPOINT) != checkpoint:
            run_sql(connection, f"PRAGMA wal_autocheckpoint={checkpoint}")
            info["autocheckpoint"] = checkpoint
        run_sql(connection, f"BEGIN {options.get('sqlite_begin', 'DEFERRED')}")

    keep_fts_current(engine)
    engine._sessionboard_configured = True  # type: ignore[attr-defined]


def marker(dialect: str) -> str:
    """The driver's parameter marker in SQL that :func:`run_sql` runs: sqlite3's
    ``?``, psycopg's ``%s``."""
    return "?" if dialect == "sqlite" else "%s"


def run_sql(conn: Connection, sql: str, params: Any = (), *, many: bool = False) -> Any:
    """Run ``sql`` (the driver's markers) on ``conn``'s DBAPI cursor, in its
    transaction, and return the cursor: the hot paths' statements (an append's,
    a group's savepoints). ``exec_driver_sql`` costs more than the statement
    itself (its execution context, events and result object); the driver's
    error is raised as SQLAlchemy's (``IntegrityError``, ``OperationalError``
    ...), as ``exec_driver_sql`` would, so callers handle it alike.
    ``many``: ``params`` is a sequence of rows (``executemany``)."""
    cursor = conn.connection.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except Exception as exc:
        dbapi = conn.dialect.loaded_dbapi
        if not isinstance(exc, dbapi.Error):
            raise
        raise DBAPIError.instance(
            sql, params, exc, dbapi.Error, dialect=conn.dialect, ismulti=many
        ) from exc
    return cursor


@contextmanager
def _savepoint(conn: Connection) -> Iterator[None]:
    """A savepoint in ``conn``'s transaction: an error inside undoes only the
    block's part (and raises). Plain SQL through the driver: SQLAlchemy's
    ``begin_nested`` compiled a new RELEASE for each savepoint's name (5% of
    an append's samples). Savepoints of one name nest: each RELEASE or ROLLBACK
    TO names the innermost."""
    run_sql(conn, "SAVEPOINT sb_write")
    try:
        yield
    except BaseException:
        run_sql(conn, "ROLLBACK TO SAVEPOINT sb_write")
        run_sql(conn, "RELEASE SAVEPOINT sb_write")
        raise
    run_sql(conn, "RELEASE SAVEPOINT sb_write")


class _WriterLock:
    """The write lock of a SQLite file, taken before ``BEGIN IMMEDIATE``: a lock
    for the threads of this process and an ``flock`` on ``<database>-writer``
    for the processes. A waiting writer wakes as soon as the lock is free,
    within 2 ms of the lock being free, instead of sleeping in SQLite's busy
    handler (naps of 1, 2, 5 ... 100 ms that left the lock idle while writers
    slept). The kernel drops the ``flock`` of a
    killed process. One per file and process, whichever engines write it; a
    thread may take it again (a write on a second engine of the same file then
    waits on SQLite's busy timeout, as it did without this lock). Writers that
    do not take it (another program) still queue on the busy timeout."""

    def __init__(self, database: str) -> None:
        self.path = database + "-writer"
        #: The file's WAL, synced after each durable commit (:func:`_fdatasync`).
        self.wal = database + "-wal"
        self._thread_lock = threading.RLock()
        self._fd = -1
        self._depth = 0

    @contextmanager
    def held(self, timeout: float = SQLITE_BUSY_TIMEOUT_S) -> Iterator[None]:
        """Hold the lock; after ``timeout`` seconds without it, go on without it
        (SQLite's busy timeout then decides, as it did without this lock): a
        writer never waits forever on a stuck one."""
        if not self._thread_lock.acquire(timeout=timeout):
            yield
            return
        try:
            if self._depth == 0:
                self._take_file_lock(timeout)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd >= 0:
                    os.close(self._fd)  # closing drops the flock
                    self._fd = -1
        finally:
            self._thread_lock.release()

    def _take_file_lock(self, timeout: float) -> None:
        # Opened for each hold: no descriptor stays open per database file.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + timeout
        nap = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)  # go on without it
                    return
                time.sleep(nap)
                nap = min(nap * 2, 0.002)  # never the busy handler's 100 ms naps
                continue
            self._fd = fd
            return


def _fdatasync(path: str) -> None:
    """``fdatasync`` the file at ``path`` (nothing if it is gone): the sync of a
    SQLite file's WAL that makes a durable commit durable, done after the commit
    and outside the write lock (see :meth:`Database.write`).

    The durable writes on a SQLite file in WAL mode commit with
    ``synchronous=NORMAL`` (no sync at commit) and then call this: what
    ``synchronous=FULL`` does inside the commit (SQLite's documentation: in WAL
    mode FULL is NORMAL plus a sync of the WAL after each commit), but while
    the next writer already holds the lock, so that the writers of all
    processes no longer queue behind each other's fsync. Concurrent calls (the
    commits of several threads and processes) share the disk's flushes in the
    kernel, better than a sync shared by hand (docs/ingest.md, round 7).

    A checkpoint between the commit and the sync loses nothing: SQLite syncs
    the WAL before it copies it, and the database file after. The WAL is opened
    for each sync: a descriptor kept open could outlive the file, which SQLite
    removes when its last connection closes, having checkpointed it (then there
    is nothing left to sync)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


_writer_locks: dict[str, _WriterLock] = {}
_writer_locks_pid = os.getpid()
_writer_locks_guard = threading.Lock()


def _writer_lock(engine: Engine) -> _WriterLock | None:
    """The :class:`_WriterLock` of the engine's SQLite file in this process
    (None for PostgreSQL and in-memory databases)."""
    global _writer_locks_pid  # noqa: PLW0603
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    path = os.path.abspath(str(engine.url.database))
    with _writer_locks_guard:
        if _writer_locks_pid != os.getpid():  # a forked child takes its own
            _writer_locks.clear()
            _writer_locks_pid = os.getpid()
        lock = _writer_locks.get(path)
        if lock is None:
            lock = _writer_locks[path] = _WriterLock(path)
        return lock


@dataclass(eq=False)
class _Job(Generic[T]):
    """One grouped write: ``fn`` and, once its group committed, what it gave."""

    fn: Callable[[Connection], T]
    key: str
    start: Callable[[Connection, list[str]], None] | None
    finish: Callable[[Connection, list[T]], None] | None
    done: bool = False
    result: T | None = None
    error: BaseException | None = None


class _Batch:
    """The writes that wait for the next group: they commit together. Its
    first write's thread leads it when its turn comes (``turn``); the others
    wait for ``done`` alone, so a group's end wakes only the threads of the
    next group, not every waiting thread."""

    __slots__ = ("done", "jobs", "turn")

    def __init__(self) -> None:
        self.jobs: list[_Job[Any]] = []
        self.turn = threading.Event()
        self.done = threading.Event()


class _Group:
    """The grouped writes of one engine in one process: the batches waiting, in
    order, and whether a leader is running a group now."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.cond = threading.Lock()
        self.queue: deque[_Batch] = deque()
        self.leading = False

    @property
    def waiting(self) -> list[_Job[Any]]:
        """The writes waiting for their group (call with ``cond`` held)."""
        return [job for batch in self.queue for job in batch.jobs]

    def join(self, job: _Job[Any]) -> tuple[_Batch, bool]:
        """Put ``job`` in the last batch waiting (a new one when full or none);
        returns it, and whether the caller leads it now (no group running)."""
        with self.cond:
            batch = self.queue[-1] if self.queue else None
            if batch is None or len(batch.jobs) >= MAX_GROUP:
                batch = _Batch()
                self.queue.append(batch)
            batch.jobs.append(job)
            if self.leading:
                return batch, False
            self.leading = True
            self.queue.popleft()
            return batch, True

    def hand_over(self) -> None:
        """After a group: the next batch's first thread leads it, or none waits."""
        with self.cond:
            if not self.queue:
                self.leading = False
                return
            self.queue.popleft().turn.set()


def _group_of(engine: Engine, name: str) -> _Group:
    """The group of ``name``'s writes on ``engine`` in this process."""
    groups: dict[str, _Group] = engine.__dict__.setdefault("_sessionboard_groups", {})
    group = groups.get(name)
    if group is None or group.pid != os.getpid():
        group = groups[name] = _Group()
    return group


#: Most writes one group commit takes (bounds a transaction's size and its lock time).
MAX_GROUP = 64


@contextmanager
def _nothing() -> Iterator[None]:
    yield


#: The write transaction open in this thread or task, with its engine.
_open_write: ContextVar[tuple[Engine, Connection] | None] = ContextVar(
    "sessionboard_open_write", default=None
)


class _SharedRead:
    """The connection of :meth:`Database.shared_reads`, opened at its first read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None
        self.depth = 0  # read blocks open inside one another
        #: PostgreSQL reads in READ COMMITTED, where each statement takes a snapshot
        #: of its own: the scope keeps one transaction for all its blocks (ending it
        #: after each block cost a BEGIN and a ROLLBACK round trip a block, 8 of a
        #: list page's 18). SQLite's snapshot lasts as long as its transaction, so
        #: there each block ends its own (a read after a write then sees it).
        self.one_transaction = engine.dialect.name == "postgresql"
        #: What :meth:`Database.remembered` read in this scope, until a commit.
        self.remembered: dict[Any, Any] = {}

    @contextmanager
    def block(self) -> Iterator[Connection]:
        """The connection for one read block; a block inside another is part of it."""
        if self.conn is None:
            self.conn = self.engine.connect()
        conn = self.conn
        self.depth += 1
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        else:
            if self.depth == 1 and not self.one_transaction:
                conn.rollback()  # the block's transaction ends with it
        finally:
            self.depth -= 1

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()  # rolls back what is open, returns it to the pool
            self.conn = None


#: The shared reads of this thread or task (:meth:`Database.shared_reads`), if any.
_shared_read: ContextVar[_SharedRead | None] = ContextVar("sessionboard_shared_read", default=None)


def _forget_remembered(conn: Connection) -> None:
    """A commit on the engine (a store's write, or the web app's own session) in
    this thread or task: what its shared reads remembered may have changed."""
    shared = _shared_read.get()
    # The pool, not the engine: a write's engine is one with its own options.
    if shared is not None and shared.engine.pool is conn.engine.pool:
        shared.remembered.clear()


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
        if not event.contains(self.engine, "commit", _forget_remembered):
            event.listen(self.engine, "commit", _forget_remembered)
        #: A SQLite file in WAL mode: a durable write commits with
        #: ``synchronous=NORMAL`` and then syncs the WAL outside the write lock
        #: (:func:`_fdatasync`); else (an in-memory database, another journal
        #: mode) with ``synchronous=FULL``.
        self._sync_after = _writer_lock(self.engine) is not None and self._in_wal_mode()
        self._lock: tuple[int, _WriterLock | None] | None = None
        self._writer = self.engine.execution_options(
            sqlite_begin="IMMEDIATE", sqlite_synchronous="NORMAL" if self._sync_after else "FULL"
        )
        self._lazy_writer = self._writer.execution_options(
            sqlite_synchronous="NORMAL", sqlite_autocheckpoint=0
        )
        self._closed = False
        if migrate:
            from .schema import upgrade_schema

            upgrade_schema(self.engine)

    def _writer_lock(self) -> _WriterLock | None:
        """:func:`_writer_lock` of the engine, looked up once a process."""
        kept = self._lock
        if kept is None or kept[0] != os.getpid():
            kept = self._lock = (os.getpid(), _writer_lock(self.engine))
        return kept[1]

    def _in_wal_mode(self) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal")

    def _sync(self) -> None:
        """Make the commits of this process so far durable (SQLite in WAL mode:
        :func:`_fdatasync` of the WAL; nothing to do otherwise, their commit was)."""
        if self._sync_after:
            lock = self._writer_lock()
            assert lock is not None  # noqa: S101  (a file database has one)
            _fdatasync(lock.wal)

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success,
        and returns once the commit is on disk (SQLite in WAL mode: the WAL's
        sync follows the commit, outside the write lock: :func:`_fdatasync`).

        ``durable=False``: the commit does not wait for its own fsync (SQLite:
        ``synchronous=NORMAL`` in WAL mode; PostgreSQL: ``synchronous_commit =
        off`` for the transaction): a crash may undo it, never corrupt the
        database, and the next durable commit syncs it. Only for work that is
        redone if lost (the sweep's slices and folds). On SQLite it does not
        checkpoint the WAL either: the caller runs :meth:`checkpoint` after it.

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
        with self._transaction(durable=durable) as conn:
            yield conn
        if durable:
            self._sync()

    @contextmanager
    def _transaction(self, *, durable: bool = True) -> Iterator[Connection]:
        """The transaction of :meth:`write`, without the WAL's sync after it."""
        lock = self._writer_lock()
        writer = self._writer if durable else self._lazy_writer
        with lock.held() if lock is not None else _nothing(), writer.begin() as conn:
            if not durable and self.dialect == "postgresql":
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            token = _open_write.set((self.engine, conn))
            try:
                yield conn
            finally:
                _open_write.reset(token)

    def checkpoint(self) -> None:
        """Copy the WAL's new pages into the SQLite file (a passive checkpoint);
        call it after a ``durable=False`` write, outside it. Those writes (the
        sweep's) skip SQLite's own checkpoint at commit, which ran inside the
        write lock once the WAL passed 1,000 pages: up to a second under load on
        a 2 GB file, every writer waiting. A passive checkpoint waits for no
        writer, and writers go on beside it. Nothing on PostgreSQL or in memory."""
        if self._writer_lock() is None:
            return
        raw = self.engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").close()
        finally:
            raw.close()

    def write_grouped(
        self,
        fn: Callable[[Connection], T],
        *,
        key: str,
        name: str,
        start: Callable[[Connection, list[str]], None] | None = None,
        finish: Callable[[Connection, list[T]], None] | None = None,
    ) -> T:
        """``fn(conn)`` in a write transaction shared with the writes of the same
        ``name`` that other threads of this process make at the same time (group
        commit): one ``BEGIN``, one commit and one fsync for all of them. Returns
        ``fn``'s result once that transaction committed and is on disk (or raises
        what ``fn`` raised, or the commit's or the sync's error): an answer based
        on it is durable.

        While one thread (the leader) runs a group, the writes that arrive wait;
        when it commits, one of them leads the next group with all that waited
        (at most :data:`MAX_GROUP`). A group runs ``start(conn, keys)`` first
        (e.g. to lock the rows it changes, in one order), then each ``fn`` in the
        order of its ``key``, each in a savepoint (one that fails undoes only
        itself), then ``finish(conn, results)`` with the results of those that
        succeeded (e.g. totals summed once, in one order). If the transaction
        fails as a whole (a deadlock, a failed commit), nothing of it committed
        and each write runs again alone. Inside an open write, ``fn`` joins it.
        """
        job: _Job[T] = _Job(fn, key, start, finish)
        outer = _open_write.get()
        if outer is not None and outer[0] is self.engine:
            with _savepoint(outer[1]):  # as a write joins an open one
                self._run_jobs(outer[1], [job])
            return job.result  # type: ignore[return-value]
        group = _group_of(self.engine, name)
        batch, lead = group.join(job)
        if not lead:
            if batch.jobs[0] is job:
                batch.turn.wait()  # its leader's turn
            else:
                batch.done.wait()
        if not job.done:
            jobs = sorted(batch.jobs, key=lambda j: j.key)
            try:
                self._run_group(jobs)
                # Outside the write lock: the other processes' writers commit
                # meanwhile; this process's next group grows meanwhile.
                self._sync_group(jobs)
            finally:
                batch.done.set()
                group.hand_over()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _sync_group(self, jobs: list[_Job[Any]]) -> None:
        """Sync the group's commit (:meth:`_sync`) before any of its writes
        answers; a failed sync is the error of each write that committed."""
        if not any(job.done and job.error is None for job in jobs):
            return
        try:
            self._sync()
        except Exception as exc:  # noqa: BLE001  (handed to each caller)
            for job in jobs:
                if job.error is None:
                    job.error, job.result = exc, None

    def _run_group(self, jobs: list[_Job[Any]]) -> None:
        """Run ``jobs`` in one transaction; if it fails as a whole, each alone in
        its own. Marks them done. Their commit is synced by :meth:`_sync_group`."""
        try:
            if len(jobs) > 1:
                try:
                    with self._transaction() as conn:
                        self._run_jobs(conn, jobs)
                    return
                except Exception:  # noqa: BLE001  (nothing committed: run each alone)
                    log.warning("a group of %d writes failed; running each alone", len(jobs))
            for job in jobs:
                job.error = job.result = None
                try:
                    with self._transaction() as conn:
                        self._run_jobs(conn, [job])
                except Exception as exc:  # noqa: BLE001  (handed to its caller)
                    job.error, job.result = exc, None
        finally:
            for job in jobs:
                job.done = True

    @staticmethod
    def _run_jobs(conn: Connection, jobs: list[_Job[Any]]) -> None:
        """``start``, each job, then ``finish``. A lone job's error raises (and so
        undoes its transaction or savepoint); in a group each job runs in a
        savepoint and its error stays with it. Errors of ``start`` and ``finish``
        raise."""
        first = jobs[0]
        if first.start is not None:
            first.start(conn, sorted({job.key for job in jobs}))
        if len(jobs) == 1:
            first.result = first.fn(conn)
        else:
            for job in jobs:
                try:
                    with _savepoint(conn):
                        job.result = job.fn(conn)
                except Exception as exc:  # noqa: BLE001  (handed to its caller)
                    job.error, job.result = exc, None
        if first.finish is not None:
            first.finish(conn, [job.result for job in jobs if job.error is None])

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection; on SQLite its snapshot lasts the block, on
        PostgreSQL a statement (READ COMMITTED). Inside an open write on this
        engine it is that write's connection, which sees its changes. Inside
        :meth:`shared_reads` it is that scope's one connection."""
        outer = _open_write.get()
        if outer is not None and outer[0] is self.engine:
            yield outer[1]
            return
        shared = _shared_read.get()
        if shared is not None and shared.engine is self.engine:
            with shared.block() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            yield conn

    # -- one connection for all the reads of a request ------------------

    @contextmanager
    def shared_reads(self) -> Iterator[None]:
        """Every :meth:`read` on this engine inside the block (in this thread or
        task) uses one connection, checked out at the first read and returned at
        the end: a web request's ten reads cost one pool checkout (on PostgreSQL,
        one ``pool_pre_ping`` round trip) instead of ten. A read still sees what
        was committed before it (by a write of the same request too): on SQLite
        each read block ends its own transaction, and its snapshot with it; on
        PostgreSQL the scope is one transaction in READ COMMITTED, a snapshot a
        statement, which saves each block a BEGIN and a ROLLBACK round trip. So
        what a read sets for its transaction must be set in a savepoint rolled
        back at its end (search's planner settings: ``Search._tuned``), or it
        would reach the reads after it."""
        shared = _SharedRead(self.engine)
        token = _shared_read.set(shared)
        try:
            yield
        finally:
            _shared_read.reset(token)
            shared.close()

    def remembered(self, key: Any, read: Callable[[], T]) -> T:
        """``read()``, once in a :meth:`shared_reads` scope (a web request) for
        each ``key``: a page that shows a figure twice (the nav's status counts and
        the inbox's total) reads it once, and both show the same. A commit on this
        engine in the scope's thread or task (any write, the web app's session's
        too) forgets what was read, so a request still sees its own writes.
        Outside a scope, ``read()`` every time. What ``read`` returns is shared:
        the caller must not change it."""
        shared = _shared_read.get()
        if shared is None or shared.engine is not self.engine:
            return read()
        if key not in shared.remembered:
            shared.remembered[key] = read()
        return cast(T, shared.remembered[key])

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


# -- a list of values as one parameter -----------------------------------------------


class InList(ColumnElement[bool]):
    """``column IN`` the list given as parameter ``name`` at execution: on SQLite
    expanded into a parameter per value, on PostgreSQL one array parameter
    (``column = ANY(:name)``). Expanded on PostgreSQL, a list page's three reads
    by 50 ids each cost 4-16% of its CPU, the app's and the server's
    (``bench/ab_pages.py``): SQLAlchemy wrote each statement anew with a cast per
    value, and psycopg, whose cache takes statements up to 4 KB, parsed them
    again on every request."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: no "= 1" after it on SQLite
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


@compiles(InList)
def _expanded(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    values = element.column.in_(bindparam(element.name, expanding=True))
    return str(compiler.process(values, **kw))


@compiles(InList, "postgresql")
def _array(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    values = bindparam(element.name, type_=postgresql.ARRAY(element.column.type))
    return str(compiler.process(element.column == any_(values), **kw))
