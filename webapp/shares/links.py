r"""Share links: make, list, open and revoke links that show one session read-only.

CONTRACT:
- ``create(session_id, expires_in=, redact=, comments=, actor=)`` -> ``(ShareInfo,
  token)``: the token (``secrets.token_urlsafe(32)``, 256 bits) is returned once and
  only its SHA-256 (:func:`webapp.accounts.tokens.hash_token`) is stored. The
  session is held from retention until the link expires
  (``Manager.hold(session_id, "share:<id>", expires_at)``).
- ``check_expiry(seconds)``: a whole number of seconds, 1 to ``SHARE_MAX_AGE``, else
  ``ShareError``.
- ``open_link(token)`` -> the live link or None: unknown, expired and revoked look
  the same (one query by hash with every condition in it).
- ``record_view(link, address)``: counts the view and writes its audit entry.
- ``revoke(share_id, actor=, admin=)``: by its creator or an admin (else
  ``ShareForbidden``), at once; the hold ends with it. ``ShareNotFound`` for an
  unknown id.

Every change commits together with its audit entry (``share.create``,
``share.revoke``, ``share.view``).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import Row, Table, insert, select, update

from webapp.accounts import audit
from webapp.accounts.auth import current_actor
from webapp.accounts.tokens import hash_token
from webapp.config import parse_duration
from webapp.extensions import get_database, get_manager
from webapp.sessions import UnknownSessionError
from webapp.sessions.transcripts import session_exists
from webapp.sessions.types import format_utc
from webapp.shares.models import ShareLink

links_t = cast(Table, ShareLink.__table__)

#: A new link's life when none is asked for (at most SHARE_MAX_AGE).
DEFAULT_AGE = timedelta(days=7)
#: Longer path tokens are refused without hashing (a real one has 43 characters).
MAX_TOKEN_LENGTH = 100
#: Links a page of the admins' list shows.
PAGE = 100


class ShareError(ValueError):
    """A link cannot be made as asked; the message says why."""


class ShareNotFound(LookupError):
    """No link has this id."""


class ShareForbidden(PermissionError):
    """Only the link's creator or an admin may revoke it."""


@dataclass(frozen=True)
class ShareInfo:
    """What the app keeps of a link: never its token."""

    id: int
    session_id: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    redact: bool
    comments: bool
    views: int
    last_viewed_at: datetime | None

    def state(self, now: datetime) -> str:
        """``live``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        return "live" if self.expires_at > now else "expired"


def holder(share_id: int) -> str:
    """The name of the link's hold on its session."""
    return f"share:{share_id}"


def _info(row: Row[Any]) -> ShareInfo:
    m = row._mapping
    return ShareInfo(**{name: m[name] for name in ShareInfo.__dataclass_fields__})


def max_age() -> timedelta:
    """The longest life a link may have (``SHARE_MAX_AGE``)."""
    return parse_duration(current_app.config["SHARE_MAX_AGE"])


def default_age() -> timedelta:
    """A new link's life when none is asked for: 7 days, or less if that is over the max."""
    return min(DEFAULT_AGE, max_age())


def check_expiry(seconds: Any) -> timedelta:
    """``seconds`` as a link's life: a whole number from 1 to ``SHARE_MAX_AGE``."""
    limit = int(max_age().total_seconds())
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise ShareError("expires_in is a whole number of seconds")
    if not 0 < seconds <= limit:
        raise ShareError(f"expires_in is 1 to {limit} seconds (SHARE_MAX_AGE)")
    return timedelta(seconds=seconds)


def create(
    session_id: str,
    *,
    expires_in: timedelta,
    redact: bool = False,
    comments: bool = False,
    actor: str | None = None,
) -> tuple[ShareInfo, str]:
    """Make a link to the session; return it and its token (shown once)."""
    if not timedelta(0) < expires_in <= max_age():
        raise ShareError("a link lives at most SHARE_MAX_AGE")
    token = secrets.token_urlsafe(32)
    manager = get_manager()
    with get_database().write() as conn:
        if not session_exists(conn, session_id):
            raise UnknownSessionError(session_id)
        now = manager.clock()
        values = {
            "session_id": session_id,
            "token_hash": hash_token(token),
            "created_by": actor or current_actor(),
            "created_at": now,
            "expires_at": now + expires_in,
            "revoked_at": None,
            "revoked_by": None,
            "redact": bool(redact),
            "comments": bool(comments),
            "views": 0,
            "last_viewed_at": None,
        }
        info = _info(conn.execute(insert(links_t).values(values).returning(*links_t.c)).one())
        manager.hold(session_id, holder(info.id), info.expires_at)
        detail = {
            "share": info.id,
            "expires_at": format_utc(info.expires_at),
            "redact": info.redact,
            "comments": info.comments,
        }
        audit.record("share.create", session_id=session_id, detail=detail, actor=actor)
    return info, token


def get(share_id: int) -> ShareInfo | None:
    """The link with this id, live or not."""
    with get_database().read() as conn:
        row = conn.execute(select(links_t).where(links_t.c.id == share_id)).first()
    return None if row is None else _info(row)


def revoke(share_id: int, *, actor: str | None = None, admin: bool = False) -> ShareInfo:
    """Revoke the link at once (a revoked one stays so); its hold on the session ends."""
    actor = actor or current_actor()
    c = links_t.c
    with get_database().write() as conn:
        row = conn.execute(select(links_t).where(c.id == share_id)).first()
        if row is None:
            raise ShareNotFound(share_id)
        info = _info(row)
        if not admin and info.created_by != actor:
            raise ShareForbidden(share_id)
        if info.revoked_at is not None:
            return info
        now = get_manager().clock()
        row = conn.execute(
            update(links_t)
            .where(c.id == share_id)
            .values(revoked_at=now, revoked_by=actor)
            .returning(*links_t.c)
        ).one()
        get_manager().release(info.session_id, holder(share_id))
        audit.record(
            "share.revoke", session_id=info.session_id, detail={"share": share_id}, actor=actor
        )
    return _info(row)


def open_link(token: str) -> ShareInfo | None:
    """The live link whose token is ``token``, or None (unknown, expired or revoked
    alike: one lookup by hash that carries every condition)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_token(token)
    c = links_t.c
    now = get_manager().clock()
    query = select(links_t).where(
        c.token_hash == digest, c.revoked_at.is_(None), c.expires_at > now
    )
    with get_database().read() as conn:
        row = conn.execute(query).first()
    if row is None or not hmac.compare_digest(row._mapping["token_hash"], digest):
        return None
    return _info(row)


def record_view(link: ShareInfo, address: str) -> None:
    """Count a view of the link and write it in the audit log (actor ``share link <id>``)."""
    c = links_t.c
    with get_database().write() as conn:
        conn.execute(
            update(links_t)
            .where(c.id == link.id)
            .values(views=c.views + 1, last_viewed_at=get_manager().clock())
        )
        audit.record(
            "share.view",
            session_id=link.session_id,
            detail={"share": link.id, "address": address[:64]},
            actor=f"share link {link.id}",
        )


def for_session(session_id: str) -> list[ShareInfo]:
    """The session's links, newest first, revoked and expired ones too."""
    c = links_t.c
    query = select(links_t).where(c.session_id == session_id).order_by(c.id.desc())
    with get_database().read() as conn:
        return [_info(r) for r in conn.execute(query)]


def all_links(
    *, before: int | None = None, limit: int = PAGE
) -> tuple[list[ShareInfo], int | None]:
    """Every link, newest first, older than id ``before``; and the ``before`` of the
    next page (or None)."""
    c = links_t.c
    query = select(links_t).order_by(c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(c.id < before)
    with get_database().read() as conn:
        rows = [_info(r) for r in conn.execute(query)]
    more = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], more


def now() -> datetime:
    """The app's clock (the Manager's), for the states of links."""
    return get_manager().clock()
