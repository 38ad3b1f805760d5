"""The read model's turn reads, on SQLite and PostgreSQL: slices from the start,
after, from, before and around a message and at the end; the prompt outline; how
many prompts precede a message. The turn model agrees with the SQL on prompts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import FakeClock
from webapp.sessions import Manager, Message
from webapp.sessions.queries import ReadModel
from webapp.transcript.window import is_prompt


@pytest.fixture
def reads(manager: Manager) -> ReadModel:
    """The read model over the test's store."""
    return ReadModel(manager.store)


def conversation(manager: Manager, clock: FakeClock, turns: int) -> str:
    """A session of ``turns`` turns of 4 messages (prompt, call, result, answer),
    plus noise that opens no turn (an interrupt, a blank prompt, a tool result)."""
    session = manager.create("talk", expires_at=None)
    start = clock()
    messages = []
    for t in range(turns):
        at = start + timedelta(minutes=t)
        call = {"kind": "tool_use", "tool_name": "Bash", "tool_use_id": f"c{t}", "tool_input": {}}
        result = {"kind": "tool_result", "tool_use_id": f"c{t}", "is_error": False}
        messages += [
            Message("user", f"prompt {t}", timestamp=at, meta={"kind": "text"} if t % 2 else None),
            Message("assistant", "{}", timestamp=at + timedelta(seconds=1), meta=call),
            Message(
                "user" if t == 1 else "tool",
                "out",
                timestamp=at + timedelta(seconds=2),
                meta=result,
            ),
            Message("assistant", f"answer {t}", timestamp=at + timedelta(seconds=3)),
        ]
    messages += [
        Message(
            "user",
            "[Request interrupted by user]",
            timestamp=start + timedelta(hours=1),
            meta={"kind": "interrupt"},
        ),
        Message("user", "  ", timestamp=start + timedelta(hours=1, seconds=1)),
    ]
    manager.store.append_messages(session.id, messages, now=start, require_open=False)
    return session.id


def contents(messages: list[object]) -> list[str]:
    """The content of each message."""
    return [m.content for m in messages]  # type: ignore[attr-defined]


def test_slices_every_way(manager: Manager, clock: FakeClock, reads: ReadModel) -> None:
    sid = conversation(manager, clock, 5)
    first = reads.transcript_slice(sid, limit=6)
    assert contents(first.messages)[:2] == ["prompt 0", "{}"] and len(first.messages) == 6
    assert (first.earlier, first.later) == (False, True)
    after = reads.transcript_slice(sid, after=first.messages[-1].id, limit=6)
    assert contents(after.messages)[0] == contents(reads.transcript_slice(sid, limit=7).messages)[6]
    assert after.earlier and after.later
    since = reads.transcript_slice(sid, since=after.messages[0].id, limit=6)
    assert since.messages == after.messages
    end = reads.transcript_slice(sid, at_end=True, limit=4)
    assert contents(end.messages)[-2:] == ["[Request interrupted by user]", "  "]
    assert end.earlier and not end.later
    before = reads.transcript_slice(sid, before=end.messages[0].id, limit=4)
    assert contents(before.messages) == ["out", "answer 3", "prompt 4", "{}"]
    assert before.earlier and before.later
    target = before.messages[2].id
    around = reads.transcript_slice(sid, around=target, limit=4)
    assert contents(around.messages) == ["out", "answer 3", "prompt 4", "{}"]
    assert around.earlier and around.later
    whole = reads.transcript_slice(sid, limit=100)
    assert len(whole.messages) == 22 and not whole.earlier and not whole.later


def test_outline_and_numbering_agree_with_the_turn_model(
    manager: Manager, clock: FakeClock, reads: ReadModel
) -> None:
    sid = conversation(manager, clock, 5)
    whole = reads.transcript_slice(sid, limit=100).messages
    prompts = [m for m in whole if is_prompt(m)]
    lines, more = reads.prompt_outline(sid)
    assert [line.id for line in lines] == [m.id for m in prompts]
    assert [line.text for line in lines] == [f"prompt {t}" for t in range(5)] and not more
    page, more = reads.prompt_outline(sid, limit=2)
    rest, last = reads.prompt_outline(sid, after=page[-1].id, limit=2)
    assert [line.text for line in page + rest] == ["prompt 0", "prompt 1", "prompt 2", "prompt 3"]
    assert more and last
    for n, prompt in enumerate(prompts):
        assert reads.prompts_before(sid, prompt.id) == n
    assert reads.prompts_before(sid, whole[-1].id) == 5

