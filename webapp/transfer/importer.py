"""The importer: Claude Code transcripts and Sessionboard exports, through the domain.

One run is three steps. :meth:`Importer.plan` finds the files and where to start
in each (a transcript read before resumes at its recorded end offset; an
unchanged one is left out). :meth:`Importer.check_retention` reads and validates
every planned file by the domain's rules (:class:`ImportRefused` names the file
and the line, record or session at fault) and counts what the next sweep would
purge of the import; the caller stops there unless the user chose to keep those
sessions or to accept it. :meth:`Importer.run` then writes the files, each
written whole in one transaction, small files several to a transaction: all of
a file or none of it. The files the check parsed, up to :data:`PARSED_KEPT_BYTES`
of them, are kept in memory as the check read them; those past it are kept
pickled in a spool folder (:class:`Spool`) and loaded back at their turn
(memory is then a few files' sessions): a file is parsed once. With
``workers`` (the CLI's), processes parse the files ahead, in order
(:func:`read_in_order`). A batch's new transcript sessions are written
together (:class:`~webapp.transfer.newsessions.NewSessions`).

An import never overwrites a session it did not create. A record whose id is
stored already is a *conflict*: the stored session keeps its fields (status,
request, response, times, expiry, keep, context) and only the record's messages
that are new are added. A message is new unless the stored session holds one with
its ``source_key``; a message without a ``source_key`` is new unless the stored
session holds a message without one of the same role, timestamp and content.
Only a stored Claude Code session (``context["source"] == "claude-code"``: made by
an import of its transcript or by the live hook) takes a transcript's fields, as
that transcript grows; a person's choices (keep, expiry, a closed status) stay.

Subagent sessions whose parent is not stored yet keep the parent's id in
``context["parent_session_id"]``; ``parent_id`` is set as soon as the parent is
imported, in this run or a later one.
"""

from __future__ import annotations

import copy
import functools
import logging
import multiprocessing
import os
import pickle
import shutil
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from webapp.claude.transcript import (
    ParsedSession,
    ParseStats,
    iter_transcript_files,
    link_sessions,
    parse_file,
)
from webapp.queues import service as queues_service
from webapp.review import service as review_service
from webapp.sessions import Manager, Message, MessageStore, Session, Status
from webapp.sessions.types import UNFINISHED_STATUSES
from webapp.transfer.export import EXPORT_MARKER
from webapp.transfer.incoming import Incoming, read_export, record_time, transcript_incoming
from webapp.transfer.models import ImportedFile
from webapp.transfer.newsessions import NewSessions
from webapp.transfer.report import ImportSummary, RetentionCheck

log = logging.getLogger(__name__)

files_t = cast(Table, ImportedFile.__table__)

#: Messages per append statement group: bounds a statement's size on huge sessions.
APPEND_BATCH = 1000
#: Files written in one transaction, up to this many messages (or
#: :data:`FILES_PER_TRANSACTION` files): one commit (and fsync) per batch of
#: small files instead of one per file.
MESSAGES_PER_TRANSACTION = 5000
FILES_PER_TRANSACTION = 100
#: Ids per ``IN (...)`` list.
ID_BATCH = 500
#: Bytes of files whose parse :meth:`Importer.check_retention` keeps in memory
#: for :meth:`Importer.run`; the parses of the files past it wait pickled in a
#: spool folder (:class:`Spool`): either way a file is parsed once.
PARSED_KEPT_BYTES = 128 * 1024 * 1024
#: Files a reading worker may be ahead of the writer by (:func:`read_in_order`),
#: and bytes of files all the workers may be ahead by: bounds the memory of
#: parsed files waiting to be written.
READ_AHEAD_FILES = 4
READ_AHEAD_BYTES = 64 * 1024 * 1024
#: The name of an import's spool folder (:class:`Spool`) in the system's
#: temporary folder, before its process id.
SPOOL_PREFIX = "sessionboard-import-"
#: How often a reading worker checks that its import is still there, in seconds.
PARENT_CHECK_S = 0.5
#: The ``context["source"]`` of sessions made from Claude Code transcripts.
CLAUDE_CODE_SOURCE = "claude-code"


class ImportRefused(ValueError):
    """A file that cannot be imported as it is; nothing of it was written. The
    message names the file and the line, record or session at fault."""


@dataclass
class FilePlan:
    """One file to read: a transcript from ``start_offset``, or an export."""

    path: Path
    kind: str  # "transcript" or "export"
    start_offset: int = 0
    size: int = 0
    mtime: float = 0.0
    #: How errors name the file (the uploaded name of an upload); the path if empty.
    label: str = ""

    @functools.cached_property
    def key(self) -> str:
        """The file's identity in ``imported_files``: its resolved path (resolved
        once: each resolve asks the file system about every folder of the path)."""
        return str(self.path.resolve())

    @property
    def name(self) -> str:
        """The file as a person knows it."""
        return self.label or str(self.path)

    @property
    def todo(self) -> int:
        """Bytes left to read (the progress bar's unit)."""
        return max(self.size - self.start_offset, 0)


@dataclass
class FileContents:
    """A file's sessions, and for a transcript what the parse skipped and where it ended."""

    sessions: list[Incoming]
    stats: ParseStats
    end_offset: int


class Spool:
    """The parses :meth:`Importer.check_retention` does not keep in memory (the
    files past :data:`PARSED_KEPT_BYTES`), pickled by their readers into a
    temporary folder of their own (``sessionboard-import-*`` in the system's
    temporary folder, about two thirds of the files' size), loaded back one at
    a time by :meth:`Importer.run`: a file is parsed once, in bounded memory.
    The folder goes at the end of the run, when the check fails, and at the
    latest when the process exits; the folder of an import killed (``kill -9``,
    a signal) goes when the next import spools (its name holds its process id,
    :data:`SPOOL_PREFIX`)."""

    def __init__(self) -> None:
        self._folder: weakref.finalize[..., Any] | None = None  # removes the folder
        #: Each spooled file's key and its parse's pickle.
        self.files: dict[str, Path] = {}

    def start(self, plans: Sequence[FilePlan]) -> dict[str, Path]:
        """Start over for ``plans``: the spool files of those past
        :data:`PARSED_KEPT_BYTES` (in the plans' order, each kept in memory
        while the kept bytes stay within it), a new folder if there are any."""
        self.clear()
        kept = 0
        for plan in plans:
            if kept + plan.todo <= PARSED_KEPT_BYTES:
                kept += plan.todo
                continue
            if self._folder is None:
                _remove_orphans()
                folder = Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-"))
                self._folder = weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)
            self.files[plan.key] = folder / f"{len(self.files)}.pickle"
        return self.files

    def clear(self) -> None:
        """Remove the folder and what it holds."""
        self.files = {}
        if self._folder is not None:
            self._folder()
            self._folder = None


def _remove_orphans() -> None:
    """Remove the spool folders of imports that are no longer running (killed)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SPOOL_PREFIX}*-*"):
        pid = folder.name[len(SPOOL_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_export_file(path: Path) -> bool:
    """Whether ``path`` is a Sessionboard JSON export (by its first bytes)."""
    try:
        with path.open("rb") as f:
            head = b"".join(f.read(256).split())  # a re-indented export too
    except OSError:
        return False
    return head.startswith(b'{"' + EXPORT_MARKER.encode() + b'"')


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], key: str) -> None:
    """Insert ``rows`` (dicts of the same keys), or overwrite the rows of their
    ``key``, in one ``executemany``."""
    stmt: Any = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    columns = [c for c in rows[0] if c != key]
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[key]], set_={c: stmt.excluded[c] for c in columns}
    )
    conn.execute(stmt, rows)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _identity(m: Message) -> tuple[str, datetime | None, str]:
    """What tells apart messages without a ``source_key``."""
    return (m.role, m.timestamp, m.content)


def new_messages(store: MessageStore, session_id: str, messages: list[Message]) -> list[Message]:
    """The messages the stored session does not hold yet: by ``source_key``, or for a
    message without one by its role, timestamp and content (see the module's doc)."""
    keys = [m.source_key for m in messages if m.source_key is not None]
    stored_keys = store.stored_source_keys(session_id, keys)
    seen: set[tuple[str, datetime | None, str]] = set()
    if any(msg.source_key is None for msg in messages):
        seen = {_identity(msg) for msg in store.get_messages(session_id) if msg.source_key is None}
    fresh = []
    for msg in messages:
        if msg.source_key is not None:
            if msg.source_key not in stored_keys:
                fresh.append(msg)
                stored_keys.add(msg.source_key)
        elif _identity(msg) not in seen:
            fresh.append(msg)
            seen.add(_identity(msg))
    return fresh


def sweep_would_purge(session: Session, now: datetime, cutoff: datetime) -> bool:
    """Whether a sweep at ``now`` deletes ``session`` whole by its retention cutoff:
    the rules of ``MessageStore.expire_due`` (a pending or running session past its
    expiry is expired first) and ``purge_sessions_older_than``."""
    if session.expires_at is None or session.keep or session.last_activity >= cutoff:
        return False
    expired = session.status in UNFINISHED_STATUSES and session.expires_at <= now
    return session.status != Status.RUNNING or expired


def read_file(plan: FilePlan) -> FileContents:
    """A file's sessions, every one validated by the domain's rules;
    :class:`ImportRefused` for the first that breaks one. A transcript session's
    parse (its ``source``) keeps only the messages that call a subagent: the
    import links subagents with them, and its messages are in ``messages``."""
    if plan.kind == "export":
        try:
            sessions = read_export(plan.path)
        except ValueError as exc:
            raise ImportRefused(f"{plan.name}, {exc}") from None
        return FileContents(sessions, ParseStats(files=1), plan.size)
    result = parse_file(plan.path, plan.start_offset)
    fallback = datetime.fromtimestamp(plan.mtime, UTC)
    contents = FileContents([], result.stats, result.end_offset)
    # parents before children, so that a child finds its parent stored
    for parsed in sorted(result.sessions, key=lambda s: s.parent_id is not None):
        try:
            contents.sessions.append(transcript_incoming(parsed, fallback))
        except ValueError as exc:
            raise ImportRefused(f"{plan.name}, session {parsed.id!r}: {exc}") from None
        parsed.messages = [m for m in parsed.messages if "child_session_id" in m.meta]
    return contents


def _read_spooling(plan: FilePlan, spool: Path | None, send: bool) -> FileContents:
    """:func:`read_file`, its result also pickled into the file ``spool`` (for a
    later :func:`read_in_order` to load instead of parsing the file again); with
    ``send`` false, only what the parse skipped and where it ended are returned
    (the sessions are in the spool file)."""
    contents = read_file(plan)
    if spool is not None:
        with spool.open("wb") as f:
            pickle.dump(contents, f, protocol=pickle.HIGHEST_PROTOCOL)
        if not send:
            return FileContents([], contents.stats, contents.end_offset)
    return contents


def _take(known: dict[str, FileContents | Path], key: str) -> FileContents:
    """A known file's contents, taken out of ``known``: kept, or loaded (and
    removed) from its spool file."""
    found = known.pop(key)
    if not isinstance(found, Path):
        return found
    with found.open("rb") as f:
        contents: FileContents = pickle.load(f)  # noqa: S301 (our own spool folder)
    found.unlink()
    return contents


def read_in_order(
    plans: Sequence[FilePlan],
    workers: int = 1,
    known: dict[str, FileContents | Path] | None = None,
    *,
    spool: dict[str, Path] | None = None,
    send: bool = True,
) -> Generator[tuple[FilePlan, FileContents], None, None]:
    """Each plan with its contents, in the plans' order: those in ``known`` taken
    out of it (kept contents, or a spool file's, loaded here), the others read
    by :func:`read_file` (its :class:`ImportRefused` raised at that file's
    turn). With ``workers`` > 1 a pool of that many processes reads them ahead
    (up to :data:`READ_AHEAD_FILES` files a worker and :data:`READ_AHEAD_BYTES`),
    on the other cores while the caller writes; close the iterator
    (``contextlib.closing``) if you stop early. A file in ``spool`` has its
    parse pickled into its spool file by its reader too (and with ``send``
    false, only its stats and end offset come back)."""
    known = {} if known is None else known
    spool = {} if spool is None else spool

    if workers <= 1 or sum(plan.key not in known for plan in plans) < 2:
        for plan in plans:
            if plan.key in known:
                yield plan, _take(known, plan.key)
            else:
                yield plan, _read_spooling(plan, spool.get(plan.key), send)
        return
    pool = ProcessPoolExecutor(
        workers,
        mp_context=_pool_context(),
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    )
    try:
        ahead: deque[tuple[FilePlan, Future[FileContents] | None]] = deque()
        ahead_bytes = 0
        for plan in plans:
            if plan.key in known:
                ahead.append((plan, None))
            else:
                ahead.append((plan, pool.submit(_read_spooling, plan, spool.get(plan.key), send)))
            ahead_bytes += plan.todo
            while ahead and (
                len(ahead) >= READ_AHEAD_FILES * workers or ahead_bytes >= READ_AHEAD_BYTES
            ):
                done, future = ahead.popleft()
                ahead_bytes -= done.todo
                yield done, _take(known, done.key) if future is None else future.result()
        while ahead:
            done, future = ahead.popleft()
            yield done, _take(known, done.key) if future is None else future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _exit_with_parent(parent: int) -> None:
    """A reading worker ends when the import that started it is gone (killed:
    its pool cannot tell its workers then, and they would wait for work forever)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _pool_context() -> BaseContext:
    """Fork where there is fork: the workers start at once, with the parser
    imported (they parse only: no database connection is used in them)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


class Importer:
    """Imports files into ``manager``'s store. ``keep`` marks every imported
    session kept (exempt from retention purging). ``workers`` > 1: that many
    processes read the files ahead (:func:`read_in_order`; the CLI's choice, not
    a web worker's)."""

    def __init__(
        self, manager: Manager, *, keep: bool = False, remember: bool = True, workers: int = 1
    ) -> None:
        self.manager = manager
        self.store = manager.store
        self.keep = keep
        self.workers = workers
        #: Record how far each file was read (off for uploads in a temporary folder).
        self.remember = remember
        self.now = manager.clock()
        self._parents: dict[str, str] = {}  # child id -> parent id, linked at the end
        self._link_stubs: list[ParsedSession] = []  # parents' calls of subagents
        self._children: list[ParsedSession] = []  # subagent sessions, without messages
        self.unchanged_files = 0
        #: Files parsed by check_retention, for run: kept in memory (up to
        #: PARSED_KEPT_BYTES), and the others' parses in a spool folder.
        self._parsed: dict[str, FileContents] = {}
        self._spool = Spool()

    # -- planning -------------------------------------------------------------------

    def plan(self, paths: Iterable[str | os.PathLike[str]]) -> list[FilePlan]:
        """The files under ``paths`` to read (files that have not grown since the
        last import are left out and counted in :attr:`unchanged_files`).
        ``FileNotFoundError`` for a path that does not exist."""
        plans: dict[str, FilePlan] = {}
        for raw in paths:
            path = Path(os.path.expanduser(os.fspath(raw)))
            if path.is_file() and is_export_file(path):
                found = [FilePlan(path, "export")]
            else:
                found = [FilePlan(p, "transcript") for p in iter_transcript_files(path)]
            for plan in found:
                plans.setdefault(plan.key, plan)
        known: dict[str, Any] = {}
        if self.remember:
            with self.store.read() as conn:
                for keys in _chunks(list(plans), ID_BATCH):
                    for row in conn.execute(select(files_t).where(files_t.c.path.in_(keys))):
                        known[row.path] = row
        todo: list[FilePlan] = []
        for key, plan in plans.items():
            st = plan.path.stat()
            plan.size, plan.mtime = st.st_size, st.st_mtime
            seen = known.get(key)
            if seen is not None and plan.kind == "transcript":
                if plan.size == seen.end_offset or (
                    plan.size == seen.size and plan.mtime == seen.mtime
                ):
                    self.unchanged_files += 1
                    continue
                if plan.size > seen.end_offset:
                    plan.start_offset = seen.end_offset
            todo.append(plan)
        return todo

    # -- the retention question ---------------------------------------------------

    def check_retention(
        self, plans: Sequence[FilePlan], progress: Callable[[int], None] | None = None
    ) -> RetentionCheck:
        """Read and validate every planned file (:class:`ImportRefused` for the first
        bad one) and count what the next sweep would purge of the import: messages
        older than the retention window and not stored yet, and the sessions it would
        delete whole because of their imported times (nothing is written)."""
        retention = self.manager.config.message_retention
        check = RetentionCheck()
        if not self.keep and retention.total_seconds() > 0:
            check.cutoff = self.now - retention
        self._parsed.clear()
        spool = self._spool.start(plans)
        try:
            with closing(
                read_in_order(plans, self.workers, spool=spool, send=check.cutoff is not None)
            ) as files:
                for plan, contents in files:
                    if check.cutoff is not None:
                        for item in contents.sessions:
                            self._count_purged(item, check, check.cutoff)
                    if plan.key not in spool:
                        self._parsed[plan.key] = contents
                    if progress is not None:
                        progress(plan.todo)
        except BaseException:
            self._spool.clear()
            raise
        return check

    def _count_purged(self, item: Incoming, check: RetentionCheck, cutoff: datetime) -> None:
        stored = self.store.get_session(item.session.id)
        # on a copy of the session: run() merges the item it keeps again, when it writes
        after = self._merged(replace(item, session=copy.copy(item.session)), stored)
        if after.keep:
            return
        messages = item.messages
        if stored is not None:
            messages = new_messages(self.store, after.id, messages)
        if sweep_would_purge(after, self.now, cutoff) and not (
            stored is not None and sweep_would_purge(stored, self.now, cutoff)
        ):
            check.deleted_sessions += 1
            check.sessions += 1
            check.messages += len(messages)
            return
        old = [m for m in messages if m.timestamp is not None and m.timestamp < cutoff]
        if old:
            check.messages += len(old)
            check.sessions += 1

    def _merged(self, item: Incoming, stored: Session | None) -> Session:
        """The session's fields as the import leaves them: the stored session's on a
        conflict; a Claude Code session's stored ones merged with its transcript's."""
        if stored is not None and not self._takes_fields(item, stored):
            return stored
        session = item.session
        if stored is not None:
            # what a person or the live hook decided stays: keep, expiry, a closed status
            session.keep = session.keep or stored.keep
            session.expires_at = stored.expires_at
            if stored.is_terminal:
                session.status = stored.status
            session.context = {**stored.context, **session.context}
            if stored.parent_id is not None:
                session.parent_id = stored.parent_id
        session.keep = session.keep or self.keep
        return session

    @staticmethod
    def _takes_fields(item: Incoming, stored: Session) -> bool:
        """Whether the stored session takes the incoming fields: only a Claude Code
        session, from its transcript."""
        return not item.exported and stored.context.get("source") == CLAUDE_CODE_SOURCE

    # -- writing ----------------------------------------------------------------------

    def run(
        self, plans: Sequence[FilePlan], progress: Callable[[int], None] | None = None
    ) -> ImportSummary:
        """Import the planned files, each whole in one transaction: small files
        together, up to :data:`MESSAGES_PER_TRANSACTION` messages or
        :data:`FILES_PER_TRANSACTION` files a transaction; ``progress(n)`` after
        each transaction with its files' bytes. :class:`ImportRefused` for a bad
        file (nothing of it written; the files before it are)."""
        summary = ImportSummary(unchanged_files=self.unchanged_files)
        batch: list[tuple[FilePlan, FileContents]] = []
        messages = 0
        known: dict[str, FileContents | Path] = {**self._parsed, **self._spool.files}
        self._parsed = {}
        try:
            with closing(read_in_order(plans, self.workers, known)) as files:
                while True:
                    try:
                        plan, contents = next(files)
                    except StopIteration:
                        break
                    except ImportRefused:
                        self._write(batch, summary, progress)
                        raise
                    batch.append((plan, contents))
                    messages += sum(len(item.messages) for item in contents.sessions)
                    if messages >= MESSAGES_PER_TRANSACTION or len(batch) >= FILES_PER_TRANSACTION:
                        self._write(batch, summary, progress)
                        batch, messages = [], 0
            self._write(batch, summary, progress)
        finally:
            self._spool.clear()
        self._link()
        return summary

    def _write(
        self,
        batch: Sequence[tuple[FilePlan, FileContents]],
        summary: ImportSummary,
        progress: Callable[[int], None] | None,
    ) -> None:
        """Write ``batch``'s files in one transaction (the store's own writes join it)."""
        if not batch:
            return
        with self.store.write():
            new = NewSessions(self.store)
            for _plan, contents in batch:
                for item in contents.sessions:
                    self._store_session(self.store, item, summary, new)
            new.write()
            if self.remember:
                self._remember(self.store, [(p, c) for p, c in batch if p.kind == "transcript"])
        for plan, contents in batch:
            summary.files += 1
            summary.stats.merge(contents.stats)
            if contents.stats.skipped_total:
                summary.skipped_files.append((plan.name, contents.stats.skipped_total))
        if progress is not None:
            progress(sum(plan.todo for plan, _contents in batch))

    def _store_session(
        self, store: MessageStore, item: Incoming, summary: ImportSummary, new: NewSessions
    ) -> None:
        """Write one session of the batch: a new transcript session (without meta
        for messages of an earlier import) joins ``new``, written with the
        batch's other new sessions; any other session is written at once, after
        the new ones before it."""
        if item.session.id in new:
            new.write()  # its first part, before this one
        stored = store.get_session(item.session.id)
        parsed = item.source
        if stored is None and isinstance(parsed, ParsedSession) and not parsed.meta_updates:
            session = self._merged(item, None)
            self._defer_parent(session, None)
            summary.sessions_new += 1
            summary.messages_added += new.add(session, item.messages)
            self._note_links(parsed)
            return
        new.write()  # the writes stay in the order of the files
        if stored is not None and not self._takes_fields(item, stored):
            added = self._append(store, stored, new_messages(store, stored.id, item.messages))
            summary.conflicts.append((stored.id, added))
            summary.messages_added += added
            return
        session = self._merged(item, stored)
        self._defer_parent(session, stored)
        if stored is None:
            store.create_session(session)
            summary.sessions_new += 1
        else:
            store.upsert_session(session)
        added = self._append(store, session, item.messages)
        summary.messages_added += added
        if stored is not None:
            if added or _fields(session) != _fields(stored):
                summary.sessions_updated += 1
            else:
                summary.sessions_unchanged += 1
        if isinstance(parsed, dict):
            if stored is None:
                self._store_review(store, session.id, parsed)
            return
        store.merge_message_meta(session.id, parsed.meta_updates)
        self._note_links(parsed)

    def _defer_parent(self, session: Session, stored: Session | None) -> None:
        """A subagent session is written without its parent (which may not be
        stored yet), linked at the end of the run (:meth:`_link`)."""
        parent_id = session.parent_id
        if parent_id is not None and (stored is None or stored.parent_id is None):
            session.parent_id = None
            self._parents[session.id] = parent_id

    def _note_links(self, parsed: ParsedSession) -> None:
        """What :meth:`_link` needs of a transcript session: its subagent calls,
        and a subagent's own fields."""
        self._link_stubs.append(
            ParsedSession(
                id=parsed.id,
                messages=[m for m in parsed.messages if "child_session_id" in m.meta],
            )
        )
        if parsed.parent_id is not None:
            parsed.messages = []
            self._children.append(parsed)

    @staticmethod
    def _append(store: MessageStore, session: Session, messages: list[Message]) -> int:
        """Append ``messages`` (those stored by ``source_key`` are skipped), leaving
        the session's ``last_activity`` at ``session``'s; return how many were added."""
        added = 0
        for batch in _chunks(messages, APPEND_BATCH):
            outcome = store.append_messages(  # read() validated the messages
                session.id, batch, now=session.last_activity, require_open=False, checked=True
            )
            added += outcome.appended
        return added

    @staticmethod
    def _store_review(store: MessageStore, session_id: str, record: dict[str, Any]) -> None:
        """The review data of an exported session, onto its new messages, through the
        review service, and its rubric scores through the queues service (each
        checked and audited)."""
        review = dict(record.get("review") or {})
        scores = [{**x, "at": record_time(x, "at")} for x in review.pop("scores", None) or []]
        queues_service.import_scores(session_id, scores)
        if not any(review.get(key) for key in ("verdict", "tags", "comments")):
            return
        old_ids = [m.get("id") for m in record.get("messages", [])]
        new_ids = [m.id for m in store.get_messages(session_id)]
        if review.get("verdict"):
            verdict = review["verdict"]
            review["verdict"] = {**verdict, "at": record_time(verdict, "at")}
        review["comments"] = [
            {**c, "created_at": record_time(c, "created_at")} for c in review.get("comments", [])
        ]
        message_ids = {old: new for old, new in zip(old_ids, new_ids, strict=False) if new}
        review_service.import_review(session_id, review, message_ids)

    def _remember(
        self, store: MessageStore, files: Sequence[tuple[FilePlan, FileContents]]
    ) -> None:
        """Record how far each transcript of a batch was read, and its sessions
        (with those an earlier import recorded): one read and one upsert."""
        if not files:
            return
        with store.write() as conn:
            keys = [plan.key for plan, _contents in files]
            query = select(files_t.c.path, files_t.c.sessions).where(files_t.c.path.in_(keys))
            before = {path: sessions for path, sessions in conn.execute(query)}
            rows = [
                {
                    "path": plan.key,
                    "size": plan.size,
                    "end_offset": contents.end_offset,
                    "mtime": plan.mtime,
                    "sessions": sorted(
                        set(before.get(plan.key) or []) | {i.session.id for i in contents.sessions}
                    ),
                    "imported_at": self.now,
                }
                for plan, contents in files
            ]
            _upsert(conn, files_t, rows, "path")

    def _link(self) -> None:
        """Link children to parents stored by now: this run's, and earlier runs'
        children that waited for a parent (``context["parent_session_id"]``)."""
        link_sessions(self._link_stubs + self._children)
        with self.store.write():
            for child in self._children:
                if child.parent_tool_use_id is None:
                    continue
                tool_use = {"parent_tool_use_id": child.parent_tool_use_id}
                self.store.add_context(child.id, tool_use, replace=True)
                described: dict[str, Any] = {
                    k: child.context[k] for k in ("agent_type", "description") if k in child.context
                }
                self.store.add_context(child.id, described, replace=False)
            pending = {**self.store.waiting_for_parent(), **self._parents}
            self.store.link_parents(pending)


def _fields(s: Session) -> tuple[Any, ...]:
    """A session's stored fields, to tell whether an import changed them."""
    return (
        s.status,
        s.request,
        s.response,
        s.error,
        s.created_at,
        s.last_activity,
        s.expires_at,
        s.context,
        s.keep,
        s.parent_id,
    )
