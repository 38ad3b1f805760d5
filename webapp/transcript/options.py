"""The reader's noise toggles: thinking, tool details, hooks and system lines.

They live in the URL (``?thinking=1&tools=1&hooks=1``, shareable; the dashboard
parses them) and the page's script remembers them per browser. Off, each kind
is folded to one line (a "thinking" mark, "N tools: ...", "N hook events"); on,
it is drawn open.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["TOGGLES", "NoiseToggles"]

#: URL parameter -> what it opens, in the order the page offers them.
TOGGLES: dict[str, str] = {
    "thinking": "Thinking",
    "tools": "Tool details",
    "hooks": "Hooks and system lines",
}


@dataclass(frozen=True)
class NoiseToggles:
    """Which kinds of noise are drawn open."""

    thinking: bool = False
    tools: bool = False
    hooks: bool = False

    def as_args(self) -> dict[str, str]:
        """The toggles that are on, as query parameters."""
        return {f.name: "1" for f in fields(self) if getattr(self, f.name)}

    def flipped(self, name: str) -> NoiseToggles:
        """The same toggles with ``name`` switched."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        current[name] = not current[name]
        return NoiseToggles(**current)
