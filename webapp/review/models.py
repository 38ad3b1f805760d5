"""Rows of the review feature: verdicts, comments and tags on sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.sessions.models import Base, BigId

#: The verdicts a session can have; no row means "unreviewed".
VERDICTS = ("unreviewed", "approved", "flagged")


class Verdict(Base):
    """The current verdict on a session (at most one row per session)."""

    __tablename__ = "verdicts"

    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    verdict: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_verdicts_verdict", "verdict", "session_id"),
        Index("ix_verdicts_by", "by", "session_id"),
    )


class Comment(Base):
    """A reviewer's remark (markdown) on a session or on one of its messages."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE")
    )
    #: A purged message leaves its comments on the session.
    message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_comments_session", "session_id", "created_at", "id"),)


class Tag(Base):
    """A free label on a session."""

    __tablename__ = "tags"

    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_tags_name", "name", "session_id"),)
