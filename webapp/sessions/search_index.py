"""The search index: one row per searchable text, kept in step by the database.

Every text a reviewer looks for is a *search document* (``search_docs``): a
message (its content, after the tool's name for a tool call), a session's
request, response and error, and a review comment. The database keeps the
documents in step with every write, in the writing transaction itself:

- triggers on ``messages`` and ``sessions`` add, change and remove documents on
  every insert and update, whichever code path writes (appends, batch appends,
  imports, the demo's bulk load), and a deleted message or session takes its
  documents with it (delete, clear, purge; SQLite: foreign keys with ``ON
  DELETE CASCADE``; PostgreSQL: statement triggers, :data:`_PG_CASCADES`): the
  index never holds a purged message. On SQLite a new message's document is written
  by its transaction just before it commits, in one statement for all its
  messages (:func:`keep_fts_current`'s commit hook), not by a row trigger;
- a writer's document of a message holds no copy of its text: the background
  pass writes it as it adds the document to the index, and a search reads a
  waiting one's text from its message (:func:`document_text`);
- a comment belongs to the review feature, whose tables the domain does not
  know: the feature calls :func:`index_comment` in its own transaction.

SQLite matches with an FTS5 table with the ``trigram`` tokenizer (SQLite 3.34+)
whose external content is ``search_docs``, with ``detail='none'``: it keeps which
texts hold each trigram, not where, so it takes a quarter of the space and of the
write time of ``detail='full'``; it answers ``LIKE '%term%'``, whose candidates
SQLite checks against the text. FTS5 holds the documents up to a watermark
(``search_fts_state``), and a search scans the documents above it with ``LIKE``,
so it is exact whether or not they are added yet: FTS5's own "pending list", as
PostgreSQL's GIN ``fastupdate`` has one. A background pass adds them
(``webapp.search_flush``, one process at a time under a lease), off the append
path; a writer that commits with more than :data:`FTS_TAIL_LIMIT` documents
above the watermark adds them itself, in one statement just before it commits
(:func:`keep_fts_current`), so a search never scans more than that.
PostgreSQL matches with a ``pg_trgm`` GIN index on ``search_docs.body`` that
answers ``ILIKE '%term%'``, its first column the text's block of ids
(:data:`TRGM_BLOCK`, ``btree_gin``) so that a search asks it for a few blocks'
matches at a time, partial over the texts the same pass moved in: a new
text waits outside it (``unindexed``) and a search checks the waiting ones, so
an append pays no trigram extraction (:func:`_pg_tail_statements`).

Document ids grow with every write, so the newest documents have the highest
ids: results come newest first by id, and a page goes on below the last id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Select,
    String,
    Table,
    Text,
    TextClause,
    bindparam,
    delete,
    event,
    insert,
    inspect,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import AddConstraint

from .models import Base, BigId

log = logging.getLogger(__name__)

#: Rows read and indexed per statement when an existing database is filled.
FILL_BATCH = 5000
#: Documents given their status per statement when the status table is filled:
#: each statement reads the sessions (PostgreSQL hashes the whole table).
STATUS_FILL_BATCH = 100_000
#: The FTS5 table (SQLite) over ``search_docs.body``.
FTS_TABLE = "search_index"
#: One row: the highest document id FTS5 holds; documents above it are scanned.
FTS_STATE = "search_fts_state"
#: Most documents a committing writer leaves above the watermark (the setting
#: ``SEARCH_TAIL_LIMIT``): past it, the writer adds them all to FTS5 before it
#: commits. Bounds what a search scans without FTS5 (at 2,000 texts about 3 ms
#: on a quiet machine, 66 ms under a load of 15: docs/search.md, round 4).
FTS_TAIL_LIMIT = 2000
#: Documents the background pass adds to FTS5 per transaction (bounds how long
#: it holds SQLite's write lock: about 30 ms of CPU by round 4's ablation).
FTS_FLUSH_BATCH = 1000

#: The index of the comments' documents, and the rows it holds.
_COMMENT_INDEX = "ix_search_docs_comment"
_COMMENT_ROWS = "comment_id IS NOT NULL"

#: Called with (rows done, rows in all) while the index is filled.
Progress = Callable[[int, int], None]


class SearchDoc(Base):
    """One searchable text: a message, a session's request, response or error, or
    a review comment. ``source`` says which; ``message_id`` or ``comment_id`` names
    the row it came from."""

    __tablename__ = "search_docs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE")
    )
    message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="CASCADE")
    )
    #: The review feature's comment id (no foreign key: the domain does not know
    #: that table; the feature removes its documents itself).
    comment_id: Mapped[int | None] = mapped_column(BigInteger)
    #: ``message``, ``request``, ``response``, ``error`` or ``comment``.
    source: Mapped[str] = mapped_column(String(16))
    role: Mapped[str | None] = mapped_column(Text)
    #: The message's ``meta["kind"]`` (tool_use, tool_result, thinking, ...), or the source.
    kind: Mapped[str | None] = mapped_column(Text)
    #: The tool's name of a tool call (``meta["tool_name"]``).
    tool: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
    body: Mapped[str] = mapped_column(Text)
    #: PostgreSQL: true while the text is not in the trigram index yet (a
    #: writer's new text, until the background pass moves it in), NULL once it
    #: is: the GIN index holds the rows where it is NULL only, so a writer pays
    #: no trigram extraction. Always NULL on SQLite (FTS5 has its watermark).
    unindexed: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (
        Index("uq_search_docs_message", "message_id", unique=True),
        Index("ix_search_docs_session", "session_id", "id"),
        # Partial: a message's document (comment_id NULL) skips it, a tenth of
        # a batch append's time on SQLite (round 5's ablation).
        Index(
            _COMMENT_INDEX,
            "comment_id",
            sqlite_where=text(_COMMENT_ROWS),
            postgresql_where=text(_COMMENT_ROWS),
        ),
        # Ids are never reused: FTS5 holds the ids up to a watermark.
        {"sqlite_autoincrement": True},
    )


search_docs_t = cast(Table, SearchDoc.__table__)


class SearchDocStatus(Base):
    """The status of a document's session, beside the document: what lets a search
    with a status filter walk the newest documents *of those sessions* (the index
    on (status, doc_id)) instead of every document, checking each one's session.

    A table of its own, not a column of ``search_docs``: a session's status
    changes once or twice in its life, and each change rewrites a narrow row per
    document here, where on ``search_docs`` it would rewrite the text too (and on
    PostgreSQL enter it into the trigram index again). A new document takes its
    session's status when it goes into the index (:func:`flush_fts`, FTS5 or
    the trigram index; a bulk load's, which goes in at once, from a statement
    trigger on PostgreSQL), a session's new status goes to all its documents (a
    trigger; an upsert on PostgreSQL), and a document's row goes with it. The
    sweep's expiry moves its slice's documents itself, one statement a slice,
    while the per-session trigger stands aside (:func:`move_doc_statuses`)."""

    __tablename__ = "search_doc_status"

    doc_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("search_docs.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16))

    __table_args__ = (Index("ix_search_doc_status_status", "status", "doc_id"),)


search_doc_status_t = cast(Table, SearchDocStatus.__table__)

#: What the status triggers are called (SQLite triggers, PostgreSQL functions too).
_STATUS_DOC_TRIGGER = "search_docs_status_ai"
_STATUS_SESSION_TRIGGER = "search_sessions_status_au"
#: A document's status row, from its session (``{docs}``: the new documents).
_STATUS_FILL = (
    "INSERT INTO search_doc_status (doc_id, status) SELECT d.id, s.status "
    "FROM {docs} AS d JOIN sessions AS s ON s.id = d.session_id"
)

#: The status rows of the documents with ids in (``:upto``, ``:top``] that have
#: none. ON CONFLICT, not NOT EXISTS: PostgreSQL read the anti-join by a merge
#: over the whole status index from its start, once per batch (quadratic: 3 s a
#: batch at 300,000 sessions).
_STATUS_FILL_RANGE = (
    _STATUS_FILL.format(docs="search_docs")  # noqa: S608
    + " WHERE d.id > :upto AND d.id <= :top ON CONFLICT (doc_id) DO NOTHING"
)

#: A session's own fields as documents: (source, role, the column its time comes from).
SESSION_FIELDS = (
    ("request", "user", "created_at"),
    ("response", "assistant", "last_activity"),
    ("error", "system", "last_activity"),
)
SOURCES = ("message", *(f for f, _r, _a in SESSION_FIELDS), "comment")

# -- SQLite: FTS5 over search_docs, triggers on messages and sessions ----------------

_SQLITE_TOOL = "json_extract({row}.meta, '$.tool_name')"
#: A message's searchable text (``{row}``: a ``messages`` row): a tool call's
#: starts with the tool's name.
_SQLITE_MESSAGE_TEXT = (
    "CASE WHEN json_type({row}.meta, '$.tool_name') = 'text' "
    "THEN " + _SQLITE_TOOL + " || char(10) || {row}.content ELSE {row}.content END"
)
#: A message's document as a writer adds it: without a copy of its text (an
#: empty ``body``), which the background pass writes when it moves the document
#: into the index (:func:`flush_fts`); until then a search reads the text from
#: the message (:func:`document_text`). The copy was most of what a document
#: cost a batch append (docs/search.md, round 6).
_SQLITE_MESSAGE_DOC_FIELDS = (
    "SELECT {row}.session_id, {row}.id, 'message', {row}.role, "
    "json_extract({row}.meta, '$.kind'), " + _SQLITE_TOOL + ", {row}.timestamp, "
)
_SQLITE_MESSAGE_DOC = _SQLITE_MESSAGE_DOC_FIELDS + "''"
#: The same with its text (the index's fill, which indexes at once).
_SQLITE_COPY_DOC = _SQLITE_MESSAGE_DOC_FIELDS + _SQLITE_MESSAGE_TEXT
#: A document's text (``{doc}``: a ``search_docs`` row, ``{text}``: the
#: dialect's text of a message ``t``): its ``body``, or for a message's
#: document that has none yet its message's text.
_DOC_TEXT = (
    "CASE WHEN {doc}.body = '' AND {doc}.message_id IS NOT NULL THEN (SELECT {text} "
    "FROM messages AS t WHERE t.id = {doc}.message_id) ELSE {doc}.body END"
)
_DOC_COLUMNS = "(session_id, message_id, source, role, kind, tool, at, body)"


def _session_docs(changed: str | None, rows: str = "") -> str:
    """Trigger statements that (re)write a session's request, response and error
    documents from ``NEW`` (``n`` in ``rows``, a FROM clause, on PostgreSQL).

    ``changed`` is the engine's "differs" operator (``IS NOT``, ``IS DISTINCT
    FROM``) for an update, which rewrites only the fields that changed; None for
    an insert."""
    row = "n" if rows else "NEW"
    statements = []
    for source, role, at in SESSION_FIELDS:
        differs = f"OLD.{source} {changed} NEW.{source}" if changed else ""
        if differs:
            statements.append(
                f"DELETE FROM search_docs WHERE session_id = NEW.id AND source = '{source}'"  # noqa: S608
                f" AND {differs};"
            )
        statements.append(
            f"INSERT INTO search_docs {_DOC_COLUMNS} SELECT {row}.id, NULL, '{source}', "  # noqa: S608
            f"'{role}', '{source}', NULL, {row}.{at}, {row}.{source} {rows}"
            f"WHERE {row}.{source} <> ''{' AND ' + differs if differs else ''};"
        )
    return " ".join(statements)


#: SQLite: the documents of the messages written since the last commit, which
#: the committing transaction writes itself, in one statement, just before it
#: commits (:func:`keep_fts_current`): where a row trigger per message cost
#: twice as much a message (docs/search.md, round 6). Every message above the
#: highest one with a document: a new message's id is above every stored one's
#: (SQLite gives the highest id plus one, and a deleted message's document goes
#: with it), so these are exactly the messages without one.
_SQLITE_NEW_MESSAGES = (
    "FROM messages AS m WHERE m.id > (SELECT coalesce(max(message_id), 0) FROM search_docs) "
    "ORDER BY m.id"
)
_SQLITE_NEW_MESSAGE_DOCS = (
    f"INSERT INTO search_docs {_DOC_COLUMNS} {_SQLITE_MESSAGE_DOC.format(row='m')} "  # noqa: S608
    + _SQLITE_NEW_MESSAGES
)
_SQLITE_NEW_MESSAGE_COPIES = (
    f"INSERT INTO search_docs {_DOC_COLUMNS} {_SQLITE_COPY_DOC.format(row='m')} "  # noqa: S608
    + _SQLITE_NEW_MESSAGES
)

#: A changed message's document: rewritten when it has one (one written in the
#: same transaction and not yet committed gets its document, as changed, at the
#: commit; rewriting it here would raise the highest message with a document
#: over the others of that transaction).
_SQLITE_MESSAGE_UPDATE = (
    "CREATE TRIGGER IF NOT EXISTS search_messages_au "  # noqa: S608
    "AFTER UPDATE OF content, meta, role ON messages{when} BEGIN "
    "DELETE FROM search_docs WHERE message_id = OLD.id; "
    "INSERT INTO search_docs " + _DOC_COLUMNS + " {doc}; END"
)
_SQLITE_MESSAGE_UPDATED = _SQLITE_MESSAGE_UPDATE.format(
    when=" WHEN EXISTS (SELECT 1 FROM search_docs WHERE message_id = OLD.id)",
    doc=_SQLITE_MESSAGE_DOC.format(row="NEW"),
)


def _sqlite_statements() -> list[str]:
    fields = ", ".join(f for f, _r, _a in SESSION_FIELDS)
    changed = " OR ".join(f"OLD.{f} IS NOT NEW.{f}" for f, _r, _a in SESSION_FIELDS)
    return [
        # A document leaves FTS5 with its row, in the same statement: FTS5 reads
        # the text of every candidate row, so it must never hold a deleted one.
        "CREATE TRIGGER IF NOT EXISTS search_docs_ad AFTER DELETE ON search_docs "  # noqa: S608
        f"WHEN OLD.id <= (SELECT indexed_upto FROM {FTS_STATE}) BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) VALUES ('delete', OLD.id, OLD.body); "
        "END",
        _SQLITE_MESSAGE_UPDATED,
        "CREATE TRIGGER IF NOT EXISTS search_sessions_ai AFTER INSERT ON sessions BEGIN "
        + _session_docs(None)
        + " END",
        f"CREATE TRIGGER IF NOT EXISTS search_sessions_au AFTER UPDATE OF {fields} ON sessions "
        f"WHEN {changed} BEGIN " + _session_docs("IS NOT") + " END",
        *_sqlite_status_statements(),
    ]


def _sqlite_status_statements() -> list[str]:
    """The trigger that keeps ``search_doc_status`` (see :class:`SearchDocStatus`)
    as sessions change status. A new document gets its row when it goes into
    FTS5 (:func:`flush_fts`, the background pass or a writer past the bound),
    not from a trigger of its own: that trigger was a sixth of a batch append's
    time (round 5's ablation). Above the watermark a search reads the status
    from the session (``search.py``), at most ``SEARCH_TAIL_LIMIT`` texts.

    The trigger stands aside while the sweep's expiry has the rollups'
    pause flag set (``rollup_pause``, migration 0014, set and cleared inside the
    sweep's own write): that write moves its sessions' documents itself, in one
    statement (:func:`move_doc_statuses`), two to ten times cheaper than a
    trigger run a session. (A database made at head gets this trigger at 0007,
    before 0014 makes the flag's table: no migration between them changes a
    status.)"""
    return [
        f"CREATE TRIGGER IF NOT EXISTS {_STATUS_SESSION_TRIGGER} AFTER UPDATE OF status "  # noqa: S608
        "ON sessions WHEN OLD.status IS NOT NEW.status "
        "AND (SELECT paused FROM rollup_pause WHERE id = 1) IS NOT 1 BEGIN "
        "UPDATE search_doc_status SET status = NEW.status WHERE doc_id IN "
        "(SELECT id FROM search_docs WHERE session_id = NEW.id); END",
    ]


#: The trigger that gave each new document its status row before round 5
#: (migration 0018's downgrade puts it back).
_SQLITE_DOC_STATUS_TRIGGER = (
    f"CREATE TRIGGER IF NOT EXISTS {_STATUS_DOC_TRIGGER} AFTER INSERT ON search_docs BEGIN "  # noqa: S608
    "INSERT INTO search_doc_status (doc_id, status) "
    "SELECT NEW.id, status FROM sessions WHERE id = NEW.session_id; END"
)

#: SQLite: the texts of the documents with ids in (``:upto``, ``:top``] that
#: have none yet (the pass, before it adds them to FTS5).
_SQLITE_WRITE_TEXTS = (
    "UPDATE search_docs SET body = "  # noqa: S608
    + _DOC_TEXT.format(doc="search_docs", text=_SQLITE_MESSAGE_TEXT.format(row="t"))
    + " WHERE id > :upto AND id <= :top AND body = '' AND message_id IS NOT NULL"
)
_SQLITE_FTS = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "body, content='search_docs', content_rowid='id', tokenize='trigram', detail='none')",
    f"CREATE TABLE IF NOT EXISTS {FTS_STATE} ("
    "id INTEGER PRIMARY KEY CHECK (id = 1), indexed_upto INTEGER NOT NULL)",
    f"INSERT OR IGNORE INTO {FTS_STATE} (id, indexed_upto) VALUES (1, 0)",  # noqa: S608
]
#: How many documents FTS5 may not hold yet: ids above the watermark (ids of
#: deleted documents count too, so it never says fewer than there are).
_SQLITE_TAIL = (
    f"SELECT coalesce((SELECT max(id) FROM search_docs), 0) - indexed_upto FROM {FTS_STATE}"  # noqa: S608
)
#: The row trigger that wrote each new message's document with its text before
#: round 6 (migration 0019's downgrade puts it back, and the update trigger
#: without its condition).
_SQLITE_MESSAGE_TRIGGER = "search_messages_ai"
_SQLITE_COPIES = [
    f"CREATE TRIGGER {_SQLITE_MESSAGE_TRIGGER} AFTER INSERT ON messages BEGIN "  # noqa: S608
    f"INSERT INTO search_docs {_DOC_COLUMNS} {_SQLITE_COPY_DOC.format(row='NEW')}; END",
    _SQLITE_MESSAGE_UPDATE.format(when="", doc=_SQLITE_COPY_DOC.format(row="NEW")),
]
#: How many messages have no document yet (those above the highest one with a
#: document), and :data:`_SQLITE_TAIL`, in one statement (every commit asks it).
_SQLITE_PENDING = (
    "SELECT coalesce((SELECT max(id) FROM messages), 0) "  # noqa: S608
    "- coalesce((SELECT max(message_id) FROM search_docs), 0), "
    f"coalesce((SELECT max(id) FROM search_docs), 0) - indexed_upto FROM {FTS_STATE}"
)
_SQLITE_STATUS_DROPS = [
    f"DROP TRIGGER IF EXISTS {_STATUS_SESSION_TRIGGER}",
    f"DROP TRIGGER IF EXISTS {_STATUS_DOC_TRIGGER}",
]
_SQLITE_DROPS = [
    *_SQLITE_STATUS_DROPS,
    "DROP TRIGGER IF EXISTS search_sessions_au",
    "DROP TRIGGER IF EXISTS search_sessions_ai",
    "DROP TRIGGER IF EXISTS search_messages_au",
    f"DROP TRIGGER IF EXISTS {_SQLITE_MESSAGE_TRIGGER}",
    "DROP TRIGGER IF EXISTS search_docs_ad",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
    f"DROP TABLE IF EXISTS {FTS_STATE}",
]

# -- PostgreSQL: pg_trgm GIN on search_docs.body, trigger functions -------------------

_PG_META = (
    "CASE WHEN jsonb_typeof({row}.meta -> '{key}') = 'string' THEN {row}.meta ->> '{key}' END"
)
_PG_MESSAGE_TEXT = (
    "CASE WHEN jsonb_typeof({row}.meta -> 'tool_name') = 'string' "
    "THEN ({row}.meta ->> 'tool_name') || E'\\n' || {row}.content ELSE {row}.content END"
)
_PG_MESSAGE_DOC_FIELDS = (
    "SELECT {row}.session_id, {row}.id, 'message', {row}.role, "
    + _PG_META.replace("{key}", "kind")
    + ", "
    + _PG_META.replace("{key}", "tool_name")
    + ", {row}.timestamp, "
)
_PG_MESSAGE_DOC = _PG_MESSAGE_DOC_FIELDS + _PG_MESSAGE_TEXT


def _pg_function(name: str, body: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {body} RETURN NULL; END $$"
    )


def _pg_messages_inserted(*, waiting: bool, copied: bool = False) -> str:
    """The function of the trigger that adds new messages' documents: ``waiting``,
    outside the trigram index (round 5) and without a copy of their texts (round
    6; ``copied``: with it, as before), but for a statement of more messages than
    a writer may leave waiting (a bulk load), which would move them all in before
    it commits: straight in with their texts, then."""
    text_ = _PG_MESSAGE_TEXT.format(row="n")
    if not waiting:
        insert = f"INSERT INTO search_docs {_DOC_COLUMNS} {_PG_MESSAGE_DOC_FIELDS}{text_}"
    else:
        bulk = f"(SELECT count(*) FROM new_messages) > {FTS_TAIL_LIMIT}"  # noqa: S608
        if not copied:
            text_ = f"CASE WHEN {bulk} THEN {text_} ELSE '' END"
        insert = (
            f"INSERT INTO search_docs {_PG_DOC_COLUMNS} "  # noqa: S608
            f"{_PG_MESSAGE_DOC_FIELDS}{text_}, CASE WHEN {bulk} THEN NULL ELSE true END"
        )
    return _pg_function(
        "search_messages_inserted", f"{insert.format(row='n')} FROM new_messages AS n;"
    )


def _pg_statements() -> list[str]:
    fields = ", ".join(f for f, _r, _a in SESSION_FIELDS)
    changed = " OR ".join(f"OLD.{f} IS DISTINCT FROM NEW.{f}" for f, _r, _a in SESSION_FIELDS)
    new_message = _PG_MESSAGE_DOC.format(row="n")
    return [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        *_pg_tail_statements(),
        _pg_messages_inserted(waiting=True),
        _pg_function(
            "search_message_updated",
            "DELETE FROM search_docs WHERE message_id = OLD.id; "  # noqa: S608
            f"INSERT INTO search_docs {_DOC_COLUMNS} {new_message} FROM (SELECT NEW.*) AS n;",
        ),
        _pg_function("search_sessions_inserted", _session_docs(None, "FROM new_sessions AS n ")),
        _pg_function(
            "search_session_updated", _session_docs("IS DISTINCT FROM", "FROM (SELECT NEW.*) AS n ")
        ),
        "DROP TRIGGER IF EXISTS search_messages_ai ON messages",
        "CREATE TRIGGER search_messages_ai AFTER INSERT ON messages "
        "REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT "
        "EXECUTE FUNCTION search_messages_inserted()",
        "DROP TRIGGER IF EXISTS search_messages_au ON messages",
        "CREATE TRIGGER search_messages_au AFTER UPDATE OF content, meta, role ON messages "
        "FOR EACH ROW EXECUTE FUNCTION search_message_updated()",
        "DROP TRIGGER IF EXISTS search_sessions_ai ON sessions",
        "CREATE TRIGGER search_sessions_ai AFTER INSERT ON sessions "
        "REFERENCING NEW TABLE AS new_sessions FOR EACH STATEMENT "
        "EXECUTE FUNCTION search_sessions_inserted()",
        "DROP TRIGGER IF EXISTS search_sessions_au ON sessions",
        f"CREATE TRIGGER search_sessions_au AFTER UPDATE OF {fields} ON sessions "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION search_session_updated()",
        *_pg_cascade_statements(search_docs_t),
        *_pg_status_statements(),
    ]


#: PostgreSQL: what a deleted row takes with it, by table of the index: (the
#: deleted row's table, the column of the index's table that names it). Kept by
#: statement triggers instead of the model's foreign keys (which SQLite keeps):
#: a foreign key checks its parent row for every row a writer adds, one query
#: and a row lock each, a sixth of a batch append's time with the index on
#: (docs/search.md, round 7); a trigger deletes a statement's rows at once,
#: named as an array so that the column's index answers (a transition table has
#: no statistics: joined, the planner may read the whole table).
_PG_CASCADES: dict[str, tuple[tuple[str, str], ...]] = {
    "search_docs": (("messages", "message_id"), ("sessions", "session_id")),
    "search_doc_status": (("search_docs", "doc_id"),),
}


def _pg_cascade_names(child: Table) -> list[tuple[str, str, str]]:
    """(trigger and function name, deleted row's table, column) of ``child``'s cascades."""
    return [(f"{child.name}_of_{parent}_gone", parent, c) for parent, c in _PG_CASCADES[child.name]]


def _pg_cascade_statements(child: Table) -> list[str]:
    """PostgreSQL: ``child``'s foreign keys dropped, and its cascade triggers."""
    statements = [
        f"ALTER TABLE {child.name} DROP CONSTRAINT IF EXISTS {name}"
        for name in sorted(str(fk.name) for fk in child.foreign_key_constraints)
    ]
    for name, parent, column in _pg_cascade_names(child):
        statements += [
            _pg_function(
                name,
                f"DELETE FROM {child.name} WHERE {column} = ANY (ARRAY(SELECT id FROM gone));",  # noqa: S608
            ),
            f"DROP TRIGGER IF EXISTS {name} ON {parent}",
            f"CREATE TRIGGER {name} AFTER DELETE ON {parent} REFERENCING OLD TABLE AS gone "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        ]
    return statements


def _pg_cascade_drops(child: Table) -> list[str]:
    """PostgreSQL: ``child``'s cascade triggers and functions dropped."""
    return [
        statement
        for name, parent, _column in _pg_cascade_names(child)
        for statement in (
            f"DROP TRIGGER IF EXISTS {name} ON {parent}",
            f"DROP FUNCTION IF EXISTS {name}()",
        )
    ]


#: PostgreSQL: the trigram index, over the texts the pass moved in.
_PG_TRGM_INDEX = "ix_search_docs_body"
#: PostgreSQL: document ids per block of the trigram index. The index's first
#: column is a text's block (``id / TRGM_BLOCK``, through ``btree_gin``), so a
#: probe of one block reads only its part of each trigram's posting list (GIN
#: skips to the block's entry) instead of the whole list, which for a common
#: trigram is most of the table (``search.Search._blocks``; a range of blocks
#: gathers every entry of the range first).
TRGM_BLOCK = 8192
#: The index's expressions, as its DDL spells them (a search's condition on the
#: block must be the same expression, the size a constant: :func:`trgm_block`).
_PG_BY_BLOCK = f"((id / {TRGM_BLOCK}), body gin_trgm_ops)"


def _pg_trgm_ddl(columns: str = _PG_BY_BLOCK) -> str:
    """PostgreSQL: the trigram index over the texts the pass moved in, on
    ``columns`` (before migration 0024: ``(body gin_trgm_ops)``)."""
    return (
        f"CREATE INDEX IF NOT EXISTS {_PG_TRGM_INDEX} ON search_docs "
        f"USING gin {columns} WHERE unindexed IS NULL"
    )


#: PostgreSQL: the texts not in the trigram index yet (by id), which a search
#: checks one by one, as SQLite's above the watermark.
_PG_TAIL_INDEX = "ix_search_docs_unindexed"
#: PostgreSQL: the connection's setting that carries ``SEARCH_TAIL_LIMIT`` to
#: the tail trigger (:func:`keep_fts_current`).
_PG_TAIL_SETTING = "sessionboard.search_tail_limit"
_PG_TAIL_TRIGGER = "search_docs_tail_ai"
_PG_DOC_COLUMNS = _DOC_COLUMNS[:-1] + ", unindexed)"


#: PostgreSQL: one row, ``low``: no text under that id waits (every one is in
#: the trigram index), so the tail's reads start there. The index of waiting
#: texts keeps a dead entry for every text the pass moved in until ``VACUUM``
#: (its row was updated), at its left end: read from its start, a writer's
#: bound check stepped over every one (2.1 ms for 0 texts waiting at 22,000
#: sessions, docs/search.md, round 7). The pass raises ``low``
#: (:func:`_pg_raise_floor`).
_PG_FLOOR = "search_waiting_floor"
_PG_LOW = f"coalesce((SELECT low FROM {_PG_FLOOR}), 0)"  # noqa: S608


def _pg_tail_statements(*, copied: bool = False) -> list[str]:
    """PostgreSQL: a new text waits outside the trigram index (``unindexed``,
    true by default), so the writing statement pays no trigram extraction (all
    of what the index cost a batch append: docs/search.md, round 5), until the
    background pass moves it in (:func:`flush_fts`). A statement that adds texts
    and leaves more than ``SEARCH_TAIL_LIMIT`` of them waiting moves them all
    in itself (a statement trigger: one per statement of new texts, two lookups
    on the indexes of ids from the floor up, then a count when the span of
    waiting ids is over the limit), so a search never checks more than that one
    by one."""
    limit = (
        f"coalesce(nullif(current_setting('{_PG_TAIL_SETTING}', true), '')::integer, "
        f"{FTS_TAIL_LIMIT})"
    )
    return [
        "CREATE EXTENSION IF NOT EXISTS btree_gin",
        _pg_trgm_ddl(),
        f"CREATE INDEX IF NOT EXISTS {_PG_TAIL_INDEX} ON search_docs (id) WHERE unindexed",
        "ALTER TABLE search_docs ALTER COLUMN unindexed SET DEFAULT true",
        f"CREATE TABLE IF NOT EXISTS {_PG_FLOOR} (id smallint PRIMARY KEY CHECK (id = 1), "
        "low bigint NOT NULL DEFAULT 0, next_low bigint, next_after bigint)",
        f"INSERT INTO {_PG_FLOOR} (id) VALUES (1) ON CONFLICT DO NOTHING",  # noqa: S608
        f"CREATE OR REPLACE FUNCTION {_PG_TAIL_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ "  # noqa: S608
        f"DECLARE lim integer := {limit}; below bigint := {_PG_LOW}; BEGIN "
        "IF (SELECT max(id) FROM search_docs) "
        "- (SELECT min(id) FROM search_docs WHERE unindexed AND id >= below) >= lim "
        "AND (SELECT count(*) FROM (SELECT 1 FROM search_docs WHERE unindexed AND id >= below "
        "LIMIT lim + 1) AS waiting) > lim THEN " + _pg_move_in(copied=copied) + "; "
        "END IF; RETURN NULL; END $$",
        f"DROP TRIGGER IF EXISTS {_PG_TAIL_TRIGGER} ON search_docs",
        f"CREATE TRIGGER {_PG_TAIL_TRIGGER} AFTER INSERT ON search_docs "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_TAIL_TRIGGER}()",
    ]


def _pg_move_in(
    limit: int | None = None,
    *,
    copied: bool = False,
    below: int | None = None,
    counted: bool = False,
) -> str:
    """PostgreSQL: the oldest ``limit`` waiting texts (all by default) from the
    floor up into the trigram index, a message's with its text (``copied``: as
    before round 6, the text is there), each with its session's status beside
    it (the writer wrote none: :class:`SearchDocStatus`). Rows another
    transaction is moving are skipped (it moves them), so two movers never wait
    on each other or deadlock; but for ``below``: every waiting text under that
    id, waiting for a mover that holds one (it may roll back), before the floor
    rises there. ``counted``: a query of how many it moved (else a statement)."""
    texts = "" if copied else ", body = " + _doc_text("postgresql", "search_docs")
    bounded = "" if limit is None else f" LIMIT {int(limit)}"
    under = "" if below is None else f" AND id < {int(below)}"
    locking = "FOR UPDATE" if below is not None else "FOR UPDATE SKIP LOCKED"
    moved = (
        f"WITH moved AS (UPDATE search_docs SET unindexed = NULL{texts} WHERE id IN "  # noqa: S608
        f"(SELECT id FROM search_docs WHERE unindexed AND id >= {_PG_LOW}{under} "
        f"ORDER BY id{bounded} {locking}) RETURNING id, session_id)"
    )
    statuses = (
        "INSERT INTO search_doc_status (doc_id, status) SELECT m.id, s.status "
        "FROM moved AS m JOIN sessions AS s ON s.id = m.session_id ON CONFLICT (doc_id) DO NOTHING"
    )
    if counted:
        return f"{moved}, statuses AS ({statuses}) SELECT count(*) FROM moved"  # noqa: S608
    return f"{moved} {statuses}"


def _pg_raise_floor(conn: Connection) -> None:
    """PostgreSQL, the pass: raise the floor (:data:`_PG_FLOOR`) to the bound
    the last pass found, once it holds, and find the next one.

    A bound is the oldest text waiting (or the newest id plus one) as a
    statement saw it; a transaction running then may still commit a text under
    it (its id was taken before). So the floor rises to it only when every
    transaction that was running then has ended (the snapshot's ``xmin`` has
    passed that statement's ``xmax``), after the texts still waiting under it
    are moved in. (A text's id is taken after its transaction has an id: every
    text is written by a trigger or after its transaction's first write.)"""
    conn.exec_driver_sql(f"INSERT INTO {_PG_FLOOR} (id) VALUES (1) ON CONFLICT DO NOTHING")  # noqa: S608
    settled = conn.exec_driver_sql(
        f"SELECT next_low FROM {_PG_FLOOR} WHERE next_after IS NOT NULL "  # noqa: S608
        "AND pg_snapshot_xmin(pg_current_snapshot())::text::bigint >= next_after"
    ).scalar()
    if settled is not None:
        conn.exec_driver_sql(_pg_move_in(below=int(settled)))  # their statuses too
        conn.exec_driver_sql(
            f"UPDATE {_PG_FLOOR} SET low = greatest(low, next_low), next_after = NULL"  # noqa: S608
        )
    conn.exec_driver_sql(
        f"UPDATE {_PG_FLOOR} SET next_low = coalesce("  # noqa: S608
        "(SELECT min(d.id) FROM search_docs AS d WHERE d.unindexed AND d.id >= low), "
        "(SELECT coalesce(max(d.id), 0) + 1 FROM search_docs AS d)), "
        "next_after = pg_snapshot_xmax(pg_current_snapshot())::text::bigint "
        "WHERE next_after IS NULL"
    )


def _pg_status_upsert(status: str, sessions: str) -> str:
    """PostgreSQL: every document of the sessions ``sessions`` selects (a
    condition on ``search_docs``) given the status ``status``, a waiting one's
    row written if it has none yet. An upsert, not an update: the pass writes
    a waiting document's row as it moves it in (:func:`_pg_move_in`), reading
    its session's status; whichever of the two writes second, the unique key
    makes it wait for the first and then keep the session's new status."""
    return (
        f"INSERT INTO search_doc_status (doc_id, status) SELECT id, {status} "  # noqa: S608
        f"FROM search_docs WHERE {sessions} "
        "ON CONFLICT (doc_id) DO UPDATE SET status = EXCLUDED.status"
    )


def _pg_status_statements(*, by_pass: bool = True) -> list[str]:
    """The triggers that keep ``search_doc_status`` (see :class:`SearchDocStatus`):
    one statement per statement of new documents that go straight into the
    trigram index (a bulk load's; a waiting document gets its row from the pass
    as it moves it in, round 7: the row was a sixth of a batch append's time;
    ``by_pass`` False: every new document's, as before round 7 and before the
    waiting documents of 0018), one per session whose status changes (an upsert:
    :func:`_pg_status_upsert`), unless the writing transaction moves the
    documents' statuses itself (:func:`statuses_by_statement`, the sweep's
    expiry)."""
    held = " WHERE d.unindexed IS NULL"
    return [
        _pg_function(
            _STATUS_DOC_TRIGGER,
            _STATUS_FILL.format(docs="new_docs") + (held if by_pass else "") + ";",
        ),
        _pg_function(
            _STATUS_SESSION_TRIGGER,
            _pg_status_upsert("NEW.status", "session_id = NEW.id") + ";",
        ),
        f"DROP TRIGGER IF EXISTS {_STATUS_DOC_TRIGGER} ON search_docs",
        f"CREATE TRIGGER {_STATUS_DOC_TRIGGER} AFTER INSERT ON search_docs "
        "REFERENCING NEW TABLE AS new_docs FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {_STATUS_DOC_TRIGGER}()",
        f"DROP TRIGGER IF EXISTS {_STATUS_SESSION_TRIGGER} ON sessions",
        f"CREATE TRIGGER {_STATUS_SESSION_TRIGGER} AFTER UPDATE OF status ON sessions "
        "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status "
        f"AND current_setting('{_PG_BY_STATEMENT}', true) IS DISTINCT FROM 'on') "
        f"EXECUTE FUNCTION {_STATUS_SESSION_TRIGGER}()",
        *_pg_cascade_statements(search_doc_status_t),
    ]


#: The PostgreSQL setting (transaction-local) under which the per-session status
#: trigger stands aside: the transaction moves its documents' statuses itself.
_PG_BY_STATEMENT = "sessionboard.statuses_by_statement"


def statuses_by_statement(conn: Connection, on: bool) -> bool:
    """On PostgreSQL, turn the per-session status trigger off (``on``) or back on
    for the rest of ``conn``'s transaction (a transaction-local setting: it is
    back to unset at commit or rollback, whatever happens). The caller then moves
    its sessions' documents with :func:`move_doc_statuses`. Returns whether it
    applies (False on SQLite, whose trigger always runs)."""
    if conn.dialect.name != "postgresql":
        return False
    conn.execute(
        text("SELECT set_config(:name, :value, true)"),
        {"name": _PG_BY_STATEMENT, "value": "on" if on else "off"},
    )
    return True


def move_doc_statuses(conn: Connection, sessions: list[str] | Select[Any], status: str) -> int:
    """Give the documents of ``sessions`` (ids, or on SQLite a query of them) the
    status ``status`` in one statement (what the per-session trigger does a
    session at a time, while it stands aside), on the documents' and the status
    table's indexes; returns how many status rows changed. Nothing when the index
    keeps no statuses."""
    if conn.dialect.name == "postgresql":
        exists = text(f"SELECT to_regclass('{search_doc_status_t.name}') IS NOT NULL")
        if not sessions or not conn.execute(exists).scalar_one():
            return 0
        move = text(_pg_status_upsert(":status", "session_id = ANY (:ids)"))
        return int(conn.execute(move, {"status": status, "ids": sessions}).rowcount)
    exists = text(
        f"SELECT count(*) FROM sqlite_master WHERE name = '{search_doc_status_t.name}'"  # noqa: S608
    )
    if not conn.execute(exists).scalar_one():
        return 0
    d, x = search_docs_t.c, search_doc_status_t.c
    docs = select(d.id).where(d.session_id.in_(sessions))
    move_ = update(search_doc_status_t).where(x.doc_id.in_(docs)).values(status=status)
    return int(conn.execute(move_).rowcount)


_PG_STATUS_DROPS = [
    *_pg_cascade_drops(search_doc_status_t),
    f"DROP TRIGGER IF EXISTS {_STATUS_SESSION_TRIGGER} ON sessions",
    f"DROP TRIGGER IF EXISTS {_STATUS_DOC_TRIGGER} ON search_docs",
    f"DROP FUNCTION IF EXISTS {_STATUS_SESSION_TRIGGER}()",
    f"DROP FUNCTION IF EXISTS {_STATUS_DOC_TRIGGER}()",
]
_PG_TAIL_DROPS = [
    f"DROP TRIGGER IF EXISTS {_PG_TAIL_TRIGGER} ON search_docs",
    f"DROP TABLE IF EXISTS {_PG_FLOOR}",
    f"DROP FUNCTION IF EXISTS {_PG_TAIL_TRIGGER}()",
    f"DROP INDEX IF EXISTS {_PG_TAIL_INDEX}",
]
_PG_DROPS = [
    *_PG_STATUS_DROPS,
    *_PG_TAIL_DROPS,
    *_pg_cascade_drops(search_docs_t),
    "DROP TRIGGER IF EXISTS search_sessions_au ON sessions",
    "DROP TRIGGER IF EXISTS search_sessions_ai ON sessions",
    "DROP TRIGGER IF EXISTS search_messages_au ON messages",
    "DROP TRIGGER IF EXISTS search_messages_ai ON messages",
    "DROP FUNCTION IF EXISTS search_session_updated()",
    "DROP FUNCTION IF EXISTS search_sessions_inserted()",
    "DROP FUNCTION IF EXISTS search_message_updated()",
    "DROP FUNCTION IF EXISTS search_messages_inserted()",
    f"DROP INDEX IF EXISTS {_PG_TRGM_INDEX}",
]


def _keeping_statements(dialect: str) -> list[str]:
    return _pg_statements() if dialect == "postgresql" else _sqlite_statements()


def _dropping_statements(dialect: str) -> list[str]:
    return _PG_DROPS if dialect == "postgresql" else _SQLITE_DROPS


def _run(conn: Connection, statements: list[str]) -> None:
    for statement in statements:
        conn.exec_driver_sql(statement)


# -- filling ------------------------------------------------------------------------


def _fill_messages_sql(dialect: str) -> str:
    # With their texts: the fill indexes them at once.
    doc = (_PG_MESSAGE_DOC if dialect == "postgresql" else _SQLITE_COPY_DOC).format(row="m")
    return (
        f"INSERT INTO search_docs {_DOC_COLUMNS} {doc} FROM messages AS m "
        "WHERE m.id > :low AND m.id <= :high ORDER BY m.id"
    )


def _fill_sessions_sql() -> TextClause:
    parts = [
        f"SELECT s.id, CAST(NULL AS BIGINT), '{source}', '{role}', '{source}', "  # noqa: S608
        f"CAST(NULL AS TEXT), s.{at}, s.{source} "
        f"FROM sessions AS s WHERE s.id IN :ids AND s.{source} <> ''"
        for source, role, at in SESSION_FIELDS
    ]
    sql = f"INSERT INTO search_docs {_DOC_COLUMNS} " + " UNION ALL ".join(parts)
    return text(sql).bindparams(bindparam("ids", expanding=True))


def _count(conn: Connection, sql: str) -> int:
    return int(conn.exec_driver_sql(sql).scalar_one())


def _fill(conn: Connection, progress: Progress | None, batch: int) -> int:
    """Add the documents of every stored session and message, ``batch`` rows per
    statement, then (SQLite) their FTS entries; return how many documents there are.

    ``progress`` is told (rows done, rows in all) after every statement: sessions,
    then messages (by id), then on SQLite the documents' FTS entries (by id), then
    the documents' status rows (by id).
    """
    dialect = conn.dialect.name
    sessions = _count(conn, "SELECT count(*) FROM sessions")
    top_message = _count(conn, "SELECT coalesce(max(id), 0) FROM messages")
    # The FTS part is sized once the documents are there; until then, guessed.
    fts_rows = top_message + 3 * sessions if dialect == "sqlite" else 0
    # The documents' status rows, sized the same way.
    status_rows = top_message + 3 * sessions
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, sessions + top_message + fts_rows + status_rows)

    ids_sql = text("SELECT id FROM sessions WHERE id > :last ORDER BY id LIMIT :n")
    fill_sessions = _fill_sessions_sql()
    last = ""
    while ids := list(conn.execute(ids_sql, {"last": last, "n": batch}).scalars()):
        conn.execute(fill_sessions, {"ids": ids})
        last = ids[-1]
        step(len(ids))
    fill_messages = text(_fill_messages_sql(dialect))
    for low in range(0, top_message, batch):
        conn.execute(fill_messages, {"low": low, "high": low + batch})
        step(min(batch, top_message - low))
    top_doc = _count(conn, "SELECT coalesce(max(id), 0) FROM search_docs")
    status_rows = top_doc
    if dialect == "sqlite":
        fts_rows = top_doc
        fill_fts = text(
            f"INSERT INTO {FTS_TABLE}(rowid, body) SELECT id, body FROM search_docs "  # noqa: S608
            "WHERE id > :low AND id <= :high"
        )
        for low in range(0, top_doc, batch):
            conn.execute(fill_fts, {"low": low, "high": low + batch})
            step(min(batch, top_doc - low))
        conn.execute(text(f"UPDATE {FTS_STATE} SET indexed_upto = :top"), {"top": top_doc})  # noqa: S608
    fill_statuses(conn, progress=step)
    return _count(conn, "SELECT count(*) FROM search_docs")


def fill_statuses(
    conn: Connection,
    *,
    progress: Callable[[int], None] | None = None,
    batch: int = STATUS_FILL_BATCH,
) -> int:
    """Give every document without one its session's status (``search_doc_status``),
    ``batch`` documents (by id) per statement; ``progress`` is told how many ids
    each statement covered. Returns the highest document id."""
    top_doc = _count(conn, "SELECT coalesce(max(id), 0) FROM search_docs")
    fill = text(_STATUS_FILL_RANGE)
    for low in range(0, top_doc, batch):
        conn.execute(fill, {"upto": low, "top": low + batch})
        if progress is not None:
            progress(min(batch, top_doc - low))
    return top_doc


def install_statuses(conn: Connection, *, progress: Progress | None = None) -> None:
    """Add ``search_doc_status`` and its triggers to an index made without them
    (migration 0016), filled from the stored documents. Nothing when it is there."""
    if has_statuses(conn):
        return
    search_doc_status_t.create(conn)
    dialect = conn.dialect.name
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, top)

    top = _count(conn, "SELECT coalesce(max(id), 0) FROM search_docs")
    fill_statuses(conn, progress=step)
    if dialect == "postgresql":
        _run(conn, _pg_status_statements(by_pass=_has_fts(conn)))
    else:
        _run(conn, _sqlite_status_statements())


def reinstall_status_triggers(conn: Connection) -> bool:
    """Replace the status triggers of an index that keeps statuses with this
    module's (migration 0017); returns whether there were any. No table is
    rewritten: a trigger and its function are replaced."""
    if not has_statuses(conn):
        return False
    if conn.dialect.name == "postgresql":
        _run(conn, _pg_status_statements(by_pass=_has_fts(conn)))
    else:
        _run(conn, [*_SQLITE_STATUS_DROPS, *_sqlite_status_statements()])
    return True


@contextmanager
def _index_build_watched(
    conn: Connection, progress: Progress | None, every: float = 0.5
) -> Iterator[None]:
    """PostgreSQL: while the block runs, tell ``progress`` (blocks done, blocks
    in all) how far the index ``conn`` is building has come, as
    ``pg_stat_progress_create_index`` says on another connection ``every`` so
    many seconds: one ``CREATE INDEX`` builds a GIN index, with no batches to count."""
    if progress is None:
        yield
        return
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    done = threading.Event()

    def watch() -> None:
        with conn.engine.connect() as watcher:
            while not done.wait(every):
                row = watcher.exec_driver_sql(
                    "SELECT blocks_done, blocks_total FROM pg_stat_progress_create_index"
                    " WHERE pid = %(pid)s",
                    {"pid": pid},
                ).first()
                watcher.rollback()
                if row is not None and row.blocks_total:
                    progress(int(row.blocks_done), int(row.blocks_total))

    watching = threading.Thread(target=watch, name="index-build-progress", daemon=True)
    watching.start()
    try:
        yield
    finally:
        done.set()
        watching.join()


def install_waiting(conn: Connection, *, progress: Progress | None = None) -> bool:
    """Give an index made before round 5 its waiting texts (migration 0018):
    the column ``unindexed`` (added empty: every stored text is indexed), and on
    PostgreSQL the trigram index rebuilt over the rows where it is NULL, with
    the index of waiting texts and the tail trigger. Returns whether the
    trigram index was rebuilt (the only step that takes time: one statement,
    over every text, whose blocks ``progress`` is told of). Nothing when the
    index is missing or has them already."""
    if not is_installed(conn):
        return False
    columns = {c["name"] for c in inspect(conn).get_columns(search_docs_t.name)}
    if "unindexed" not in columns:
        conn.exec_driver_sql("ALTER TABLE search_docs ADD COLUMN unindexed BOOLEAN")
    _comment_index(conn, partial=True)
    if conn.dialect.name == "sqlite":
        # The pass writes a new document's status row (every stored one has its).
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_STATUS_DOC_TRIGGER}")
        return False
    if _has_fts(conn):
        return False
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_PG_TRGM_INDEX}")
    with _index_build_watched(conn, progress):
        _run(conn, _pg_statements())
    return True


def _comment_index(conn: Connection, *, partial: bool) -> None:
    """(Re)make the comments' index over their rows only (``partial``) or over
    every document (before round 5), when it is not that way already."""
    index = next(
        i for i in inspect(conn).get_indexes(search_docs_t.name) if i["name"] == _COMMENT_INDEX
    )
    options = index.get("dialect_options", {})
    if (options.get(f"{conn.dialect.name}_where") is not None) == partial:
        return
    conn.exec_driver_sql(f"DROP INDEX {_COMMENT_INDEX}")
    where = f" WHERE {_COMMENT_ROWS}" if partial else ""
    conn.exec_driver_sql(f"CREATE INDEX {_COMMENT_INDEX} ON search_docs (comment_id){where}")


def uninstall_waiting(conn: Connection) -> None:
    """Migration 0018's downgrade: the trigram index over every text again,
    without the waiting texts' column, index and trigger."""
    if not is_installed(conn):
        return
    flush_fts(conn)
    if conn.dialect.name == "sqlite" and has_statuses(conn):
        conn.exec_driver_sql(_SQLITE_DOC_STATUS_TRIGGER)
    if conn.dialect.name == "postgresql":
        _run(conn, [*_PG_TAIL_DROPS, _pg_messages_inserted(waiting=False)])
        if has_statuses(conn):
            _run(conn, _pg_status_statements(by_pass=False))
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_PG_TRGM_INDEX}")
        conn.exec_driver_sql(
            f"CREATE INDEX {_PG_TRGM_INDEX} ON search_docs USING gin (body gin_trgm_ops)"
        )
    conn.exec_driver_sql("ALTER TABLE search_docs DROP COLUMN unindexed")
    _comment_index(conn, partial=False)


def trgm_block(ids: ColumnElement[int]) -> ColumnElement[int]:
    """PostgreSQL: the trigram index's block of the document ids ``ids``
    (:data:`TRGM_BLOCK`), spelled as the index's first column is."""
    return ids.op("/")(literal_column(str(TRGM_BLOCK)))


def _has_blocks(conn: Connection) -> bool:
    """PostgreSQL: whether the trigram index is by block (:data:`TRGM_BLOCK`)."""
    definition = conn.exec_driver_sql(
        "SELECT indexdef FROM pg_indexes WHERE indexname = %(name)s",
        {"name": _PG_TRGM_INDEX},
    ).scalar()
    return definition is not None and f"/ {TRGM_BLOCK})" in definition


def needs_blocks(conn: Connection) -> bool:
    """Whether :func:`install_blocks` has an index to rebuild: on PostgreSQL, a
    trigram index not by block yet (a database made at head gets it by block
    at 0018)."""
    return conn.dialect.name == "postgresql" and _has_fts(conn) and not _has_blocks(conn)


def install_blocks(conn: Connection, progress: Progress | None = None) -> bool:
    """Migration 0024 (PostgreSQL): the trigram index rebuilt with each text's
    block of ids as its first column (``btree_gin``), so a search can ask it
    for the matches of a few blocks at a time. Returns whether it was rebuilt
    (one ``CREATE INDEX`` over every text, whose blocks ``progress`` is told
    of); nothing when it need not be (:func:`needs_blocks`)."""
    if not needs_blocks(conn):
        return False
    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS btree_gin")
    conn.exec_driver_sql(f"DROP INDEX {_PG_TRGM_INDEX}")
    with _index_build_watched(conn, progress):
        conn.exec_driver_sql(_pg_trgm_ddl())
    return True


def uninstall_blocks(conn: Connection) -> None:
    """Migration 0024's downgrade: the trigram index over the texts alone."""
    if conn.dialect.name != "postgresql" or not _has_fts(conn) or not _has_blocks(conn):
        return
    conn.exec_driver_sql(f"DROP INDEX {_PG_TRGM_INDEX}")
    conn.exec_driver_sql(_pg_trgm_ddl("(body gin_trgm_ops)"))


def install_message_docs(conn: Connection) -> None:
    """Migration 0019: a message's document written without a copy of its text,
    which the background pass writes when it moves the document into the index
    (:func:`flush_fts`); on SQLite by the committing transaction
    (:data:`_SQLITE_NEW_MESSAGE_DOCS`) instead of a row trigger per message.
    Instant: the triggers (SQLite) or their functions (PostgreSQL) change, the
    stored documents keep their texts. Nothing without the index."""
    if not is_installed(conn):
        return
    if conn.dialect.name == "postgresql":
        if _has_fts(conn):
            _run(conn, [*_pg_tail_statements(), _pg_messages_inserted(waiting=True)])
        return
    _run(
        conn,
        [
            f"DROP TRIGGER IF EXISTS {_SQLITE_MESSAGE_TRIGGER}",
            "DROP TRIGGER IF EXISTS search_messages_au",
            _SQLITE_MESSAGE_UPDATED,
        ],
    )


def uninstall_message_docs(conn: Connection) -> None:
    """Migration 0019's downgrade: every text moved into the index (with its
    text), then the triggers (SQLite) or functions (PostgreSQL) of before round 6."""
    if not is_installed(conn):
        return
    if conn.dialect.name == "postgresql":
        if _has_fts(conn):
            flush_fts(conn)
            copies = _pg_messages_inserted(waiting=True, copied=True)
            _run(conn, [*_pg_tail_statements(copied=True), copies])
        return
    conn.exec_driver_sql(_SQLITE_NEW_MESSAGE_DOCS)
    flush_fts(conn)
    _run(conn, ["DROP TRIGGER IF EXISTS search_messages_au", *_SQLITE_COPIES])


def install_cascades(conn: Connection) -> None:
    """Migration 0021, PostgreSQL: the index's foreign keys replaced by statement
    triggers (:data:`_PG_CASCADES`). Instant: no row is read or written.
    Nothing on SQLite or without the index."""
    if conn.dialect.name != "postgresql" or not is_installed(conn):
        return
    _run(conn, _pg_cascade_statements(search_docs_t))
    if has_statuses(conn):
        _run(conn, _pg_cascade_statements(search_doc_status_t))


def install_floor(conn: Connection) -> None:
    """Migration 0022, PostgreSQL: the floor of waiting texts (:data:`_PG_FLOOR`,
    at 0: the pass raises it) and the tail trigger that reads from it. Instant.
    Nothing on SQLite or without waiting texts (before 0018)."""
    if conn.dialect.name == "postgresql" and _has_fts(conn):
        _run(conn, _pg_tail_statements())


def install_statuses_by_pass(conn: Connection) -> None:
    """Migration 0023, PostgreSQL: a waiting document's status row written by
    the pass as it moves the document in (as on SQLite), not by its writer; a
    session's new status upserted. Instant: trigger functions change; the
    waiting documents keep the rows they have. Nothing on SQLite, without the
    statuses or without waiting documents."""
    if conn.dialect.name == "postgresql" and has_statuses(conn) and _has_fts(conn):
        _run(conn, [*_pg_status_statements(), *_pg_tail_statements()])


def uninstall_statuses_by_pass(conn: Connection) -> None:
    """Migration 0023's downgrade: every waiting document moved in (with its
    status row), then every new document's row written by its writer again.
    The pass's and the session's statements stay: with a row for every
    document, they write nothing more than before."""
    if conn.dialect.name == "postgresql" and has_statuses(conn) and _has_fts(conn):
        flush_fts(conn)
        _run(conn, _pg_status_statements(by_pass=False))


def uninstall_cascades(conn: Connection) -> None:
    """Migration 0021's downgrade: the model's foreign keys back (each checks
    every row of its table) instead of the cascade triggers."""
    if conn.dialect.name != "postgresql" or not is_installed(conn):
        return
    tables = [search_docs_t, *([search_doc_status_t] if has_statuses(conn) else [])]
    for table in tables:
        _run(conn, _pg_cascade_drops(table))
        for fk in table.foreign_key_constraints:
            # Not isolated: the model's CREATE TABLE keeps writing it inline.
            conn.execute(AddConstraint(fk, isolate_from_table=False))


def _doc_text(dialect: str, doc: str) -> str:
    """:data:`_DOC_TEXT` in ``dialect``'s SQL for the ``search_docs`` row ``doc``."""
    message = _SQLITE_MESSAGE_TEXT if dialect == "sqlite" else _PG_MESSAGE_TEXT
    return _DOC_TEXT.format(doc=doc, text=message.format(row="t"))


def document_text(dialect: str) -> ColumnElement[str]:
    """A document's text, as a column of ``search_docs`` (not aliased) for the
    searches' checks and snippets: a message's document that has no copy of its
    text yet (waiting for the pass) reads its message. The index's own
    conditions stay on ``body`` (the texts it holds have theirs)."""
    return literal_column(_doc_text(dialect, search_docs_t.name), Text)


def waiting_floor() -> ColumnElement[int]:
    """PostgreSQL: the id under which no text waits for the trigram index (the
    pass's floor, :data:`_PG_FLOOR`), as a column for the searches' reads of
    the waiting texts."""
    return literal_column(_PG_LOW, BigInteger)


def uninstall_statuses(conn: Connection) -> None:
    """Drop ``search_doc_status`` and its triggers (migration 0016's downgrade)."""
    dialect = conn.dialect.name
    _run(conn, _PG_STATUS_DROPS if dialect == "postgresql" else _SQLITE_STATUS_DROPS)
    search_doc_status_t.drop(conn, checkfirst=True)


def _create(conn: Connection) -> None:
    """The documents' tables and, on SQLite, the (empty) FTS table."""
    search_docs_t.create(conn, checkfirst=True)
    search_doc_status_t.create(conn, checkfirst=True)
    if conn.dialect.name == "sqlite":
        _run(conn, _SQLITE_FTS)


def install(conn: Connection, *, progress: Progress | None = None, batch: int = FILL_BATCH) -> int:
    """Create the index in ``conn``'s transaction and fill it from the sessions and
    messages stored already (what the migration does). Returns how many documents
    it holds. Installing it again changes nothing."""
    if is_installed(conn):
        return _count(conn, "SELECT count(*) FROM search_docs")
    _create(conn)
    count = _fill(conn, progress, batch)
    _run(conn, _keeping_statements(conn.dialect.name))
    return count


def rebuild(conn: Connection, *, progress: Progress | None = None, batch: int = FILL_BATCH) -> int:
    """Rebuild the index from the stored sessions and messages in ``conn``'s
    transaction (``sessionboard search --rebuild``); the review comments'
    documents are kept. Returns how many documents it holds."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # No writer may add a document between the delete and the refill.
        conn.exec_driver_sql("LOCK TABLE sessions, messages IN SHARE MODE")
    _run(conn, _dropping_statements(dialect))
    search_docs_t.create(conn, checkfirst=True)
    if dialect == "postgresql":
        # The refill goes straight into the trigram index, made after it.
        conn.exec_driver_sql("ALTER TABLE search_docs ALTER COLUMN unindexed DROP DEFAULT")
    if has_statuses(conn):
        # Every document's status is written again below (the comments' too):
        # on PostgreSQL no foreign key removes them with their documents.
        conn.execute(delete(search_doc_status_t))
    conn.execute(delete(search_docs_t).where(search_docs_t.c.source != "comment"))
    _create(conn)
    count = _fill(conn, progress, batch)
    _run(conn, _keeping_statements(dialect))
    return count


def flush_fts(conn: Connection, *, limit: int | None = None) -> int:
    """Move the oldest ``limit`` texts (all by default) the index does not hold
    yet into it, in ``conn``'s transaction; return how many it moved. SQLite:
    the documents above the watermark into FTS5, and the watermark over them;
    PostgreSQL: the waiting texts (``unindexed``) into the trigram index.
    Searches are exact without it (they check the waiting texts one by one); it
    keeps that part small. Nothing without the index."""
    if not _has_fts(conn):
        return 0
    if conn.dialect.name == "postgresql":
        moved = int(conn.exec_driver_sql(_pg_move_in(limit, counted=True)).scalar_one())
        _pg_raise_floor(conn)
        return moved
    conn.exec_driver_sql(_SQLITE_NEW_MESSAGE_DOCS)  # any written outside the commit hook
    upto = _count(conn, f"SELECT indexed_upto FROM {FTS_STATE}")  # noqa: S608
    above = "SELECT id FROM search_docs WHERE id > :upto ORDER BY id"
    if limit is not None:
        above += " LIMIT :limit"
    top = conn.execute(
        text(f"SELECT max(id) FROM ({above})"),  # noqa: S608
        {"upto": upto, "limit": limit},
    ).scalar()
    if top is None:
        return 0
    bounds = {"upto": upto, "top": top}
    # The messages' texts into their documents (a writer leaves them without),
    # then FTS5 reads them there.
    conn.execute(text(_SQLITE_WRITE_TEXTS), bounds)
    added = conn.execute(
        text(
            f"INSERT INTO {FTS_TABLE}(rowid, body) SELECT id, body FROM search_docs "  # noqa: S608
            "WHERE id > :upto AND id <= :top"
        ),
        bounds,
    ).rowcount
    if has_statuses(conn):
        # Their statuses too (a document written before round 5 has its row).
        conn.execute(text(_STATUS_FILL_RANGE), bounds)
    conn.execute(text(f"UPDATE {FTS_STATE} SET indexed_upto = :top"), {"top": top})  # noqa: S608
    return int(added)


def fts_tail(conn: Connection) -> int:
    """How many texts the index may not hold yet: SQLite, the ids above FTS5's
    watermark, deleted ones included (never fewer than there are); PostgreSQL,
    the texts waiting outside the trigram index."""
    if not _has_fts(conn):
        return 0
    if conn.dialect.name == "postgresql":
        return _count(conn, f"SELECT count(*) FROM search_docs WHERE unindexed AND id >= {_PG_LOW}")  # noqa: S608
    return _count(conn, _SQLITE_TAIL)


def _has_fts(conn: Connection) -> bool:
    """Whether the index keeps texts waiting: SQLite's FTS5 watermark, or
    PostgreSQL's index of the waiting texts."""
    if conn.dialect.name == "postgresql":
        return bool(
            conn.exec_driver_sql(f"SELECT to_regclass('{_PG_TAIL_INDEX}') IS NOT NULL").scalar()
        )
    found = conn.exec_driver_sql(
        f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{FTS_STATE}'"  # noqa: S608
    )
    return found.first() is not None


def _commit_tail(conn: Connection, limit: int) -> int:
    """SQLite, before every commit: the new messages' documents
    (:data:`_SQLITE_NEW_MESSAGE_DOCS`; with their texts when the transaction
    will pass ``limit`` and index them all at once, as a bulk load or an
    import does), then :func:`fts_tail`. On the driver's
    connection (each statement through SQLAlchemy took 6% of an append's time in
    the profile), and whether the index is there remembered per connection until
    the schema changes (``PRAGMA schema_version``) instead of read from
    ``sqlite_master`` each time."""
    raw: Any = conn.connection.driver_connection
    info = conn.connection.info
    version = raw.execute("PRAGMA schema_version").fetchone()[0]
    known = info.get("sessionboard_fts")
    if known is None or known[0] != version:
        found = raw.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS_STATE,)
        ).fetchone()
        info["sessionboard_fts"] = known = (version, found is not None)
    if not known[1]:
        return 0
    new, tail = raw.execute(_SQLITE_PENDING).fetchone()
    if new > 0:
        raw.execute(_SQLITE_NEW_MESSAGE_COPIES if tail + new > limit else _SQLITE_NEW_MESSAGE_DOCS)
        tail += new
    return int(tail)


def keep_fts_current(engine: Engine, *, tail_limit: int | None = None) -> None:
    """Keep the index within ``tail_limit`` texts (default :data:`FTS_TAIL_LIMIT`)
    of ``search_docs`` on ``engine``: a write that would leave more waiting
    moves them all in itself. Below the limit the background pass
    (``webapp.search_flush``) moves them, off the append path. Called again,
    it changes the limit (0: every write indexes its texts, as before round 4).

    SQLite: a transaction writes its new messages' documents just before it
    commits (an engine ``commit`` hook, one ``INSERT ... SELECT``: a row trigger
    per message cost twice as much), and one that would commit with more
    documents above FTS5's watermark adds them all first. Why not a trigger: FTS5 writes
    its pending entries out at every savepoint, and every statement of a trigger
    is one, so a trigger per document wrote one FTS5 segment per message: batch
    appends ran at a third of their speed without the index. One ``INSERT ...
    SELECT`` adds many documents together. (Deletes stay in a trigger: FTS5
    reads the text of each candidate, so it must never hold a deleted row.)

    PostgreSQL: the tail trigger (one per statement of new texts, see
    :func:`_pg_tail_statements`) reads the limit from a setting of the
    connection, set here when a connection is checked out with another.
    """
    if tail_limit is not None or not hasattr(engine, "_sessionboard_fts_tail"):
        engine._sessionboard_fts_tail = (  # type: ignore[attr-defined]
            FTS_TAIL_LIMIT if tail_limit is None else tail_limit
        )
    if getattr(engine, "_sessionboard_fts", False):
        return
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "checkout")
        def _tail_limit(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
            limit: int = engine._sessionboard_fts_tail  # type: ignore[attr-defined]
            if record.info.get("sessionboard_tail") != limit:
                # Outside any transaction (checked out), committed at once: a
                # setting made in a transaction rolled back later is undone.
                with dbapi_conn.cursor() as cursor:
                    cursor.execute(
                        "SELECT set_config(%s, %s, false)", (_PG_TAIL_SETTING, str(limit))
                    )
                dbapi_conn.commit()
                record.info["sessionboard_tail"] = limit

    elif engine.dialect.name == "sqlite":

        @event.listens_for(engine, "commit")
        def _flush_before_commit(conn: Connection) -> None:
            limit: int = engine._sessionboard_fts_tail  # type: ignore[attr-defined]
            if _commit_tail(conn, limit) > limit:
                flush_fts(conn)

    engine._sessionboard_fts = True  # type: ignore[attr-defined]


def clean_pending(conn: Connection) -> int:
    """Move the GIN trigram index's pending list (``fastupdate``) into the index
    (PostgreSQL), in ``conn``'s transaction; return the pending-list pages it
    moved. Nothing elsewhere or without the index."""
    if conn.dialect.name != "postgresql":
        return 0
    # to_regclass is NULL without the index, and the function is strict.
    pages = conn.exec_driver_sql(
        f"SELECT gin_clean_pending_list(to_regclass('{_PG_TRGM_INDEX}'))"
    ).scalar()
    return int(pages or 0)


def uninstall(conn: Connection) -> None:
    """Drop the index (the migration's downgrade)."""
    _run(conn, _dropping_statements(conn.dialect.name))
    search_doc_status_t.drop(conn, checkfirst=True)
    search_docs_t.drop(conn, checkfirst=True)


def is_installed(conn: Connection) -> bool:
    """Whether this database has the search index."""
    return bool(inspect(conn).has_table(search_docs_t.name))


def has_statuses(conn: Connection) -> bool:
    """Whether this database's index keeps the documents' statuses (0016)."""
    return bool(inspect(conn).has_table(search_doc_status_t.name))


# -- what features feed ---------------------------------------------------------------


def index_comment(
    conn: Connection, *, comment_id: int, session_id: str, body: str, at: datetime
) -> None:
    """Add a review comment to the index, in the feature's transaction ``conn``."""
    conn.execute(
        insert(search_docs_t).values(
            session_id=session_id,
            message_id=None,
            comment_id=comment_id,
            source="comment",
            role="reviewer",
            kind="comment",
            tool=None,
            at=at,
            body=body,
        )
    )


def unindex_comment(conn: Connection, comment_id: int) -> None:
    """Remove a review comment from the index, in the feature's transaction ``conn``."""
    conn.execute(delete(search_docs_t).where(search_docs_t.c.comment_id == comment_id))


def index_size(conn: Connection) -> dict[str, Any]:
    """The bytes the index takes and the bytes of the whole database (for the bench)."""
    if conn.dialect.name == "postgresql":
        index = conn.exec_driver_sql("SELECT pg_total_relation_size('search_docs')").scalar_one()
        whole = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
        return {"index_bytes": int(index), "database_bytes": int(whole)}
    page = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
    pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
    try:
        rows = conn.exec_driver_sql(
            "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'search%' OR name LIKE '%search_docs%'"
        ).scalar()
    except Exception:  # noqa: BLE001  (dbstat is a compile-time option)
        rows = None
    return {"index_bytes": int(rows or 0), "database_bytes": page * pages}
