"""The domain's table objects and the conversions between their rows and the
domain's types: sessions and messages in and out, and plain rows for bulk loads.

Only ``webapp.sessions`` should import this module (an import-linter contract
in ``pyproject.toml`` keeps new uses from appearing elsewhere).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, func
from sqlalchemy.engine import Dialect

from .engine import marker, run_sql
from .models import (
    IdempotencyKey,
    MessageHtml,
    MessageRow,
    PurgeLogEntry,
    SessionHold,
    SessionRow,
    SessionUsageRow,
    SweeperLease,
    UsageEntryRow,
    UsageRollupRow,
)
from .pricing import check_usage_meta
from .types import Message, Session, Status, as_utc, excerpt

sessions_t = cast(Table, SessionRow.__table__)
messages_t = cast(Table, MessageRow.__table__)
message_html_t = cast(Table, MessageHtml.__table__)
idempotency_t = cast(Table, IdempotencyKey.__table__)
lease_t = cast(Table, SweeperLease.__table__)
purge_log_t = cast(Table, PurgeLogEntry.__table__)
holds_t = cast(Table, SessionHold.__table__)
usage_entries_t = cast(Table, UsageEntryRow.__table__)
session_usage_t = cast(Table, SessionUsageRow.__table__)
usage_rollups_t = cast(Table, UsageRollupRow.__table__)


def utc_day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, as ``YYYY-MM-DD`` text (SQLite
    keeps UTC timestamps as text that starts with it)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def row_to_session(row: Row[Any]) -> Session:
    """A ``sessions`` row as a :class:`Session` (messages not loaded)."""
    m = row._mapping
    return Session(
        id=m["id"],
        status=Status(m["status"]),
        request=m["request"] or "",
        response=m["response"] or "",
        error=m["error"] or "",
        created_at=m["created_at"],
        last_activity=m["last_activity"],
        expires_at=m["expires_at"],
        context=dict(m["context"] or {}),
        message_count=m["message_count"],
        keep=bool(m["keep"]),
        parent_id=m["parent_id"],
    )


def row_to_message(row: Row[Any]) -> Message:
    """A ``messages`` row as a :class:`Message`."""
    m = row._mapping
    return Message(
        role=m["role"],
        content=m["content"],
        summary=m["summary"] or "",
        timestamp=m["timestamp"],
        meta=m["meta"],
        source_key=m["source_key"],
        id=m["id"],
    )


def session_values(s: Session) -> dict[str, Any]:
    """A :class:`Session` as the values of its ``sessions`` row (all but the
    message count, which the store derives); ``ValueError`` if it cannot be stored."""
    status = Status(s.status)
    s.validate()
    if not isinstance(s.context, dict):
        raise ValueError("session context must be a JSON object")
    return {
        "id": s.id,
        "status": status.value,
        "request": s.request or "",
        "request_excerpt": excerpt(s.request),
        "response": s.response or "",
        "error": s.error or "",
        "created_at": as_utc(s.created_at),
        "last_activity": as_utc(s.last_activity),
        "expires_at": as_utc(s.expires_at) if s.expires_at is not None else None,
        "context": s.context,
        "keep": bool(s.keep),
        "parent_id": s.parent_id,
    }


def message_values(
    session_id: str, messages: Sequence[Message], now: datetime, *, checked: bool = False
) -> list[dict[str, Any]]:
    """Validated ``messages`` rows of a session; a message without a timestamp
    gets ``now``. ``ValueError`` for a message that cannot be stored. ``checked``:
    the caller ran the domain's rules already (the API's schemas do), so only the
    usage, which the schemas leave to the store, is checked here."""
    rows = []
    for msg in messages:
        if not checked:
            msg.validate()
        check_usage_meta(msg.meta)
        rows.append(
            {
                "session_id": session_id,
                "role": msg.role,
                "content": msg.content,
                "summary": msg.summary or "",
                "timestamp": as_utc(msg.timestamp) if msg.timestamp else now,
                "meta": msg.meta,
                "source_key": msg.source_key,
            }
        )
    return rows


def first_of_each_key(
    rows: Sequence[dict[str, Any]], stored: Set[str] = frozenset()
) -> list[dict[str, Any]]:
    """``rows`` (of :func:`message_values`) less those whose ``source_key`` is in
    ``stored`` or on an earlier row: a message with a key is stored once."""
    fresh, seen = [], set(stored)
    for row in rows:
        key = row["source_key"]
        if key is None or key not in seen:
            fresh.append(row)
            if key is not None:
                seen.add(key)
    return fresh


@dataclass(frozen=True)
class BulkRows:
    """Rows ready for the driver: column names and one tuple of plain values a row."""

    columns: tuple[str, ...]
    values: list[tuple[Any, ...]]


def bulk_rows(rows: Sequence[dict[str, Any]], *, dialect: str) -> BulkRows:
    """Rows (dicts sharing their keys; JSON columns as dicts or lists, datetimes
    aware) turned into ``dialect``'s plain driver values for :func:`bulk_insert`."""
    if not rows:
        return BulkRows((), [])
    columns = tuple(rows[0])
    sqlite_dialect = dialect == "sqlite"

    # The rows of an append share one instant (``now``): converted once.
    @functools.lru_cache(maxsize=1)
    def as_text(value: datetime) -> Any:
        value = as_utc(value)
        # SQLAlchemy's text form: always the microseconds (the text sorts and compares)
        return (
            value.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite_dialect else value
        )

    # A converter for each column whose values need one, chosen by its type.
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for i, column in enumerate(columns):
        sample = next((r[column] for r in rows if r[column] is not None), None)
        if isinstance(sample, dict | list):
            converters.append((i, json.dumps))
        elif isinstance(sample, datetime):
            converters.append((i, as_text))
    pick = itemgetter(*columns)
    values = []
    for row in rows:
        plain = list(pick(row))
        for i, convert in converters:
            if plain[i] is not None:
                plain[i] = convert(plain[i])
        values.append(tuple(plain))
    return BulkRows(columns, values)


#: PostgreSQL: the most rows one multi-row INSERT of :func:`bulk_insert` carries
#: (its parameters stay under the protocol's 65,535).
PG_ROWS_PER_INSERT = 1000


def bulk_insert(conn: Connection, table: Table, bulk: BulkRows) -> None:
    """Insert many rows straight through the driver, in ``conn``'s transaction.

    For bulk loads (``sessionboard demo``) and appends: it skips SQLAlchemy's
    per-row type processing, which costs more than the insert itself.

    SQLite: the driver's executemany (one prepared statement run per row).
    PostgreSQL: one multi-row ``INSERT`` per :data:`PG_ROWS_PER_INSERT` rows. The
    driver's executemany sends one ``INSERT`` per row, and every one of them
    fires the statement-level triggers (the search index's, the rollups') with
    its one-row transition table: a batch of 50 messages ran its triggers 50
    times, at a sixth of the speed of the same batch without the search index.
    """
    if not bulk.values:
        return
    if conn.dialect.name != "postgresql":
        sql = _insert_sql(conn.dialect, table.name, bulk.columns, 1)
        run_sql(conn, sql, bulk.values, many=True)
        return
    step = max(1, min(PG_ROWS_PER_INSERT, 65_535 // len(bulk.columns)))
    for start in range(0, len(bulk.values), step):
        chunk = bulk.values[start : start + step]
        params = tuple(value for values in chunk for value in values)
        run_sql(conn, _insert_sql(conn.dialect, table.name, bulk.columns, len(chunk)), params)


@functools.lru_cache(maxsize=256)
def _insert_sql(dialect: Dialect, table: str, columns: tuple[str, ...], rows: int) -> str:
    """``INSERT INTO table (columns) VALUES`` with the markers of ``rows`` rows, made
    once for each shape (quoting the names cost more than a one-row insert)."""
    quote = dialect.identifier_preparer.quote
    row = f"({', '.join([marker(dialect.name)] * len(columns))})"
    names = ", ".join(quote(c) for c in columns)
    return f"INSERT INTO {quote(table)} ({names}) VALUES {', '.join([row] * rows)}"  # noqa: S608
