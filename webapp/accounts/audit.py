"""The audit log: who did what, when, on which session.

CONTRACT: ``record(action, *, session_id=None, detail=None, actor=None)`` appends
one entry (actor defaults to the current user); every change made from the UI,
and logins, purges, clears, user and token changes, call it. Entries cannot be
edited from the app: this module only appends and lists.

Made inside a write (``get_database().write()``, or a store write opened in one),
the entry joins that transaction: the change and its entry commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select

from webapp.accounts.auth import current_actor
from webapp.accounts.models import AuditEntry
from webapp.extensions import get_database, get_manager
from webapp.sessions.types import check_json

audit_t = cast(Table, AuditEntry.__table__)


def record(
    action: str,
    *,
    session_id: str | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Append one audit entry, in the write transaction open in this thread if any."""
    detail = detail or {}
    check_json(detail, "audit detail")
    values = {
        "at": get_manager().clock(),
        "actor": actor or current_actor(),
        "action": action,
        "session_id": session_id,
        "detail": detail,
    }
    with get_database().write() as conn:
        conn.execute(insert(audit_t).values(values))


def actions() -> list[str]:
    """The actions present in the log, for the audit page's filter."""
    with get_database().read() as conn:
        query = select(audit_t.c.action).distinct().order_by(audit_t.c.action)
        return list(conn.execute(query).scalars())


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page narrows the log to; None or empty means any."""

    actor: str = ""
    action: str = ""
    session_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def entries(
    where: AuditFilter, *, before: int | None = None, limit: int = 100
) -> tuple[list[dict[str, Any]], int | None]:
    """Entries newest first matching ``where``, older than entry id ``before``;
    returns them and the id to pass as ``before`` for the next page (or None)."""
    c = audit_t.c
    query = select(audit_t).order_by(c.id.desc()).limit(limit + 1)
    if where.actor:
        query = query.where(c.actor == where.actor)
    if where.action:
        query = query.where(c.action == where.action)
    if where.session_id:
        query = query.where(c.session_id == where.session_id)
    if where.since is not None:
        query = query.where(c.at >= where.since)
    if where.until is not None:
        query = query.where(c.at < where.until)
    if before is not None:
        query = query.where(c.id < before)
    with get_database().read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    next_before = rows[limit - 1]["id"] if len(rows) > limit else None
    return rows[:limit], next_before
