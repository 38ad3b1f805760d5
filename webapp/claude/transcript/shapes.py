"""The shapes of Claude Code's JSONL lines, as Claude Code writes them.

The format is undocumented and the files are input: a line is only known to be
a JSON object. These TypedDicts name the keys the parser reads and the types
Claude Code gives them; the parser still checks each value's type before it
uses it (``isinstance``), so a line of another shape is skipped or read as far
as it goes, never trusted.
"""

from __future__ import annotations

from typing import TypeAlias, TypedDict, cast

#: A decoded JSON value.
JSONValue: TypeAlias = "str | int | float | bool | None | list[JSONValue] | dict[str, JSONValue]"
#: A decoded JSON object (one line of a transcript, before it is read as an Entry).
JSONObject: TypeAlias = dict[str, JSONValue]


class Usage(TypedDict, total=False):
    """``message.usage`` of an API response (a snapshot on every line of it)."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


class MediaSource(TypedDict, total=False):
    """``source`` of an image or document block: base64 ``data`` or a ``url``."""

    type: str
    media_type: str
    data: str
    url: str


class Block(TypedDict, total=False):
    """One content block of a message (every block type's keys in one shape)."""

    type: str
    text: str
    thinking: str
    # tool_use / server_tool_use
    id: str
    name: str
    input: JSONValue
    # tool_result
    tool_use_id: str
    content: str | list[JSONValue] | None
    is_error: bool
    # image / document
    source: MediaSource
    # tool_reference (inside a tool_result)
    tool_name: str


class MessageBody(TypedDict, total=False):
    """``message`` of a user or assistant line."""

    id: str
    role: str
    model: str
    content: str | list[Block]
    usage: Usage


class ToolUseResult(TypedDict, total=False):
    """``toolUseResult`` of a user line; a Task/Agent result names its subagent,
    an Edit/MultiEdit/Write result carries its hunks (``structuredPatch``)."""

    agentId: str
    agentType: str
    structuredPatch: list[JSONValue]


class CompactMetadata(TypedDict, total=False):
    """``compactMetadata`` of a ``system``/``compact_boundary`` line."""

    trigger: str
    preTokens: int


class HookInfo(TypedDict, total=False):
    """One item of ``hookInfos`` of a ``stop_hook_summary`` line."""

    command: str


class Attachment(TypedDict, total=False):
    """``attachment`` of an ``attachment`` line (hook output, files, reminders)."""

    type: str
    hookName: str
    hookEvent: str
    content: str | list[JSONValue]
    stdout: str | list[JSONValue]
    stderr: str | list[JSONValue]
    addedNames: list[JSONValue]


class ProgressData(TypedDict, total=False):
    """``data`` of a ``progress`` line (``hook_progress`` becomes a message)."""

    type: str
    hookName: str
    hookEvent: str
    command: str


class Entry(TypedDict, total=False):
    """One line of a transcript."""

    type: str
    uuid: str
    parentUuid: str | None
    sessionId: str
    isSidechain: bool
    agentId: str
    timestamp: str
    cwd: str
    gitBranch: str
    version: str
    slug: str
    # user / assistant
    message: MessageBody
    isMeta: bool
    isCompactSummary: bool
    isApiErrorMessage: bool
    toolUseResult: ToolUseResult
    error: JSONValue
    apiErrorStatus: JSONValue
    # system
    subtype: str
    content: str
    level: str
    compactMetadata: CompactMetadata
    hookInfos: list[HookInfo]
    hookErrors: list[JSONValue]
    toolUseID: str
    durationMs: int | float
    retryAttempt: JSONValue
    maxRetries: JSONValue
    retryInMs: JSONValue
    # attachment / progress
    attachment: Attachment
    data: ProgressData
    # summary / custom-title / ai-title / pr-link
    leafUuid: str
    summary: str
    customTitle: str
    aiTitle: str
    title: str
    prUrl: str


def as_entry(obj: JSONObject) -> Entry:
    """Read a decoded line as an :class:`Entry` (its values are checked at use)."""
    return cast(Entry, obj)


def text_of(value: object) -> str | None:
    """``value`` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None
