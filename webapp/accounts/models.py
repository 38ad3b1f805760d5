"""Rows of the accounts feature: users, their logins, the audit log, the login throttle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.sessions.models import Base, BigId, JSONType


class User(Base):
    """A person who logs in to the dashboard, with one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Login(Base):
    """One login of a user (a browser's session cookie), revocable on the server.

    The cookie carries a random secret; only its SHA-256 is kept here.
    """

    __tablename__ = "logins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_logins_user", "user_id", "ended_at"),)


class AuditEntry(Base):
    """One thing somebody did: append-only, no route edits or deletes it."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    #: No foreign key: the entry outlives the session it is about.
    session_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor", "actor", "id"),
        Index("ix_audit_log_action", "action", "id"),
        Index("ix_audit_log_session", "session_id", "id"),
    )


class LoginThrottle(Base):
    """Failed logins counted for one key in a fixed window: a (name, address) pair,
    a name, or an address. The row is locked while an attempt is counted."""

    __tablename__ = "login_throttle"

    #: ``pair:``, ``name:`` or ``address:`` and the SHA-256 of the name and/or address.
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime]

    __table_args__ = (Index("ix_login_throttle_window_start", "window_start"),)
