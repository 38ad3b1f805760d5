"""A session's messages as a reader follows them: turns of prompt, work and answer.

:func:`build_turns` is a pure function from messages as they are stored (``role``,
``content``, ``summary``, ``timestamp``, ``meta``; what ``webapp.claude`` and the
runners put in ``meta``: ``kind``, ``tool_use_id``, ``tool_name``, ``tool_input``,
``usage``, ``model``, ``child_session_id``, ``is_error``, ``uuid``,
``parent_uuid``...) to a list of :class:`Turn`. It knows no Flask and no database:
the session page, the Markdown export and the tests call it the same way.

Rules:

* A turn opens with what a person (or a runner, or a reviewer's note) said: a user
  message that is not a tool result or an interrupt. User-side pieces that arrive
  before the agent answers (a command and its expansion, a text and its image,
  bash-mode output, local command output, IDE context) join that prompt.
* The agent's work is a list of steps in file order. A tool result is never a
  step: it sits under its call, matched by ``tool_use_id`` wherever it is in the
  list; a result whose call is not in the list is a call of its own (``call`` is
  None). Consecutive calls (thinking and hook lines between them included) form
  one :class:`ToolRun`. Hook and system lines form :class:`Events` strips.
* The answer is the run of text blocks that ends the turn (``Turn.answer``).
* Nothing empty is a step: whitespace-only text is dropped; thinking without
  text (only a signature was recorded) is a :class:`Thinking` with
  ``recorded=False``, drawn as a small mark.
* Branches: when a prompt's ``meta["parent_uuid"]`` points back before earlier
  prompts (a rewind), the turns in between are marked ``rewound_by``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from webapp.sessions.types import PROMPT_KINDS
from webapp.transcript.tools import OutputText, ToolView, clean_output, tool_view

#: A text block longer than this many lines is folded, with "show all".
FOLD_LINES = 40
#: System lines that belong to the prompt they precede or follow (context, not noise).
PROMPT_CONTEXT_SUBTYPES = frozenset(
    {"meta", "ide_opened_file", "ide_selection", "ide_diagnostics", "local_command_caveat"}
)


class TranscriptSource(Protocol):
    """What a transcript is built from: a stored message (``Message``, the read
    model's ``TranscriptMessage``, or the importer's ``ParsedMessage``)."""

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...

    @property
    def summary(self) -> str: ...

    @property
    def timestamp(self) -> datetime | None: ...

    @property
    def meta(self) -> Mapping[str, Any] | None: ...


M = TypeVar("M", bound=TranscriptSource)


def meta_of(message: TranscriptSource) -> Mapping[str, Any]:
    """A message's meta, ``{}`` when it has none."""
    meta = message.meta
    return meta if isinstance(meta, Mapping) else {}


def kind_of(message: TranscriptSource) -> str:
    """What a message is to a reader: ``prompt``, ``context``, ``output``,
    ``interrupt``, ``text``, ``thinking``, ``call``, ``result``, ``event``,
    ``notice`` or ``media``."""
    meta = meta_of(message)
    kind = meta.get("kind")
    role = message.role
    if kind == "tool_use":
        return "call"
    if kind == "tool_result":
        return "result"
    if kind == "thinking":
        return "thinking"
    if kind == "hook":
        return "event"
    if kind in ("api_error", "error", "compaction"):
        return "notice"
    if kind == "interrupt":
        return "interrupt"
    if kind in ("bash", "command") and role != "user":
        return "output"
    if kind == "system":
        return "context" if meta.get("subtype") in PROMPT_CONTEXT_SUBTYPES else "event"
    if role == "user":
        return "prompt" if kind is None or kind in PROMPT_KINDS else "output"
    if role == "assistant":
        if kind in ("image", "document"):
            return "media"
        return "text" if kind in (None, "text") else "output"
    if role == "tool":
        return "output"
    return "event"


def markdown_text(content: str, meta: Mapping[str, Any] | None) -> str:
    """The text a transcript renders as markdown for a message drawn so: its
    content, or for a tool result (a subagent's report) the content as a tool's
    output is cleaned (:func:`~webapp.transcript.tools.clean_output`)."""
    if isinstance(meta, Mapping) and meta.get("kind") == "tool_result":
        return clean_output(content)
    return content


_NOTIFICATION_RE = re.compile(r"^\s*<task-notification>")
_NOTIFICATION_SUMMARY_RE = re.compile(r"<summary>(.*?)</summary>", re.DOTALL)


def notification_summary(text: str) -> str | None:
    """For a runner's background-task notification (a user message Claude Code
    writes as ``<task-notification>...``): its ``<summary>``, or "" when it has
    none (or it was cut off); None for any other text."""
    if not _NOTIFICATION_RE.match(text):
        return None
    found = _NOTIFICATION_SUMMARY_RE.search(text)
    return " ".join(found.group(1).split()) if found else ""


def outline_text(text: str) -> str:
    """A prompt's line in an outline: its text, or "Task notification: ..." for a
    background-task notification."""
    summary = notification_summary(text)
    if summary is None:
        return text
    return f"Task notification: {summary}" if summary else "Task notification"


def format_duration(delta: timedelta | None) -> str:
    """``"4 s"``, ``"2 min 5 s"``, ``"1 h 3 min"`` ('' for None)."""
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def compact_count(n: int) -> str:
    """``"950"``, ``"12.3k"``, ``"156k"``, ``"1.2M"``."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        value, unit = n / 1000, "k"
    else:
        value, unit = n / 1_000_000, "M"
    return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"


@dataclass
class Tokens:
    """Token usage: input, output, cache read and cache write (creation)."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    def add(self, usage: Any) -> None:
        """Add one ``meta["usage"]`` (an API response's usage)."""
        if not isinstance(usage, Mapping):
            return
        self.input += _count(usage.get("input_tokens"))
        self.output += _count(usage.get("output_tokens"))
        self.cache_read += _count(usage.get("cache_read_input_tokens"))
        self.cache_write += _count(usage.get("cache_creation_input_tokens"))

    @property
    def any(self) -> bool:
        """Whether any usage was recorded."""
        return bool(self.input or self.output or self.cache_read or self.cache_write)

    @property
    def parts(self) -> list[tuple[str, int, str]]:
        """``(label, count, compact count)`` of each field, in header order."""
        return [
            (label, n, compact_count(n))
            for label, n in (
                ("in", self.input),
                ("out", self.output),
                ("cache read", self.cache_read),
                ("cache write", self.cache_write),
            )
        ]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# -- steps ------------------------------------------------------------------------------


@dataclass(eq=False)
class Text(Generic[M]):
    """An assistant text block, shown in full as markdown (folded past
    :data:`FOLD_LINES` lines)."""

    message: M
    kind: ClassVar[str] = "text"

    @property
    def folded(self) -> bool:
        """Whether the block is long enough to fold."""
        return self.message.content.count("\n") >= FOLD_LINES


@dataclass(eq=False)
class Thinking(Generic[M]):
    """A thinking block; ``recorded`` False when only its signature was kept."""

    message: M
    kind: ClassVar[str] = "thinking"

    @property
    def recorded(self) -> bool:
        """Whether the thinking's text was recorded."""
        return bool(self.message.content.strip())


@dataclass(eq=False)
class ToolCall(Generic[M]):
    """A tool call with its results under it. ``call`` is None for a result whose
    call is not among the messages (it came before a loaded window)."""

    tool_use_id: str
    call: M | None
    results: list[M] = field(default_factory=list)
    kind: ClassVar[str] = "tool"

    @property
    def name(self) -> str:
        """The tool's name (``?`` when unknown)."""
        if self.call is None:
            return "?"
        meta = meta_of(self.call)
        return str(meta.get("tool_name") or meta.get("name") or "?")

    @property
    def input(self) -> Any:
        """The call's input, as the agent sent it."""
        if self.call is None:
            return None
        meta = meta_of(self.call)
        return meta.get("tool_input", meta.get("input"))

    @property
    def answered(self) -> bool:
        """Whether a result arrived."""
        return bool(self.results)

    @property
    def is_error(self) -> bool:
        """Whether a result is marked as an error (``is_error``, or the text Claude
        Code wraps in ``<tool_use_error>``)."""
        return any(
            meta_of(r).get("is_error") is True or r.content.lstrip().startswith("<tool_use_error>")
            for r in self.results
        )

    @property
    def child_session_id(self) -> str | None:
        """The subagent session this call started (Task/Agent), if known."""
        for message in [self.call, *self.results]:
            if message is not None:
                child = meta_of(message).get("child_session_id")
                if isinstance(child, str) and child:
                    return child
        return None

    @property
    def view(self) -> ToolView:
        """What the tool's renderer shows (computed once)."""
        cached: ToolView | None = self.__dict__.get("_view")
        if cached is None:
            cached = tool_view(
                self.name,
                self.input,
                [r.content for r in self.results],
                [meta_of(r) for r in self.results],
                answered=self.answered,
                is_error=self.is_error,
            )
            self.__dict__["_view"] = cached
        return cached

    @property
    def messages(self) -> list[M]:
        """The call and its results."""
        return ([self.call] if self.call is not None else []) + self.results


@dataclass(eq=False)
class Events(Generic[M]):
    """Consecutive hook and system lines: one "N hook events" strip."""

    messages: list[M]
    kind: ClassVar[str] = "events"

    @property
    def label(self) -> str:
        """``"3 hook events"``, ``"1 system line"``, ``"4 hook and system lines"``."""
        n = len(self.messages)
        hooks = sum(1 for m in self.messages if meta_of(m).get("kind") == "hook")
        if hooks == n:
            return f"{n} hook event{'s' if n != 1 else ''}"
        if hooks == 0:
            return f"{n} system line{'s' if n != 1 else ''}"
        return f"{n} hook and system lines"

    @property
    def has_error(self) -> bool:
        """Whether a line reports an error (a failed hook, an API retry)."""
        for m in self.messages:
            meta = meta_of(m)
            if meta.get("hook_errors") or meta.get("subtype") in ("api_error", "hook_error"):
                return True
            if meta.get("level") == "error":
                return True
        return False


@dataclass(eq=False)
class ToolRun(Generic[M]):
    """Consecutive tool calls of a turn, folded into "N tools" with their names."""

    items: list[ToolCall[M] | Thinking[M] | Events[M]]
    kind: ClassVar[str] = "run"

    @property
    def calls(self) -> list[ToolCall[M]]:
        """The calls of the run, in order."""
        return [i for i in self.items if isinstance(i, ToolCall)]

    @property
    def names(self) -> list[tuple[str, int]]:
        """Each tool name with how many times it was called, in first-call order."""
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.name] = counts.get(call.name, 0) + 1
        return list(counts.items())

    @property
    def label(self) -> str:
        """``"5 tools: Read ×3, Bash ×2"``."""
        n = len(self.calls)
        names = ", ".join(f"{name} ×{k}" if k > 1 else name for name, k in self.names)
        return f"{n} tool{'s' if n != 1 else ''}: {names}"

    @property
    def has_error(self) -> bool:
        """Whether a call of the run failed or got no result."""
        return any(c.is_error or not c.answered for c in self.calls)


@dataclass(eq=False)
class Notice(Generic[M]):
    """A line the reader must see: an API error, a failure, a compaction, an interrupt."""

    message: M
    kind: ClassVar[str] = "notice"

    @property
    def tone(self) -> str:
        """``error`` or ``info``."""
        return "error" if meta_of(self.message).get("kind") in ("api_error", "error") else "info"


@dataclass(eq=False)
class Output(Generic[M]):
    """Monospace output that keeps its line breaks (bash mode, local commands)."""

    message: M
    kind: ClassVar[str] = "output"

    @property
    def text(self) -> OutputText:
        """The output, ANSI escapes stripped, folded past :data:`FOLD_LINES` lines."""
        return OutputText(clean_output(self.message.content))


@dataclass(eq=False)
class Media(Generic[M]):
    """An image or document block."""

    message: M
    kind: ClassVar[str] = "media"


Step = Text[M] | Thinking[M] | ToolRun[M] | Events[M] | Notice[M] | Output[M] | Media[M]


# -- turns ------------------------------------------------------------------------------


@dataclass(eq=False)
class PromptPart(Generic[M]):
    """One piece of a prompt: ``form`` is ``text``, ``command``, ``shell``,
    ``output``, ``context``, ``note``, ``notification`` (a background task's,
    written by the runner), ``media``."""

    message: M
    form: str

    @property
    def notification(self) -> str:
        """A ``notification``'s summary ("" when it has none)."""
        return notification_summary(self.message.content) or ""

    @property
    def text(self) -> OutputText:
        """Its text as monospace output (``shell`` and ``output`` forms), ANSI
        escapes stripped, folded past :data:`FOLD_LINES` lines."""
        return OutputText(clean_output(self.message.content))


@dataclass(eq=False)
class Prompt(Generic[M]):
    """What opened a turn: the person's (or runner's, or reviewer's) message and
    what came with it."""

    parts: list[PromptPart[M]] = field(default_factory=list)

    @property
    def said(self) -> list[PromptPart[M]]:
        """The parts someone typed (not context or output)."""
        return [p for p in self.parts if p.form not in ("context", "output")]

    @property
    def first_line(self) -> str:
        """One line for an outline: the first typed text."""
        for part in self.said:
            text = " ".join(outline_text(part.message.content).split())
            if text:
                return text if len(text) <= 120 else text[:119] + "\u2026"
        return "(no text)"

    @property
    def is_note(self) -> bool:
        """Whether this is a reviewer's note."""
        return any(p.form == "note" for p in self.parts)


@dataclass(eq=False)
class Turn(Generic[M]):
    """A prompt, the agent's work and its answer, with time, tokens and tools."""

    number: int
    prompt: Prompt[M] | None
    steps: list[Step[M]] = field(default_factory=list)
    messages: list[M] = field(default_factory=list)
    #: Index of the first message of the turn in the list given to build_turns.
    start: int = 0
    #: Set when a later prompt rewound the conversation to before this turn.
    rewound_by: Turn[M] | None = None
    #: The turn this one's prompt branches from (a rewind), if it does.
    branches_from: Turn[M] | None = None

    @property
    def first(self) -> M:
        """The turn's first message (its anchor)."""
        return self.messages[0]

    @property
    def answer_start(self) -> int:
        """Index in ``steps`` where the answer begins (== len(steps): no answer).

        The answer is the run of text blocks ending the turn (hook lines after it
        stay with it)."""
        end = len(self.steps)
        while end > 0 and isinstance(self.steps[end - 1], Events):
            end -= 1
        start = end
        while start > 0 and isinstance(self.steps[start - 1], Text):
            start -= 1
        return start if start < end else len(self.steps)

    @property
    def work(self) -> list[Step[M]]:
        """The steps before the answer."""
        return self.steps[: self.answer_start]

    @property
    def answer(self) -> list[Step[M]]:
        """The final text blocks (and the hook lines after them)."""
        return self.steps[self.answer_start :]

    @property
    def started_at(self) -> datetime | None:
        """When the turn began."""
        times = self._times()
        return min(times) if times else None

    @property
    def ended_at(self) -> datetime | None:
        """When its last message was written."""
        times = self._times()
        return max(times) if times else None

    @property
    def duration(self) -> timedelta | None:
        """From the first to the last message."""
        start, end = self.started_at, self.ended_at
        return end - start if start is not None and end is not None else None

    @property
    def duration_label(self) -> str:
        """The duration as a person reads it (``"2 min 5 s"``)."""
        return format_duration(self.duration)

    def _times(self) -> list[datetime]:
        return [m.timestamp for m in self.messages if m.timestamp is not None]

    @property
    def tokens(self) -> Tokens:
        """The usage of every API response of the turn."""
        tokens = Tokens()
        for m in self.messages:
            tokens.add(meta_of(m).get("usage"))
        return tokens

    @property
    def calls(self) -> list[ToolCall[M]]:
        """Every tool call of the turn."""
        return [c for s in self.steps if isinstance(s, ToolRun) for c in s.calls]

    @property
    def tool_count(self) -> int:
        """How many tools the agent called."""
        return sum(1 for c in self.calls if c.call is not None)

    @property
    def models(self) -> list[str]:
        """The models that answered, in order of appearance."""
        seen: dict[str, None] = {}
        for m in self.messages:
            model = meta_of(m).get("model")
            if isinstance(model, str) and model and model != "<synthetic>":
                seen.setdefault(model, None)
        return list(seen)
