"""What the parser returns: plain dataclasses, shaped like the domain's."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TOKEN_FIELDS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
#: Length of the store's session id column; child ids are kept within it.
MAX_SESSION_ID_LENGTH = 64


@dataclass
class ParsedMessage:
    """One content block of a transcript, shaped like ``webapp.sessions.Message``.

    ``source_key`` is unique within its session and stable across re-parses.
    """

    role: str
    content: str
    summary: str = ""
    timestamp: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    source_key: str = ""

    def as_message_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``Message(...)`` (``source_key`` excluded)."""
        return {
            "role": self.role,
            "content": self.content,
            "summary": self.summary,
            "timestamp": self.timestamp,
            "meta": self.meta,
        }


@dataclass
class ParsedSession:
    """One Claude Code session (or one subagent run), ready to be stored."""

    id: str
    status: str = "completed"
    request: str | None = None
    response: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    last_activity: datetime | None = None
    context: dict[str, Any] = field(default_factory=dict)
    messages: list[ParsedMessage] = field(default_factory=list)
    parent_id: str | None = None
    parent_tool_use_id: str | None = None
    agent_id: str | None = None
    source_path: str | None = None
    #: On a resumed parse (``start_offset > 0``): meta keys to merge into messages
    #: emitted by an earlier call (``source_key`` -> keys), because a new line
    #: completed them (the final ``usage`` of a response, ``child_session_id``).
    meta_updates: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ParseStats:
    """What was read and what was skipped, and why. Never raises.

    ``replaced_characters`` counts the NUL characters and lone surrogates of
    the new lines replaced by U+FFFD.
    """

    files: int = 0
    lines_read: int = 0
    lines_skipped: dict[str, int] = field(default_factory=dict)
    entries: dict[str, int] = field(default_factory=dict)
    empty_files: list[str] = field(default_factory=list)
    unreadable_files: list[str] = field(default_factory=list)
    offset_resets: list[str] = field(default_factory=list)
    replaced_characters: int = 0

    def skip(self, reason: str, n: int = 1) -> None:
        """Count ``n`` lines skipped for ``reason``."""
        self.lines_skipped[reason] = self.lines_skipped.get(reason, 0) + n

    def count_entry(self, entry_type: str) -> None:
        """Count one line of type ``entry_type``."""
        self.entries[entry_type] = self.entries.get(entry_type, 0) + 1

    @property
    def skipped_total(self) -> int:
        """Lines skipped, whatever the reason."""
        return sum(self.lines_skipped.values())

    def merge(self, other: ParseStats) -> None:
        """Add ``other``'s counts and lists to these."""
        self.files += other.files
        self.lines_read += other.lines_read
        for k, v in other.lines_skipped.items():
            self.skip(k, v)
        for k, v in other.entries.items():
            self.entries[k] = self.entries.get(k, 0) + v
        self.empty_files.extend(other.empty_files)
        self.unreadable_files.extend(other.unreadable_files)
        self.offset_resets.extend(other.offset_resets)
        self.replaced_characters += other.replaced_characters


@dataclass
class ParseResult:
    """``end_offset``: byte offset after the last consumed line of the file
    (``parse_file``); ``end_offsets`` maps each file to it (``parse_paths``).
    ``orphan_summaries`` maps summary ``leafUuid``s not found in the parsed
    sessions to their summary text."""

    sessions: list[ParsedSession]
    stats: ParseStats
    end_offset: int = 0
    end_offsets: dict[str, int] = field(default_factory=dict)
    orphan_summaries: dict[str, str] = field(default_factory=dict)


def fit_id(parent_id: str, kind: str, token: str) -> str:
    """``"<parent>-<kind>-<token>"``, or a hashed form when that is longer than
    :data:`MAX_SESSION_ID_LENGTH` (the store's session id column)."""
    candidate = f"{parent_id}-{kind}-{token}"
    if len(candidate) <= MAX_SESSION_ID_LENGTH:
        return candidate
    digest = hashlib.sha256(f"{parent_id}\0{kind}\0{token}".encode()).hexdigest()
    prefix = f"{parent_id[:36]}-{kind}-"
    return prefix + digest[: max(8, MAX_SESSION_ID_LENGTH - len(prefix))]


def child_session_id(parent_id: str, agent_id: str) -> str:
    """The deterministic id of the subagent ``agent_id`` of session ``parent_id``:
    ``"<parent id>-agent-<agent id>"`` (at most 64 characters)."""
    return fit_id(parent_id, "agent", agent_id)
