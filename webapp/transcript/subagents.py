"""What a subagent's card shows: the child session's status, size, tokens, cost and time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from webapp.transcript.model import compact_count, format_duration

__all__ = ["ChildCard"]


@dataclass(frozen=True)
class ChildCard:
    """A subagent session as its parent's Task/Agent call shows it: ``total_tokens``
    and ``cost_nanos`` are the session's own usage totals (the ledger's)."""

    id: str
    status: str
    message_count: int
    created_at: datetime | None
    last_activity: datetime | None
    total_tokens: int = 0
    cost_nanos: int = 0

    @property
    def duration_label(self) -> str:
        """How long the subagent ran."""
        if self.created_at is None or self.last_activity is None:
            return ""
        return format_duration(self.last_activity - self.created_at)

    @property
    def tokens_label(self) -> str:
        """Its tokens (input + output + cache), compact; '' when none were reported."""
        return compact_count(self.total_tokens) if self.total_tokens else ""
