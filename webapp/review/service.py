"""Review data for other features' pages.

CONTRACT (the review feature implements these; until then they return nothing):
- ``session_review(session_id) -> dict``: ``verdict`` ("unreviewed" | "approved" |
  "flagged"), ``verdict_by``, ``verdict_at``, ``reason``, ``tags`` (list[str]),
  ``comments`` (session-level, list of dicts with author, created_at, body_html).
- ``list_annotations(session_ids) -> dict[str, dict]``: per session id
  ``{"verdict": str, "tags": list[str]}`` for the session list's columns.
- ``comments_by_message(session_id) -> dict[int, list[dict]]``: comments on single
  messages, keyed by message id, shown beside that message.
- ``session_filter(verdicts, reviewer, tag)``: a SQL condition on ``sessions.id``
  for the session list, or None when no review filter is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

VERDICTS = ("unreviewed", "approved", "flagged")


def session_review(session_id: str) -> dict[str, Any]:
    """The review state of one session."""
    return {
        "verdict": "unreviewed",
        "verdict_by": None,
        "verdict_at": None,
        "reason": "",
        "tags": [],
        "comments": [],
    }


def list_annotations(session_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Verdict and tags per session, for list rows."""
    return {sid: {"verdict": "unreviewed", "tags": []} for sid in session_ids}


def comments_by_message(session_id: str) -> dict[int, list[dict[str, Any]]]:
    """Comments on single messages, keyed by message id."""
    return {}


def session_filter(
    verdicts: Sequence[str] | None = None, reviewer: str | None = None, tag: str | None = None
) -> Any:
    """A condition on ``sessions.id`` for review filters, or None."""
    return None
