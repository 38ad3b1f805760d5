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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from webapp.sessions.types import PROMPT_KINDS
from webapp.transcript.tools import ToolView, tool_view

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
    "compact_count",
    "format_duration",
    "kind_of",
    "meta_of",
]

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
        """Whether a result is marked as an error."""
        return any(meta_of(r).get("is_error") is True for r in self.results)

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
    ``output``, ``context``, ``note``, ``media``."""

    message: M
    form: str


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
            text = " ".join(part.message.content.split())
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


# -- building ---------------------------------------------------------------------------


class _Builder(Generic[M]):
    def __init__(self, messages: Sequence[M], first_number: int) -> None:
        self.messages = messages
        self.next_number = first_number
        self.turns: list[Turn[M]] = []
        self.calls: dict[str, ToolCall[M]] = {}
        self.pending_context: list[tuple[int, M]] = []
        for m in messages:
            meta = meta_of(m)
            tuid = meta.get("tool_use_id")
            if kind_of(m) == "call" and isinstance(tuid, str) and tuid not in self.calls:
                self.calls[tuid] = ToolCall(tuid, m)
        for m in messages:
            meta = meta_of(m)
            tuid = meta.get("tool_use_id")
            if kind_of(m) == "result" and isinstance(tuid, str) and tuid in self.calls:
                self.calls[tuid].results.append(m)

    # the turn being built
    def _turn(self, index: int) -> Turn[M]:
        if not self.turns:
            # What comes before the first prompt: hooks at start, or the end of a
            # turn that began before a loaded window (it keeps that turn's number).
            self.turns.append(Turn(self.next_number - 1, None, start=index))
        return self.turns[-1]

    def _open(self, index: int) -> Turn[M]:
        turn: Turn[M] = Turn(self.next_number, Prompt(), start=index)
        self.next_number += 1
        self.turns.append(turn)
        return turn

    def _add_message(self, turn: Turn[M], message: M) -> None:
        turn.messages.append(message)

    def _flush_context(self, into_prompt: Prompt[M] | None, turn: Turn[M]) -> None:
        for _index, m in self.pending_context:
            self._add_message(turn, m)
            if into_prompt is not None:
                into_prompt.parts.append(PromptPart(m, "context"))
            else:
                self._event(turn, m)
        self.pending_context.clear()

    def _event(self, turn: Turn[M], message: M) -> None:
        last = turn.steps[-1] if turn.steps else None
        if isinstance(last, ToolRun):
            inner = last.items[-1] if last.items else None
            if isinstance(inner, Events):
                inner.messages.append(message)
            else:
                last.items.append(Events([message]))
        elif isinstance(last, Events):
            last.messages.append(message)
        else:
            turn.steps.append(Events([message]))

    def _close_run(self, turn: Turn[M]) -> None:
        """Move thinking that ends a tool run out of it (it precedes what follows)."""
        last = turn.steps[-1] if turn.steps else None
        if not isinstance(last, ToolRun):
            return
        moved: list[Step[M]] = []
        while last.items and isinstance(last.items[-1], Thinking):
            item = last.items.pop()
            assert isinstance(item, Thinking)  # noqa: S101  (narrowing for mypy)
            moved.insert(0, item)
        turn.steps.extend(moved)

    def _answering(self, turn: Turn[M]) -> bool:
        """Whether the agent has started on the turn (so user input opens a new one)."""
        return bool(turn.steps) or turn.prompt is None

    def add(self, index: int, message: M) -> None:
        kind = kind_of(message)
        if kind not in ("call", "result", "thinking") and not message.content.strip():
            # Nothing to read: the turn counts it, no block draws it.
            self._add_message(self._turn(index), message)
            return
        if kind == "context":
            current = self.turns[-1] if self.turns else None
            if current is not None and current.prompt is not None and not current.steps:
                current.prompt.parts.append(PromptPart(message, "context"))
                self._add_message(current, message)
            else:
                self.pending_context.append((index, message))
            return
        if kind == "event":
            turn = self._turn(index)
            self._flush_context(None, turn)
            self._add_message(turn, message)
            self._event(turn, message)
            return
        if kind in ("prompt", "output") and (
            kind == "prompt" or not self._answering(self._turn(index))
        ):
            self._prompt_part(index, message, kind)
            return
        if kind == "result":
            tuid = meta_of(message).get("tool_use_id")
            if isinstance(tuid, str) and tuid in self.calls:
                return  # counted in the turn of its call, shown under it
            orphan = ToolCall(tuid if isinstance(tuid, str) else "", None, [message])
            self._step(index, message, orphan)
            return
        if kind == "call":
            tuid = meta_of(message).get("tool_use_id")
            call = self.calls.get(tuid) if isinstance(tuid, str) else None
            if call is None or call.call is not message:
                call = ToolCall(tuid if isinstance(tuid, str) else "", message)
            self._step(index, message, call)
            return
        step: Step[M]
        if kind == "thinking":
            step = Thinking(message)
        elif kind == "text":
            step = Text(message)
        elif kind in ("notice", "interrupt"):
            step = Notice(message)
        elif kind == "media":
            step = Media(message)
        else:
            step = Output(message)
        self._step(index, message, step)

    def _prompt_part(self, index: int, message: M, kind: str) -> None:
        current = self.turns[-1] if self.turns else None
        if current is None or current.prompt is None or self._answering(current):
            if current is not None:
                self._close_run(current)
            current = self._open(index)
        assert current.prompt is not None  # noqa: S101  (narrowing for mypy)
        self._flush_context(current.prompt, current)
        self._add_message(current, message)
        current.prompt.parts.append(PromptPart(message, _prompt_form(message, kind)))

    def _step(self, index: int, message: M, step: Step[M] | ToolCall[M]) -> None:
        turn = self._turn(index)
        self._flush_context(None, turn)
        self._add_message(turn, message)
        last = turn.steps[-1] if turn.steps else None
        if isinstance(step, ToolCall):
            for result in step.results:
                if result is not message:
                    self._add_message(turn, result)
            if isinstance(last, ToolRun):
                last.items.append(step)
            else:
                turn.steps.append(ToolRun([step]))
            return
        if isinstance(step, Thinking) and isinstance(last, ToolRun):
            last.items.append(step)
            return
        self._close_run(turn)
        turn.steps.append(step)

    def finish(self) -> list[Turn[M]]:
        if self.pending_context:
            self._flush_context(None, self._turn(len(self.messages)))
        if self.turns:
            self._close_run(self.turns[-1])
        _mark_branches(self.turns, self.messages)
        return [t for t in self.turns if t.messages]


def _prompt_form(message: TranscriptSource, kind: str) -> str:
    meta = meta_of(message)
    mkind = meta.get("kind")
    if kind == "output":
        return "output"
    if mkind == "command":
        return "command"
    if mkind == "bash":
        return "shell"
    if mkind == "note":
        return "note"
    if mkind in ("image", "document"):
        return "media"
    return "text"


def _mark_branches(turns: list[Turn[M]], messages: Sequence[M]) -> None:
    """Mark the turns a rewind abandoned: a prompt whose ``parent_uuid`` is a
    message before earlier prompts forks the conversation there."""
    position: dict[str, int] = {}
    for index, m in enumerate(messages):
        uuid = meta_of(m).get("uuid")
        if isinstance(uuid, str):
            position.setdefault(uuid, index)
    starts = {id(t): messages_index(t, messages) for t in turns}
    for turn in turns:
        if turn.prompt is None or not turn.prompt.parts:
            continue
        parent = meta_of(turn.prompt.parts[0].message).get("parent_uuid")
        if not isinstance(parent, str) or parent not in position:
            continue
        fork = position[parent]
        here = starts[id(turn)]
        abandoned = [
            t
            for t in turns
            if t.prompt is not None and fork < starts[id(t)] < here and t.rewound_by is None
        ]
        if not abandoned:
            continue
        for t in abandoned:
            t.rewound_by = turn
        turn.branches_from = _turn_at(turns, fork, starts)


def messages_index(turn: Turn[M], messages: Sequence[M]) -> int:
    """Index of the turn's prompt (or first message) in ``messages``."""
    if turn.prompt is not None and turn.prompt.parts:
        first = turn.prompt.parts[0].message
        for index in range(turn.start, len(messages)):
            if messages[index] is first:
                return index
    return turn.start


def _turn_at(turns: Iterable[Turn[M]], index: int, starts: dict[int, int]) -> Turn[M] | None:
    found: Turn[M] | None = None
    for t in turns:
        if starts[id(t)] <= index:
            found = t
    return found


def build_turns(messages: Sequence[M], *, first_number: int = 1) -> list[Turn[M]]:
    """The turns of ``messages`` (a whole transcript, or a window of it), in order.

    Turns with a prompt are numbered from ``first_number`` (for a window: one more
    than the prompts before it); steps before the first prompt form a turn without
    prompt numbered ``first_number - 1``."""
    builder: _Builder[M] = _Builder(messages, first_number)
    for index, message in enumerate(messages):
        builder.add(index, message)
    return builder.finish()
