"""Subagents: grouping sidechain lines into child sessions, and linking each
child to its parent's Task/Agent call, within a file and across files.

A child is found for a call through ``toolUseResult.agentId`` on the call's
tool_result, else through the call's ``input.prompt`` equal to the child's
first prompt. The call's tool_use message, and the tool_result that reports
the agentId, get ``meta["child_session_id"]``; the child gets
``parent_tool_use_id``, ``agent_type`` and ``description``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from webapp.claude.transcript.assemble import Resume, SessionBuilder
from webapp.claude.transcript.results import ParsedMessage, ParsedSession, child_session_id, fit_id
from webapp.claude.transcript.shapes import Entry, JSONValue, MessageBody, text_of

AGENT_TOOLS = frozenset({"Task", "Agent"})

#: (session id, tool_use_id) of a Task/Agent call
CallKey = tuple[str, str]


@dataclass
class AgentResult:
    """A parent's tool_result that names the subagent it ran."""

    agent_id: str
    offset: int  # of the tool_result's line
    agent_type: str | None


@dataclass
class SubagentIndex:
    """What a file says about its subagents, gathered over its lines."""

    #: sidechain uuid -> its parentUuid (None for a root)
    side_parent: dict[str, str | None] = field(default_factory=dict)
    root_memo: dict[str, str] = field(default_factory=dict)
    call_inputs: dict[CallKey, dict[str, JSONValue]] = field(default_factory=dict)
    #: (session id, prompt) -> Task/Agent tool_use ids, in order
    prompt_calls: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    results: dict[CallKey, AgentResult] = field(default_factory=dict)
    #: offset of a main-chain tool_result line -> the agentId it reports
    result_agents: dict[int, str] = field(default_factory=dict)
    #: the tool_use message of each call, and its line's offset
    call_messages: dict[CallKey, tuple[ParsedMessage, int]] = field(default_factory=dict)

    # -- pass 1: the whole file
    def note_line(self, entry: Entry, sid: str, offset: int) -> None:
        """Remember what a user/assistant/system line says about subagents."""
        uuid = entry.get("uuid")
        if entry.get("isSidechain") is True:
            if isinstance(uuid, str):
                parent = entry.get("parentUuid")
                self.side_parent[uuid] = parent if isinstance(parent, str) else None
            return
        message = entry.get("message")
        if not isinstance(message, dict):
            return
        if entry.get("type") == "assistant":
            self._note_calls(message, sid)
        elif entry.get("type") == "user":
            self._note_result(entry, message, sid, offset)

    def _note_calls(self, message: MessageBody, sid: str) -> None:
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if not (isinstance(block, dict) and block.get("type") == "tool_use"):
                continue
            tuid, tinput = block.get("id"), block.get("input")
            if (
                block.get("name") in AGENT_TOOLS
                and isinstance(tuid, str)
                and isinstance(tinput, dict)
            ):
                self.call_inputs[(sid, tuid)] = tinput
                prompt = tinput.get("prompt")
                if isinstance(prompt, str):
                    self.prompt_calls.setdefault((sid, prompt.strip()), []).append(tuid)

    def _note_result(self, entry: Entry, message: MessageBody, sid: str, offset: int) -> None:
        result = entry.get("toolUseResult")
        if not isinstance(result, dict):
            return
        agent_id = text_of(result.get("agentId"))
        content = message.get("content")
        if agent_id is None or not isinstance(content, list):
            return
        atype = result.get("agentType")
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                tuid = block.get("tool_use_id")
                if isinstance(tuid, str):
                    self.results[(sid, tuid)] = AgentResult(
                        agent_id, offset, atype if isinstance(atype, str) else None
                    )
                    self.result_agents[offset] = agent_id

    # -- pass 2: messages
    def child_of(self, entry: Entry, sid: str, offset: int) -> tuple[str, str | None] | None:
        """The child session id of a sidechain line and its agentId (None for
        an old in-file sidechain); None for a main-chain line."""
        if entry.get("isSidechain") is not True:
            return None
        agent = text_of(entry.get("agentId"))
        if agent is not None:
            return child_session_id(sid, agent), agent
        uuid = entry.get("uuid")
        root = self._root(uuid) if isinstance(uuid, str) else f"L{offset}"
        return fit_id(sid, "sidechain", root.replace("-", "")[:16]), None

    def _root(self, uuid: str) -> str:
        seen: list[str] = []
        cur = uuid
        while True:
            if cur in self.root_memo:
                root = self.root_memo[cur]
                break
            seen.append(cur)
            parent = self.side_parent.get(cur)
            if parent is None or parent not in self.side_parent or parent in seen:
                root = cur
                break
            cur = parent
        for s in seen:
            self.root_memo[s] = root
        return root

    def note_messages(self, b: SessionBuilder, messages: list[ParsedMessage], offset: int) -> None:
        """Remember a line's Task/Agent calls; link its agentId-reporting results."""
        for m in messages:
            tuid = m.meta.get("tool_use_id")
            if m.meta.get("kind") == "tool_use" and isinstance(tuid, str):
                self.call_messages[(b.session_id, tuid)] = (m, offset)
        agent_id = self.result_agents.get(offset)
        if agent_id is None or b.parent_id is not None:
            return
        for m in messages:
            if m.meta.get("kind") == "tool_result":
                m.meta["agent_id"] = agent_id
                m.meta["child_session_id"] = child_session_id(b.session_id, agent_id)

    # -- pass 3: links
    def link(self, builders: dict[str, SessionBuilder], resume: Resume) -> None:
        """Link every call to its child: by agentId, then by prompt."""
        for (sid, tuid), result in self.results.items():
            child_id = child_session_id(sid, result.agent_id)
            self._link(builders, resume, (sid, tuid), child_id, result.offset)
            child = builders.get(child_id)
            if child is not None:
                child.agent_type = child.agent_type or result.agent_type
        for b in builders.values():
            if b.parent_id is None or b.parent_tool_use_id is not None or b.first_prompt is None:
                continue
            calls = self.prompt_calls.get((b.parent_id, b.first_prompt.strip()))
            while calls:
                tuid = calls.pop(0)
                if (b.parent_id, tuid) not in self.results:
                    self._link(
                        builders, resume, (b.parent_id, tuid), b.session_id, b.first_prompt_offset
                    )
                    break

    def _link(
        self,
        builders: dict[str, SessionBuilder],
        resume: Resume,
        call: CallKey,
        child_id: str,
        source_offset: int,
    ) -> None:
        found = self.call_messages.get(call)
        if found is not None:
            msg, msg_offset = found
            msg.meta["child_session_id"] = child_id
            if resume.straddles(msg_offset, source_offset):
                resume.update(call[0], msg, "child_session_id")
        child = builders.get(child_id)
        if child is not None and child.parent_tool_use_id is None:
            child.parent_tool_use_id = call[1]
            tinput = self.call_inputs.get(call, {})
            child.agent_type = child.agent_type or text_of(tinput.get("subagent_type"))
            child.description = child.description or text_of(tinput.get("description"))

    def children_of(self, builders: Iterable[SessionBuilder]) -> dict[str, list[str]]:
        """Parent session id -> ids of its children (linked or parsed)."""
        children: dict[str, list[str]] = {}
        for (sid, _tuid), result in self.results.items():
            children.setdefault(sid, []).append(child_session_id(sid, result.agent_id))
        for b in builders:
            if b.parent_id is not None:
                children.setdefault(b.parent_id, []).append(b.session_id)
        return children


def read_sidecar_meta(path: Path) -> dict[str, object]:
    """``agent-<id>.meta.json`` beside a subagent transcript, if any."""
    if not path.name.startswith("agent-"):
        return {}
    side = path.with_suffix(".meta.json")
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def link_sessions(sessions: Iterable[ParsedSession]) -> None:
    """Set ``parent_tool_use_id`` of children parsed from other files than their
    parent, from the parent's tool_use ``meta["child_session_id"]``."""
    items = list(sessions)
    calls: dict[str, ParsedMessage] = {}
    for s in items:
        for m in s.messages:
            child = m.meta.get("child_session_id")
            if isinstance(child, str) and isinstance(m.meta.get("tool_use_id"), str):
                calls.setdefault(child, m)
    for s in items:
        call = calls.get(s.id)
        if s.parent_id is None or call is None:
            continue
        if s.parent_tool_use_id is None:
            s.parent_tool_use_id = call.meta["tool_use_id"]
        tinput = call.meta.get("tool_input")
        if isinstance(tinput, dict):
            for src, dst in (("subagent_type", "agent_type"), ("description", "description")):
                value = tinput.get(src)
                if isinstance(value, str) and dst not in s.context:
                    s.context[dst] = value
