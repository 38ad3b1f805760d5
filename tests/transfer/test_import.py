"""``sessionboard import`` over the shared corpus, on both backends: counts checked
against numbers derived here from the raw lines; re-import; growing files;
retention; malformed input."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from tests.test_claude_transcript import (
    _raw_kinds,
    _raw_roots,
    _raw_session_key,
    _raw_usage_by_session,
)
from tests.transfer.conftest import count_rows, raw_lines, stored_messages, stored_sessions
from webapp.claude.transcript import TOKEN_FIELDS, child_session_id, parse_file
from webapp.sessions import Manager
from webapp.sessions.models import MessageRow
from webapp.transfer.models import ImportedFile


def _import(runner: Any, *args: Any) -> Any:
    result = runner.invoke(args=["import", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_import_the_whole_corpus(runner: Any, app_manager: Manager, corpus: Path) -> None:
    files = sorted(corpus.glob("*.jsonl"))
    result = _import(runner, "--accept-retention", corpus)
    assert result.exit_code == 0, result.output
    entries = {f: raw_lines(f) for f in files}

    # sessions: one per sessionId, plus one per subagent run
    keys: set[tuple[str, str]] = set()
    for raw in entries.values():
        chat = [e for e in raw if e.get("type") in ("user", "assistant")]
        roots = _raw_roots(chat)
        keys.update(_raw_session_key(e, roots) for e in chat)
    sessions = stored_sessions(app_manager)
    assert len(sessions) == len(keys)
    assert f"sessions: {len(keys)} new, 0 updated" in result.output

    # messages per kind, and the stored count of each session
    kinds: Counter[str] = Counter()
    for raw in entries.values():
        for e in raw:
            kinds.update(_raw_kinds(e))
    messages = stored_messages(app_manager)
    assert Counter(m.meta["kind"] for m in messages) == kinds
    assert f"messages added: {sum(kinds.values())}" in result.output
    per_session = Counter(m.session_id for m in messages)
    assert {sid: s.message_count for sid, s in sessions.items()} == dict(per_session)

    # every tool result answers a tool call of its own session
    calls = {
        (m.session_id, m.meta["tool_use_id"]) for m in messages if m.meta["kind"] == "tool_use"
    }
    results = [m for m in messages if m.meta["kind"] == "tool_result"]
    assert len(calls) == kinds["tool_use"] and len(results) == kinds["tool_result"]
    assert all((m.session_id, m.meta["tool_use_id"]) in calls for m in results)
    assert all(m.role == "tool" for m in results)

    # subagents: a tool result reporting an agentId links the child to the call
    agent_calls = {}
    for raw in entries.values():
        for e in raw:
            result_info = e.get("toolUseResult")
            if (
                not e.get("isSidechain")
                and isinstance(result_info, dict)
                and "agentId" in result_info
            ):
                block = next(b for b in e["message"]["content"] if b["type"] == "tool_result")
                agent_calls[result_info["agentId"]] = (e["sessionId"], block["tool_use_id"])
    sidechain_agents = {
        (e["sessionId"], e["agentId"])
        for raw in entries.values()
        for e in raw
        if e.get("isSidechain") and e.get("agentId")
    }
    assert agent_calls and sidechain_agents
    for agent, (parent, tool_use_id) in agent_calls.items():
        child_id = child_session_id(parent, agent)
        call = next(
            m
            for m in messages
            if m.session_id == parent
            and m.meta["kind"] == "tool_use"
            and m.meta["tool_use_id"] == tool_use_id
        )
        assert call.meta["child_session_id"] == child_id
        if (parent, agent) in sidechain_agents:  # the child's transcript is in the corpus
            assert sessions[child_id].parent_id == parent
            assert sessions[child_id].context["parent_tool_use_id"] == tool_use_id
    main_ids = {sid for sid, sub in keys if sub == ""}
    for parent, agent in sidechain_agents:
        child = sessions[child_session_id(parent, agent)]
        assert child.context["parent_session_id"] == parent
        assert child.parent_id == (parent if parent in main_ids else None)
    # old in-file sidechains (no agentId) are children of their file's session
    in_file = [k for k in keys if k[1].startswith("root:")]
    assert in_file
    assert sum(1 for s in sessions.values() if s.context.get("is_sidechain")) == len(keys) - len(
        main_ids
    )
    for sid, _ in in_file:
        assert any(
            s.parent_id == sid and s.context.get("agent_id") is None for s in sessions.values()
        )

    # token totals: each response counted once, per main session and over all
    totals: dict[tuple[str, str], Counter[str]] = {}
    for raw in entries.values():
        totals.update(_raw_usage_by_session(raw))
    for (sid, sub), usage in totals.items():
        if sub == "":
            assert {f: sessions[sid].context[f] for f in TOKEN_FIELDS} == {
                f: usage[f] for f in TOKEN_FIELDS
            }
    for field in TOKEN_FIELDS:
        assert sum(s.context[field] for s in sessions.values()) == sum(
            u[field] for u in totals.values()
        )

    # again: nothing changes, whether the offsets say so or the source keys do
    again = _import(runner, "--accept-retention", corpus)
    assert "messages added: 0" in again.output
    assert f"0 read, {len(files)} unchanged" in again.output
    with app_manager.store.write() as conn:
        conn.execute(delete(ImportedFile.__table__))
    forced = _import(runner, "--accept-retention", corpus)
    assert "messages added: 0" in forced.output
    assert f"sessions: 0 new, 0 updated, {len(keys)} unchanged" in forced.output
    assert count_rows(app_manager, MessageRow) == len(messages)
    assert stored_sessions(app_manager).keys() == sessions.keys()


def test_a_growing_file_adds_only_the_rest(
    runner: Any, app_manager: Manager, corpus: Path, tmp_path: Path
) -> None:
    # a file whose API responses are split over several lines, cut inside a line
    source = next(corpus.glob("*7acd37a8*.jsonl"))
    data = source.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 40
    growing = tmp_path / "projects" / "demo" / "7acd37a8-2745-4b58-a8a9-46164b22ad9e.jsonl"
    growing.parent.mkdir(parents=True)
    growing.write_bytes(data[:cut])
    first = _import(runner, "--accept-retention", tmp_path / "projects")
    assert "truncated_last_line 1" in first.output
    partial = count_rows(app_manager, MessageRow)
    assert 0 < partial

    growing.write_bytes(data)
    second = _import(runner, "--accept-retention", growing)
    full = parse_file(source).sessions
    expected = {m.source_key: m for s in full for m in s.messages}
    assert f"messages added: {len(expected) - partial}" in second.output
    assert "sessions: 0 new" in second.output
    stored = stored_messages(app_manager)
    # the same messages and meta as one import of the whole file (usage merged once)
    assert {m.source_key: m.meta for m in stored} == {k: m.meta for k, m in expected.items()}
    main = stored_sessions(app_manager)[full[0].id]
    assert main.context == {**full[0].context}
    assert main.last_activity == full[0].last_activity


def test_retention_stops_the_import_unless_told(
    runner: Any, app_manager: Manager, corpus: Path, tmp_path: Path
) -> None:
    source = next(corpus.glob("*03eb5929*.jsonl"))
    copy = tmp_path / "old.jsonl"
    shutil.copyfile(source, copy)
    n = len(parse_file(copy).sessions[0].messages)

    refused = _import(runner, copy)
    assert refused.exit_code == 1
    assert f"{n} imported message(s) in 1 session(s) are older" in refused.output
    assert count_rows(app_manager, MessageRow) == 0
    assert stored_sessions(app_manager) == {}

    kept = _import(runner, "--keep", copy)
    assert kept.exit_code == 0, kept.output
    (session,) = stored_sessions(app_manager).values()
    assert session.keep is True
    # a kept session is not asked about again, and nothing is added twice
    assert _import(runner, copy).exit_code == 0
    assert app_manager.sweep().purged_messages == 0
    assert count_rows(app_manager, MessageRow) == n


def test_bad_lines_are_counted_never_fatal(
    runner: Any, app_manager: Manager, tmp_path: Path
) -> None:
    good = (
        '{"type":"user","uuid":"u1","sessionId":"s-1","timestamp":"2099-01-01T00:00:00Z",'
        '"message":{"role":"user","content":"hello"}}'
    )
    (tmp_path / "s-1.jsonl").write_text(
        good + "\nnot json\n[1, 2]\n" + '{"type":"mystery"}\n' + '{"type":"user","uuid":"u2"',
        encoding="utf-8",
    )
    (tmp_path / "empty.jsonl").write_bytes(b"")
    result = _import(runner, tmp_path)
    assert result.exit_code == 0, result.output
    assert (
        "lines skipped: 4 (malformed_json 1, not_an_object 1, truncated_last_line 1, "
        "unknown_type 1)" in result.output
    )
    assert "empty files (skipped): 1" in result.output
    assert stored_sessions(app_manager)["s-1"].request == "hello"
