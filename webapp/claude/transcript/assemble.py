"""Assembling sessions: what a file's lines teach each session, then the
:class:`ParsedSession` with its whole-file fields and its new messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from webapp.claude.transcript.results import TOKEN_FIELDS, ParsedMessage, ParsedSession

Usage = dict[str, int]


@dataclass
class Emitted:
    """A message and the offset of the line it comes from."""

    offset: int
    message: ParsedMessage


@dataclass
class SessionBuilder:
    """One session (or subagent run) of a file while its lines are read."""

    key: str
    session_id: str
    parent_id: str | None = None
    agent_id: str | None = None
    emitted: list[Emitted] = field(default_factory=list)
    seen_uuids: set[str] = field(default_factory=set)
    touched: bool = False  # one of its lines is new
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    cwd: str | None = None
    git_branch: str | None = None
    version: str | None = None
    slug: str | None = None
    models: set[str] = field(default_factory=set)
    response_ids: set[str] = field(default_factory=set)
    usage_placed: set[str] = field(default_factory=set)
    loose_usage: list[Usage] = field(default_factory=list)
    outcome_error: str | None = None  # set while the last outcome is an API error
    first_prompt: str | None = None
    first_prompt_offset: int = -1
    parent_tool_use_id: str | None = None
    agent_type: str | None = None
    description: str | None = None

    def see_ts(self, ts: datetime | None) -> None:
        """Widen the session's time span to ``ts``."""
        if ts is None:
            return
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts


@dataclass
class Resume:
    """A parse from ``start_offset``: what new lines teach earlier messages."""

    start_offset: int = 0
    #: session key -> source_key -> meta keys for messages of earlier calls
    meta_updates: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)

    def update(self, session_key: str, msg: ParsedMessage, meta_key: str) -> None:
        """Report ``msg.meta[meta_key]`` as an update of an earlier message."""
        if self.start_offset > 0:
            patch = self.meta_updates.setdefault(session_key, {}).setdefault(msg.source_key, {})
            patch[meta_key] = msg.meta[meta_key]

    def straddles(self, earlier: int, later: int) -> bool:
        """Whether ``earlier`` was read by a previous call and ``later`` is new."""
        return earlier < self.start_offset <= later


@dataclass
class SessionFacts:
    """Whole-file facts a session is assembled with."""

    path: str
    response_usage: dict[str, Usage]
    title: str | None
    pr_links: list[str]
    children: list[str]
    sidecar: dict[str, object]


def build_session(b: SessionBuilder, facts: SessionFacts, resume: Resume) -> ParsedSession:
    """The :class:`ParsedSession` of ``b``, with the messages of new lines."""
    all_msgs = [e.message for e in b.emitted]
    _inherit_timestamps(all_msgs, b.first_ts)
    failed = b.outcome_error is not None
    return ParsedSession(
        id=b.session_id,
        status="failed" if failed else "completed",
        request=b.first_prompt if b.first_prompt is not None else _slash_command(all_msgs),
        response=_response(all_msgs),
        error=b.outcome_error,
        created_at=b.first_ts,
        last_activity=b.last_ts,
        context=_context(b, facts),
        messages=[e.message for e in b.emitted if e.offset >= resume.start_offset],
        parent_id=b.parent_id,
        parent_tool_use_id=b.parent_tool_use_id,
        agent_id=b.agent_id,
        source_path=facts.path,
        meta_updates=resume.meta_updates.get(b.key, {}),
    )


def _inherit_timestamps(messages: list[ParsedMessage], first: datetime | None) -> None:
    """A line without timestamp inherits the previous one in the session."""
    last = first
    for m in messages:
        if m.timestamp is None:
            m.timestamp = last
        else:
            last = m.timestamp


def _slash_command(messages: list[ParsedMessage]) -> str | None:
    """The first slash command: the request of a session without a prompt."""
    for m in messages:
        if m.meta.get("kind") == "command" and m.role == "user":
            return m.content
    return None


def _response(messages: list[ParsedMessage]) -> str | None:
    """The last non-blank, non-synthetic assistant text."""
    for m in reversed(messages):
        if (
            m.role == "assistant"
            and m.meta.get("kind") == "text"
            and not m.meta.get("synthetic")
            and m.content.strip()
        ):
            return m.content.strip()
    return None


def _token_totals(b: SessionBuilder, response_usage: dict[str, Usage]) -> Usage:
    """Each response counted once (its per-field maximum), plus loose usage."""
    totals = dict.fromkeys(TOKEN_FIELDS, 0)
    counted = [response_usage[mid] for mid in b.response_ids if mid in response_usage]
    for usage in counted + b.loose_usage:
        for k in TOKEN_FIELDS:
            totals[k] += usage[k]
    return totals


def _context(b: SessionBuilder, facts: SessionFacts) -> dict[str, object]:
    ctx: dict[str, object] = {"source": "claude-code"}
    if b.cwd is not None:
        ctx["project_path"] = b.cwd
    if b.git_branch is not None:
        ctx["git_branch"] = b.git_branch
    if b.version is not None:
        ctx["version"] = b.version
    ctx["models"] = sorted(b.models)
    if b.slug is not None:
        ctx["slug"] = b.slug
    if facts.title is not None:
        ctx["title"] = facts.title
    if facts.pr_links:
        ctx["pr_links"] = facts.pr_links
    ctx.update(_token_totals(b, facts.response_usage))
    if b.parent_id is not None:
        ctx["is_sidechain"] = True
        if b.agent_id is not None:
            ctx["agent_id"] = b.agent_id
        agent_type = b.agent_type or facts.sidecar.get("agentType")
        if isinstance(agent_type, str):
            ctx["agent_type"] = agent_type
        desc = b.description or facts.sidecar.get("description")
        if isinstance(desc, str):
            ctx["description"] = desc
    elif facts.children:
        ctx["child_session_ids"] = sorted(set(facts.children))
    return ctx
