"""Small text and value helpers shared by the parser's modules."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences."""
    return _ANSI_RE.sub("", text)


def one_line(text: str, limit: int = 120) -> str:
    """``text`` on one line, whitespace collapsed, cut to ``limit`` characters."""
    s = " ".join(text.split())
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"


def parse_ts(value: object) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def as_int(value: object) -> int:
    """``value`` as a token count: an int (a float truncated), else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return 0
