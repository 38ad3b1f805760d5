"""The domain's plain types: Status, Message, Session and Config."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
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
#: Ids a client or an import may choose: URL-safe, starting with a letter or digit
#: (so that ``.`` and ``..`` never reach a URL), as long as the column allows.
SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~:-]{0,63}$"
#: How deep a stored JSON value (context, meta) may nest: far beyond any real
#: context or tool input, far below the parsers' and serialisers' recursion limits.
MAX_JSON_DEPTH = 64
MAX_ROLE_LENGTH = 32  # messages.role
MAX_SOURCE_KEY_LENGTH = 200  # messages.source_key
#: The session fields that hold free text.
SESSION_TEXT_FIELDS = ("request", "response", "error")

_SESSION_ID = re.compile(SESSION_ID_PATTERN)


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


def check_session_id(value: object) -> str:
    """``value`` if it is a session id a client or an import may choose, else ``ValueError``."""
    if not isinstance(value, str) or not _SESSION_ID.fullmatch(value):
        shown = repr(value)[:80]
        raise ValueError(
            "session id must be 1 to 64 letters, digits or ._~:- and start with a letter "
            f"or digit, not {shown}"
        )
    return value


def check_text(value: object, what: str) -> str:
    """``value`` if it is a string both engines store unchanged, else ``ValueError``
    naming ``what``: no NUL character (PostgreSQL refuses it) and no lone surrogate
    (it is not UTF-8)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    if "\x00" in value:
        raise ValueError(f"{what} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} must be valid Unicode (no lone surrogates)") from None
    return value


def check_json(value: Any, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` unless ``value`` is JSON that both engines
    store and give back unchanged: plain JSON types, no NaN or Infinity, strings and
    keys by :func:`check_text`, nested at most :data:`MAX_JSON_DEPTH` levels.

    The walk is iterative, so no depth of ``value`` raises ``RecursionError``."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, str):
            check_text(item, f"a string in {what}")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{what} must be JSON: no NaN or Infinity")
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str):
                    check_text(key, f"a key in {what}")
                elif key is not None and not isinstance(key, bool | int | float):
                    raise ValueError(f"{what} has a key that is not JSON: {key!r}")
                stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
        elif item is not None and not isinstance(item, bool | int):
            raise ValueError(f"{what} holds a value that is not JSON: {type(item).__name__}")


def check_session_fields(values: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the field unless the session fields present in
    ``values`` (texts and context) can be stored."""
    for name in SESSION_TEXT_FIELDS:
        if values.get(name) is not None:
            check_text(values[name], f"session {name}")
    if "context" in values:
        if not isinstance(values["context"], dict):
            raise ValueError("session context must be a JSON object")
        check_json(values["context"], "session context")


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
        """Raise ``ValueError``, naming the field, if this message cannot be stored."""
        role = check_text(self.role, "message role")
        if not role.strip() or len(role) > MAX_ROLE_LENGTH:
            raise ValueError(f"message role must be 1 to {MAX_ROLE_LENGTH} characters, not blank")
        check_text(self.content, "message content")
        check_text(self.summary, "message summary")
        if self.timestamp is not None and not isinstance(self.timestamp, datetime):
            raise ValueError("message timestamp must be a datetime or None")
        if self.source_key is not None:
            key = check_text(self.source_key, "message source_key")
            if not key or len(key) > MAX_SOURCE_KEY_LENGTH:
                raise ValueError(
                    f"message source_key must be 1 to {MAX_SOURCE_KEY_LENGTH} characters"
                )
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

    def validate(self) -> None:
        """Raise ``ValueError``, naming the field, if this session's fields cannot be
        stored (the id rule is the creator's: see :func:`check_session_id`)."""
        if self.status not in set(Status):
            shown = repr(self.status)[:40]
            raise ValueError(f"session status must be one of {', '.join(Status)}, not {shown}")
        check_session_fields(vars(self))
        for name in ("created_at", "last_activity", "expires_at"):
            value = getattr(self, name)
            if value is None and name == "expires_at":
                continue
            try:
                as_utc(value)
            except ValueError as exc:
                raise ValueError(f"session {name}: {exc}") from None

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
