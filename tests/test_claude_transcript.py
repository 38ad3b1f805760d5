"""Tests of webapp.claude.transcript.

Two parts: checks over the whole shared corpus of real Claude Code transcripts,
against numbers derived here from the raw lines with plain ``json`` (never from
the parser's helpers, never hard-coded from its output); then small hand-written
JSONL snippets, one per rule.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.corpus import CORPUS, CORPUS_2  # noqa: E402
from webapp.claude.transcript import (  # noqa: E402
    MAX_SESSION_ID_LENGTH,
    TOKEN_FIELDS,
    ParsedSession,
    ParseResult,
    child_session_id,
    iter_transcript_files,
    parse_file,
    parse_paths,
)
from webapp.sessions import Manager, Message  # noqa: E402

# --------------------------------------------------------------------- the corpus


@pytest.fixture(scope="module", params=[CORPUS, CORPUS_2], ids=lambda p: p.name)
def corpus(request: pytest.FixtureRequest) -> Path:
    """Each corpus folder in turn; a test that holds for one only says which."""
    path: Path = request.param
    return path


def _only(folder: Path) -> pytest.MarkDecorator:
    """Run a corpus test on ``folder`` only: the independent counter behind it
    models that folder's files (one session a file, a Task call per subagent)."""
    return pytest.mark.parametrize("corpus", [folder], indirect=True, ids=[folder.name])


@pytest.fixture(scope="module")
def corpus_files(corpus: Path) -> list[Path]:
    files = sorted(corpus.glob("*.jsonl"))
    assert files, f"no .jsonl file in {corpus}"
    return files


@pytest.fixture(scope="module")
def parsed(corpus: Path) -> ParseResult:
    return parse_paths(corpus)


def _raw(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# The independent counter: a second, deliberately plain reading of the format.

_HOOK_WORDS = ("PreToolUse", "PostToolUse", "Stop", "SessionStart", "UserPromptSubmit")


def _text_kind(text: str, entry: dict[str, Any]) -> str:
    if entry.get("isCompactSummary"):
        return "compaction"
    if "<command-name>" in text or "<local-command-stdout>" in text:
        return "command"
    if "<bash-input>" in text or "<bash-stdout>" in text or "<bash-stderr>" in text:
        return "bash"
    if text.startswith("[Request interrupted by user"):
        return "interrupt"
    if entry.get("isMeta") or "Caveat: The messages below" in text or text.startswith("<ide_"):
        return "system"
    return "text"


def _raw_kinds(entry: dict[str, Any]) -> list[str]:
    etype = entry.get("type")
    if etype in ("user", "assistant"):
        content = entry["message"]["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        kinds = []
        for block in blocks:
            btype = block["type"]
            if btype == "text":
                if etype == "assistant":
                    kinds.append("api_error" if entry.get("isApiErrorMessage") else "text")
                else:
                    kinds.append(_text_kind(block["text"], entry))
            else:
                kinds.append(btype)
        return kinds
    if etype == "system":
        subtype = entry.get("subtype")
        if subtype == "compact_boundary":
            return ["compaction"]
        if subtype == "stop_hook_summary":
            return ["hook"]
        content = str(entry.get("content", "")).replace("\x1b[1m", "")
        if subtype is None and any(
            content.removeprefix("Running ").startswith(w) for w in _HOOK_WORDS
        ):
            return ["hook"]
        return ["system"]
    if etype == "attachment":
        return ["hook" if entry["attachment"]["type"].startswith("hook_") else "system"]
    if etype == "progress" and entry.get("data", {}).get("type") == "hook_progress":
        return ["hook"]
    return []


def _raw_session_key(entry: dict[str, Any], roots: dict[str, str]) -> tuple[str, str]:
    sid = entry["sessionId"]
    if not entry.get("isSidechain"):
        return (sid, "")
    if entry.get("agentId"):
        return (sid, "agent:" + entry["agentId"])
    return (sid, "root:" + roots[entry["uuid"]])


def _raw_roots(entries: list[dict[str, Any]]) -> dict[str, str]:
    parent = {e["uuid"]: e.get("parentUuid") for e in entries if e.get("isSidechain")}
    roots = {}
    for uuid in parent:
        cur = uuid
        while parent.get(cur) in parent:
            cur = parent[cur]
        roots[uuid] = cur
    return roots


def _raw_usage_by_session(entries: list[dict[str, Any]]) -> dict[tuple[str, str], Counter[str]]:
    """Per raw session key, usage summed over API responses, where a response
    (one message.id, spread over several lines) counts its LAST line's usage."""
    roots = _raw_roots(entries)
    last: dict[str, tuple[tuple[str, str], dict[str, int]]] = {}
    for e in entries:
        if e.get("type") == "assistant" and "usage" in e["message"]:
            last[e["message"]["id"]] = (_raw_session_key(e, roots), e["message"]["usage"])
    totals: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for key, usage in last.values():
        for f in TOKEN_FIELDS:
            totals[key][f] += usage.get(f, 0)
    return totals


def _kinds(sessions: list[ParsedSession]) -> Counter[str]:
    return Counter(str(m.meta.get("kind")) for s in sessions for m in s.messages)


# --------------------------------------------------------------- corpus checks


def test_corpus_session_count(parsed: ParseResult, corpus_files: list[Path]) -> None:
    keys: set[tuple[str, str]] = set()
    for f in corpus_files:
        entries = [e for e in _raw(f) if e.get("type") in ("user", "assistant")]
        roots = _raw_roots(entries)
        keys.update(_raw_session_key(e, roots) for e in entries)
    assert len(parsed.sessions) == len(keys)
    assert len({s.id for s in parsed.sessions}) == len(parsed.sessions)
    assert sum(1 for s in parsed.sessions if s.parent_id is None) == sum(
        1 for k in keys if k[1] == ""
    )


def test_corpus_lines_and_entries(parsed: ParseResult, corpus_files: list[Path]) -> None:
    types: Counter[str] = Counter()
    lines = 0
    for f in corpus_files:
        raw = _raw(f)
        lines += len(raw)
        types.update(e["type"] for e in raw)
    assert parsed.stats.lines_read == lines
    assert parsed.stats.lines_skipped == {}
    assert parsed.stats.entries == dict(types)
    assert parsed.stats.files == len(corpus_files)
    assert parsed.stats.empty_files == []


@_only(CORPUS)
def test_corpus_messages_per_kind_per_file(corpus_files: list[Path]) -> None:
    for f in corpus_files:
        expected: Counter[str] = Counter()
        for e in _raw(f):
            expected.update(_raw_kinds(e))
        got = _kinds(parse_file(f).sessions)
        assert got == expected, f.name


def _assert_tool_calls_pair_up(parsed: ParseResult, corpus_files: list[Path]) -> None:
    raw_uses = raw_results = 0
    for f in corpus_files:
        for e in _raw(f):
            content = e.get("message", {}).get("content") if e.get("message") else None
            if isinstance(content, list):
                raw_uses += sum(1 for b in content if b.get("type") == "tool_use")
                raw_results += sum(1 for b in content if b.get("type") == "tool_result")
    kinds = _kinds(parsed.sessions)
    assert kinds["tool_use"] == raw_uses
    assert kinds["tool_result"] == raw_results
    for s in parsed.sessions:
        uses = {m.meta["tool_use_id"] for m in s.messages if m.meta["kind"] == "tool_use"}
        results = [m for m in s.messages if m.meta["kind"] == "tool_result"]
        for m in results:
            assert m.role == "tool"
            assert m.meta["tool_use_id"] in uses, (s.id, m.source_key)
            assert isinstance(m.meta["is_error"], bool)


@_only(CORPUS)
def test_corpus_tool_calls_pair_up(parsed: ParseResult, corpus_files: list[Path]) -> None:
    _assert_tool_calls_pair_up(parsed, corpus_files)
    for s in parsed.sessions:
        results = [m for m in s.messages if m.meta["kind"] == "tool_result"]
        assert results, s.id


@_only(CORPUS_2)
def test_corpus_2_tool_calls_pair_up(parsed: ParseResult, corpus_files: list[Path]) -> None:
    """Every result answers a call of its own session; a session has results
    exactly when its raw lines hold tool_result blocks (a hooks-only session
    and the compaction agent have none)."""
    _assert_tool_calls_pair_up(parsed, corpus_files)
    with_results: set[str] = set()
    for f in corpus_files:
        entries = _raw(f)
        roots = _raw_roots(entries)
        for e in entries:
            content = e["message"]["content"] if e.get("type") == "user" else None
            if isinstance(content, list) and any(b["type"] == "tool_result" for b in content):
                sid, child = _raw_session_key(e, roots)
                assert child == "" or child.startswith("agent:")  # v2 subagents only
                with_results.add(child_session_id(sid, child[6:]) if child else sid)
    got = {s.id for s in parsed.sessions if any(m.role == "tool" for m in s.messages)}
    assert got == with_results
    assert with_results < {s.id for s in parsed.sessions}


@_only(CORPUS_2)
def test_corpus_2_images_in_tool_results_kept_out_of_content(
    parsed: ParseResult, corpus_files: list[Path]
) -> None:
    raw_images = [
        item["source"]["data"]
        for f in corpus_files
        for e in _raw(f)
        if e.get("type") == "user" and isinstance(e["message"]["content"], list)
        for b in e["message"]["content"]
        if b["type"] == "tool_result" and isinstance(b.get("content"), list)
        for item in b["content"]
        if item.get("type") == "image"
    ]
    assert raw_images
    results = [m for s in parsed.sessions for m in s.messages if m.meta["kind"] == "tool_result"]
    assert [i["data"] for m in results for i in m.meta.get("images", [])] == raw_images
    for m in results:
        for data in raw_images:
            assert data[:200] not in m.content


def test_corpus_tool_errors(parsed: ParseResult, corpus_files: list[Path]) -> None:
    raw_errors = 0
    for f in corpus_files:
        for e in _raw(f):
            content = e.get("message", {}).get("content") if e.get("message") else None
            if isinstance(content, list):
                raw_errors += sum(
                    1 for b in content if b.get("type") == "tool_result" and b.get("is_error")
                )
    got = sum(1 for s in parsed.sessions for m in s.messages if m.meta.get("is_error") is True)
    assert got == raw_errors


@_only(CORPUS)
def test_corpus_token_totals(corpus_files: list[Path]) -> None:
    for f in corpus_files:
        entries = _raw(f)
        expected = _raw_usage_by_session(entries)
        sessions = parse_file(f).sessions
        assert len(sessions) == len(expected), f.name
        got = Counter[str]()
        for s in sessions:
            for field in TOKEN_FIELDS:
                assert isinstance(s.context[field], int)
                got[field] += s.context[field]
        want = Counter[str]()
        for c in expected.values():
            want.update(c)
        assert {k: got[k] for k in TOKEN_FIELDS} == {k: want[k] for k in TOKEN_FIELDS}, f.name
        # usage is counted once per response: summing every line would be more
        naive = sum(
            e["message"]["usage"]["output_tokens"]
            for e in entries
            if e.get("type") == "assistant" and "usage" in e["message"]
        )
        ids = [e["message"]["id"] for e in entries if e.get("type") == "assistant"]
        if len(ids) != len(set(ids)):
            assert naive > got["output_tokens"], f.name


def test_corpus_usage_snapshots_grow(corpus_files: list[Path]) -> None:
    """The basis of the once-per-response rule: within a response the input and
    cache fields repeat and output_tokens never decreases, so the last line (the
    maximum) is the response's usage."""
    for f in corpus_files:
        seen: dict[str, dict[str, int]] = {}
        for e in _raw(f):
            if e.get("type") != "assistant":
                continue
            mid, usage = e["message"]["id"], e["message"]["usage"]
            if mid in seen:
                prev = seen[mid]
                for field in ("input_tokens", "cache_read_input_tokens"):
                    assert usage[field] == prev[field]
                assert usage["output_tokens"] >= prev["output_tokens"]
            seen[mid] = usage


@_only(CORPUS)
def test_corpus_usage_on_first_message_of_each_response(parsed: ParseResult) -> None:
    for s in parsed.sessions:
        placed: dict[str, int] = Counter()
        first: dict[str, str] = {}
        for m in s.messages:
            rid = m.meta.get("response_id")
            if rid is None:
                assert "usage" not in m.meta
                continue
            first.setdefault(rid, m.source_key)
            if "usage" in m.meta:
                placed[rid] += 1
                assert first[rid] == m.source_key
        assert set(placed) == set(first)
        assert set(placed.values()) == {1}
        total = {
            f: sum(m.meta["usage"][f] for m in s.messages if "usage" in m.meta)
            for f in TOKEN_FIELDS
        }
        assert total == {f: s.context[f] for f in TOKEN_FIELDS}


@_only(CORPUS)
def test_corpus_subagent_links(parsed: ParseResult, corpus_files: list[Path]) -> None:
    by_id = {s.id: s for s in parsed.sessions}
    agent_calls: dict[str, tuple[str, str]] = {}  # agentId -> (session id, tool_use_id)
    prompt_calls: dict[tuple[str, str], str] = {}  # (session id, prompt) -> tool_use_id
    roots: list[tuple[str, str, str]] = []  # (session id, root uuid, prompt)
    for f in corpus_files:
        for e in _raw(f):
            content: Any = e["message"]["content"] if "message" in e else []
            if e.get("isSidechain"):
                if e["type"] == "user" and e["parentUuid"] is None and not e.get("agentId"):
                    roots.append((e["sessionId"], e["uuid"], content))
                continue
            result = e.get("toolUseResult")
            if isinstance(result, dict) and "agentId" in result:
                tuid = next(b["tool_use_id"] for b in content if b["type"] == "tool_result")
                agent_calls[result["agentId"]] = (e["sessionId"], tuid)
            if e["type"] == "assistant":
                for b in content:
                    if b.get("type") == "tool_use" and b["name"] in ("Task", "Agent"):
                        if "prompt" in b["input"]:
                            prompt_calls[(e["sessionId"], b["input"]["prompt"])] = b["id"]
    linked = [
        m
        for s in parsed.sessions
        for m in s.messages
        if m.meta["kind"] == "tool_use" and "child_session_id" in m.meta
    ]
    # every agentId-reporting call, and every old in-file sidechain, is linked
    expected_links = len(agent_calls) + sum(1 for sid, _, p in roots if (sid, p) in prompt_calls)
    assert len(linked) == expected_links
    for m in linked:
        assert m.meta["tool_name"] in ("Task", "Agent")
    children = [s for s in parsed.sessions if s.parent_id is not None]
    assert children
    for child in children:
        assert child.context["is_sidechain"] is True
        if child.agent_id is not None and child.agent_id in agent_calls:
            sid, tuid = agent_calls[child.agent_id]
            assert (child.parent_id, child.parent_tool_use_id) == (sid, tuid)
            parent = by_id[sid]
            call = next(
                m
                for m in parent.messages
                if m.meta.get("tool_use_id") == tuid and m.meta["kind"] == "tool_use"
            )
            assert call.meta["child_session_id"] == child.id
            assert child.id in parent.context["child_session_ids"]
        elif child.agent_id is None:
            sid, root, prompt = next(
                r for r in roots if child.id.startswith(r[0]) and child.request == r[2].strip()
            )
            assert child.parent_tool_use_id == prompt_calls[(sid, prompt)]
            assert child.messages[0].meta["uuid"] == root
        else:  # the parent transcript is not in the corpus
            assert child.parent_tool_use_id is None
            assert child.parent_id not in by_id


@_only(CORPUS)
def test_corpus_session_fields(parsed: ParseResult, corpus_files: list[Path]) -> None:
    by_id = {s.id: s for s in parsed.sessions}
    for f in corpus_files:
        main = [e for e in _raw(f) if e.get("uuid") and not e.get("isSidechain")]
        if not main:
            continue
        sid = main[0]["sessionId"]
        s = by_id[sid]
        stamps = [datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in main]
        assert s.created_at == min(stamps) and s.last_activity == max(stamps)
        assert s.created_at.tzinfo is not None and s.created_at.utcoffset() == UTC.utcoffset(None)
        assert s.context["project_path"] == main[0]["cwd"]
        assert s.context["version"] == main[-1]["version"]
        models = {e["message"]["model"] for e in main if e["type"] == "assistant"}
        assert s.context["models"] == sorted(models - {"<synthetic>"})
        # request: the first user prompt that is neither meta, markup nor a tool result
        prompt = None
        for e in main:
            if e["type"] != "user" or e.get("isMeta"):
                continue
            c = e["message"]["content"]
            texts = [c] if isinstance(c, str) else [b["text"] for b in c if b["type"] == "text"]
            texts = [t for t in texts if not t.startswith(("<", "[Request", "Caveat:"))]
            if texts:
                prompt = "\n\n".join(t.strip() for t in texts)
                break
        if prompt is not None:
            assert s.request == prompt
        else:
            assert s.request is not None and s.request.startswith("/")
        # response: the last non-blank assistant text
        answers = [
            b["text"]
            for e in main
            if e["type"] == "assistant"
            for b in e["message"]["content"]
            if b["type"] == "text" and b["text"].strip()
        ]
        assert s.response == answers[-1].strip()
        api_errors = [e for e in main if e.get("isApiErrorMessage")]
        assert s.status == ("failed" if api_errors else "completed")


def test_corpus_images_kept_out_of_content(parsed: ParseResult, corpus_files: list[Path]) -> None:
    raw_images = []
    for f in corpus_files:
        for e in _raw(f):
            content = e.get("message", {}).get("content") if e.get("message") else None
            if isinstance(content, list):
                raw_images += [b["source"]["data"] for b in content if b.get("type") == "image"]
    images = [m for s in parsed.sessions for m in s.messages if m.meta["kind"] == "image"]
    assert [m.meta["data"] for m in images] == raw_images
    for m in images:
        assert m.content.startswith("[image: image/")
        assert len(m.content) < 60 and m.meta["data"] not in m.content
    for s in parsed.sessions:
        for m in s.messages:
            for data in raw_images:
                assert data[:200] not in m.content


def test_corpus_message_invariants(parsed: ParseResult) -> None:
    for s in parsed.sessions:
        assert len(s.id) <= MAX_SESSION_ID_LENGTH
        keys = [m.source_key for m in s.messages]
        assert len(keys) == len(set(keys)), s.id
        for m in s.messages:
            assert m.role in ("user", "assistant", "system", "tool")
            assert isinstance(m.content, str)
            assert m.timestamp is not None and m.timestamp.tzinfo is not None
            assert len(m.source_key) <= 200
            json.dumps(m.meta, allow_nan=False)
            assert m.meta["uuid"] == m.source_key.split(":")[0]
            if m.role == "assistant":
                assert m.meta["model"]
        json.dumps(s.context, allow_nan=False)


@_only(CORPUS)
def test_corpus_parse_is_repeatable_and_fast(corpus: Path, parsed: ParseResult) -> None:
    started = time.perf_counter()
    again = parse_paths(corpus)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"parsing the corpus took {elapsed:.2f}s"
    assert [(s.id, [m.source_key for m in s.messages]) for s in again.sessions] == [
        (s.id, [m.source_key for m in s.messages]) for s in parsed.sessions
    ]


def test_corpus_resume_at_line_boundaries(corpus_files: list[Path], tmp_path: Path) -> None:
    """A file read while it grows, then resumed from end_offset, gives exactly the
    messages of one full read: none lost, none repeated."""
    for f in corpus_files:
        data = f.read_bytes()
        full = parse_file(f)
        want = [(s.id, m.source_key) for s in full.sessions for m in s.messages]
        bounds = [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
        for k in bounds[:: max(1, len(bounds) // 12)]:
            growing = tmp_path / f.name
            growing.write_bytes(data[:k] + data[k : k + 25])  # plus a torn line
            first = parse_file(growing)
            assert first.end_offset == k
            growing.write_bytes(data)
            second = parse_file(growing, first.end_offset)
            assert second.end_offset == len(data)
            got = [
                (s.id, m.source_key)
                for r in (first, second)
                for s in r.sessions
                for m in s.messages
            ]
            assert sorted(got) == sorted(want), (f.name, k)
            assert len(got) == len(set(got))
            for s in second.sessions:
                total = next(t for t in full.sessions if t.id == s.id)
                assert {x: s.context[x] for x in TOKEN_FIELDS} == {
                    x: total.context[x] for x in TOKEN_FIELDS
                }


# ------------------------------------------------------------- snippet helpers

SID = "11111111-2222-3333-4444-555555555555"


def _ts(second: int) -> str:
    return f"2025-06-01T10:{second // 60:02d}:{second % 60:02d}.000Z"


def user(uuid: str, content: Any, second: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "user",
        "uuid": uuid,
        "sessionId": SID,
        "timestamp": _ts(second),
        "cwd": "/repo",
        "version": "2.0.1",
        "gitBranch": "main",
        "isSidechain": False,
        "message": {"role": "user", "content": content},
        **extra,
    }


def assistant(
    uuid: str,
    msg_id: str,
    blocks: list[dict[str, Any]],
    second: int = 0,
    output: int = 10,
    model: str = "claude-test-1",
    **extra: Any,
) -> dict[str, Any]:
    usage = {
        "input_tokens": 3,
        "output_tokens": output,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
    }
    return {
        "type": "assistant",
        "uuid": uuid,
        "sessionId": SID,
        "timestamp": _ts(second),
        "cwd": "/repo",
        "version": "2.0.1",
        "isSidechain": False,
        "message": {
            "id": msg_id,
            "role": "assistant",
            "model": model,
            "content": blocks,
            "usage": usage,
        },
        **extra,
    }


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def tool_use(tid: str, name: str = "Bash", **inp: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": tid, "name": name, "input": inp or {"command": "ls"}}


def tool_result(tid: str, content: Any = "ok", is_error: bool = False) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tid, "content": content, "is_error": is_error}


def write(path: Path, entries: Sequence[dict[str, Any] | str], tail: str = "") -> Path:
    lines = [e if isinstance(e, str) else json.dumps(e) for e in entries]
    path.write_text("".join(line + "\n" for line in lines) + tail, encoding="utf-8")
    return path


def only(result: ParseResult) -> ParsedSession:
    assert len(result.sessions) == 1, [s.id for s in result.sessions]
    return result.sessions[0]


def kinds(s: ParsedSession) -> list[str]:
    return [str(m.meta.get("kind")) for m in s.messages]


# ----------------------------------------------------------------- snippet tests


def test_basic_session(tmp_path: Path) -> None:
    s = only(
        parse_file(
            write(
                tmp_path / f"{SID}.jsonl",
                [
                    user("u1", "Fix the bug", 0),
                    assistant(
                        "a1",
                        "msg_1",
                        [{"type": "thinking", "thinking": "hmm", "signature": "x"}],
                        1,
                    ),
                    assistant(
                        "a2", "msg_1", [text("Looking."), tool_use("t1", command="pytest")], 2
                    ),
                    user("u2", [tool_result("t1", "3 passed")], 3),
                    assistant(
                        "a3",
                        "msg_2",
                        [text("Done: all green."), text("\n\n")],
                        4,
                        model="claude-other-2",
                    ),
                ],
            )
        )
    )
    assert s.id == SID and s.parent_id is None and s.status == "completed"
    assert s.request == "Fix the bug" and s.response == "Done: all green."
    assert s.created_at == datetime(2025, 6, 1, 10, 0, 0, tzinfo=UTC)
    assert s.last_activity == datetime(2025, 6, 1, 10, 0, 4, tzinfo=UTC)
    assert kinds(s) == ["text", "thinking", "text", "tool_use", "tool_result", "text", "text"]
    assert [m.role for m in s.messages] == [
        "user",
        "assistant",
        "assistant",
        "assistant",
        "tool",
        "assistant",
        "assistant",
    ]
    assert [m.source_key for m in s.messages] == [
        "u1:0",
        "a1:0",
        "a2:0",
        "a2:1",
        "u2:0",
        "a3:0",
        "a3:1",
    ]
    # usage once per response, on its first message only
    assert [m.source_key for m in s.messages if "usage" in m.meta] == ["a1:0", "a3:0"]
    call, result = s.messages[3], s.messages[4]
    assert call.meta == {
        "uuid": "a2",
        "model": "claude-test-1",
        "response_id": "msg_1",
        "kind": "tool_use",
        "tool_name": "Bash",
        "tool_input": {"command": "pytest"},
        "tool_use_id": "t1",
    }
    assert call.summary == "Bash: pytest"
    assert result.meta == {
        "uuid": "u2",
        "kind": "tool_result",
        "tool_use_id": "t1",
        "is_error": False,
    }
    assert result.content == "3 passed"
    assert s.messages[1].content == "hmm"
    assert s.context["project_path"] == "/repo" and s.context["git_branch"] == "main"
    assert s.context["version"] == "2.0.1"
    assert s.context["models"] == ["claude-other-2", "claude-test-1"]


def test_split_response_merged_and_usage_counted_once(tmp_path: Path) -> None:
    s = only(
        parse_file(
            write(
                tmp_path / "s.jsonl",
                [
                    user("u1", "go", 0),
                    assistant("a1", "msg_1", [text("part one")], 1, output=4),
                    assistant("a2", "msg_1", [tool_use("t1")], 2, output=4),
                    user("u2", [tool_result("t1")], 3),
                    assistant("a3", "msg_1", [tool_use("t2")], 4, output=42),  # final snapshot
                    user("u3", [tool_result("t2")], 5),
                    assistant("a4", "msg_2", [text("end")], 6, output=7),
                ],
            )
        )
    )
    assert s.context["output_tokens"] == 42 + 7
    assert s.context["input_tokens"] == 3 + 3
    assert s.context["cache_read_input_tokens"] == 2000
    assert s.context["cache_creation_input_tokens"] == 200
    with_usage = [m for m in s.messages if "usage" in m.meta]
    assert [m.source_key for m in with_usage] == ["a1:0", "a4:0"]
    assert with_usage[0].meta["usage"]["output_tokens"] == 42
    assert [m.meta.get("response_id") for m in s.messages if m.role == "assistant"] == [
        "msg_1",
        "msg_1",
        "msg_1",
        "msg_2",
    ]
    # blocks keep the file's (chronological) order, results in between
    assert kinds(s) == [
        "text",
        "text",
        "tool_use",
        "tool_result",
        "tool_use",
        "tool_result",
        "text",
    ]


def test_truncated_last_line_not_consumed_then_resume(tmp_path: Path) -> None:
    entries: list[dict[str, Any] | str] = [
        user("u1", "hello", 0),
        assistant("a1", "m1", [text("hi")], 1),
    ]
    path = write(tmp_path / "s.jsonl", entries)
    complete = path.stat().st_size
    torn = json.dumps(user("u2", "more please", 2))
    path.write_text(path.read_text() + torn[:30])
    first = parse_file(path)
    assert first.end_offset == complete
    assert first.stats.lines_skipped == {"truncated_last_line": 1}
    assert [m.source_key for m in only(first).messages] == ["u1:0", "a1:0"]
    write(path, [*entries, torn, assistant("a2", "m2", [text("sure")], 3)])
    second = parse_file(path, first.end_offset)
    s = only(second)
    assert [m.source_key for m in s.messages] == ["u2:0", "a2:0"]
    assert second.stats.lines_read == 2 and second.stats.lines_skipped == {}
    assert second.end_offset == path.stat().st_size
    # whole-session fields are still whole-file values
    assert s.request == "hello" and s.response == "sure"
    assert s.created_at == datetime(2025, 6, 1, 10, 0, 0, tzinfo=UTC)
    # nothing new: nothing emitted, same offset
    third = parse_file(path, second.end_offset)
    assert third.sessions == [] and third.end_offset == second.end_offset


def test_final_line_without_newline_but_complete_is_consumed(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(user("u1", "hello")) + "\n" + json.dumps(user("u2", "again")))
    r = parse_file(path)
    assert r.end_offset == path.stat().st_size
    assert [m.source_key for m in only(r).messages] == ["u1:0", "u2:0"]
    assert r.stats.lines_skipped == {}


def test_split_response_straddling_the_offset(tmp_path: Path) -> None:
    head = [user("u1", "go", 0), assistant("a1", "msg_1", [text("part one")], 1, output=4)]
    path = write(tmp_path / "s.jsonl", head)
    first = parse_file(path)
    assert only(first).messages[1].meta["usage"]["output_tokens"] == 4
    write(
        path,
        [
            *head,
            assistant("a2", "msg_1", [tool_use("t1")], 2, output=90),
            user("u2", [tool_result("t1")], 3),
        ],
    )
    second = only(parse_file(path, first.end_offset))
    assert [m.source_key for m in second.messages] == ["a2:0", "u2:0"]
    assert all("usage" not in m.meta for m in second.messages)  # no second count
    assert second.context["output_tokens"] == 90
    # the earlier message's usage was a snapshot: the final one comes as an update
    assert second.meta_updates == {
        "a1:0": {
            "usage": {
                "input_tokens": 3,
                "output_tokens": 90,
                "cache_creation_input_tokens": 100,
                "cache_read_input_tokens": 1000,
            }
        }
    }


def test_malformed_and_unknown_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    r = parse_file(
        write(
            tmp_path / "s.jsonl",
            [
                user("u1", "hello", 0),
                '{"type": "user", "uuid": "broken"',
                "[1, 2, 3]",
                "",
                json.dumps({"type": "wormhole", "sessionId": SID, "uuid": "w1"}),
                json.dumps({"type": "user", "sessionId": SID, "uuid": "nomsg"}),
                user("u1", "hello", 0),  # the same line again
                assistant("a1", "m1", [text("hi")], 1),
            ],
        )
    )
    s = only(r)
    assert [m.source_key for m in s.messages] == ["u1:0", "a1:0"]
    assert r.stats.lines_read == 8
    assert r.stats.lines_skipped == {
        "malformed_json": 1,
        "not_an_object": 1,
        "blank_line": 1,
        "unknown_type": 1,
        "invalid_entry": 1,
        "duplicate_uuid": 1,
    }
    assert r.stats.entries == {"user": 3, "wormhole": 1, "assistant": 1}


def _nested(depth: int) -> str:
    """A JSON object line whose ``content`` nests ``depth`` arrays."""
    return '{"type": "user", "uuid": "deep", "content": ' + "[" * depth + "]" * depth + "}"


def test_deep_or_non_standard_lines_are_bad_lines_and_the_rest_parses(tmp_path: Path) -> None:
    """A line nested 2,000 deep (RecursionError in json), one nested just past
    the parser's limit and one holding NaN are each a malformed line; the good
    lines around them still parse, in every session field."""
    r = parse_file(
        write(
            tmp_path / "s.jsonl",
            [
                user("u1", "fix the bug", 0),
                _nested(2000),
                _nested(101),
                '{"type": "user", "uuid": "nan", "sessionId": "x", "n": NaN}',
                assistant("a1", "m1", [text("done")], 5),
            ],
        )
    )
    s = only(r)
    assert [m.source_key for m in s.messages] == ["u1:0", "a1:0"]
    assert (s.request, s.response, s.status) == ("fix the bug", "done", "completed")
    assert r.stats.lines_read == 5
    assert r.stats.lines_skipped == {"malformed_json": 3}
    assert r.end_offset == (tmp_path / "s.jsonl").stat().st_size


def test_a_line_nested_up_to_the_limit_is_kept(tmp_path: Path) -> None:
    deep: Any = "leaf"
    for _ in range(95):  # + line, message, content, block, input: 100 levels
        deep = [deep]
    r = parse_file(write(tmp_path / "s.jsonl", [assistant("a1", "m1", [tool_use("t1", x=deep)])]))
    assert r.stats.lines_skipped == {}
    assert only(r).messages[0].meta["tool_input"] == {"x": deep}


def test_a_file_name_with_undecodable_bytes_gives_a_storable_session_id(tmp_path: Path) -> None:
    """Lines without sessionId belong to the file's stem; bytes of the name that
    are not UTF-8 (lone surrogates in Python) become U+FFFD there too."""
    name = tmp_path / (os.fsdecode(b"s\xff") + ".jsonl")
    line = user("u1", "hello")
    del line["sessionId"]
    assert only(parse_file(write(name, [line]))).id == "s\ufffd"


def _unstorable(value: object) -> list[str]:
    """The NUL characters and surrogates anywhere in ``value`` (keys included)."""
    dumped = json.dumps(value, ensure_ascii=False, default=str)
    return [c for c in dumped if c == "\x00" or "\ud800" <= c <= "\udfff"]


def test_nul_and_lone_surrogates_become_replacement_characters(tmp_path: Path) -> None:
    """The store refuses U+0000 and lone surrogates: each becomes U+FFFD in
    content, summary, meta and context, and is counted. A surrogate pair (an
    emoji) and an escaped backslash before ``u0000`` are text, left alone."""
    raw_surrogate = json.dumps(user("u3", "bytes: SURROGATE", 3)).replace(
        "SURROGATE", "\\ud83d\\ude00 and \\\\u0000 and \udfff"
    )
    path = write(
        tmp_path / "s.jsonl",
        [
            user("u1", "run\u0000 it", 0, cwd="/repo\u0000x"),
            assistant("a1", "m1", [tool_use("t1", command="ls \ud800", **{"k\u0000": "v"})], 1),
            user("u2", [tool_result("t1", "out\u0000put \ud800 done")], 2),
            "",
        ],
    )
    with path.open("ab") as f:  # a UTF-8 encoded lone surrogate, as raw bytes
        f.write(raw_surrogate.encode("utf-8", "surrogatepass") + b"\n")
    r = parse_file(path)
    s = only(r)
    call, result = s.messages[1], s.messages[2]
    assert call.meta["tool_input"] == {"command": "ls \ufffd", "k\ufffd": "v"}
    assert "ls \ufffd" in call.content and call.summary == "Bash: ls \ufffd"
    assert result.content == "out\ufffdput \ufffd done"
    assert result.summary == "out\ufffdput \ufffd done"
    assert s.request == s.messages[0].content == "run\ufffd it"
    assert s.context["project_path"] == "/repo\ufffdx"
    assert s.messages[3].content == "bytes: \U0001f600 and \\u0000 and \ufffd"
    assert r.stats.replaced_characters == 7  # 2 a line, 1 in the raw bytes
    assert r.stats.lines_skipped == {"blank_line": 1}
    for m in s.messages:
        assert _unstorable([m.content, m.summary, m.meta]) == []
    assert _unstorable([s.request, s.response, s.context]) == []


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    r = parse_file(path)
    assert r.sessions == [] and r.end_offset == 0
    assert r.stats.empty_files == [str(path)] and r.stats.lines_read == 0
    both = parse_paths(tmp_path)
    assert both.stats.empty_files == [str(path)]


def test_offset_past_the_end_restarts(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", [user("u1", "hello")])
    r = parse_file(path, 10_000)
    assert r.stats.offset_resets == [str(path)]
    assert [m.source_key for m in only(r).messages] == ["u1:0"]


def test_unreadable_path_is_reported(tmp_path: Path) -> None:
    r = parse_file(tmp_path / "missing.jsonl")
    assert r.sessions == [] and r.stats.unreadable_files == [str(tmp_path / "missing.jsonl")]


def test_slash_command_bash_interrupt_and_local_output(tmp_path: Path) -> None:
    caveat = (
        "Caveat: The messages below were generated by the user while running local "
        "commands. DO NOT respond to these messages."
    )
    s = only(
        parse_file(
            write(
                tmp_path / "s.jsonl",
                [
                    user("u0", caveat, 0, isMeta=True),
                    user(
                        "u1",
                        "<command-message>review is running…</command-message>\n"
                        "<command-name>/review</command-name>\n<command-args>PR 12</command-args>",
                        1,
                    ),
                    user("u2", [text("Review the PR, focusing on tests.")], 2, isMeta=True),
                    user(
                        "u3",
                        "<local-command-stdout>Set model to \x1b[1mopus\x1b[22m"
                        "</local-command-stdout>",
                        3,
                    ),
                    user("u4", "<bash-input>git status</bash-input>", 4),
                    user(
                        "u5",
                        "<bash-stdout>On branch main</bash-stdout>"
                        "<bash-stderr>warn: x</bash-stderr>",
                        5,
                    ),
                    user("u6", [text("[Request interrupted by user for tool use]")], 6),
                    user("u7", "please continue", 7),
                ],
            )
        )
    )
    got = [(m.role, m.meta["kind"], m.content) for m in s.messages]
    assert got == [
        ("system", "system", caveat),
        ("user", "command", "/review PR 12"),
        ("system", "system", "Review the PR, focusing on tests."),
        ("system", "command", "Set model to opus"),
        ("user", "bash", "$ git status"),
        ("system", "bash", "On branch main\n[stderr]\nwarn: x"),
        ("user", "interrupt", "[Request interrupted by user for tool use]"),
        ("user", "text", "please continue"),
    ]
    assert s.messages[1].meta["command"] == "/review" and s.messages[1].meta["args"] == "PR 12"
    assert s.messages[4].meta["command"] == "git status"
    assert s.request == "please continue"


def test_request_skips_meta_command_and_tool_lines(tmp_path: Path) -> None:
    s = only(
        parse_file(
            write(
                tmp_path / "s.jsonl",
                [
                    user("u1", "<command-name>/init</command-name>", 0),
                    user("u2", [text("Please analyze this codebase")], 1, isMeta=True),
                    assistant("a1", "m1", [tool_use("t1")], 2),
                    user("u3", [tool_result("t1", "x")], 3),
                    user(
                        "u4",
                        [
                            text("<ide_opened_file>The user opened a.py</ide_opened_file>"),
                            text("Now make it fast"),
                        ],
                        4,
                    ),
                    user("u5", "and small", 5),
                ],
            )
        )
    )
    assert s.request == "Now make it fast"
    assert s.messages[4].meta == {"uuid": "u4", "kind": "system", "subtype": "ide_opened_file"}


def test_request_falls_back_to_the_slash_command(tmp_path: Path) -> None:
    s = only(
        parse_file(
            write(
                tmp_path / "s.jsonl",
                [
                    user(
                        "u1",
                        "<command-name>/orchestrator</command-name>"
                        "<command-args>update CLAUDE.md</command-args>",
                        0,
                    ),
                    user("u2", [text("Split complex tasks...")], 1, isMeta=True),
                    assistant("a1", "m1", [text("On it.")], 2),
                ],
            )
        )
    )
    assert s.request == "/orchestrator update CLAUDE.md"


def test_compaction_is_recognised(tmp_path: Path) -> None:
    s = only(
        parse_file(
            write(
                tmp_path / "s.jsonl",
                [
                    user("u1", "build it", 0),
                    {
                        "type": "system",
                        "subtype": "compact_boundary",
                        "content": "Conversation compacted",
                        "compactMetadata": {"trigger": "auto", "preTokens": 155000},
                        "uuid": "c1",
                        "sessionId": SID,
                        "timestamp": _ts(1),
                        "isSidechain": False,
                        "level": "info",
                    },
                    user(
                        "u2",
                        "This session is being continued from a previous conversation...",
                        2,
                        isCompactSummary=True,
                        isVisibleInTranscriptOnly=True,
                    ),
                    assistant("a1", "m1", [text("Continuing.")], 3),
                ],
            )
        )
    )
    boundary, summary = s.messages[1], s.messages[2]
    assert (boundary.role, boundary.meta["kind"], boundary.meta["event"]) == (
        "system",
        "compaction",
        "boundary",
    )
    assert boundary.content == "Conversation compacted (auto, 155,000 tokens before)"
    assert boundary.meta["pre_tokens"] == 155000
    assert (summary.role, summary.meta["kind"], summary.meta["event"]) == (
        "system",
        "compaction",
        "summary",
    )
    assert summary.content.startswith("This session is being continued")
    assert s.request == "build it"


def test_hooks_and_system_lines(tmp_path: Path) -> None:
    s = only(
        parse_file(
            write(
                tmp_path / "s.jsonl",
                [
                    user("u1", "go", 0),
                    {
                        "type": "progress",
                        "uuid": "p1",
                        "sessionId": SID,
                        "timestamp": _ts(1),
                        "data": {
                            "type": "hook_progress",
                            "hookEvent": "PostToolUse",
                            "hookName": "PostToolUse:Bash",
                            "command": "notify.sh",
                        },
                    },
                    {
                        "type": "progress",
                        "uuid": "p2",
                        "sessionId": SID,
                        "timestamp": _ts(1),
                        "data": {"type": "bash_progress", "output": "..."},
                    },
                    {
                        "type": "attachment",
                        "uuid": "h1",
                        "sessionId": SID,
                        "timestamp": _ts(2),
                        "attachment": {
                            "type": "hook_success",
                            "hookName": "SessionStart:startup",
                            "hookEvent": "SessionStart",
                            "content": "registered",
                        },
                    },
                    {
                        "type": "system",
                        "uuid": "s1",
                        "sessionId": SID,
                        "timestamp": _ts(3),
                        "content": "\x1b[1mPostToolUse:Edit\x1b[22m [ruff format] completed",
                        "level": "info",
                    },
                    {
                        "type": "system",
                        "uuid": "s2",
                        "sessionId": SID,
                        "timestamp": _ts(4),
                        "subtype": "turn_duration",
                        "durationMs": 2500,
                    },
                ],
            )
        )
    )
    got = [(m.meta["kind"], m.content) for m in s.messages[1:]]
    assert got == [
        ("hook", "PostToolUse:Bash: notify.sh"),
        ("hook", "SessionStart:startup: registered"),
        ("hook", "PostToolUse:Edit [ruff format] completed"),
        ("system", "Turn took 2.5 s"),
    ]
    assert all(m.role == "system" for m in s.messages[1:])


def test_image_kept_out_of_content(tmp_path: Path) -> None:
    data = "iVBORw0KGgo" + "A" * 16_000
    s = only(
        parse_file(
            write(
                tmp_path / "s.jsonl",
                [
                    user(
                        "u1",
                        [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": data,
                                },
                            },
                            text("[Image #1] what is wrong here?"),
                        ],
                        0,
                    ),
                    assistant("a1", "m1", [tool_use("t1", "Read", file_path="/tmp/shot.png")], 1),
                    user(
                        "u2",
                        [
                            tool_result(
                                "t1",
                                [
                                    text("the file"),
                                    {
                                        "type": "image",
                                        "source": {
                                            "type": "base64",
                                            "media_type": "image/jpeg",
                                            "data": data,
                                        },
                                    },
                                ],
                            )
                        ],
                        2,
                    ),
                ],
            )
        )
    )
    image = s.messages[0]
    assert image.role == "user"
    assert image.meta == {"uuid": "u1", "kind": "image", "media_type": "image/png", "data": data}
    assert image.content == "[image: image/png, 12 KB]"
    assert s.request == "[Image #1] what is wrong here?"
    result = s.messages[3]
    assert result.content == "the file\n[image: image/jpeg, 12 KB]"
    assert result.meta["images"] == [{"kind": "image", "media_type": "image/jpeg", "data": data}]
    assert all(data not in m.content for m in s.messages)


def test_api_error_session_failed(tmp_path: Path) -> None:
    error = {
        "type": "assistant",
        "uuid": "e1",
        "sessionId": SID,
        "timestamp": _ts(2),
        "isSidechain": False,
        "isApiErrorMessage": True,
        "error": "rate_limit",
        "apiErrorStatus": 429,
        "message": {
            "id": "x",
            "role": "assistant",
            "model": "<synthetic>",
            "content": [text("API Error: 429 rate limited")],
            "usage": {"input_tokens": 0, "output_tokens": 0},
        },
    }
    entries = [user("u1", "go", 0), assistant("a1", "m1", [text("Working")], 1), error]
    s = only(parse_file(write(tmp_path / "s.jsonl", entries)))
    assert s.status == "failed" and s.error == "API Error: 429 rate limited"
    assert s.response == "Working"
    last = s.messages[-1]
    assert (last.role, last.meta["kind"], last.meta["error"], last.meta["status"]) == (
        "system",
        "api_error",
        "rate_limit",
        429,
    )
    assert s.context["models"] == ["claude-test-1"]
    # a real answer after the error: the session did not end on it
    recovered = [*entries, user("u2", "retry", 3), assistant("a2", "m2", [text("Done")], 4)]
    s = only(parse_file(write(tmp_path / "s.jsonl", recovered)))
    assert s.status == "completed" and s.error is None and s.response == "Done"


def test_retry_line_then_nothing_is_failed(tmp_path: Path) -> None:
    s = only(
        parse_file(
            write(
                tmp_path / "s.jsonl",
                [
                    user("u1", "go", 0),
                    {
                        "type": "system",
                        "subtype": "api_error",
                        "level": "error",
                        "uuid": "r1",
                        "sessionId": SID,
                        "timestamp": _ts(1),
                        "retryAttempt": 10,
                        "maxRetries": 10,
                        "error": {"error": {"type": "overloaded_error", "message": "Overloaded"}},
                    },
                ],
            )
        )
    )
    assert s.status == "failed" and s.error == "Overloaded"


def test_in_file_sidechains_become_children(tmp_path: Path) -> None:
    task_prompt = "Look at the package.json"
    s_entries = [
        user("u1", "update the docs", 0),
        assistant(
            "a1",
            "m1",
            [
                tool_use(
                    "t1",
                    "Task",
                    description="pkg",
                    subagent_type="general-purpose",
                    prompt=task_prompt,
                )
            ],
            1,
        ),
        user("s1", task_prompt, 2, isSidechain=True, parentUuid=None),
        assistant("s2", "m9", [text("It uses Next 15.")], 3, isSidechain=True, parentUuid="s1"),
        user("u2", [tool_result("t1", [text("It uses Next 15.")])], 4),
        assistant("a2", "m2", [text("Docs updated.")], 5),
    ]
    r = parse_file(write(tmp_path / f"{SID}.jsonl", s_entries))
    parent, child = r.sessions
    assert parent.id == SID and child.parent_id == SID
    assert child.id == f"{SID}-sidechain-s1" and len(child.id) <= 64
    assert child.parent_tool_use_id == "t1"
    assert child.request == task_prompt and child.response == "It uses Next 15."
    assert child.context["agent_type"] == "general-purpose"
    assert child.context["description"] == "pkg"
    assert child.context["output_tokens"] == 10 and parent.context["output_tokens"] == 20
    assert [m.source_key for m in child.messages] == ["s1:0", "s2:0"]
    assert [m.source_key for m in parent.messages] == ["u1:0", "a1:0", "u2:0", "a2:0"]
    assert parent.messages[1].meta["child_session_id"] == child.id
    assert parent.context["child_session_ids"] == [child.id]


def test_agent_files_link_to_their_parent(tmp_path: Path) -> None:
    project = tmp_path / "projects" / "-repo"
    agent = "a1b2c3d4e5f6a7b8c"
    child_id = child_session_id(SID, agent)
    assert child_id == f"{SID}-agent-{agent}"
    project.mkdir(parents=True)
    write(
        project / f"{SID}.jsonl",
        [
            user("u1", "research this", 0),
            assistant(
                "a1",
                "m1",
                [
                    tool_use(
                        "t9",
                        "Agent",
                        description="Research",
                        subagent_type="Explore",
                        prompt="You are bob",
                    )
                ],
                1,
            ),
            user(
                "u2",
                [tool_result("t9", [text("Report")])],
                9,
                toolUseResult={"status": "completed", "agentId": agent, "agentType": "Explore"},
            ),
        ],
    )
    sub = project / SID / "subagents"
    sub.mkdir(parents=True)
    write(
        sub / f"agent-{agent}.jsonl",
        [
            user("c1", "You are bob", 2, isSidechain=True, agentId=agent, parentUuid=None),
            assistant("c2", "m5", [text("Report")], 3, isSidechain=True, agentId=agent),
        ],
    )
    (sub / f"agent-{agent}.meta.json").write_text(
        json.dumps({"agentType": "Explore", "description": "Research"})
    )
    # the child file alone: parent known, call not
    alone = only(parse_file(sub / f"agent-{agent}.jsonl"))
    assert (alone.id, alone.parent_id, alone.agent_id) == (child_id, SID, agent)
    assert alone.parent_tool_use_id is None
    assert alone.context["agent_type"] == "Explore" and alone.context["description"] == "Research"
    # the parent file alone already names the child on its call and its result
    parent = only(parse_file(project / f"{SID}.jsonl"))
    assert parent.messages[1].meta["child_session_id"] == child_id
    assert parent.messages[2].meta["child_session_id"] == child_id
    assert parent.messages[2].meta["agent_id"] == agent
    # both together: linked both ways, parents listed first
    r = parse_paths(tmp_path / "projects")
    assert [s.id for s in r.sessions] == [SID, child_id]
    assert r.sessions[1].parent_tool_use_id == "t9"


def test_link_arriving_after_the_offset_updates_the_earlier_call(tmp_path: Path) -> None:
    head = [
        user("u1", "research", 0),
        assistant("a1", "m1", [tool_use("t9", "Agent", prompt="go")], 1),
    ]
    path = write(tmp_path / "s.jsonl", head)
    first = parse_file(path)
    assert "child_session_id" not in only(first).messages[1].meta
    write(
        path,
        [*head, user("u2", [tool_result("t9", "done")], 2, toolUseResult={"agentId": "abc123"})],
    )
    second = only(parse_file(path, first.end_offset))
    child_id = child_session_id(SID, "abc123")
    assert [m.source_key for m in second.messages] == ["u2:0"]
    assert second.messages[0].meta["child_session_id"] == child_id
    assert second.meta_updates == {"a1:0": {"child_session_id": child_id}}
    assert second.context["child_session_ids"] == [child_id]


def test_long_child_ids_stay_within_the_column(tmp_path: Path) -> None:
    long_agent = "b" * 40
    cid = child_session_id(SID, long_agent)
    assert len(cid) <= MAX_SESSION_ID_LENGTH and cid.startswith(f"{SID}-agent-")
    assert cid == child_session_id(SID, long_agent)
    assert cid != child_session_id(SID, "c" * 40)


def test_titles_from_summaries_and_custom_titles(tmp_path: Path) -> None:
    s = only(
        parse_file(
            write(
                tmp_path / "s.jsonl",
                [
                    {"type": "summary", "summary": "Fixing the parser", "leafUuid": "a1"},
                    {"type": "summary", "summary": "Another session", "leafUuid": "elsewhere"},
                    user("u1", "go", 0, slug="brave-blue-fox"),
                    assistant("a1", "m1", [text("ok")], 1),
                ],
            )
        )
    )
    assert s.context["title"] == "Fixing the parser"
    assert s.context["slug"] == "brave-blue-fox"
    custom = {"type": "custom-title", "customTitle": "My title", "sessionId": SID}
    s = only(parse_file(write(tmp_path / "s.jsonl", [user("u1", "go"), custom])))
    assert s.context["title"] == "My title"


def test_pr_links_and_other_bookkeeping_lines(tmp_path: Path) -> None:
    """Claude Code 2.1 bookkeeping lines give no message and are not unknown;
    a session's PR links (each once, in order) go to its context."""
    url = "https://github.com/o/r/pull/"
    r = parse_file(
        write(
            tmp_path / "s.jsonl",
            [
                user("u1", "open a PR", 0),
                {"type": "pr-link", "sessionId": SID, "prNumber": 4, "prUrl": url + "4"},
                {"type": "pr-link", "sessionId": SID, "prNumber": 4, "prUrl": url + "4"},
                {"type": "pr-link", "sessionId": SID, "prNumber": 5, "prUrl": url + "5"},
                {"type": "mode", "mode": "plan", "sessionId": SID},
                {"type": "bridge-session", "sessionId": SID, "bridgeSessionId": "cse_1"},
                {"type": "file-history-delta", "messageId": "u1", "trackingPath": "/a"},
            ],
        )
    )
    s = only(r)
    assert s.context["pr_links"] == [url + "4", url + "5"]
    assert kinds(s) == ["text"]
    assert r.stats.lines_skipped == {}
    plain = only(parse_file(write(tmp_path / "t.jsonl", [user("u1", "no PR")])))
    assert "pr_links" not in plain.context


def test_orphan_summaries_are_matched_across_files(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", [{"type": "summary", "summary": "Old work", "leafUuid": "x9"}])
    other = dict(user("x9", "old prompt"), sessionId="22222222-0000-0000-0000-000000000000")
    write(tmp_path / "b.jsonl", [other])
    assert parse_file(tmp_path / "a.jsonl").orphan_summaries == {"x9": "Old work"}
    r = parse_paths(tmp_path)
    assert only(r).context["title"] == "Old work" and r.orphan_summaries == {}


def test_keys_are_stable_and_lines_without_uuid_get_offset_keys(tmp_path: Path) -> None:
    entry = user("u1", "go")
    del entry["uuid"]
    path = write(tmp_path / "s.jsonl", [user("u0", "first"), entry])
    one, two = parse_file(path), parse_file(path)
    keys = [m.source_key for m in only(one).messages]
    assert keys == [m.source_key for m in only(two).messages]
    assert keys[1] == f"L{len(json.dumps(user('u0', 'first'))) + 1}:0"


def test_iter_transcript_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    projects = tmp_path / ".claude" / "projects"
    (projects / "-b" / "s1" / "subagents").mkdir(parents=True)
    (projects / "-a").mkdir(parents=True)
    for rel in [
        "-b/s1.jsonl",
        "-b/s1/subagents/agent-x.jsonl",
        "-b/agent-y.jsonl",
        "-a/s2.jsonl",
        "-a/notes.txt",
        "-a/s2.jsonl.bak",
    ]:
        (projects / rel).write_text("")
    monkeypatch.setenv("HOME", str(tmp_path))
    found = [
        p.relative_to(projects).as_posix() for p in iter_transcript_files("~/.claude/projects")
    ]
    assert found == [
        "-a/s2.jsonl",
        "-b/s1.jsonl",
        "-b/agent-y.jsonl",
        "-b/s1/subagents/agent-x.jsonl",
    ]
    # files and folders together, each file once
    twice = list(iter_transcript_files([projects / "-a", projects / "-a" / "s2.jsonl"]))
    assert [p.name for p in twice] == ["s2.jsonl"]
    assert list(iter_transcript_files([projects / "-a" / "notes.txt"])) == []
    with pytest.raises(FileNotFoundError):
        list(iter_transcript_files(tmp_path / "nope"))


def test_parsed_text_is_stored_alike_on_sqlite_and_postgresql(
    manager: Manager, tmp_path: Path
) -> None:
    """What the parser makes of NUL characters and lone surrogates is stored and
    read back unchanged by both databases (PostgreSQL refuses NUL in text and
    JSON, SQLite would keep it)."""
    path = write(
        tmp_path / "s.jsonl",
        [
            user("u1", "run\u0000 it", 0, cwd="/repo\u0000"),
            assistant("a1", "m1", [tool_use("t1", command="ls \ud800", **{"k\u0000": "v"})], 1),
            user("u2", [tool_result("t1", "out\u0000put \udc00")], 2),
        ],
    )
    s = only(parse_file(path))
    manager.create(s.request, s.context, id=s.id, expires_at=None)
    outcome = manager.append_messages(
        s.id, [Message(**m.as_message_kwargs(), source_key=m.source_key) for m in s.messages]
    )
    assert outcome.status == "appended"
    stored = manager.get_messages(s.id)
    assert stored is not None
    assert [(m.role, m.content, m.summary, m.meta) for m in stored] == [
        (m.role, m.content, m.summary, m.meta) for m in s.messages
    ]
    session = manager.get(s.id)
    assert session is not None
    assert (session.request, session.context) == ("run\ufffd it", s.context)
