"""Rows of the accounts feature: users, the audit log, the login throttle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text
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
    #: Bumped when the password is reset or the user disabled: older logins end.
    login_version: Mapped[int] = mapped_column(Integer, default=0)


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


class LoginFailure(Base):
    """A failed login, counted per user name and per address by the throttle."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: ``name:<user name>`` or ``ip:<address>``.
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]

    __table_args__ = (
        Index("ix_login_failures_key_at", "key", "at"),
        Index("ix_login_failures_at", "at"),
    )
