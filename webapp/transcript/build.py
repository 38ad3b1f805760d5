"""Building turns from a session's messages: the rules of
:mod:`webapp.transcript.model` applied in one pass (``build_turns``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic

from webapp.transcript.model import (
    Events,
    M,
    Media,
    Notice,
    Output,
    Prompt,
    PromptPart,
    Step,
    Text,
    Thinking,
    ToolCall,
    ToolRun,
    TranscriptSource,
    Turn,
    kind_of,
    meta_of,
    notification_summary,
)

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
    if notification_summary(message.content) is not None:
        return "notification"
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
