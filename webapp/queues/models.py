"""Rows of the queues feature: saved views, queues, their reviewers and rubric
criteria, the queue items (with their state) and the reviewers' scores."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.sessions.models import Base, BigId

#: The kinds of rubric criterion.
KINDS = ("passfail", "score", "choice", "text")
#: How a queue hands out its sessions.
MODES = ("round_robin", "claim")
#: A queue item's states: waiting for a reviewer, assigned to one, scored.
STATES = ("open", "assigned", "done")


class SavedView(Base):
    """A session list's filter saved under a name, personal or shared with the team."""

    __tablename__ = "saved_views"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str] = mapped_column(String(64))
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The list's query string, normalised (webapp.filters writes it back).
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("owner", "name", name="uq_saved_views_owner_name"),
        Index("ix_saved_views_shared", "shared", "name"),
    )


class Queue(Base):
    """A saved view's sessions to review with a rubric, by a set of reviewers."""

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    view_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("saved_views.id", ondelete="RESTRICT"), index=True
    )
    mode: Mapped[str] = mapped_column(String(16))
    #: Seconds an assignment lasts without work before it goes back.
    assignment_ttl: Mapped[int] = mapped_column(Integer)
    #: How many assignments round-robin has handed out (the next reviewer's turn).
    turn: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class QueueReviewer(Base):
    """A reviewer who works on a queue."""

    __tablename__ = "queue_reviewers"

    queue_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    reviewer: Mapped[str] = mapped_column(String(64), primary_key=True)


class Criterion(Base):
    """One criterion of a queue's rubric."""

    __tablename__ = "rubric_criteria"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    queue_id: Mapped[int] = mapped_column(BigId, ForeignKey("queues.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    #: A choice's labels, one a line ("" for the other kinds).
    options: Mapped[str] = mapped_column(Text, default="")
    required: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        UniqueConstraint("queue_id", "label", name="uq_rubric_criteria_queue_label"),
        Index("ix_rubric_criteria_queue", "queue_id", "position"),
    )


class QueueItem(Base):
    """A session in a queue, with its state and whom it is assigned to."""

    __tablename__ = "queue_items"

    queue_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(64))
    #: When assigned, or last worked on (a score moves it): the expiry counts from it.
    assigned_at: Mapped[datetime | None]
    added_at: Mapped[datetime]
    done_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_queue_items_state", "queue_id", "state", "added_at"),
        Index("ix_queue_items_assignee", "assignee", "queue_id", "state"),
        Index("ix_queue_items_session", "session_id"),
    )


class Score(Base):
    """One reviewer's answer to one criterion for one session."""

    __tablename__ = "rubric_scores"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    criterion_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("rubric_criteria.id", ondelete="CASCADE")
    )
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE")
    )
    reviewer: Mapped[str] = mapped_column(String(64))
    #: The answer as text: "pass"/"fail", "1".."5", a choice's label, free text.
    value: Mapped[str] = mapped_column(Text)
    #: The answer as a number where it is one (pass 1, fail 0, a score), to sort on.
    number: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint(
            "criterion_id", "session_id", "reviewer", name="uq_rubric_scores_one_answer"
        ),
        Index("ix_rubric_scores_session", "session_id", "criterion_id"),
        #: The session list's sort and range filter by a criterion's mean score: its
        #: answers in session order with their numbers, read without the table.
        Index("ix_rubric_scores_rank", "criterion_id", "session_id", "number"),
    )
