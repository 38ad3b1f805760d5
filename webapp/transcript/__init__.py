"""The transcript as a conversation: turns, tool calls with their results, diffs.

Pure Python (no Flask, no database): :func:`build_turns` turns stored messages
into :class:`Turn` objects; ``templates/transcript/`` draws them and
:func:`turns_to_markdown` writes them as Markdown.
"""

from webapp.transcript.build import build_turns
from webapp.transcript.markdown import turns_to_markdown
from webapp.transcript.model import (
    Events,
    Media,
    Notice,
    Output,
    Prompt,
    PromptPart,
    Step,
    Text,
    Thinking,
    Tokens,
    ToolCall,
    ToolRun,
    TranscriptSource,
    Turn,
    kind_of,
)

__all__ = [
    "Events",
    "Media",
    "Notice",
    "Output",
    "Prompt",
    "PromptPart",
    "Step",
    "Text",
    "Thinking",
    "Tokens",
    "ToolCall",
    "ToolRun",
    "TranscriptSource",
    "Turn",
    "build_turns",
    "kind_of",
    "turns_to_markdown",
]
