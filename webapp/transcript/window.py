"""Windows of a long transcript that begin and end at turn boundaries.

A page shows a window of messages (a 50,000-message session is never read
whole). Read one message more than the window holds, then :func:`trim` cuts the
rows so that the window starts at a prompt (unless it is the transcript's start)
and ends before a prompt (unless it is the transcript's end, or that prompt is
the window's first): no turn is shown in two halves unless a single turn is
longer than the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic

from webapp.transcript.model import M, kind_of

__all__ = ["Window", "is_prompt", "trim"]


def is_prompt(message: M) -> bool:
    """Whether ``message`` opens a turn (a blank one opens none)."""
    return kind_of(message) == "prompt" and bool(message.content.strip())


@dataclass(frozen=True)
class Window(Generic[M]):
    """Consecutive messages; ``earlier``/``later``: whether more precede/follow."""

    messages: list[M]
    earlier: bool
    later: bool


def trim(rows: Sequence[M], *, earlier: bool, later: bool) -> Window[M]:
    """Cut ``rows`` (consecutive messages; ``earlier``/``later`` say whether the
    transcript goes on before/after them) to whole turns where it can."""
    messages = list(rows)
    if earlier:
        first = next((i for i, m in enumerate(messages) if is_prompt(m)), None)
        if first is not None and first > 0:
            messages = messages[first:]
    if later:
        last = next((i for i in range(len(messages) - 1, 0, -1) if is_prompt(messages[i])), None)
        # Cut before the last prompt only when a whole turn stays before it: a
        # first turn longer than the window is shown in parts, not left out (the
        # window would hold only the lines before the transcript's first prompt).
        if last is not None and any(is_prompt(m) for m in messages[:last]):
            messages = messages[:last]
    return Window(messages, earlier=earlier, later=later)
