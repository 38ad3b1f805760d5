"""Parse Claude Code transcripts into plain dataclasses.

Claude Code writes one JSON object per line to
``~/.claude/projects/<project>/<session-id>.jsonl`` (subagents: ``agent-<id>.jsonl``
beside it, or ``<session-id>/subagents/agent-<id>.jsonl``). This module turns such
files into :class:`ParsedSession` objects holding :class:`ParsedMessage` objects;
an importer stores them. It is pure standard library: no Flask, no database.

Rules chosen here (the format is undocumented; they were derived from real files):

* One content block is one message, in file order (whitespace-only text and
  empty, signature-only thinking blocks included). The file order is the
  ``parentUuid`` order and is chronological, so it is kept as is. Lines that
  are not blocks (hooks, system lines, attachments) are one message each.
* ``source_key`` is ``"<uuid>:<block index>"`` (``"L<byte offset>:<index>"`` for
  a line without uuid): stable across re-parses, unique within a session. A
  repeated uuid inside one session is skipped (``duplicate_uuid``).
* Split API responses: Claude Code writes one line per content block, every line
  repeating ``message.id`` and a ``usage`` snapshot. In the corpus the input and
  cache fields are identical on every line of a response while ``output_tokens``
  only grows (e.g. 4 -> 134, or 1 -> 1 -> 253), the last line holding the final
  count. So a response's usage is the per-field MAXIMUM over its lines, never a
  sum, and it is counted once in the session totals. It is put in
  ``meta["usage"]`` of the first message of the response; every message of the
  response carries ``meta["response_id"]``. Blocks are not reordered: tool
  results that Claude Code interleaves between blocks of one response stay where
  the file (and its ``parentUuid`` chain) puts them.
* Offset resume: ``parse_file(path, start_offset)`` re-reads the prefix only to
  rebuild state (uuid chains, response usage, subagent links, request, first
  timestamp) and emits messages only for lines that START at or after
  ``start_offset``. Session fields, context and token totals are whole-file
  values, so the importer may simply overwrite them; a response straddling the
  offset yields its new blocks (new keys) and no second usage count. What a new
  line teaches about a message emitted earlier (the final ``usage`` of a
  straddling response, the ``child_session_id`` of a Task/Agent call whose
  result just arrived) comes in ``ParsedSession.meta_updates`` (source_key ->
  meta keys to merge). A session is returned when one of its lines is new or
  it has updates. ``ParseStats`` counts only the new lines. A ``start_offset``
  past the end of the file (file replaced or truncated) restarts at 0 and is
  reported in ``ParseStats.offset_resets``.
* A final line without ``\\n`` is consumed only if it decodes to a JSON object
  (a proper prefix of a serialized object never does); otherwise it is counted
  as ``truncated_last_line`` and ``end_offset`` stops before it.
* Subagents: sidechain lines with an ``agentId`` (v2 files ``agent-*.jsonl`` and
  ``subagents/*.jsonl``) become the child ``"<parent id>-agent-<agentId>"``;
  old in-file sidechains without agentId are grouped by the root of their
  ``parentUuid`` chain and become ``"<parent id>-sidechain-<16 hex of the root
  uuid>"``; an id longer than 64 characters is replaced by a hashed form. The
  parent's Task/Agent call is found through ``toolUseResult.agentId`` on its
  tool_result, else through the call's ``input.prompt`` equal to the child's
  first prompt. The parent's tool_use message, and the tool_result that reports
  the agentId, get ``meta["child_session_id"]`` from the parent file alone (ids
  are deterministic), the parent's context lists ``child_session_ids``, and the
  child gets ``parent_tool_use_id`` when both are parsed together (same file, or
  :func:`link_sessions` / :func:`parse_paths`). A child whose parent transcript
  is missing keeps ``parent_id`` (the sessionId its lines carry) anyway.
* Status is ``"failed"`` when the last assistant outcome of the session is an
  API error (``isApiErrorMessage`` true, or a ``<synthetic>`` message starting
  with ``API Error``, or a ``system``/``api_error`` retry line not followed by a
  real answer); the error text goes to ``ParsedSession.error``. Otherwise
  ``"completed"``.
* ``request`` is the first plain user prompt (not isMeta, not a slash command,
  bash-mode, local-command output, interrupt, caveat, IDE or system-reminder
  block, compact summary or tool_result). A session whose only human input is a
  slash command falls back to that command (``"/name args"``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_SESSION_ID_LENGTH",
    "TOKEN_FIELDS",
    "ParseResult",
    "ParseStats",
    "ParsedMessage",
    "ParsedSession",
    "child_session_id",
    "iter_transcript_files",
    "link_sessions",
    "parse_file",
    "parse_paths",
]

TOKEN_FIELDS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
SYNTHETIC_MODEL = "<synthetic>"
#: Length of the store's session id column; child ids are kept within it.
MAX_SESSION_ID_LENGTH = 64

# Entry types that carry conversation content.
_MESSAGE_TYPES = frozenset({"user", "assistant", "system", "attachment", "progress"})
# Entry types known to carry no message (bookkeeping); anything else is "unknown".
_KNOWN_OTHER_TYPES = frozenset(
    {
        "summary",
        "custom-title",
        "ai-title",
        "agent-name",
        "file-history-snapshot",
        "queue-operation",
        "permission-mode",
        "last-prompt",
    }
)
_AGENT_TOOLS = frozenset({"Task", "Agent"})
_HOOK_EVENTS = (
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "Stop",
    "SubagentStop",
    "SubagentStart",
    "UserPromptSubmit",
    "SessionStart",
    "SessionEnd",
    "Notification",
    "PreCompact",
    "PermissionRequest",
)

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_OLD_HOOK_RE = re.compile(r"^(?:Running )?(?:" + "|".join(_HOOK_EVENTS) + r")\b")
_INTERRUPT_PREFIX = "[Request interrupted by user"
_CAVEAT_PREFIX = "Caveat: The messages below were generated by the user while running"


def _tag_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"<{name}>(.*?)</{name}>", re.DOTALL)


_COMMAND_NAME_RE = _tag_re("command-name")
_COMMAND_ARGS_RE = _tag_re("command-args")
_COMMAND_MESSAGE_RE = _tag_re("command-message")
_LOCAL_STDOUT_RE = _tag_re("local-command-stdout")
_LOCAL_STDERR_RE = _tag_re("local-command-stderr")
_BASH_INPUT_RE = _tag_re("bash-input")
_BASH_STDOUT_RE = _tag_re("bash-stdout")
_BASH_STDERR_RE = _tag_re("bash-stderr")
_LEADING_TAG_RE = re.compile(r"^\s*<([a-zA-Z_][\w-]*)>(.*?)</\1>\s*$", re.DOTALL)
_SYSTEM_TAGS = frozenset({"system-reminder", "ide_opened_file", "ide_selection", "ide_diagnostics"})
_TOOL_SUMMARY_KEYS = (
    "command",
    "file_path",
    "notebook_path",
    "path",
    "pattern",
    "url",
    "query",
    "description",
    "skill",
    "subject",
    "prompt",
    "to",
    "taskId",
)


# --------------------------------------------------------------------------- types


@dataclass
class ParsedMessage:
    """One content block of a transcript, shaped like ``webapp.sessions.Message``.

    ``source_key`` is unique within its session and stable across re-parses.
    """

    role: str
    content: str
    summary: str = ""
    timestamp: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    source_key: str = ""

    def as_message_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``Message(...)`` (``source_key`` excluded)."""
        return {
            "role": self.role,
            "content": self.content,
            "summary": self.summary,
            "timestamp": self.timestamp,
            "meta": self.meta,
        }


@dataclass
class ParsedSession:
    """One Claude Code session (or one subagent run), ready to be stored."""

    id: str
    status: str = "completed"
    request: str | None = None
    response: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    last_activity: datetime | None = None
    context: dict[str, Any] = field(default_factory=dict)
    messages: list[ParsedMessage] = field(default_factory=list)
    parent_id: str | None = None
    parent_tool_use_id: str | None = None
    agent_id: str | None = None
    source_path: str | None = None
    #: On a resumed parse (``start_offset > 0``): meta keys to merge into messages
    #: emitted by an earlier call (``source_key`` -> keys), because a new line
    #: completed them (the final ``usage`` of a response, ``child_session_id``).
    meta_updates: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ParseStats:
    """What was read and what was skipped, and why. Never raises."""

    files: int = 0
    lines_read: int = 0
    lines_skipped: dict[str, int] = field(default_factory=dict)
    entries: dict[str, int] = field(default_factory=dict)
    empty_files: list[str] = field(default_factory=list)
    unreadable_files: list[str] = field(default_factory=list)
    offset_resets: list[str] = field(default_factory=list)

    def skip(self, reason: str, n: int = 1) -> None:
        self.lines_skipped[reason] = self.lines_skipped.get(reason, 0) + n

    def count_entry(self, entry_type: str) -> None:
        self.entries[entry_type] = self.entries.get(entry_type, 0) + 1

    @property
    def skipped_total(self) -> int:
        return sum(self.lines_skipped.values())

    def merge(self, other: ParseStats) -> None:
        self.files += other.files
        self.lines_read += other.lines_read
        for k, v in other.lines_skipped.items():
            self.skip(k, v)
        for k, v in other.entries.items():
            self.entries[k] = self.entries.get(k, 0) + v
        self.empty_files.extend(other.empty_files)
        self.unreadable_files.extend(other.unreadable_files)
        self.offset_resets.extend(other.offset_resets)


@dataclass
class ParseResult:
    """``end_offset``: byte offset after the last consumed line of the file
    (``parse_file``); ``end_offsets`` maps each file to it (``parse_paths``).
    ``orphan_summaries`` maps summary ``leafUuid``s not found in the parsed
    sessions to their summary text."""

    sessions: list[ParsedSession]
    stats: ParseStats
    end_offset: int = 0
    end_offsets: dict[str, int] = field(default_factory=dict)
    orphan_summaries: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------ helpers


def _msg(
    role: str,
    content: str,
    key: str,
    summary: str,
    ts: datetime | None,
    meta: dict[str, Any],
) -> ParsedMessage:
    return ParsedMessage(
        role=role,
        content=content,
        summary=summary,
        timestamp=ts,
        meta=meta,
        source_key=key,
    )


def _fit_id(parent_id: str, kind: str, token: str) -> str:
    """``"<parent>-<kind>-<token>"``, or a hashed form when that is longer than
    :data:`MAX_SESSION_ID_LENGTH` (the store's session id column)."""
    candidate = f"{parent_id}-{kind}-{token}"
    if len(candidate) <= MAX_SESSION_ID_LENGTH:
        return candidate
    digest = hashlib.sha256(f"{parent_id}\0{kind}\0{token}".encode()).hexdigest()
    prefix = f"{parent_id[:36]}-{kind}-"
    return prefix + digest[: max(8, MAX_SESSION_ID_LENGTH - len(prefix))]


def child_session_id(parent_id: str, agent_id: str) -> str:
    """The deterministic id of the subagent ``agent_id`` of session ``parent_id``:
    ``"<parent id>-agent-<agent id>"`` (at most 64 characters)."""
    return _fit_id(parent_id, "agent", agent_id)


def _strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


def _one_line(text: str, limit: int = 120) -> str:
    s = " ".join(text.split())
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return 0


def _usage_of(message: dict[str, Any]) -> dict[str, int] | None:
    usage = message.get("usage")
    if not isinstance(usage, dict):
        return None
    return {k: _int(usage.get(k)) for k in TOKEN_FIELDS}


def _media_placeholder(kind: str, media_type: str, data: str | None) -> str:
    if data is None:
        return f"[{kind}: {media_type}]"
    size_kb = max(1, round(len(data) * 3 / 4 / 1024))
    return f"[{kind}: {media_type}, {size_kb} KB]"


def _media_meta(block: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    """Placeholder content and meta of an image/document block (base64 kept out
    of the content)."""
    source = block.get("source")
    src = source if isinstance(source, dict) else {}
    media_type = str(src.get("media_type") or "application/octet-stream")
    meta: dict[str, Any] = {"kind": kind, "media_type": media_type}
    data = src.get("data")
    if isinstance(data, str):
        meta["data"] = data
        return _media_placeholder(kind, media_type, data), meta
    url = src.get("url")
    if isinstance(url, str):
        meta["url"] = url
    return _media_placeholder(kind, media_type, None), meta


def _tool_summary(name: str, tool_input: Any) -> str:
    if isinstance(tool_input, dict):
        for key in _TOOL_SUMMARY_KEYS:
            value = tool_input.get(key)
            if isinstance(value, str) and value.strip():
                return _one_line(f"{name}: {value}")
    return name


def _flatten_result(content: Any) -> tuple[str, list[dict[str, Any]]]:
    """Text of a tool_result's content, and the images it holds."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        return json.dumps(content, ensure_ascii=False), []
    parts: list[str] = []
    images: list[dict[str, Any]] = []
    for item in content:
        if isinstance(item, str):
            parts.append(item)
            continue
        if not isinstance(item, dict):
            continue
        itype = item.get("type")
        if itype == "text":
            parts.append(str(item.get("text") or ""))
        elif itype in ("image", "document"):
            placeholder, meta = _media_meta(item, str(itype))
            parts.append(placeholder)
            images.append(meta)
        elif itype == "tool_reference":
            parts.append(f"[tool: {item.get('tool_name', '?')}]")
        else:
            parts.append(f"[{itype}]")
    return "\n".join(parts), images


@dataclass
class _Classified:
    role: str
    kind: str
    content: str
    extra: dict[str, Any]


def _classify_text(text: str) -> _Classified | None:
    """Recognise Claude Code's markup in a user text; None for a plain prompt."""
    if "<command-name>" in text:
        m = _COMMAND_NAME_RE.search(text)
        name = (m.group(1) if m else "").strip()
        if name and not name.startswith("/"):
            name = "/" + name
        am = _COMMAND_ARGS_RE.search(text)
        args = (am.group(1) if am else "").strip()
        extra: dict[str, Any] = {"command": name, "args": args}
        mm = _COMMAND_MESSAGE_RE.search(text)
        if mm and mm.group(1).strip():
            extra["message"] = mm.group(1).strip()
        return _Classified("user", "command", f"{name} {args}".strip(), extra)
    if "<local-command-stdout>" in text or "<local-command-stderr>" in text:
        out = "".join(_LOCAL_STDOUT_RE.findall(text))
        err = "".join(_LOCAL_STDERR_RE.findall(text))
        body = _strip_ansi(out).strip()
        err = _strip_ansi(err).strip()
        if err:
            body = f"{body}\n[stderr]\n{err}" if body else f"[stderr]\n{err}"
        return _Classified("system", "command", body, {"output": True})
    if "<bash-input>" in text:
        m = _BASH_INPUT_RE.search(text)
        cmd = (m.group(1) if m else "").strip()
        return _Classified("user", "bash", f"$ {cmd}", {"bash": "input", "command": cmd})
    if "<bash-stdout>" in text or "<bash-stderr>" in text:
        out = _strip_ansi("".join(_BASH_STDOUT_RE.findall(text))).strip()
        err = _strip_ansi("".join(_BASH_STDERR_RE.findall(text))).strip()
        body = out
        if err:
            body = f"{out}\n[stderr]\n{err}" if out else f"[stderr]\n{err}"
        return _Classified("system", "bash", body, {"bash": "output", "has_stderr": bool(err)})
    stripped = text.lstrip()
    if stripped.startswith(_INTERRUPT_PREFIX):
        return _Classified("user", "interrupt", text.strip(), {})
    if "<local-command-caveat>" in text or stripped.startswith(_CAVEAT_PREFIX):
        body = text.replace("<local-command-caveat>", "").replace("</local-command-caveat>", "")
        return _Classified("system", "system", body.strip(), {"subtype": "local_command_caveat"})
    m = _LEADING_TAG_RE.match(text)
    if m and m.group(1) in _SYSTEM_TAGS:
        return _Classified("system", "system", m.group(2).strip(), {"subtype": m.group(1)})
    return None


# ----------------------------------------------------------------- line reading


@dataclass(slots=True)
class _Line:
    offset: int
    obj: dict[str, Any]
    new: bool  # starts at or after start_offset


def _read_lines(data: bytes, start_offset: int, stats: ParseStats) -> tuple[list[_Line], int]:
    lines: list[_Line] = []
    end_offset = start_offset
    pos = 0
    size = len(data)
    while pos < size:
        nl = data.find(b"\n", pos)
        complete = nl != -1
        seg_end = nl if complete else size
        nxt = nl + 1 if complete else size
        seg = data[pos:seg_end]
        new = pos >= start_offset
        if not seg.strip():
            if complete:
                if new:
                    stats.lines_read += 1
                    stats.skip("blank_line")
                end_offset = max(end_offset, nxt)
            pos = nxt
            continue
        if new:
            stats.lines_read += 1
        try:
            obj = json.loads(seg)
        except (ValueError, UnicodeDecodeError):
            obj = None
        if not complete:
            # A final line without newline: consumed only if it is a whole object.
            if isinstance(obj, dict):
                lines.append(_Line(pos, obj, new))
                end_offset = max(end_offset, nxt)
            elif new:
                stats.skip("truncated_last_line")
            break
        end_offset = max(end_offset, nxt)
        if obj is None:
            if new:
                stats.skip("malformed_json")
        elif not isinstance(obj, dict):
            if new:
                stats.skip("not_an_object")
        else:
            lines.append(_Line(pos, obj, new))
        pos = nxt
    return lines, end_offset


# -------------------------------------------------------------- session builder


@dataclass
class _Emitted:
    offset: int
    message: ParsedMessage


@dataclass
class _Builder:
    key: str
    session_id: str
    parent_id: str | None = None
    agent_id: str | None = None
    emitted: list[_Emitted] = field(default_factory=list)
    seen_uuids: set[str] = field(default_factory=set)
    touched: bool = False
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    cwd: str | None = None
    git_branch: str | None = None
    version: str | None = None
    slug: str | None = None
    models: set[str] = field(default_factory=set)
    response_ids: set[str] = field(default_factory=set)
    usage_placed: set[str] = field(default_factory=set)
    loose_usage: list[dict[str, int]] = field(default_factory=list)
    outcome_failed: bool = False
    outcome_error: str | None = None
    first_prompt: str | None = None
    first_prompt_offset: int = -1
    parent_tool_use_id: str | None = None
    agent_type: str | None = None
    description: str | None = None

    def see_ts(self, ts: datetime | None) -> None:
        if ts is None:
            return
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts


class _FileParser:
    def __init__(self, path: Path, lines: list[_Line], stats: ParseStats) -> None:
        self.path = path
        self.lines = lines
        self.stats = stats
        self.default_sid = path.stem
        self.side_parent: dict[str, str | None] = {}
        self.root_memo: dict[str, str] = {}
        self.summaries: dict[str, str] = {}
        self.custom_titles: dict[str, str] = {}
        self.ai_titles: dict[str, str] = {}
        self.response_usage: dict[str, dict[str, int]] = {}
        # response id -> offset of its last line
        self.response_end: dict[str, int] = {}
        # response id -> (its first message, that message's line offset, session key)
        self.response_first: dict[str, tuple[ParsedMessage, int, str]] = {}
        # (session id, tool_use_id) -> (agentId, offset of the parent's tool_result line)
        self.agent_links: dict[tuple[str, str], tuple[str, int]] = {}
        # offset of a main-chain tool_result line -> the agentId it reports
        self.result_agents: dict[int, str] = {}
        self.agent_types: dict[tuple[str, str], str] = {}
        # (session id, prompt) -> Task/Agent tool_use ids, in order
        self.prompt_calls: dict[tuple[str, str], list[str]] = {}
        self.call_inputs: dict[tuple[str, str], dict[str, Any]] = {}
        # (session id, tool_use_id) -> (tool_use message, its line offset)
        self.tool_use_msgs: dict[tuple[str, str], tuple[ParsedMessage, int]] = {}
        # session key -> source_key -> meta keys for messages of earlier calls
        self.meta_updates: dict[str, dict[str, dict[str, Any]]] = {}
        self.start_offset = 0
        self.builders: dict[str, _Builder] = {}
        self.ignored: set[int] = set()

    # -- pass 1: state that needs the whole file
    def index(self) -> None:
        for line in self.lines:
            obj = line.obj
            etype = obj.get("type")
            etype_s = etype if isinstance(etype, str) else "<none>"
            if line.new:
                self.stats.count_entry(etype_s)
            if etype_s not in _MESSAGE_TYPES and etype_s not in _KNOWN_OTHER_TYPES:
                self.ignored.add(line.offset)
                if line.new:
                    self.stats.skip("unknown_type")
                continue
            sid = self._sid(obj)
            if etype_s == "summary":
                leaf, text = obj.get("leafUuid"), obj.get("summary")
                if isinstance(leaf, str) and isinstance(text, str):
                    self.summaries[leaf] = text
                continue
            if etype_s == "custom-title":
                self._title(self.custom_titles, sid, obj, ("customTitle", "title"))
                continue
            if etype_s == "ai-title":
                self._title(self.ai_titles, sid, obj, ("aiTitle", "title"))
                continue
            if etype_s not in _MESSAGE_TYPES:
                continue
            if etype_s in ("user", "assistant") and not isinstance(obj.get("message"), dict):
                self.ignored.add(line.offset)
                if line.new:
                    self.stats.skip("invalid_entry")
                continue
            uuid = obj.get("uuid")
            if obj.get("isSidechain") is True and isinstance(uuid, str):
                parent = obj.get("parentUuid")
                self.side_parent[uuid] = parent if isinstance(parent, str) else None
            message = obj.get("message")
            if etype_s == "assistant" and isinstance(message, dict):
                self._index_assistant(obj, message, sid, line.offset)
            elif etype_s == "user" and not obj.get("isSidechain"):
                self._index_user_result(obj, sid, line.offset)

    def _title(
        self, into: dict[str, str], sid: str, obj: dict[str, Any], keys: tuple[str, ...]
    ) -> None:
        for k in keys:
            v = obj.get(k)
            if isinstance(v, str) and v.strip():
                into[sid] = v.strip()
                return

    def _index_assistant(
        self, obj: dict[str, Any], message: dict[str, Any], sid: str, offset: int
    ) -> None:
        mid = message.get("id")
        if isinstance(mid, str):
            self.response_end[mid] = offset
        usage = _usage_of(message)
        if isinstance(mid, str) and usage is not None:
            # Per-field maximum across the lines of one response (see module doc).
            cur = self.response_usage.get(mid)
            if cur is None:
                self.response_usage[mid] = usage
            else:
                for k in TOKEN_FIELDS:
                    cur[k] = max(cur[k], usage[k])
        if obj.get("isSidechain"):
            return
        content = message.get("content")
        if not isinstance(content, list):
            return
        for block in content:
            if (
                isinstance(block, dict)
                and block.get("type") == "tool_use"
                and block.get("name") in _AGENT_TOOLS
                and isinstance(block.get("id"), str)
            ):
                tinput = block.get("input")
                if isinstance(tinput, dict):
                    self.call_inputs[(sid, block["id"])] = tinput
                    prompt = tinput.get("prompt")
                    if isinstance(prompt, str):
                        self.prompt_calls.setdefault((sid, prompt.strip()), []).append(block["id"])

    def _index_user_result(self, obj: dict[str, Any], sid: str, offset: int) -> None:
        result = obj.get("toolUseResult")
        if not isinstance(result, dict):
            return
        agent_id = result.get("agentId")
        if not isinstance(agent_id, str) or not agent_id:
            return
        content = obj["message"].get("content")
        if not isinstance(content, list):
            return
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                tuid = block.get("tool_use_id")
                if isinstance(tuid, str):
                    self.agent_links[(sid, tuid)] = (agent_id, offset)
                    self.result_agents[offset] = agent_id
                    atype = result.get("agentType")
                    if isinstance(atype, str):
                        self.agent_types[(sid, tuid)] = atype

    def _sid(self, obj: dict[str, Any]) -> str:
        sid = obj.get("sessionId")
        return sid if isinstance(sid, str) and sid else self.default_sid

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

    def _builder_for(self, obj: dict[str, Any], offset: int) -> _Builder:
        sid = self._sid(obj)
        if obj.get("isSidechain") is True:
            agent = obj.get("agentId")
            if isinstance(agent, str) and agent:
                key = child_session_id(sid, agent)
                agent_id: str | None = agent
            else:
                uuid = obj.get("uuid")
                root = self._root(uuid) if isinstance(uuid, str) else f"L{offset}"
                key = _fit_id(sid, "sidechain", root.replace("-", "")[:16])
                agent_id = None
            b = self.builders.get(key)
            if b is None:
                b = _Builder(key=key, session_id=key, parent_id=sid, agent_id=agent_id)
                self.builders[key] = b
            return b
        b = self.builders.get(sid)
        if b is None:
            b = _Builder(key=sid, session_id=sid)
            self.builders[sid] = b
        return b

    # -- pass 2: messages
    def emit(self) -> None:
        for line in self.lines:
            if line.offset in self.ignored:
                continue
            obj = line.obj
            etype = obj.get("type")
            if etype not in _MESSAGE_TYPES:
                continue
            if etype == "progress":
                data = obj.get("data")
                if not (isinstance(data, dict) and data.get("type") == "hook_progress"):
                    continue  # non-hook progress: live status only, no message
            b = self._builder_for(obj, line.offset)
            uuid = obj.get("uuid")
            if isinstance(uuid, str):
                if uuid in b.seen_uuids:
                    if line.new:
                        self.stats.skip("duplicate_uuid")
                    continue
                b.seen_uuids.add(uuid)
            if line.new:
                b.touched = True
            ts = _parse_ts(obj.get("timestamp"))
            b.see_ts(ts)
            self._see_context(b, obj)
            base = uuid if isinstance(uuid, str) else f"L{line.offset}"
            meta_base: dict[str, Any] = {"uuid": uuid} if isinstance(uuid, str) else {}
            if etype == "assistant":
                msgs = self._assistant(b, obj, base, meta_base, ts, line.offset)
            elif etype == "user":
                msgs = self._user(b, obj, base, meta_base, ts, line.offset)
            elif etype == "system":
                msgs = self._system(b, obj, base, meta_base, ts)
            elif etype == "attachment":
                msgs = self._attachment(obj, base, meta_base, ts)
            else:
                msgs = self._progress(obj, base, meta_base, ts)
            for m in msgs:
                b.emitted.append(_Emitted(line.offset, m))

    def _see_context(self, b: _Builder, obj: dict[str, Any]) -> None:
        cwd = obj.get("cwd")
        if b.cwd is None and isinstance(cwd, str) and cwd:
            b.cwd = cwd
        for attr, key in (("git_branch", "gitBranch"), ("version", "version"), ("slug", "slug")):
            v = obj.get(key)
            if isinstance(v, str) and v:
                setattr(b, attr, v)

    def _assistant(
        self,
        b: _Builder,
        obj: dict[str, Any],
        base: str,
        meta_base: dict[str, Any],
        ts: datetime | None,
        offset: int,
    ) -> list[ParsedMessage]:
        message: dict[str, Any] = obj["message"]
        model = message.get("model")
        model_s = model if isinstance(model, str) else None
        mid = message.get("id")
        mid_s = mid if isinstance(mid, str) else None
        blocks = self._blocks(message.get("content"))
        texts = [str(bl.get("text") or "") for bl in blocks if bl.get("type") == "text"]
        synthetic = model_s == SYNTHETIC_MODEL
        api_error = obj.get("isApiErrorMessage") is True or (
            synthetic and any(t.lstrip().startswith("API Error") for t in texts)
        )
        if api_error:
            b.outcome_failed = True
            b.outcome_error = "\n".join(t for t in texts if t.strip()) or _error_text(obj)
        elif not synthetic:
            b.outcome_failed = False
            b.outcome_error = None
        if model_s and not synthetic:
            b.models.add(model_s)
        usage: dict[str, int] | None = None
        if mid_s is not None:
            b.response_ids.add(mid_s)
            if mid_s not in b.usage_placed:
                usage = self.response_usage.get(mid_s)
        else:
            usage = _usage_of(message)
            if usage is not None and not synthetic:
                b.loose_usage.append(usage)
        out: list[ParsedMessage] = []
        for i, block in enumerate(blocks):
            meta = dict(meta_base)
            if model_s:
                meta["model"] = model_s
            if mid_s:
                meta["response_id"] = mid_s
            if synthetic:
                meta["synthetic"] = True
            role = "assistant"
            btype = block.get("type")
            if btype == "text":
                content = str(block.get("text") or "")
                if api_error:
                    role = "system"
                    meta["kind"] = "api_error"
                    err = obj.get("error")
                    if err is not None:
                        meta["error"] = err
                    status = obj.get("apiErrorStatus")
                    if status is not None:
                        meta["status"] = status
                else:
                    meta["kind"] = "text"
                summary = _one_line(content)
            elif btype in ("thinking", "redacted_thinking"):
                content = str(block.get("thinking") or "")
                meta["kind"] = "thinking"
                if not content:
                    meta["redacted"] = True
                summary = _one_line(content) if content else "[thinking]"
            elif btype in ("tool_use", "server_tool_use"):
                name = str(block.get("name") or "?")
                tinput = block.get("input")
                tid = block.get("id")
                meta.update(
                    {
                        "kind": "tool_use",
                        "tool_name": name,
                        "tool_input": tinput,
                        "tool_use_id": tid,
                    }
                )
                content = json.dumps(tinput, ensure_ascii=False, indent=2)
                summary = _tool_summary(name, tinput)
            elif btype in ("image", "document"):
                content, media = _media_meta(block, str(btype))
                meta.update(media)
                summary = content
            else:
                content = f"[{btype}]"
                meta.update({"kind": "other", "block_type": btype, "block": block})
                summary = content
            msg = _msg(role, content, f"{base}:{i}", summary, ts, meta)
            if usage is not None and not out:
                msg.meta["usage"] = dict(usage)
                if mid_s is not None:
                    b.usage_placed.add(mid_s)
                    self.response_first[mid_s] = (msg, offset, b.key)
            if meta.get("kind") == "tool_use" and isinstance(meta.get("tool_use_id"), str):
                self.tool_use_msgs[(b.session_id, meta["tool_use_id"])] = (msg, offset)
            out.append(msg)
        return out

    def _user(
        self,
        b: _Builder,
        obj: dict[str, Any],
        base: str,
        meta_base: dict[str, Any],
        ts: datetime | None,
        offset: int,
    ) -> list[ParsedMessage]:
        message: dict[str, Any] = obj["message"]
        blocks = self._blocks(message.get("content"))
        is_meta = obj.get("isMeta") is True
        compact = obj.get("isCompactSummary") is True
        out: list[ParsedMessage] = []
        prompt_parts: list[str] = []
        for i, block in enumerate(blocks):
            meta = dict(meta_base)
            btype = block.get("type")
            key = f"{base}:{i}"
            if btype == "tool_result":
                text, images = _flatten_result(block.get("content"))
                is_error = block.get("is_error") is True
                meta.update(
                    {
                        "kind": "tool_result",
                        "tool_use_id": block.get("tool_use_id"),
                        "is_error": is_error,
                    }
                )
                if images:
                    meta["images"] = images
                summary = _one_line(("error: " if is_error else "") + text) or (
                    "error" if is_error else "(no output)"
                )
                out.append(_msg("tool", text, key, summary, ts, meta))
            elif btype == "text":
                text = str(block.get("text") or "")
                if compact:
                    meta.update({"kind": "compaction", "event": "summary"})
                    out.append(_msg("system", text, key, "Compaction summary", ts, meta))
                    continue
                cls = _classify_text(text)
                if cls is not None:
                    meta["kind"] = cls.kind
                    meta.update(cls.extra)
                    if is_meta:
                        meta["is_meta"] = True
                    out.append(_msg(cls.role, cls.content, key, _one_line(cls.content), ts, meta))
                    continue
                if is_meta:
                    meta.update({"kind": "system", "subtype": "meta", "is_meta": True})
                    out.append(_msg("system", text, key, _one_line(text), ts, meta))
                    continue
                meta["kind"] = "text"
                prompt_parts.append(text)
                out.append(_msg("user", text, key, _one_line(text), ts, meta))
            elif btype in ("image", "document"):
                content, media = _media_meta(block, str(btype))
                meta.update(media)
                role = "system" if is_meta else "user"
                out.append(_msg(role, content, key, content, ts, meta))
            else:
                content = f"[{btype}]"
                meta.update({"kind": "other", "block_type": btype, "block": block})
                out.append(_msg("user", content, key, content, ts, meta))
        if b.first_prompt is None:
            joined = "\n\n".join(p.strip() for p in prompt_parts if p.strip())
            if joined:
                b.first_prompt = joined
                b.first_prompt_offset = offset
        agent_id = self.result_agents.get(offset)
        if agent_id is not None and b.parent_id is None:
            for m in out:
                if m.meta.get("kind") == "tool_result":
                    m.meta["agent_id"] = agent_id
                    m.meta["child_session_id"] = child_session_id(b.session_id, agent_id)
        return out

    def _system(
        self,
        b: _Builder,
        obj: dict[str, Any],
        base: str,
        meta_base: dict[str, Any],
        ts: datetime | None,
    ) -> list[ParsedMessage]:
        subtype = obj.get("subtype")
        raw = obj.get("content")
        text = _strip_ansi(raw) if isinstance(raw, str) else ""
        meta = dict(meta_base)
        key = f"{base}:0"
        if subtype == "compact_boundary":
            cm = obj.get("compactMetadata")
            cmd = cm if isinstance(cm, dict) else {}
            trigger = cmd.get("trigger")
            pre = cmd.get("preTokens")
            meta.update({"kind": "compaction", "event": "boundary"})
            detail: list[str] = []
            if isinstance(trigger, str):
                meta["trigger"] = trigger
                detail.append(trigger)
            if isinstance(pre, int):
                meta["pre_tokens"] = pre
                detail.append(f"{pre:,} tokens before")
            content = "Conversation compacted" + (f" ({', '.join(detail)})" if detail else "")
            return [_msg("system", content, key, content, ts, meta)]
        if subtype == "stop_hook_summary":
            infos = obj.get("hookInfos")
            cmds = [
                str(h.get("command"))
                for h in (infos if isinstance(infos, list) else [])
                if isinstance(h, dict) and h.get("command")
            ]
            errors = obj.get("hookErrors")
            n_err = len(errors) if isinstance(errors, list) else 0
            content = "Stop hooks: " + ("; ".join(cmds) if cmds else "(none)")
            if n_err:
                content += f" ({n_err} error{'s' if n_err != 1 else ''})"
            meta.update({"kind": "hook", "subtype": subtype, "hook_event": "Stop"})
            if n_err:
                meta["hook_errors"] = errors
            return [_msg("system", content, key, _one_line(content), ts, meta)]
        if subtype == "api_error":
            b.outcome_failed = True
            b.outcome_error = text or _error_text(obj)
            meta.update({"kind": "system", "subtype": "api_error"})
            for k in ("retryAttempt", "maxRetries", "retryInMs"):
                if k in obj:
                    meta[k] = obj[k]
            content = text or f"API error: {_error_text(obj)}"
            return [_msg("system", content, key, _one_line(content), ts, meta)]
        if text and ("<command-name>" in text or "<local-command-std" in text):
            cls = _classify_text(text)
            if cls is not None:
                meta["kind"] = cls.kind
                meta.update(cls.extra)
                meta["subtype"] = subtype
                return [_msg(cls.role, cls.content, key, _one_line(cls.content), ts, meta)]
        if subtype is None and _OLD_HOOK_RE.match(text):
            meta["kind"] = "hook"
            tool_use_id = obj.get("toolUseID")
            if isinstance(tool_use_id, str):
                meta["tool_use_id"] = tool_use_id
            return [_msg("system", text, key, _one_line(text), ts, meta)]
        if subtype == "turn_duration" and not text:
            ms = obj.get("durationMs")
            text = f"Turn took {ms / 1000:.1f} s" if isinstance(ms, int | float) else ""
        meta["kind"] = "system"
        if isinstance(subtype, str):
            meta["subtype"] = subtype
        level = obj.get("level")
        if isinstance(level, str):
            meta["level"] = level
        content = text or f"[{subtype or 'system'}]"
        return [_msg("system", content, key, _one_line(content), ts, meta)]

    def _attachment(
        self,
        obj: dict[str, Any],
        base: str,
        meta_base: dict[str, Any],
        ts: datetime | None,
    ) -> list[ParsedMessage]:
        att = obj.get("attachment")
        a = att if isinstance(att, dict) else {}
        atype = str(a.get("type") or "unknown")
        meta = dict(meta_base)
        body = _attachment_text(a)
        if atype.startswith("hook_"):
            name = str(a.get("hookName") or a.get("hookEvent") or "hook")
            meta.update({"kind": "hook", "subtype": atype, "hook_name": name})
            event = a.get("hookEvent")
            if isinstance(event, str):
                meta["hook_event"] = event
            content = f"{name}: {body}" if body else name
        else:
            meta.update({"kind": "system", "subtype": "attachment", "attachment_type": atype})
            content = body or f"[attachment: {atype}]"
        content = _strip_ansi(content)
        return [_msg("system", content, f"{base}:0", _one_line(content), ts, meta)]

    def _progress(
        self,
        obj: dict[str, Any],
        base: str,
        meta_base: dict[str, Any],
        ts: datetime | None,
    ) -> list[ParsedMessage]:
        data: dict[str, Any] = obj["data"]
        name = str(data.get("hookName") or data.get("hookEvent") or "hook")
        command = data.get("command")
        content = f"{name}: {command}" if isinstance(command, str) and command else name
        meta = dict(meta_base)
        meta.update({"kind": "hook", "subtype": "hook_progress", "hook_name": name})
        event = data.get("hookEvent")
        if isinstance(event, str):
            meta["hook_event"] = event
        return [_msg("system", content, f"{base}:0", _one_line(content), ts, meta)]

    @staticmethod
    def _blocks(content: Any) -> list[dict[str, Any]]:
        if isinstance(content, str):
            return [{"type": "text", "text": content}]
        if isinstance(content, list):
            return [
                bl if isinstance(bl, dict) else {"type": "text", "text": str(bl)} for bl in content
            ]
        return []

    # -- pass 3: links and results
    def link(self) -> None:
        for (sid, tuid), (agent, source_offset) in self.agent_links.items():
            child_id = child_session_id(sid, agent)
            self._link(sid, tuid, child_id, source_offset)
            child = self.builders.get(child_id)
            if child is not None:
                child.agent_type = child.agent_type or self.agent_types.get((sid, tuid))
        for b in self.builders.values():
            if b.parent_id is None or b.parent_tool_use_id is not None:
                continue
            if b.first_prompt is None:
                continue
            calls = self.prompt_calls.get((b.parent_id, b.first_prompt.strip()))
            while calls:
                tuid = calls.pop(0)
                if (b.parent_id, tuid) not in self.agent_links:
                    self._link(b.parent_id, tuid, b.session_id, b.first_prompt_offset)
                    break
        # Usage of a response whose first message came before the offset and
        # whose later lines are new: the earlier message's usage was a snapshot.
        for mid, (msg, offset, key) in self.response_first.items():
            if offset < self.start_offset <= self.response_end.get(mid, -1):
                self._update(key, msg, "usage")

    def _update(self, key: str, msg: ParsedMessage, meta_key: str) -> None:
        if self.start_offset > 0:
            patch = self.meta_updates.setdefault(key, {}).setdefault(msg.source_key, {})
            patch[meta_key] = msg.meta[meta_key]

    def _link(self, sid: str, tuid: str, child_id: str, source_offset: int) -> None:
        found = self.tool_use_msgs.get((sid, tuid))
        if found is not None:
            msg, msg_offset = found
            msg.meta["child_session_id"] = child_id
            if msg_offset < self.start_offset <= source_offset:
                self._update(sid, msg, "child_session_id")
        child = self.builders.get(child_id)
        if child is not None and child.parent_tool_use_id is None:
            child.parent_tool_use_id = tuid
            tinput = self.call_inputs.get((sid, tuid), {})
            atype = tinput.get("subagent_type")
            desc = tinput.get("description")
            if isinstance(atype, str):
                child.agent_type = child.agent_type or atype
            if isinstance(desc, str):
                child.description = child.description or desc

    def finish(self, start_offset: int) -> tuple[list[ParsedSession], dict[str, str]]:
        sidecar = _read_sidecar_meta(self.path)
        used_summaries: set[str] = set()
        parents = [b for b in self.builders.values() if b.parent_id is None]
        children = [b for b in self.builders.values() if b.parent_id is not None]
        children_of: dict[str, list[str]] = {}
        for (sid, _tuid), (agent, _offset) in self.agent_links.items():
            children_of.setdefault(sid, []).append(child_session_id(sid, agent))
        for c in children:
            if c.parent_id is not None:
                children_of.setdefault(c.parent_id, []).append(c.session_id)
        sessions: list[ParsedSession] = []
        for b in parents + children:
            if not b.touched and b.key not in self.meta_updates:
                continue
            title = self.custom_titles.get(b.session_id)
            if title is None:
                for leaf, text in self.summaries.items():
                    if leaf in b.seen_uuids:
                        title = text
                        used_summaries.add(leaf)
            if title is None and b.parent_id is None:
                title = self.ai_titles.get(b.session_id)
            sessions.append(self._session(b, start_offset, title, children_of, sidecar))
        orphans = {k: v for k, v in self.summaries.items() if k not in used_summaries}
        # summaries matched to a session that was not returned are not orphans
        for b in self.builders.values():
            for leaf in list(orphans):
                if leaf in b.seen_uuids:
                    del orphans[leaf]
        return sessions, orphans

    def _session(
        self,
        b: _Builder,
        start_offset: int,
        title: str | None,
        children_of: dict[str, list[str]],
        sidecar: dict[str, Any],
    ) -> ParsedSession:
        all_msgs = [e.message for e in b.emitted]
        # timestamps: a line without one inherits the previous one in the session
        last: datetime | None = b.first_ts
        for m in all_msgs:
            if m.timestamp is None:
                m.timestamp = last
            else:
                last = m.timestamp
        request = b.first_prompt
        if request is None:
            for m in all_msgs:
                if m.meta.get("kind") == "command" and m.role == "user":
                    request = m.content
                    break
        response: str | None = None
        for m in reversed(all_msgs):
            if (
                m.role == "assistant"
                and m.meta.get("kind") == "text"
                and not m.meta.get("synthetic")
                and m.content.strip()
            ):
                response = m.content.strip()
                break
        totals = dict.fromkeys(TOKEN_FIELDS, 0)
        for mid in b.response_ids:
            usage = self.response_usage.get(mid)
            if usage is not None:
                for k in TOKEN_FIELDS:
                    totals[k] += usage[k]
        for usage in b.loose_usage:
            for k in TOKEN_FIELDS:
                totals[k] += usage[k]
        ctx: dict[str, Any] = {"source": "claude-code"}
        if b.cwd is not None:
            ctx["project_path"] = b.cwd
        if b.git_branch is not None:
            ctx["git_branch"] = b.git_branch
        if b.version is not None:
            ctx["version"] = b.version
        ctx["models"] = sorted(b.models)
        if b.slug is not None:
            ctx["slug"] = b.slug
        if title is not None:
            ctx["title"] = title
        ctx.update(totals)
        if b.parent_id is not None:
            ctx["is_sidechain"] = True
            if b.agent_id is not None:
                ctx["agent_id"] = b.agent_id
            agent_type = b.agent_type or sidecar.get("agentType")
            if isinstance(agent_type, str):
                ctx["agent_type"] = agent_type
            desc = b.description or sidecar.get("description")
            if isinstance(desc, str):
                ctx["description"] = desc
        else:
            kids = sorted(set(children_of.get(b.session_id, [])))
            if kids:
                ctx["child_session_ids"] = kids
        status = "failed" if b.outcome_failed else "completed"
        return ParsedSession(
            id=b.session_id,
            status=status,
            request=request,
            response=response,
            error=b.outcome_error if b.outcome_failed else None,
            created_at=b.first_ts,
            last_activity=b.last_ts,
            context=ctx,
            messages=[e.message for e in b.emitted if e.offset >= start_offset],
            parent_id=b.parent_id,
            parent_tool_use_id=b.parent_tool_use_id,
            agent_id=b.agent_id,
            source_path=str(self.path),
            meta_updates=self.meta_updates.get(b.key, {}),
        )


def _error_text(obj: dict[str, Any]) -> str:
    err = obj.get("error")
    if isinstance(err, str):
        return err
    if isinstance(err, dict):
        inner = err.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(err.get("message"), str):
            return str(err["message"])
        return json.dumps(err, ensure_ascii=False)
    return "API error"


def _attachment_text(a: dict[str, Any]) -> str:
    for key in ("content", "stdout", "stderr"):
        v = a.get(key)
        if isinstance(v, str) and v.strip():
            return v.strip()
        if isinstance(v, list) and v:
            parts = [x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in v]
            return "\n".join(parts)
    names = a.get("addedNames")
    if isinstance(names, list) and names:
        return "Added: " + ", ".join(str(n) for n in names)
    return ""


def _read_sidecar_meta(path: Path) -> dict[str, Any]:
    """``agent-<id>.meta.json`` beside a subagent transcript, if any."""
    if not path.name.startswith("agent-"):
        return {}
    side = path.with_suffix(".meta.json")
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# ----------------------------------------------------------------------- public


def parse_file(path: str | os.PathLike[str], start_offset: int = 0) -> ParseResult:
    """Parse one Claude Code ``.jsonl`` transcript.

    Only messages of lines starting at or after ``start_offset`` are returned
    (session fields are whole-file values); ``end_offset`` is where the next
    call should start. Malformed, unknown and truncated lines are skipped and
    counted in ``stats``; nothing in the file's content raises.
    """
    p = Path(path)
    stats = ParseStats(files=1)
    try:
        data = p.read_bytes()
    except OSError:
        stats.unreadable_files.append(str(p))
        return ParseResult([], stats, start_offset, {str(p): start_offset})
    if not data:
        stats.empty_files.append(str(p))
        return ParseResult([], stats, 0, {str(p): 0})
    if start_offset < 0 or start_offset > len(data):
        stats.offset_resets.append(str(p))
        start_offset = 0
    lines, end_offset = _read_lines(data, start_offset, stats)
    fp = _FileParser(p, lines, stats)
    fp.start_offset = start_offset
    fp.index()
    fp.emit()
    fp.link()
    sessions, orphans = fp.finish(start_offset)
    return ParseResult(sessions, stats, end_offset, {str(p): end_offset}, orphans)


def _is_subagent_file(path: Path) -> bool:
    return path.name.startswith("agent-") or "subagents" in path.parts


def iter_transcript_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> Iterator[Path]:
    """The ``.jsonl`` files under ``paths`` (files, or folders walked
    recursively without following symlinked folders), each once. Sorted by
    path, main session files before subagent files (so parents come first).
    ``~`` is expanded, so ``~/.claude/projects`` works as a whole. A path that
    does not exist raises ``FileNotFoundError``."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    found: dict[Path, Path] = {}
    for raw in paths:
        p = Path(os.path.expanduser(os.fspath(raw)))
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames.sort()
                for name in filenames:
                    if name.endswith(".jsonl"):
                        f = Path(dirpath) / name
                        if f.is_file():
                            found.setdefault(f.resolve(), f)
        elif p.is_file():
            if p.name.endswith(".jsonl"):
                found.setdefault(p.resolve(), p)
        else:
            raise FileNotFoundError(str(p))
    yield from sorted(found.values(), key=lambda f: (_is_subagent_file(f), str(f)))


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


def parse_paths(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> ParseResult:
    """Parse every transcript under ``paths`` from the start, link subagents
    across files, and give titles to sessions from summaries found in other
    files. ``end_offsets`` holds each file's end offset."""
    stats = ParseStats()
    sessions: list[ParsedSession] = []
    offsets: dict[str, int] = {}
    orphans: dict[str, str] = {}
    for f in iter_transcript_files(paths):
        r = parse_file(f)
        stats.merge(r.stats)
        sessions.extend(r.sessions)
        offsets.update(r.end_offsets)
        orphans.update(r.orphan_summaries)
    link_sessions(sessions)
    if orphans:
        for s in sessions:
            if "title" in s.context:
                continue
            for m in s.messages:
                uuid = m.meta.get("uuid")
                if isinstance(uuid, str) and uuid in orphans:
                    s.context["title"] = orphans.pop(uuid)
    return ParseResult(sessions, stats, 0, offsets, orphans)
