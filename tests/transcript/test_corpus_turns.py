"""The whole corpus as turns: what a reader must be able to rely on.

The expectations come from the raw JSONL lines read with plain ``json`` (which
call got how many results, under which tool name), never from the code under test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.transcript.helpers import (
    CORPUS_FILES,
    all_blocks,
    all_calls,
    raw_pairs,
    session_named,
    turns_of,
)
from webapp.claude import ParsedSession
from webapp.transcript import (
    Events,
    Notice,
    Output,
    Text,
    Thinking,
    ToolCall,
    ToolRun,
    turns_to_markdown,
)
from webapp.transcript.markdown import markdown_turns
from webapp.transcript.tools import AgentView, BashView, DiffView


def _sessions_of(path: Path, sessions: dict[str, ParsedSession]) -> list[ParsedSession]:
    return [s for s in sessions.values() if s.source_path == str(path)]


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name[:40])
def test_every_result_sits_under_its_call(
    path: Path, corpus_sessions: dict[str, ParsedSession]
) -> None:
    raw = raw_pairs(path)
    calls: dict[str, ToolCall[Any]] = {}
    for session in _sessions_of(path, corpus_sessions):
        for call in all_calls(turns_of(session)):
            if call.call is not None:
                calls[call.tool_use_id] = call
            else:
                # a result without its call: only when the file has no such call
                assert call.tool_use_id not in raw.names, call.tool_use_id
    paired = [tuid for tuid in raw.results if tuid in raw.names]
    for tuid in paired:
        assert tuid in calls, tuid
        assert calls[tuid].name == raw.names[tuid]
        assert len(calls[tuid].results) == raw.results[tuid], tuid
        assert all(r.meta["tool_use_id"] == tuid for r in calls[tuid].results), tuid
    for tuid, call in calls.items():
        assert call.answered == (tuid in raw.results), tuid


def test_the_corpus_pairs_calls_and_results() -> None:
    """The per-file check above has something to check."""
    pairs = [raw_pairs(path) for path in CORPUS_FILES]
    paired = sum(1 for p in pairs for tuid in p.results if tuid in p.names)
    assert paired > 1000


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name[:40])
def test_no_block_is_empty(path: Path, corpus_sessions: dict[str, ParsedSession]) -> None:
    for session in _sessions_of(path, corpus_sessions):
        turns = turns_of(session)
        for turn in turns:
            assert turn.messages
            if turn.prompt is not None:
                assert turn.prompt.parts
        for block in all_blocks(turns):
            if isinstance(block, Text | Notice | Output):
                assert block.message.content.strip(), block
            elif isinstance(block, ToolRun):
                assert block.calls
            elif isinstance(block, Events):
                assert block.messages
            elif isinstance(block, Thinking) and not block.recorded:
                assert not block.message.content.strip()


def test_every_message_is_in_exactly_one_turn(corpus_sessions: dict[str, ParsedSession]) -> None:
    for session in corpus_sessions.values():
        seen = [id(m) for turn in turns_of(session) for m in turn.messages]
        assert len(seen) == len(set(seen)), session.id
        assert sorted(seen) == sorted(id(m) for m in session.messages), session.id


def test_first_turn_of_7acd37a8_holds_its_first_prompt_and_first_answer(
    corpus_sessions: dict[str, ParsedSession],
) -> None:
    session = session_named(corpus_sessions, "7acd37a8")
    first_user = next(m for m in session.messages if m.role == "user")
    first_text = next(
        m for m in session.messages if m.role == "assistant" and m.meta.get("kind") == "text"
    )
    turn = turns_of(session)[0]
    assert turn.prompt is not None
    assert turn.prompt.parts[0].message is first_user
    assert turn.prompt.first_line == "/init"
    assert first_text in turn.messages
    answer = [s for s in turn.answer if isinstance(s, Text)]
    assert answer, "the first turn ends with the agent's answer"
    assert "CLAUDE.md" in answer[-1].message.content
    assert turn.tool_count == 15
    assert turn.tokens.output > 0 and turn.tokens.cache_read > 0


def test_edits_become_removed_and_added_lines(corpus_sessions: dict[str, ParsedSession]) -> None:
    session = session_named(corpus_sessions, "7acd37a8")
    edits = [c for c in all_calls(turns_of(session)) if c.name == "Edit"]
    assert edits
    both = 0
    for call in edits:
        view = call.view
        assert isinstance(view, DiffView)
        old = call.input["old_string"].splitlines()
        new = call.input["new_string"].splitlines()
        removed = [r.text for r in view.rows if r.sign == "-"]
        added = [r.text for r in view.rows if r.sign == "+"]
        assert set(old) - set(new) <= set(removed) <= set(old)
        assert set(new) - set(old) <= set(added) <= set(new)
        assert not any("\n" in r.text for r in view.rows)
        both += bool(removed and added)
    assert both > len(edits) // 2


def test_parallel_agents_get_their_own_results(corpus_sessions: dict[str, ParsedSession]) -> None:
    session = session_named(corpus_sessions, "ef958aa1")
    agents = [c for c in all_calls(turns_of(session)) if c.name == "Agent"]
    by_name = {
        c.input["name"]: c for c in agents if c.input.get("name") in ("alice", "bob", "carol")
    }
    assert set(by_name) == {"alice", "bob", "carol"}
    for name, call in by_name.items():
        assert len(call.results) == 1
        report = call.results[0].content
        assert f"{name}/research" in report, name
        others = {"alice", "bob", "carol"} - {name}
        assert not any(f"{o}/research" in report for o in others), name
        view = call.view
        assert isinstance(view, AgentView)
        assert view.report.strip() and call.child_session_id
        assert call.child_session_id.startswith(session.id + "-agent-")


def test_the_markdown_puts_each_result_right_after_its_call(
    corpus_sessions: dict[str, ParsedSession],
) -> None:
    session = session_named(corpus_sessions, "ef958aa1")
    text = turns_to_markdown(turns_of(session))
    headers = [m.start() for m in re.finditer(r"^\*\*Agent\*\*", text, re.MULTILINE)]
    assert len(headers) >= 3
    for name in ("alice", "bob", "carol"):
        report = text.index(f"{name}/research")
        call = max(h for h in headers if h < report)
        following = [h for h in headers if h > call]
        assert not following or report < following[0], name


def test_hooks_gather_into_strips(corpus_sessions: dict[str, ParsedSession]) -> None:
    session = session_named(corpus_sessions, "ef958aa1")
    turns = turns_of(session)
    hooks = sum(1 for m in session.messages if m.meta.get("kind") == "hook")
    strips = [b for b in all_blocks(turns) if isinstance(b, Events)]
    assert sum(len(s.messages) for s in strips) >= hooks
    assert len(strips) < hooks, "consecutive hook lines share one strip"
    assert any(s.label.endswith("hook events") for s in strips)


def test_signature_only_thinking_is_a_mark(corpus_sessions: dict[str, ParsedSession]) -> None:
    session = session_named(corpus_sessions, "ef958aa1")
    marks = [b for b in all_blocks(turns_of(session)) if isinstance(b, Thinking)]
    assert marks and not any(b.recorded for b in marks)


def test_whitespace_only_text_is_dropped(corpus_sessions: dict[str, ParsedSession]) -> None:
    session = session_named(corpus_sessions, "03eb5929")
    blank = [m for m in session.messages if m.meta.get("kind") == "text" and not m.content.strip()]
    assert blank
    texts = {id(b.message) for b in all_blocks(turns_of(session)) if isinstance(b, Text)}
    assert not any(id(m) in texts for m in blank)


def test_bash_mode_and_local_command_output_keep_their_lines(
    corpus_sessions: dict[str, ParsedSession],
) -> None:
    shell = [
        (session, m)
        for session in corpus_sessions.values()
        for m in session.messages
        if m.meta.get("kind") in ("bash", "command") and m.role == "system" and m.content.strip()
    ]
    assert shell
    for session, message in shell:
        kinds = {
            part.form
            for turn in turns_of(session)
            if turn.prompt is not None
            for part in turn.prompt.parts
            if part.message is message
        }
        outputs = {id(b.message) for b in all_blocks(turns_of(session)) if isinstance(b, Output)}
        assert kinds == {"output"} or id(message) in outputs


def test_the_markdown_carries_calls_results_diffs_and_commands(
    corpus_sessions: dict[str, ParsedSession],
) -> None:
    for session in corpus_sessions.values():
        turns = turns_of(session)
        text = turns_to_markdown(turns)
        for call in all_calls(turns):
            view = call.view
            if call.call is not None:
                assert f"**{call.name}**" in text
            if isinstance(view, DiffView) and view.rows:
                assert "```diff\n" in text or "````diff\n" in text
            if isinstance(view, BashView):
                assert f"$ {view.command}" in text
                if view.output:
                    assert view.output.text in text


def test_the_rewind_of_03eb5929_folds_the_abandoned_branch(
    corpus_sessions: dict[str, ParsedSession],
) -> None:
    session = session_named(corpus_sessions, "03eb5929")
    turns = [t for t in turns_of(session) if t.prompt is not None]
    firsts = [t.prompt.first_line for t in turns if t.prompt is not None]
    liked = next(i for i, text in enumerate(firsts) if text.startswith("I very much like"))
    disliked = next(i for i, text in enumerate(firsts) if text.startswith("I actually don't"))
    abandoned = [t for t in turns if t.rewound_by is not None]
    assert abandoned == turns[liked:disliked]
    assert all(t.rewound_by is turns[disliked] for t in abandoned)
    assert turns[disliked].branches_from is turns[liked - 1]
    assert "rewound at" in turns_to_markdown(turns)


def test_edit_results_bring_the_files_line_numbers(
    corpus_sessions: dict[str, ParsedSession],
) -> None:
    session = session_named(corpus_sessions, "7acd37a8")
    edits = [c for c in all_calls(turns_of(session)) if c.name == "Edit" and not c.is_error]
    assert edits
    for call in edits:
        view = call.view
        assert isinstance(view, DiffView) and view.numbered
        assert any(r.sign == "@" for r in view.rows)


def test_streamed_markdown_equals_the_whole(corpus_sessions: dict[str, ParsedSession]) -> None:
    """The export streams a turn at a time: an abandoned turn is written before
    the rewind is known, so its own "Abandoned" line is the one difference; the
    prompt that rewound names the abandoned turns in both."""

    def unmarked(text: str) -> list[str]:
        lines = text.splitlines()
        return " ".join(x for x in lines if not x.startswith("*Abandoned")).split()

    rewinds = 0
    for session in corpus_sessions.values():
        whole = turns_to_markdown(turns_of(session))
        streamed = "".join(markdown_turns(session.messages))
        assert unmarked(streamed) == unmarked(whole), session.id
        rewinds += streamed.count("*A rewind: this prompt goes on from turn")
    assert rewinds >= 1  # 03eb5929's


def test_the_streamed_markdown_marks_the_rewind_of_03eb5929(
    corpus_sessions: dict[str, ParsedSession],
) -> None:
    session = corpus_sessions["03eb5929-52b3-4b13-ada3-b93ae35806b8"]
    turns = turns_of(session)
    abandoned = [t.number for t in turns if t.rewound_by is not None]
    rewinder = next(t for t in turns if t.branches_from is not None)
    streamed = "".join(markdown_turns(session.messages))
    listed = (
        f"turn {abandoned[0]} above was"
        if len(abandoned) == 1
        else f"turns {', '.join(map(str, abandoned[:-1]))} and {abandoned[-1]} above were"
    )
    mark = (
        f"*A rewind: this prompt goes on from turn {rewinder.branches_from.number}; "
        f"{listed} abandoned.*"
    )
    assert mark in streamed
    # on the rewinding turn, after its heading
    heading = streamed.index(f"### Turn {rewinder.number}:")
    assert heading < streamed.index(mark) < streamed.index("### Turn", heading + 1)
