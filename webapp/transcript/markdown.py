"""Turns as Markdown: the export's transcript, with the page's structure.

Each turn is a heading with its time, duration, tool count and tokens; then the
prompt, the agent's work (text, thinking, every tool call with its result under
it: diffs as ``diff`` blocks, commands with their output and exit status,
checklists as task lists), and the answer. Untrusted text goes into fenced
blocks whose fence is longer than any backtick run inside them, so nothing an
agent wrote can close a block early; no HTML is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from webapp.transcript.build import build_turns
from webapp.transcript.model import (
    Events,
    Media,
    Notice,
    Output,
    Prompt,
    Step,
    Text,
    Thinking,
    Tokens,
    ToolCall,
    ToolRun,
    TranscriptSource,
    Turn,
    format_duration,
    kind_of,
    meta_of,
)
from webapp.transcript.tools import (
    AgentView,
    BashView,
    ChecklistItem,
    ChecklistView,
    DiffView,
    JsonView,
    LookupView,
    OutputText,
    WebView,
)

__all__ = ["fence", "inline", "markdown_turns", "turns_to_markdown"]

_BACKTICKS_RE = re.compile(r"`+")
_CHECK = {"completed": "[x]", "in_progress": "[~]"}


def fence(text: str, info: str = "") -> str:
    """``text`` in a fenced block no backtick run inside it can close."""
    longest = max((len(m) for m in _BACKTICKS_RE.findall(text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{info}\n{text}\n{marks}"


def inline(text: str) -> str:
    """``text`` as inline code on one line."""
    one_line = " ".join(text.split())
    if not one_line:
        return ""
    longest = max((len(m) for m in _BACKTICKS_RE.findall(one_line)), default=0)
    marks = "`" * (longest + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") else ""
    return f"{marks}{pad}{one_line}{pad}{marks}"


def _time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if moment is not None else ""


def _tokens(tokens: Tokens) -> str:
    return (
        f"tokens {tokens.input:,} in, {tokens.output:,} out, "
        f"{tokens.cache_read:,} cache read, {tokens.cache_write:,} cache write"
    )


def _output(output: OutputText) -> list[str]:
    return [fence(output.text, "text")] if output else []


def _prompt(prompt: Prompt[Any]) -> list[str]:
    out: list[str] = []
    for part in prompt.parts:
        content = part.message.content
        if part.form == "text":
            out.append(content.strip())
        elif part.form == "note":
            author = meta_of(part.message).get("author", "?")
            out.append(f"*Note from {author}:*\n\n{content.strip()}")
        elif part.form == "command":
            out.append(f"Command {inline(content)}")
        elif part.form == "shell":
            out.append(fence(content, "console"))
        elif part.form in ("output", "context"):
            out.append(fence(content, "text"))
        elif part.form == "notification":
            out.append(f"*Task notification:* {inline(part.notification)}".rstrip())
            out.append(fence(content, "text"))
        else:
            out.append(f"*{content.strip()}*")
    return out


def _call(call: ToolCall[Any]) -> list[str]:
    view = call.view
    head = f"**{call.name}**"
    if view.summary and not isinstance(view, BashView):
        head += f" {inline(view.summary)}"
    status: list[str] = []
    if call.call is None:
        marks = " (error)" if call.is_error else ""
        return [f"**Result of an earlier call**{marks}", *_output(view.output)]
    if call.is_error:
        status.append("error")
    if not call.answered:
        status.append("no result")
    out: list[str] = []
    if isinstance(view, BashView):
        if view.exit_status is not None:
            status.append(f"exit {view.exit_status}")
        if view.description:
            head += f": {view.description}"
        out.append(head + (f" ({', '.join(status)})" if status else ""))
        out.append(fence(f"$ {view.command}", "console"))
        out.extend(_output(view.output))
        return out
    out.append(head + (f" ({', '.join(status)})" if status else ""))
    if isinstance(view, DiffView):
        rows = "\n".join(r.text if r.sign == "@" else f"{r.sign}{r.text}" for r in view.rows)
        out.append(fence(rows, "diff"))
        if call.is_error:
            out.extend(_output(view.output))
    elif isinstance(view, ChecklistView):
        out.append("\n".join(_check_item(i) for i in view.items))
    elif isinstance(view, AgentView):
        if view.prompt:
            out.append(fence(view.prompt, "text"))
        if view.report:
            out.append(f"Report:\n\n{fence(view.report, 'markdown')}")
        if call.child_session_id:
            out.append(f"Subagent session: {inline(call.child_session_id)}")
    elif isinstance(view, LookupView | WebView):
        if isinstance(view, LookupView) and view.detail:
            out.append(f"*{view.detail}*")
        if isinstance(view, WebView) and view.prompt:
            out.append(fence(view.prompt, "text"))
        out.extend(_output(view.output))
    elif isinstance(view, JsonView):
        out.append(fence(json.dumps(view.input, indent=2, ensure_ascii=False, default=str), "json"))
        out.extend(_output(view.output))
    return out


def _check_item(item: ChecklistItem) -> str:
    ref = f"{item.ref} " if item.ref else ""
    return f"- {_CHECK.get(item.status, '[ ]')} {ref}{item.text} ({item.status})"


def _events(events: Events[Any]) -> list[str]:
    return [f"*{events.label}*", fence("\n".join(m.content for m in events.messages), "text")]


def _steps(steps: Iterable[Step[Any] | ToolCall[Any]]) -> list[str]:
    out: list[str] = []
    for step in steps:
        if isinstance(step, Text):
            out.append(step.message.content.strip())
        elif isinstance(step, Thinking):
            text = step.message.content.strip()
            out.append(
                "> *Thinking:* " + text.replace("\n", "\n> ")
                if text
                else "*(thinking not recorded)*"
            )
        elif isinstance(step, ToolRun):
            if len(step.calls) > 1:
                out.append(f"*{step.label}*")
            out.extend(_steps(step.items))
        elif isinstance(step, ToolCall):
            out.extend(_call(step))
        elif isinstance(step, Events):
            out.extend(_events(step))
        elif isinstance(step, Notice):
            out.append(
                f"**{'Error' if step.tone == 'error' else 'Note'}:** {step.message.content.strip()}"
            )
        elif isinstance(step, Output):
            out.append(fence(step.message.content, "text"))
        elif isinstance(step, Media):
            out.append(f"*{step.message.content.strip()}*")
    return out


def _rewind_note(branches_from: int, abandoned: Sequence[int]) -> str:
    """The mark of a prompt that rewinds: where it goes on from, what it left."""
    numbers = [str(n) for n in abandoned]
    listed = numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " and " + numbers[-1]
    were = f"turn {listed} above was" if len(numbers) == 1 else f"turns {listed} above were"
    return f"*A rewind: this prompt goes on from turn {branches_from}; {were} abandoned.*"


def _turn(turn: Turn[TranscriptSource], rewind: str = "") -> list[str]:
    facts = [
        f
        for f in (
            _time(turn.started_at),
            format_duration(turn.duration),
            f"{turn.tool_count} tool{'s' if turn.tool_count != 1 else ''}"
            if turn.tool_count
            else "",
            _tokens(turn.tokens) if turn.tokens.any else "",
        )
        if f
    ]
    title = turn.prompt.first_line if turn.prompt is not None else "(continued)"
    out = [f"### Turn {turn.number}: {inline(title) if title else ''}".rstrip(), " · ".join(facts)]
    if turn.rewound_by is not None:
        by = turn.rewound_by
        out.append(f"*Abandoned: rewound at {_time(by.started_at)} (turn {by.number}).*")
    out.append(rewind)
    if turn.prompt is not None and turn.prompt.parts:
        out.append("**Prompt**")
        out.extend(_prompt(turn.prompt))
    if turn.work:
        out.append("**Work**")
        out.extend(_steps(turn.work))
    if turn.answer:
        out.append("**Answer**")
        out.extend(_steps(turn.answer))
    return out


def turns_to_markdown(turns: Sequence[Turn[Any]]) -> str:
    """The Markdown of ``turns`` (blocks separated by blank lines): an abandoned
    turn says so, and the prompt that rewound names the turns it left."""
    blocks: list[str] = []
    for turn in turns:
        rewind = ""
        if turn.branches_from is not None:
            left = [t.number for t in turns if t.rewound_by is turn]
            rewind = _rewind_note(turn.branches_from.number, left)
        blocks.extend(b for b in _turn(turn, rewind) if b)
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def markdown_turns(messages: Iterable[TranscriptSource]) -> Iterator[str]:
    """The Markdown of a whole transcript read in order, a turn at a time (a long
    session is never held whole). Messages are cut where :func:`build_turns`
    opens a turn: at a prompt once the agent has begun on the one before (context
    lines just before a prompt go with it).

    A rewind is marked as :func:`turns_to_markdown` marks it on the prompt that
    rewound (which names the abandoned turns above it); the abandoned turns were
    written before the rewind was known, so only they lack their own mark. What
    is kept for that: each message's uuid with its turn's number, not its text."""
    rewinds = _Rewinds()
    group: list[TranscriptSource] = []
    number = 1
    answering = False
    for message in messages:
        kind = kind_of(message)
        opens = kind == "prompt" and bool(message.content.strip())
        if opens and answering:
            split = len(group)
            while split > 0 and kind_of(group[split - 1]) == "context":
                split -= 1
            turns = build_turns(group[:split], first_number=number)
            yield from rewinds.texts(turns)
            number = max((t.number + 1 for t in turns if t.prompt is not None), default=number)
            group = group[split:]
        if opens:
            answering = False
        elif kind not in ("prompt", "context", "output") and message.content.strip():
            answering = True
        elif kind in ("call", "result", "thinking"):
            answering = True
        group.append(message)
    if group:
        yield from rewinds.texts(build_turns(group, first_number=number))


class _Rewinds:
    """What a streamed export remembers to mark rewinds: the turn number of every
    message uuid seen, the prompt turns written and those already abandoned."""

    def __init__(self) -> None:
        self.turn_of: dict[str, int] = {}
        self.prompts: list[int] = []
        self.abandoned: set[int] = set()

    def _note(self, turn: Turn[TranscriptSource]) -> str:
        if turn.prompt is None or not turn.prompt.parts:
            return ""
        parent = meta_of(turn.prompt.parts[0].message).get("parent_uuid")
        fork = self.turn_of.get(parent) if isinstance(parent, str) else None
        if fork is None:
            return ""
        left = [n for n in self.prompts if fork < n < turn.number and n not in self.abandoned]
        if not left:
            return ""
        self.abandoned.update(left)
        return _rewind_note(fork, left)

    def texts(self, turns: list[Turn[TranscriptSource]]) -> Iterator[str]:
        """Each turn's Markdown, a rewind marked on the prompt that made it."""
        for turn in turns:
            rewind = self._note(turn)
            if turn.prompt is not None:
                self.prompts.append(turn.number)
            for m in turn.messages:
                uuid = meta_of(m).get("uuid")
                if isinstance(uuid, str):
                    self.turn_of.setdefault(uuid, turn.number)
            turn.rewound_by = None  # not known yet when a turn is written
            yield "\n\n".join(b for b in _turn(turn, rewind) if b) + "\n\n"
