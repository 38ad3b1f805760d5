"""What a subagent's card shows: the child session's status, size, tokens and time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webapp.transcript.model import Tokens, compact_count, format_duration

__all__ = ["ChildCard"]


@dataclass(frozen=True)
class ChildCard:
    """A subagent session as its parent's Task/Agent call shows it."""

    id: str
    status: str
    message_count: int
    created_at: datetime | None
    last_activity: datetime | None
    context: Mapping[str, Any]

    @property
    def duration_label(self) -> str:
        """How long the subagent ran."""
        if self.created_at is None or self.last_activity is None:
            return ""
        return format_duration(self.last_activity - self.created_at)

    @property
    def tokens_label(self) -> str:
        """Its tokens (input + output + cache), compact; '' when unknown."""
        tokens = Tokens()
        tokens.add(self.context)
        total = tokens.input + tokens.output + tokens.cache_read + tokens.cache_write
        return compact_count(total) if total else ""
