"""The importer: Claude Code transcripts and Sessionboard exports, through the domain.

One run is two steps. :meth:`Importer.plan` finds the files and where to start
in each (a transcript read before resumes at its recorded end offset; an
unchanged one is left out). :meth:`Importer.check_retention` counts what the
next sweep would purge of the import; the caller stops there unless the user
chose to keep those sessions or to accept it. :meth:`Importer.run` then writes
file by file (memory is one file's sessions): session fields with
``MessageStore.upsert_session``, messages with ``MessageStore.append_messages``
(a message whose ``source_key`` is stored already is skipped, so importing
again adds nothing), and the meta a new line completes into stored messages.

Subagent sessions whose parent is not stored yet keep the parent's id in
``context["parent_session_id"]``; ``parent_id`` is set as soon as the parent is
imported, in this run or a later one.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from webapp.claude.transcript import (
    ParsedMessage,
    ParsedSession,
    ParseStats,
    iter_transcript_files,
    link_sessions,
    parse_file,
)
from webapp.review.models import Comment, Tag, Verdict
from webapp.sessions import Manager, Message, MessageStore, Session, Status
from webapp.sessions.store import messages_t, sessions_t
from webapp.transfer.export import EXPORT_MARKER, parse_time
from webapp.transfer.models import ImportedFile

log = logging.getLogger(__name__)

files_t = cast(Table, ImportedFile.__table__)
verdicts_t = cast(Table, Verdict.__table__)
comments_t = cast(Table, Comment.__table__)
tags_t = cast(Table, Tag.__table__)

#: Messages per append transaction: bounds a transaction's size on huge sessions.
APPEND_BATCH = 1000
#: Ids per ``IN (...)`` list.
ID_BATCH = 500


@dataclass
class FilePlan:
    """One file to read: a transcript from ``start_offset``, or an export."""

    path: Path
    kind: str  # "transcript" or "export"
    start_offset: int = 0
    size: int = 0
    mtime: float = 0.0

    @property
    def key(self) -> str:
        """The file's identity in ``imported_files``: its resolved path."""
        return str(self.path.resolve())

    @property
    def todo(self) -> int:
        """Bytes left to read (the progress bar's unit)."""
        return max(self.size - self.start_offset, 0)


@dataclass
class RetentionCheck:
    """How much of an import the next sweep would purge (messages older than the
    retention window, in sessions nobody kept)."""

    messages: int = 0
    sessions: int = 0
    cutoff: datetime | None = None


@dataclass
class ImportSummary:
    """What a run did."""

    files: int = 0
    unchanged_files: int = 0
    sessions_new: int = 0
    sessions_updated: int = 0
    messages_added: int = 0
    stats: ParseStats = field(default_factory=ParseStats)

    def describe(self) -> list[str]:
        """The summary a person reads: one fact a line."""
        lines = [
            f"files: {self.files} read, {self.unchanged_files} unchanged since the last import",
            f"sessions: {self.sessions_new} new, {self.sessions_updated} updated",
            f"messages added: {self.messages_added}",
        ]
        skipped = self.stats.lines_skipped
        if skipped:
            why = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items()))
            lines.append(f"lines skipped: {sum(skipped.values())} ({why})")
        else:
            lines.append("lines skipped: 0")
        for label, paths in (
            ("empty files (skipped)", self.stats.empty_files),
            ("unreadable files", self.stats.unreadable_files),
            ("files read again from the start (shorter than before)", self.stats.offset_resets),
        ):
            if paths:
                lines.append(f"{label}: {len(paths)}: " + ", ".join(paths))
        return lines


def is_export_file(path: Path) -> bool:
    """Whether ``path`` is a Sessionboard JSON export (by its first bytes)."""
    try:
        with path.open("rb") as f:
            head = f.read(64).lstrip()
    except OSError:
        return False
    return head.startswith(b'{"' + EXPORT_MARKER.encode() + b'"')


def iter_export_sessions(path: Path) -> Iterator[dict[str, Any]]:
    """The session records of an export, one at a time.

    ``sessionboard export`` writes one session a line between a header line and
    a closing line, so the file is read a line at a time; a file laid out
    otherwise (re-indented by a tool) is read whole."""
    with path.open(encoding="utf-8") as f:
        header = f.readline()
        if header.rstrip().endswith('"sessions": ['):
            for line in f:
                text = line.strip().removesuffix(",")
                if text and text != "]}":
                    yield json.loads(text)
            return
    document = json.loads(path.read_text(encoding="utf-8"))
    yield from document.get("sessions", [])


def merge_message_meta(
    store: MessageStore, session_id: str, updates: dict[str, dict[str, Any]]
) -> int:
    """Merge keys into the ``meta`` of stored messages, by ``source_key``, in one
    transaction (their usage restated in the ledger); return how many changed."""
    if not updates:
        return 0
    m = messages_t.c
    changed = 0
    with store.write() as conn:
        keys = list(updates)
        for start in range(0, len(keys), ID_BATCH):
            rows = conn.execute(
                select(m.id, m.meta, m.source_key, m.timestamp).where(
                    m.session_id == session_id, m.source_key.in_(keys[start : start + ID_BATCH])
                )
            ).all()
            for row in rows:
                meta = dict(row.meta or {})
                meta.update(updates[row.source_key])
                conn.execute(update(messages_t).where(m.id == row.id).values(meta=meta))
                store.restate_usage(conn, session_id, row.source_key, row.timestamp, meta)
                changed += 1
    return changed


def _upsert(conn: Connection, table: Table, values: dict[str, Any], key: str) -> None:
    stmt: Any = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    stmt = stmt.values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c[key]],
            set_={k: stmt.excluded[k] for k in values if k != key},
        )
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _message(m: ParsedMessage) -> Message:
    return Message(**m.as_message_kwargs(), source_key=m.source_key)


def _record_message(record: dict[str, Any]) -> Message:
    return Message(
        role=record["role"],
        content=record["content"],
        summary=record.get("summary") or "",
        timestamp=parse_time(record.get("timestamp")),
        meta=record.get("meta"),
        source_key=record.get("source_key"),
    )


class Importer:
    """Imports files into ``manager``'s store. ``keep`` marks every imported
    session kept (exempt from retention purging)."""

    def __init__(self, manager: Manager, *, keep: bool = False, remember: bool = True) -> None:
        self.manager = manager
        self.store = manager.store
        self.keep = keep
        #: Record how far each file was read (off for uploads in a temporary folder).
        self.remember = remember
        self.now = manager.clock()
        self._parents: dict[str, str] = {}  # child id -> parent id, linked at the end
        self._link_stubs: list[ParsedSession] = []  # parents' calls of subagents
        self._children: list[ParsedSession] = []  # subagent sessions, without messages
        self.unchanged_files = 0
        # what the last transcript parse read (set while its sessions are iterated)
        self._stats = ParseStats()
        self._end_offset = 0

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

    # -- reading ------------------------------------------------------------------------

    def _sessions_of(self, plan: FilePlan) -> Iterator[tuple[Session, list[Message], Any]]:
        """The sessions of a file as (session fields, new messages, source): the
        source is the ParsedSession of a transcript or the record of an export."""
        if plan.kind == "export":
            for record in iter_export_sessions(plan.path):
                session = Session(
                    id=record["id"],
                    status=Status(record["status"]),
                    request=record.get("request") or "",
                    response=record.get("response") or "",
                    error=record.get("error") or "",
                    created_at=_time(record["created_at"]),
                    last_activity=_time(record["last_activity"]),
                    expires_at=parse_time(record.get("expires_at")),
                    context=record.get("context") or {},
                    keep=bool(record.get("keep")),
                    parent_id=record.get("parent_id"),
                )
                messages = [_record_message(m) for m in record.get("messages", [])]
                yield session, messages, record
            return
        result = parse_file(plan.path, plan.start_offset)
        self._stats = result.stats
        self._end_offset = result.end_offset
        fallback = datetime.fromtimestamp(plan.mtime, UTC)
        # parents before children, so that a child finds its parent stored
        for parsed in sorted(result.sessions, key=lambda s: s.parent_id is not None):
            created = parsed.created_at or fallback
            context = dict(parsed.context)
            if parsed.parent_id is not None:
                context["parent_session_id"] = parsed.parent_id
            if parsed.parent_tool_use_id is not None:
                context["parent_tool_use_id"] = parsed.parent_tool_use_id
            session = Session(
                id=parsed.id,
                status=Status(parsed.status),
                request=parsed.request or "",
                response=parsed.response or "",
                error=parsed.error or "",
                created_at=created,
                last_activity=parsed.last_activity or created,
                expires_at=parsed.last_activity or created,
                context=context,
                parent_id=parsed.parent_id,
            )
            yield session, [_message(m) for m in parsed.messages], parsed

    # -- the retention question ---------------------------------------------------

    def check_retention(
        self, plans: Sequence[FilePlan], progress: Callable[[int], None] | None = None
    ) -> RetentionCheck:
        """Count the messages of the import that are older than the retention
        window and not stored yet, in sessions not kept (nothing is written)."""
        retention = self.manager.config.message_retention
        check = RetentionCheck()
        if self.keep or retention.total_seconds() <= 0:
            return check
        check.cutoff = self.now - retention
        for plan in plans:
            for session, messages, _source in self._sessions_of(plan):
                old = [
                    m for m in messages if m.timestamp is not None and m.timestamp < check.cutoff
                ]
                if not old:
                    continue
                stored = self.store.get_session(session.id)
                if stored is not None and stored.keep:
                    continue
                if stored is not None:
                    old = self._unstored(session.id, old)
                if old:
                    check.messages += len(old)
                    check.sessions += 1
            if progress is not None:
                progress(plan.todo)
        return check

    def _unstored(self, session_id: str, messages: list[Message]) -> list[Message]:
        keys = [m.source_key for m in messages if m.source_key is not None]
        stored: set[str] = set()
        m = messages_t.c
        with self.store.read() as conn:
            for chunk in _chunks(keys, ID_BATCH):
                stored.update(
                    conn.execute(
                        select(m.source_key).where(
                            m.session_id == session_id, m.source_key.in_(chunk)
                        )
                    ).scalars()
                )
        return [msg for msg in messages if msg.source_key not in stored]

    # -- writing ----------------------------------------------------------------------

    def run(
        self, plans: Sequence[FilePlan], progress: Callable[[int], None] | None = None
    ) -> ImportSummary:
        """Import the planned files; ``progress(n)`` after each file with its bytes."""
        summary = ImportSummary(unchanged_files=self.unchanged_files)
        for plan in plans:
            ids: list[str] = []
            self._stats = ParseStats(files=1)
            self._end_offset = plan.size
            for session, messages, source in self._sessions_of(plan):
                self._store_session(session, messages, source, summary)
                ids.append(session.id)
            summary.files += 1
            summary.stats.merge(self._stats)
            if self.remember and plan.kind == "transcript":
                self._remember(plan, ids)
            if progress is not None:
                progress(plan.todo)
        self._link()
        return summary

    def _store_session(
        self, session: Session, messages: list[Message], source: Any, summary: ImportSummary
    ) -> None:
        stored = self.store.get_session(session.id)
        exported = isinstance(source, dict)
        if stored is not None:
            # what a person or the live hook decided stays: keep, expiry, a closed status
            session.keep = session.keep or stored.keep
            session.expires_at = stored.expires_at
            if stored.is_terminal:
                session.status = stored.status
            if not exported:
                session.context = {**stored.context, **session.context}
            if stored.parent_id is not None:
                session.parent_id = stored.parent_id
        session.keep = session.keep or self.keep
        parent_id = session.parent_id
        if parent_id is not None and (stored is None or stored.parent_id is None):
            session.parent_id = None
            self._parents[session.id] = parent_id
        self.store.upsert_session(session)
        if stored is None:
            summary.sessions_new += 1
        else:
            summary.sessions_updated += 1
        if exported and stored is not None:
            # an export's messages without source_key cannot be told apart: only once
            messages = [m for m in messages if m.source_key is not None]
        for batch in _chunks(messages, APPEND_BATCH):
            outcome = self.store.append_messages(
                session.id, batch, now=session.last_activity, require_open=False
            )
            summary.messages_added += outcome.appended
        if exported:
            if stored is None:
                self._store_review(session.id, source)
            return
        parsed = cast(ParsedSession, source)
        merge_message_meta(self.store, session.id, parsed.meta_updates)
        self._link_stubs.append(
            ParsedSession(
                id=parsed.id,
                messages=[m for m in parsed.messages if "child_session_id" in m.meta],
            )
        )
        if parsed.parent_id is not None:
            parsed.messages = []
            self._children.append(parsed)

    def _store_review(self, session_id: str, record: dict[str, Any]) -> None:
        """The review data of an exported session, onto its new messages."""
        review = record.get("review") or {}
        old_ids = [m.get("id") for m in record.get("messages", [])]
        new_ids = [m.id for m in self.store.get_messages(session_id)]
        message_ids = dict(zip(old_ids, new_ids, strict=False))
        with self.store.write() as conn:
            verdict = review.get("verdict")
            if verdict:
                conn.execute(
                    insert(verdicts_t).values(
                        session_id=session_id,
                        verdict=verdict["verdict"],
                        by=verdict["by"],
                        at=_time(verdict["at"]),
                        reason=verdict.get("reason") or "",
                    )
                )
            for name in review.get("tags", []):
                conn.execute(insert(tags_t).values(session_id=session_id, name=name))
            for comment in review.get("comments", []):
                conn.execute(
                    insert(comments_t).values(
                        session_id=session_id,
                        message_id=message_ids.get(comment.get("message_id")),
                        author=comment["author"],
                        created_at=_time(comment["created_at"]),
                        body=comment["body"],
                    )
                )

    def _remember(self, plan: FilePlan, ids: list[str]) -> None:
        with self.store.write() as conn:
            before = conn.execute(
                select(files_t.c.sessions).where(files_t.c.path == plan.key)
            ).scalar()
            sessions = sorted(set(before or []) | set(ids))
            _upsert(
                conn,
                files_t,
                {
                    "path": plan.key,
                    "size": plan.size,
                    "end_offset": self._end_offset,
                    "mtime": plan.mtime,
                    "sessions": sessions,
                    "imported_at": self.now,
                },
                "path",
            )

    def _link(self) -> None:
        """Link children to parents stored by now: this run's, and earlier runs'
        children that waited for a parent (``context["parent_session_id"]``)."""
        link_sessions(self._link_stubs + self._children)
        c = sessions_t.c
        with self.store.write() as conn:
            for child in self._children:
                if child.parent_tool_use_id is None:
                    continue
                row = conn.execute(select(c.context).where(c.id == child.id)).first()
                if row is None:
                    continue
                context = {**row.context, "parent_tool_use_id": child.parent_tool_use_id}
                for key in ("agent_type", "description"):
                    if key in child.context:
                        context.setdefault(key, child.context[key])
                if context != row.context:
                    conn.execute(update(sessions_t).where(c.id == child.id).values(context=context))
            waiting = conn.execute(
                select(c.id, c.context["parent_session_id"].as_string()).where(
                    c.parent_id.is_(None), c.context["parent_session_id"].as_string().is_not(None)
                )
            ).all()
            pending = dict(self._parents)
            pending.update({cid: pid for cid, pid in waiting if cid not in pending})
            for chunk in _chunks(sorted(set(pending.values())), ID_BATCH):
                found = set(conn.execute(select(c.id).where(c.id.in_(chunk))).scalars())
                for child_id, parent_id in pending.items():
                    if parent_id in found:
                        conn.execute(
                            update(sessions_t)
                            .where(and_(c.id == child_id, c.parent_id.is_(None)))
                            .values(parent_id=parent_id)
                        )


def retention_facts(check: RetentionCheck, retention: timedelta) -> str:
    """What the next sweep would purge of an import, in a sentence."""
    return (
        f"{check.messages} imported message(s) in {check.sessions} session(s) are older than "
        f"the retention window ({str(retention).removesuffix(', 0:00:00')}): "
        "the next sweep would purge them."
    )


def _time(value: str) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError(f"a timestamp is missing: {value!r}")
    return parsed
