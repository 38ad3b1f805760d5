"""Logins kept on the server, so that they can end before the cookie does.

A login is a row of ``logins``; the browser's session cookie holds a random secret
whose SHA-256 is the row's ``secret_hash``. A request's login is live while it has
not ended (logout, "log out everywhere", an admin, a disabled user or a new
password end it), was seen within the idle timeout, and is younger than the
maximum age. ``last_seen_at`` is written at most once per ``SEEN_RESOLUTION``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)

from webapp.accounts.models import Login

logins_t = cast(Table, Login.__table__)

#: ``last_seen_at`` moves only when it is older than this, so most requests write nothing.
SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetime:
    """How long a login lasts: unused (``idle``) and at most (``max_age``)."""

    idle: timedelta
    max_age: timedelta


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _storable(text: str, limit: int) -> str:
    # Headers are the client's to choose: no NUL or lone surrogate reaches the database.
    return text.encode("utf-8", "replace").decode().replace("\x00", "")[:limit]


def live(now: datetime, lifetime: Lifetime) -> ColumnElement[bool]:
    """The condition of a live login at ``now``."""
    c = logins_t.c
    return and_(
        c.ended_at.is_(None),
        c.last_seen_at > now - lifetime.idle,
        c.created_at > now - lifetime.max_age,
    )


def start(conn: Connection, user_id: int, now: datetime, *, address: str, user_agent: str) -> str:
    """A new login of ``user_id``; returns the secret for the cookie."""
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(logins_t).values(
            secret_hash=_secret_hash(secret),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            ended_at=None,
            address=_storable(address, 64),
            user_agent=_storable(user_agent, 200),
        )
    )
    return secret


@dataclass(frozen=True)
class LiveLogin:
    """A live login found by its secret."""

    id: int
    user_id: int
    last_seen_at: datetime

    def stale(self, now: datetime) -> bool:
        """Whether ``last_seen_at`` is due to be moved to ``now``."""
        return now - self.last_seen_at >= SEEN_RESOLUTION


def find_live(conn: Connection, secret: str, now: datetime, lifetime: Lifetime) -> LiveLogin | None:
    """The live login behind ``secret``, or None."""
    c = logins_t.c
    row = conn.execute(
        select(c.id, c.user_id, c.last_seen_at).where(
            c.secret_hash == _secret_hash(secret), live(now, lifetime)
        )
    ).first()
    return LiveLogin(row.id, row.user_id, row.last_seen_at) if row is not None else None


def live_login_user(users: Table) -> Select[Any]:
    """The live login behind a secret and its user's columns, in one statement built
    once (a page request ran two, each built anew): parameters
    ``secret_hash``, ``seen_after`` (now - idle timeout), ``born_after`` (now -
    maximum age); columns ``login_id``, ``last_seen_at`` and the user's."""
    c = logins_t.c
    return (
        select(c.id.label("login_id"), c.last_seen_at, *users.c)
        .join_from(logins_t, users, users.c.id == c.user_id)
        .where(
            c.secret_hash == bindparam("secret_hash"),
            c.ended_at.is_(None),
            c.last_seen_at > bindparam("seen_after"),
            c.created_at > bindparam("born_after"),
        )
    )


def live_login_params(secret: str, now: datetime, lifetime: Lifetime) -> dict[str, Any]:
    """The parameters of :func:`live_login_user` for ``secret`` at ``now``."""
    return {
        "secret_hash": _secret_hash(secret),
        "seen_after": now - lifetime.idle,
        "born_after": now - lifetime.max_age,
    }


def touch(conn: Connection, login_id: int, now: datetime) -> None:
    """Note that the login was used at ``now``."""
    c = logins_t.c
    conn.execute(
        update(logins_t).where(c.id == login_id, c.ended_at.is_(None)).values(last_seen_at=now)
    )


def end(conn: Connection, secret: str, now: datetime) -> None:
    """End the login behind ``secret``."""
    c = logins_t.c
    conn.execute(
        update(logins_t)
        .where(c.secret_hash == _secret_hash(secret), c.ended_at.is_(None))
        .values(ended_at=now)
    )


def end_all(conn: Connection, user_id: int, now: datetime) -> int:
    """End every open login of ``user_id``; returns how many were open."""
    c = logins_t.c
    result = conn.execute(
        update(logins_t).where(c.user_id == user_id, c.ended_at.is_(None)).values(ended_at=now)
    )
    return int(result.rowcount)


@dataclass(frozen=True)
class LoginInfo:
    """One live login as its user sees it in "your logins"."""

    created_at: datetime
    last_seen_at: datetime
    address: str
    user_agent: str
    current: bool


def list_live(
    conn: Connection, user_id: int, current_secret: str, now: datetime, lifetime: Lifetime
) -> list[LoginInfo]:
    """The live logins of ``user_id``, last seen first; ``current`` marks this browser's."""
    c = logins_t.c
    current_hash = _secret_hash(current_secret)
    rows = conn.execute(
        select(c.created_at, c.last_seen_at, c.address, c.user_agent, c.secret_hash)
        .where(c.user_id == user_id, live(now, lifetime))
        .order_by(c.last_seen_at.desc(), c.id.desc())
    )
    return [
        LoginInfo(
            r.created_at, r.last_seen_at, r.address, r.user_agent, r.secret_hash == current_hash
        )
        for r in rows
    ]


def count_live(conn: Connection, now: datetime, lifetime: Lifetime) -> dict[int, int]:
    """User id -> how many live logins they have (users without any are left out)."""
    c = logins_t.c
    rows = conn.execute(
        select(c.user_id, func.count()).where(live(now, lifetime)).group_by(c.user_id)
    )
    return {int(user_id): int(n) for user_id, n in rows}
