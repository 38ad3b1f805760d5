"""The domain's plain types: Status, Message, Session and Config."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


class Status(enum.StrEnum):
    """Where a session is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CLOSED = "closed"

    @property
    def is_terminal(self) -> bool:
        """A terminal session takes no new message and no status change."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({Status.EXPIRED, Status.CLOSED})
#: Sessions that can time out: the agent has not finished yet.
UNFINISHED_STATUSES = frozenset({Status.PENDING, Status.RUNNING})

MESSAGE_ROLES = ("user", "assistant", "system", "tool")
REQUEST_EXCERPT_LENGTH = 200


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is refused, since its zone is a guess."""
    if not isinstance(value, datetime):
        raise ValueError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()}: use timezone-aware UTC datetimes")
    return value.astimezone(UTC)


def format_utc(value: datetime) -> str:
    """``value`` as every wire format writes time: ISO 8601 in UTC with microseconds
    and ``Z`` (``2026-01-15T12:00:00.000000Z``); a naive datetime is refused."""
    return as_utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def excerpt(text: str | None, length: int = REQUEST_EXCERPT_LENGTH) -> str:
    """A one-line prefix of ``text`` for lists: whitespace folded, at most ``length`` chars."""
    if not text:
        return ""
    folded = " ".join(text[: length * 4].split())
    if len(folded) <= length:
        return folded
    return folded[: length - 1].rstrip() + "…"


def check_json(value: Any, what: str) -> None:
    """Raise ``ValueError`` unless ``value`` can be stored as JSON."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from exc


@dataclass
class Message:
    """One message of a transcript.

    ``role`` is a non-empty string (``user``, ``assistant``, ``system``, ``tool``);
    ``timestamp`` None means "now"; ``meta`` is an optional JSON object for what a
    runner or importer knows beyond the text (model, usage, tool calls, thinking).
    """

    role: str
    content: str
    summary: str = ""
    timestamp: datetime | None = None
    meta: dict[str, Any] | None = None
    #: An importer's or runner's own key for the message: stored once per session.
    source_key: str | None = field(default=None, compare=False)
    id: int | None = field(default=None, compare=False)

    def validate(self) -> None:
        """Raise ``ValueError`` if this message cannot be stored."""
        if not isinstance(self.role, str) or not self.role.strip():
            raise ValueError("message role must be a non-empty string")
        if not isinstance(self.content, str):
            raise ValueError("message content must be a string")
        if not isinstance(self.summary, str):
            raise ValueError("message summary must be a string")
        if self.timestamp is not None and not isinstance(self.timestamp, datetime):
            raise ValueError("message timestamp must be a datetime or None")
        if self.source_key is not None and not isinstance(self.source_key, str):
            raise ValueError("message source_key must be a string or None")
        if self.meta is not None:
            if not isinstance(self.meta, dict):
                raise ValueError("message meta must be a JSON object or None")
            check_json(self.meta, "message meta")


@dataclass
class Session:
    """A snapshot of one agent session; ``messages`` is filled only when loaded."""

    id: str
    status: Status = Status.PENDING
    request: str = ""
    response: str = ""
    error: str = ""
    created_at: datetime = field(default_factory=utcnow)
    last_activity: datetime = field(default_factory=utcnow)
    expires_at: datetime | None = None
    context: dict[str, Any] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    message_count: int = 0
    keep: bool = False
    parent_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        """True when the session takes no new message or status change."""
        return Status(self.status).is_terminal

    def is_past_expiry(self, now: datetime) -> bool:
        """True when ``expires_at`` has passed at ``now``."""
        return self.expires_at is not None and self.expires_at <= now

    def accepts_changes(self, now: datetime) -> bool:
        """True when a new turn (message or status change) may still be recorded."""
        return not self.is_terminal and not self.is_past_expiry(now)


@dataclass(frozen=True)
class Config:
    """The manager's timing rules. A zero ``message_retention`` disables purging."""

    timeout: timedelta = timedelta(minutes=30)
    message_retention: timedelta = timedelta(days=7)
    sweep_interval: timedelta = timedelta(minutes=5)
    sliding_expiry: bool = False
    #: Rows touched per statement by the sweeper; bounds lock time and memory.
    sweep_batch_size: int = 5000


@dataclass
class SweepResult:
    """What one sweep pass did (or, for a dry run, would do)."""

    ran_at: datetime
    expired_sessions: int = 0
    purged_messages: int = 0
    purged_sessions: int = 0
    message_cutoff: datetime | None = None
    session_cutoff: datetime | None = None
    dry_run: bool = False
    swept: bool = True

    def describe(self) -> str:
        """A one-line human summary."""
        verb = "would" if self.dry_run else "did"
        return (
            f"{verb}: expire {self.expired_sessions} session(s), purge "
            f"{self.purged_messages} message(s) and {self.purged_sessions} session(s)"
        )
