"""Realistic generated sessions for a first look and for benchmarks.

Sessions are spread over the last 30 days in every status, with transcripts that
hold markdown, code blocks, tool calls and results in ``meta``, thinking, long
messages, and failures with real-looking errors. Rows go in with set-based
inserts in batches, so 100,000 sessions take seconds, not minutes.
"""

from __future__ import annotations

import functools
import gc
import json
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from webapp.demo_stories import STORIES, Step, Story
from webapp.sessions import BulkRows, MessageStore, Status
from webapp.sessions.types import excerpt
from webapp.sessions.usage import Labels, UsageEntry

MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"]
#: Runners that report sessions, and who started them.
RUNNERS = ["claude-code", "slack-bot", "ci"]
USERS = ["ana", "sam", "dev", "lee"]
#: (status, weight): most sessions finished well; some failed, expired or closed.
STATUS_WEIGHTS = [
    (Status.COMPLETED, 55),
    (Status.FAILED, 12),
    (Status.EXPIRED, 8),
    (Status.CLOSED, 15),
    (Status.RUNNING, 5),
    (Status.PENDING, 5),
]


def _long_log(rng: random.Random) -> str:
    """A test run's log of a few hundred lines: a long tool result (tens of KB)."""
    lines = [
        f"tests/test_{rng.choice(['api', 'billing', 'orders', 'export'])}.py::test_case_{i} "
        f"PASSED [{100 * i // 900:3d}%] ({rng.randint(5, 900)} ms)"
        for i in range(rng.randint(300, 900))
    ]
    return "\n".join(lines)


@functools.cache
def _call_text(step: Step) -> str:
    """A tool call's input as the importer shows it (pretty JSON), made once a step."""
    return json.dumps(step.input, indent=2)


class _Transcript:
    """Builds the message rows of one story, as the Claude Code importer stores them:
    one message per block, tool results under the call's ``tool_use_id``, usage on
    the first block of each API response."""

    def __init__(self, rng: random.Random, model: str) -> None:
        self.rng = rng
        self.model = model
        self.rows: list[dict[str, Any]] = []
        self.context_tokens = rng.randint(12_000, 24_000)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{uuid.UUID(int=self.rng.getrandbits(128)).hex[:24]}"

    def user(self, text: str) -> None:
        self.rows.append({"role": "user", "content": text, "meta": {"kind": "text"}})

    def response(self, blocks: list[dict[str, Any]]) -> None:
        """One API response: its blocks share a response id and one usage count."""
        rng = self.rng
        output = rng.randint(40, 1800)
        usage = {
            "input_tokens": rng.randint(3, 40),
            "output_tokens": output,
            "cache_creation_input_tokens": rng.randint(200, 6000),
            "cache_read_input_tokens": self.context_tokens,
        }
        self.context_tokens += usage["cache_creation_input_tokens"] + output
        response_id = self._id("msg")
        for i, block in enumerate(blocks):
            meta = {**block["meta"], "model": self.model, "response_id": response_id}
            if i == 0:
                meta["usage"] = usage
            self.rows.append({"role": "assistant", "content": block["content"], "meta": meta})

    def tool_call(self, step: Step, *, text: str = "", child: str | None = None) -> str:
        tool_id = self._id("toolu")
        meta: dict[str, Any] = {
            "kind": "tool_use",
            "tool_name": step.tool,
            "tool_input": step.input,
            "tool_use_id": tool_id,
        }
        if child is not None:
            meta["child_session_id"] = child
        blocks = [{"content": text, "meta": {"kind": "text"}}] if text else []
        blocks.append({"content": _call_text(step), "meta": meta})
        self.response(blocks)
        return tool_id

    def tool_result(self, tool_id: str, output: str, is_error: bool) -> None:
        meta = {"kind": "tool_result", "tool_use_id": tool_id, "is_error": is_error}
        self.rows.append({"role": "tool", "content": output, "meta": meta})

    def steps(self, steps: tuple[Step, ...], long_logs: list[str]) -> None:
        for step in steps:
            tool_id = self.tool_call(step)
            output = step.output
            if step.tool == "Bash" and not step.is_error and self.rng.random() < 0.01:
                output = self.rng.choice(long_logs)  # now and then a long log
            self.tool_result(tool_id, output, step.is_error)

    def answer(self, text: str, thinking: str = "") -> None:
        blocks = [{"content": thinking, "meta": {"kind": "thinking"}}] if thinking else []
        blocks.append({"content": text, "meta": {"kind": "text"}})
        self.response(blocks)


def _story_rows(
    rng: random.Random,
    story: Story,
    model: str,
    failed_with: str,
    child_id: str | None,
    long_logs: list[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The messages of a session telling ``story`` (cut short by ``failed_with``),
    and those of its subagent's session when ``child_id`` is given."""
    out = _Transcript(rng, model)
    out.user(story.request)
    if rng.random() < 0.6:
        out.response([{"content": story.thinking, "meta": {"kind": "thinking"}}])
    steps = story.steps
    if failed_with:
        steps = steps[: rng.randint(0, max(len(steps) - 1, 0))]
    child_rows: list[dict[str, Any]] = []
    if story.subagent is not None and child_id is not None:
        agent = story.subagent
        call = Step("Task", {"description": agent.description, "prompt": agent.prompt,
                             "subagent_type": "general-purpose"}, agent.report)
        tool_id = out.tool_call(call, text="I'll have a subagent look for it.", child=child_id)
        child = _Transcript(rng, model)
        child.user(agent.prompt)
        child.steps(agent.steps, long_logs)
        child.answer(agent.report)
        child_rows = child.rows
        out.tool_result(tool_id, agent.report, False)
    out.steps(steps, long_logs)
    if failed_with:
        out.rows.append({"role": "system", "content": failed_with, "meta": {"kind": "api_error"}})
        return out.rows, child_rows
    out.answer(story.answer)
    if story.follow_up is not None and rng.random() < 0.4:
        prompt, more, answer = story.follow_up
        out.user(prompt)
        out.steps(more, long_logs)
        out.answer(answer)
    return out.rows, child_rows


def _spread(rows: list[dict[str, Any]], start: datetime, end: datetime) -> None:
    """Timestamps for ``rows`` between ``start`` and ``end``, in order."""
    span = max((end - start).total_seconds(), 1.0)
    for i, row in enumerate(rows):
        row["timestamp"] = start + timedelta(seconds=span * (i + 1) / (len(rows) + 1))
        row.setdefault("summary", "")


def _session_row(
    session_id: str,
    status: Status,
    request: str,
    created: datetime,
    msgs: list[dict[str, Any]],
    expires: datetime | None,
    context: dict[str, Any],
    keep: bool,
    *,
    response: str = "",
    error: str = "",
    parent_id: str | None = None,
) -> dict[str, Any]:
    """A ``sessions`` row as the store keeps it (counts and excerpt included)."""
    return {
        "id": session_id,
        "status": status.value,
        "request": request,
        "request_excerpt": excerpt(request),
        "response": response,
        "error": error,
        "created_at": created,
        "last_activity": msgs[-1]["timestamp"] if msgs else created,
        "expires_at": expires,
        "context": context,
        "message_count": len(msgs),
        "keep": keep,
        "parent_id": parent_id,
    }


def _own(msgs: list[dict[str, Any]], session_id: str) -> None:
    for m in msgs:
        m["session_id"] = session_id
        m["source_key"] = None


def _statuses(rng: random.Random, n: int) -> list[Status]:
    statuses = [s for s, _ in STATUS_WEIGHTS]
    return rng.choices(statuses, [w for _, w in STATUS_WEIGHTS], k=n)


def _created(rng: random.Random, now: datetime, timeout: timedelta, status: Status) -> datetime:
    """When a session began; running and pending ones began within their timeout."""
    if status in (Status.RUNNING, Status.PENDING):
        return now - timedelta(seconds=rng.uniform(0, timeout.total_seconds() * 0.9))
    return now - timedelta(seconds=rng.uniform(60, 30 * 86400))


def _uuid7(rng: random.Random, when: datetime) -> str:
    """A version 7 UUID (RFC 9562): the millisecond time first, then random bits."""
    millis = int(when.timestamp() * 1000) & (2**48 - 1)
    value = (millis << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64)
    value |= (0b10 << 62) | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


def generate(
    store: MessageStore,
    sessions: int,
    *,
    now: datetime,
    timeout: timedelta,
    retention: timedelta,
    seed: int = 1,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Insert ``sessions`` generated sessions with their transcripts; return counts.

    Sessions older than the retention window are marked "keep" (all but one in ten),
    so the demo survives the first sweep and the sweeper still has work to show.
    Stories that hand work to a subagent add its child session beside the
    ``sessions`` asked for (counted as ``subagents``).
    """
    totals = {"sessions": 0, "subagents": 0, "messages": 0, "kept": 0}
    # Millions of short-lived dicts and no reference cycles: the cyclic garbage
    # collector would only rescan the growing heap, again and again.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for session_rows, message_rows, usage in _batches(
            store, sessions, now, timeout, retention, seed, batch_size, totals
        ):
            done = totals["sessions"]
            store.bulk_load(session_rows, message_rows, usage)
            if progress is not None:
                progress(totals["sessions"] - done)
    finally:
        if gc_was_enabled:
            gc.enable()
    return totals


def _batches(
    store: MessageStore,
    sessions: int,
    now: datetime,
    timeout: timedelta,
    retention: timedelta,
    seed: int,
    batch_size: int,
    totals: dict[str, int],
) -> Iterator[tuple[BulkRows, BulkRows, list[UsageEntry]]]:
    """The sessions and messages of each batch, ready for the driver, and the
    usage their responses carry."""
    rng = random.Random(seed)
    long_logs = [_long_log(rng) for _ in range(8)]
    # Sessions are made oldest first, with time-ordered (version 7) ids, as a
    # real history arrives: every index then grows at its end, which keeps a
    # bulk load of 100,000 sessions far from the random page writes of uuid4 order.
    plan = sorted(
        (_created(rng, now, timeout, status), status) for status in _statuses(rng, sessions)
    )
    for first in range(0, sessions, batch_size):
        session_rows: list[dict[str, Any]] = []
        message_rows: list[dict[str, Any]] = []
        usage: list[UsageEntry] = []
        for created, status in plan[first : first + batch_size]:
            story = rng.choice(STORIES)
            duration = timedelta(seconds=rng.lognormvariate(4.5, 1.1))
            end = min(created + duration, now)
            model = rng.choice(MODELS)
            error = rng.choice(story.errors) if status is Status.FAILED and story.errors else ""
            session_id = _uuid7(rng, created)
            child_id = _uuid7(rng, created) if story.subagent is not None else None
            msgs, child_msgs = _story_rows(rng, story, model, error, child_id, long_logs)
            if status is Status.PENDING:
                msgs, child_msgs = msgs[:1], []
            _spread(msgs, created, end)
            expires = None if rng.random() < 0.03 else created + timeout
            if status in (Status.RUNNING, Status.PENDING) and expires is not None:
                expires = max(expires, now + timedelta(minutes=5))
            keep = created < now - retention and retention > timedelta(0) and rng.random() < 0.9
            totals["kept"] += keep
            context = {
                "project_path": story.project,
                "git_branch": story.branch,
                "model": model,
                "runner": rng.choice(RUNNERS),
                "user": rng.choice(USERS),
            }
            response = next(
                (m["content"] for m in reversed(msgs) if m["meta"].get("kind") == "text"), ""
            )
            session_rows.append(
                _session_row(
                    session_id, status, story.request, created, msgs, expires, context, keep,
                    response=response if status is Status.COMPLETED else "", error=error,
                )
            )
            _own(msgs, session_id)
            message_rows.extend(msgs)
            labels = Labels.of(context)
            usage.extend(store.usage_entries(session_id, msgs, labels))
            if child_msgs and child_id is not None and story.subagent is not None:
                # The subagent ran inside the parent's Task call.
                call = next(m for m in msgs if m["meta"].get("child_session_id") == child_id)
                _spread(child_msgs, call["timestamp"], call["timestamp"] + timedelta(seconds=40))
                child_context = {**context, "parent_tool_use_id": call["meta"]["tool_use_id"]}
                session_rows.append(
                    _session_row(
                        child_id, Status.COMPLETED, story.subagent.prompt,
                        call["timestamp"], child_msgs, call["timestamp"], child_context, keep,
                        response=story.subagent.report, parent_id=session_id,
                    )
                )
                _own(child_msgs, child_id)
                message_rows.extend(child_msgs)
                usage.extend(store.usage_entries(child_id, child_msgs, labels))
                totals["subagents"] += 1
        totals["sessions"] += len(plan[first : first + batch_size])
        totals["messages"] += len(message_rows)
        yield store.bulk_rows(session_rows), store.bulk_rows(message_rows), usage
