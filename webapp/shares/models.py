"""Rows of the share feature: links that open one session read-only, without login."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.sessions.models import Base, BigId


class ShareLink(Base):
    """A link to one session. Only the SHA-256 of its token is kept (as for API
    tokens); the token is shown once, when the link is made."""

    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE")
    )
    token_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    #: Secrets replaced by the redactor when the page is drawn (never stored so).
    redact: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The reviewers' comments are shown on the page.
    comments: Mapped[bool] = mapped_column(Boolean, default=False)
    views: Mapped[int] = mapped_column(Integer, default=0)
    last_viewed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("uq_share_links_token_hash", "token_hash", unique=True),
        Index("ix_share_links_session", "session_id", "id"),
        Index("ix_share_links_expires_at", "expires_at"),
    )
