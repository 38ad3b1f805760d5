"""The rules of the turn model and the tool views, one small transcript each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from webapp.sessions import Message
from webapp.transcript import Events, Notice, Text, Thinking, ToolRun, build_turns
from webapp.transcript.diff import patch_rows
from webapp.transcript.markdown import fence, turns_to_markdown
from webapp.transcript.model import outline_text
from webapp.transcript.tools import (
    FOLD_LINES,
    BashView,
    ChecklistView,
    DiffView,
    JsonView,
    LookupView,
    WebView,
)
from webapp.transcript.window import trim

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """A moment ``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)


def user(text: str, t: float = 0, **meta: Any) -> Message:
    """A prompt."""
    return Message("user", text, timestamp=at(t), meta={"kind": "text", **meta})


def said(text: str, t: float = 1, **meta: Any) -> Message:
    """An assistant text block."""
    return Message("assistant", text, timestamp=at(t), meta={"kind": "text", **meta})


def call(name: str, tuid: str, tool_input: Any, t: float = 2, **meta: Any) -> Message:
    """A tool call."""
    meta = {
        "kind": "tool_use",
        "tool_name": name,
        "tool_input": tool_input,
        "tool_use_id": tuid,
        **meta,
    }
    return Message("assistant", "{}", timestamp=at(t), meta=meta)


def result(tuid: str, text: str, t: float = 3, *, error: bool = False, **meta: Any) -> Message:
    """A tool result."""
    meta = {"kind": "tool_result", "tool_use_id": tuid, "is_error": error, **meta}
    return Message("tool", text, timestamp=at(t), meta=meta)


def hook(text: str, t: float = 2) -> Message:
    """A hook line."""
    return Message("system", text, timestamp=at(t), meta={"kind": "hook"})


def test_a_turn_is_prompt_work_answer_with_its_numbers() -> None:
    turns = build_turns(
        [
            user("Fix the test", 0),
            said("Looking.", 1, usage={"input_tokens": 10, "output_tokens": 5}),
            call("Bash", "a", {"command": "pytest"}, 2),
            result("a", "1 passed", 4),
            said("Done: it passes.", 9, usage={"input_tokens": 3, "cache_read_input_tokens": 7}),
            user("Thanks", 60),
        ]
    )
    assert [t.number for t in turns] == [1, 2]
    first = turns[0]
    assert first.prompt is not None and first.prompt.first_line == "Fix the test"
    assert [type(s) for s in first.work] == [Text, ToolRun]
    assert [s.message.content for s in first.answer if isinstance(s, Text)] == ["Done: it passes."]
    assert first.duration == timedelta(seconds=9)
    assert (first.tokens.input, first.tokens.output, first.tokens.cache_read) == (13, 5, 7)
    assert first.tool_count == 1


def test_results_find_their_calls_whatever_the_order() -> None:
    messages = [
        user("Run three"),
        call("Bash", "a", {"command": "echo a"}),
        call("Bash", "b", {"command": "echo b"}),
        call("Bash", "c", {"command": "echo c"}),
        result("c", "c"),
        result("a", "a"),
        result("b", "b"),
    ]
    (run,) = build_turns(messages)[0].steps
    assert isinstance(run, ToolRun)
    assert [(c.input["command"], [r.content for r in c.results]) for c in run.calls] == [
        ("echo a", ["a"]),
        ("echo b", ["b"]),
        ("echo c", ["c"]),
    ]
    assert run.label == "3 tools: Bash ×3"


def test_a_call_without_result_and_a_result_without_call_say_so() -> None:
    turns = build_turns([result("gone", "orphan output"), call("Read", "x", {"file_path": "/a"})])
    calls = [c for s in turns[0].steps if isinstance(s, ToolRun) for c in s.calls]
    orphan, unanswered = calls
    assert orphan.call is None and orphan.results[0].content == "orphan output"
    assert unanswered.call is not None and not unanswered.answered
    assert "no result" in turns_to_markdown(turns)


def test_errors_are_marked_and_error_tags_not_shown() -> None:
    messages = [
        call("Edit", "e", {"file_path": "/a", "old_string": "x", "new_string": "y"}),
        result("e", "<tool_use_error>File has not been read yet.</tool_use_error>", error=True),
    ]
    (tool,) = [c for s in build_turns(messages)[0].steps if isinstance(s, ToolRun) for c in s.calls]
    assert tool.is_error
    assert tool.view.output.text == "File has not been read yet."


def test_bash_shows_command_exit_status_and_clean_output() -> None:
    long = "\n".join(f"line {i}" for i in range(FOLD_LINES + 10))
    messages = [
        call("Bash", "a", {"command": "make", "description": "Build"}),
        result("a", "Exit code 2\n\x1b[31mFAILED\x1b[0m test_x", error=True),
        call("Bash", "b", {"command": "seq 50"}),
        result("b", long),
    ]
    failed, listed = [
        c for s in build_turns(messages)[0].steps if isinstance(s, ToolRun) for c in s.calls
    ]
    assert isinstance(failed.view, BashView) and isinstance(listed.view, BashView)
    assert failed.view.exit_status == 2
    assert failed.view.output.text == "FAILED test_x"
    assert listed.view.exit_status == 0
    assert listed.view.output.folded and listed.view.output.line_count == FOLD_LINES + 10
    assert listed.view.output.head + "\n" + listed.view.output.rest == long


def test_edit_diff_marks_the_changed_words() -> None:
    messages = [
        call(
            "Edit",
            "e",
            {"file_path": "/a.py", "old_string": "x = 1\nkeep\n", "new_string": "x = 2\nkeep\n"},
        ),
        result("e", "ok"),
    ]
    (tool,) = [c for s in build_turns(messages)[0].steps if isinstance(s, ToolRun) for c in s.calls]
    view = tool.view
    assert isinstance(view, DiffView) and view.path == "/a.py"
    assert [(r.sign, r.text) for r in view.rows] == [("-", "x = 1"), ("+", "x = 2"), (" ", "keep")]
    changed = [[p.text for p in r.parts if p.changed] for r in view.rows]
    assert changed == [["1"], ["2"], []]
    assert (view.added, view.removed) == (1, 1)


def test_structured_patch_gives_real_line_numbers() -> None:
    patch = [
        {"oldStart": 10, "oldLines": 2, "newStart": 10, "newLines": 2, "lines": [" a", "-b", "+c"]}
    ]
    rows = patch_rows(patch)
    assert rows is not None
    assert [(r.sign, r.text, r.old_no, r.new_no) for r in rows[1:]] == [
        (" ", "a", 10, 10),
        ("-", "b", 11, None),
        ("+", "c", None, 11),
    ]
    messages = [
        call("Edit", "e", {"file_path": "/a", "old_string": "b", "new_string": "c"}),
        result("e", "ok", structured_patch=patch),
    ]
    (tool,) = [c for s in build_turns(messages)[0].steps if isinstance(s, ToolRun) for c in s.calls]
    assert isinstance(tool.view, DiffView) and tool.view.rows == rows
    assert patch_rows("not a patch") is None


def test_write_multiedit_todo_tasks_web_lookup_and_other_tools() -> None:
    todos = [
        {"content": "Write it", "status": "completed"},
        {"content": "Test it", "status": "pending"},
    ]
    messages = [
        call("Write", "w", {"file_path": "/n.txt", "content": "one\ntwo"}),
        call(
            "MultiEdit", "m", {"file_path": "/m", "edits": [{"old_string": "a", "new_string": "b"}]}
        ),
        call("TodoWrite", "t", {"todos": todos}),
        call("TaskCreate", "c", {"subject": "Research"}),
        result("c", "Task #4 created successfully: Research"),
        call("TaskUpdate", "u", {"taskId": "4", "status": "completed"}),
        call("WebFetch", "f", {"url": "javascript:alert(1)", "prompt": "p"}),
        call("Grep", "g", {"pattern": "TODO", "path": "src"}),
        call("mcp__x__y", "x", {"q": 1}),
    ]
    views = [
        c.view for s in build_turns(messages)[0].steps if isinstance(s, ToolRun) for c in s.calls
    ]
    write, multi, todo, create, update, fetch, grep, other = views
    assert isinstance(write, DiffView) and [r.sign for r in write.rows] == ["+", "+"]
    assert isinstance(multi, DiffView) and {r.sign for r in multi.rows} >= {"-", "+"}
    assert isinstance(todo, ChecklistView)
    assert [(i.text, i.status) for i in todo.items] == [
        ("Write it", "completed"),
        ("Test it", "pending"),
    ]
    assert isinstance(create, ChecklistView) and create.items[0].ref == "#4"
    assert isinstance(update, ChecklistView) and update.items[0].status == "completed"
    assert (
        isinstance(fetch, WebView) and fetch.link == "" and fetch.summary == "javascript:alert(1)"
    )
    assert isinstance(grep, LookupView) and (grep.target, grep.detail) == ("TODO", "in src")
    assert isinstance(other, JsonView) and other.input == {"q": 1}


def test_hooks_strip_empty_blocks_and_unrecorded_thinking() -> None:
    messages = [
        hook("SessionStart: ok", 0),
        user("Go", 1),
        hook("UserPromptSubmit: ok", 1),
        hook("UserPromptSubmit: again", 1),
        Message("assistant", "", timestamp=at(2), meta={"kind": "thinking", "redacted": True}),
        said("  \n", 2),
        said("Gone.", 3),
        Message("system", "API Error: 529", timestamp=at(4), meta={"kind": "api_error"}),
    ]
    preamble, turn = build_turns(messages)
    assert preamble.prompt is None and isinstance(preamble.steps[0], Events)
    assert [type(s) for s in turn.steps] == [Events, Thinking, Text, Notice]
    events = turn.steps[0]
    assert isinstance(events, Events) and events.label == "2 hook events"
    thinking = turn.steps[1]
    assert isinstance(thinking, Thinking) and not thinking.recorded
    notice = turn.steps[3]
    assert isinstance(notice, Notice) and notice.tone == "error"


def test_prompt_pieces_join_one_prompt() -> None:
    messages = [
        Message("user", "/init", timestamp=at(0), meta={"kind": "command", "command": "/init"}),
        Message(
            "system", "Please analyze", timestamp=at(0), meta={"kind": "system", "subtype": "meta"}
        ),
        Message("user", "$ ls", timestamp=at(5), meta={"kind": "bash", "bash": "input"}),
        Message("system", "a\nb", timestamp=at(5), meta={"kind": "bash", "bash": "output"}),
        said("Listed.", 6),
        Message("user", "check this", timestamp=at(7), meta={"kind": "note", "author": "rita"}),
    ]
    first, note = build_turns(messages)
    assert first.prompt is not None
    assert [p.form for p in first.prompt.parts] == ["command", "context", "shell", "output"]
    assert note.prompt is not None and note.prompt.is_note


def test_runner_messages_without_meta_make_turns() -> None:
    turns = build_turns(
        [Message("user", "Fix it"), Message("assistant", "Fixed."), Message("user", "More")]
    )
    assert [t.prompt.first_line for t in turns if t.prompt] == ["Fix it", "More"]
    assert isinstance(turns[0].answer[0], Text)


def test_a_rewind_marks_the_abandoned_turns() -> None:
    def line(role: str, text: str, uuid: str, parent: str | None, t: float) -> Message:
        kind = "text"
        return Message(
            role, text, timestamp=at(t), meta={"kind": kind, "uuid": uuid, "parent_uuid": parent}
        )

    messages = [
        line("user", "Idea?", "u1", None, 0),
        line("assistant", "An idea.", "a1", "u1", 1),
        line("user", "I like it, list strengths", "u2", "a1", 2),
        line("assistant", "Strengths.", "a2", "u2", 3),
        line("user", "Now weaknesses", "u3", "a2", 4),
        line("assistant", "Weaknesses.", "a3", "u3", 5),
        line("user", "I do not like it, list weaknesses", "u4", "a1", 6),
        line("assistant", "Weak points.", "a4", "u4", 7),
    ]
    turns = build_turns(messages)
    assert [t.rewound_by.number if t.rewound_by else None for t in turns] == [None, 4, 4, None]
    assert turns[3].branches_from is turns[0]
    assert "rewound at" in turns_to_markdown(turns)


def test_siblings_of_the_last_answer_are_no_rewind() -> None:
    messages = [
        Message("user", "Go", timestamp=at(0), meta={"kind": "text", "uuid": "u1"}),
        Message(
            "assistant",
            "Done.",
            timestamp=at(1),
            meta={"kind": "text", "uuid": "a1", "parent_uuid": "u1"},
        ),
        Message(
            "system",
            "Turn took 1 s",
            timestamp=at(1),
            meta={"kind": "system", "uuid": "s1", "parent_uuid": "a1"},
        ),
        Message(
            "user",
            "Next",
            timestamp=at(2),
            meta={"kind": "text", "uuid": "u2", "parent_uuid": "a1"},
        ),
    ]
    assert all(t.rewound_by is None for t in build_turns(messages))


def test_markdown_fences_cannot_be_closed_by_the_content() -> None:
    block = fence("```\ninjected\n```", "text")
    assert block.startswith("````text\n") and block.endswith("\n````")
    messages = [
        user("Show"),
        call("Bash", "a", {"command": "cat x"}),
        result("a", "```\n# not a heading\n```"),
        said("Shown."),
    ]
    text = turns_to_markdown(build_turns(messages))
    assert "````text\n```\n# not a heading\n```\n````" in text
    assert "<" not in text


def test_numbers_count_prompts_and_a_window_goes_on_from_its_start() -> None:
    messages = [hook("SessionStart", 0), user("One", 1), said("1", 2), user("Two", 3)]
    assert [t.number for t in build_turns(messages)] == [0, 1, 2]
    window = [said("end of turn 6", 0), user("Seven", 1)]
    assert [(t.number, t.prompt is None) for t in build_turns(window, first_number=7)] == [
        (6, True),
        (7, False),
    ]


def test_windows_hold_whole_turns() -> None:
    rows = [said("end of an earlier turn"), user("A"), said("a"), user("B"), said("b"), user("C")]
    window = trim(rows, earlier=True, later=True)
    assert [m.content for m in window.messages] == ["A", "a", "B", "b"]
    assert window.earlier and window.later
    whole = trim(rows, earlier=False, later=False)
    assert whole.messages == rows
    one_long_turn = [user("A"), said("1"), said("2")]
    assert trim(one_long_turn, earlier=True, later=True).messages == one_long_turn
    # the transcript's first turn longer than the window: shown in parts, not cut
    # down to the hook lines before its prompt (8463c716 opened on those alone)
    long_first_turn = [hook("session start"), user("A"), said("1"), said("2")]
    window = trim(long_first_turn, earlier=False, later=True)
    assert window.messages == long_first_turn and window.later


def test_a_background_task_notification_is_named_not_shown_as_markup() -> None:
    note = (
        "<task-notification>\n<task-id>b1</task-id>\n<status>completed</status>\n"
        '<summary>Background command "watch the checks" completed (exit code 0)</summary>\n'
        "</task-notification>"
    )
    turns = build_turns([user("go"), said("started"), user(note), said("done")])
    part = turns[1].prompt.parts[0] if turns[1].prompt else None
    assert part is not None and part.form == "notification"
    line = 'Task notification: Background command "watch the checks" completed (exit code 0)'
    assert turns[1].prompt is not None and turns[1].prompt.first_line == line
    assert outline_text(note[:60]) == "Task notification"  # the outline's cut text
    assert outline_text("<b>plain</b>") == "<b>plain</b>"
    markdown = turns_to_markdown(turns)
    assert '*Task notification:* `Background command "watch the checks"' in markdown
