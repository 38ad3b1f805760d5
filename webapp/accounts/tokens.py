"""API tokens: the bearer credentials of agent runners and admin scripts.

A token is shown once, when it is made; the database keeps only its SHA-256
hash. Tokens are high-entropy random strings, so a plain hash (no salt, no slow
KDF) is enough: nobody can guess one from its hash. A request's token is hashed,
looked up by hash, and the hashes are compared again with ``hmac.compare_digest``.

Scopes: ``ingest`` creates, updates, appends and reads; ``admin`` may also delete
and clear. The functions here take an ``Engine`` (the app's, or one a script
makes) and commit their own transaction; they import no Flask.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Index, Row, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from webapp.sessions.models import Base, BigId
from webapp.sessions.types import utcnow

#: Every token starts with this, so a leaked one is easy to recognise in a log or a scan.
TOKEN_PREFIX = "sb_"  # noqa: S105 (a prefix, not a secret)
#: How stale ``last_used_at`` may get before a request writes it again: a write
#: per request would double the write load of an append.
LAST_USED_PRECISION = timedelta(minutes=1)
#: Longer Authorization values are refused without hashing.
MAX_TOKEN_LENGTH = 200
MAX_NAME_LENGTH = 100


class Scope(enum.StrEnum):
    """What a token may do."""

    INGEST = "ingest"
    ADMIN = "admin"


class ApiToken(Base):
    """One API token: its name, scope and hash, and when it was used or revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    #: Hex SHA-256 of the token; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("uq_api_tokens_token_hash", "token_hash", unique=True),)


tokens_t = cast(Table, ApiToken.__table__)


class TokenError(ValueError):
    """A token cannot be made or revoked as asked (bad name, name taken, unknown)."""


@dataclass(frozen=True)
class TokenInfo:
    """What the app knows about a token, never the token itself."""

    id: int
    name: str
    scope: Scope
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def is_admin(self) -> bool:
        """True for a token that may delete and clear."""
        return self.scope is Scope.ADMIN


def hash_token(token: str) -> str:
    """The hex SHA-256 of ``token`` as stored in ``api_tokens.token_hash``."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _info(row: Row[Any]) -> TokenInfo:
    m = row._mapping
    return TokenInfo(
        id=m["id"],
        name=m["name"],
        scope=Scope(m["scope"]),
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


def _writer(engine: Engine) -> Engine:
    # BEGIN IMMEDIATE on SQLite, as every write of the store (see configure_engine).
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def check_name(name: str) -> str:
    """``name`` stripped, or ``TokenError`` if it is empty, too long or not printable."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise TokenError(f"a token name is 1 to {MAX_NAME_LENGTH} printable characters")
    return name


def create_token(
    engine: Engine, name: str, scope: Scope | str = Scope.INGEST, *, now: datetime | None = None
) -> tuple[TokenInfo, str]:
    """Make a token called ``name``; return its info and the token, which is shown
    once and never stored. Names are unique, revoked tokens' names included."""
    name = check_name(name)
    try:
        scope = Scope(scope)
    except ValueError:
        raise TokenError(f"unknown scope {scope!r}: use ingest or admin") from None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    values = {
        "name": name,
        "scope": scope.value,
        "token_hash": hash_token(token),
        "created_at": now or utcnow(),
        "last_used_at": None,
        "revoked_at": None,
    }
    try:
        with _writer(engine).begin() as conn:
            taken = conn.execute(select(tokens_t.c.id).where(tokens_t.c.name == name)).first()
            if taken is not None:
                raise TokenError(f"a token named {name!r} exists already")
            row = conn.execute(insert(tokens_t).values(values).returning(*tokens_t.c)).one()
    except IntegrityError:  # a concurrent create took the name
        raise TokenError(f"a token named {name!r} exists already") from None
    return _info(row), token


def list_tokens(engine: Engine) -> list[TokenInfo]:
    """Every token, revoked ones too, oldest first."""
    query = select(tokens_t).order_by(tokens_t.c.created_at, tokens_t.c.id)
    with engine.connect() as conn:
        return [_info(row) for row in conn.execute(query)]


def revoke_token(engine: Engine, name: str, *, now: datetime | None = None) -> TokenInfo:
    """Revoke the live token called ``name`` (at once, for every process);
    ``TokenError`` if there is none."""
    c = tokens_t.c
    with _writer(engine).begin() as conn:
        row = conn.execute(
            update(tokens_t)
            .where(c.name == name, c.revoked_at.is_(None))
            .values(revoked_at=now or utcnow())
            .returning(*tokens_t.c)
        ).first()
    if row is None:
        raise TokenError(f"no live token named {name!r}")
    return _info(row)


def authenticate(engine: Engine, token: str, *, now: datetime | None = None) -> TokenInfo | None:
    """The live token matching ``token``, or None. Notes when it was used, at most
    once per ``LAST_USED_PRECISION``."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_token(token)
    c = tokens_t.c
    with engine.connect() as conn:
        row = conn.execute(select(tokens_t).where(c.token_hash == digest)).first()
    # The lookup is by hash, so timing tells nothing about the token; compare anyway,
    # in constant time, so that no future change of the lookup can leak.
    if row is None or not hmac.compare_digest(row._mapping["token_hash"], digest):
        return None
    info = _info(row)
    if info.revoked_at is not None:
        return None
    now = now or utcnow()
    if info.last_used_at is None or now - info.last_used_at >= LAST_USED_PRECISION:
        with _writer(engine).begin() as conn:
            conn.execute(update(tokens_t).where(c.id == info.id).values(last_used_at=now))
    return info
