"""The domain's rules for what may be stored: session ids, text without NUL or lone
surrogates, JSON no deeper than MAX_JSON_DEPTH. Refused with a ValueError that names
the field, and nothing written, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from webapp.sessions import Manager, Message
from webapp.sessions.types import MAX_JSON_DEPTH, check_json, check_session_id

NUL = "before\x00after"
LONE_SURROGATE = "before\ud800after"


def nested(levels: int) -> Any:
    """A JSON value ``levels`` lists deep."""
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "good", ["a", "0f8c7d2e-3b1a-4c5d-9e8f-123456789abc", "run_1.2~x:y-z", "a" * 64]
)
def test_session_ids_the_api_accepts(good: str) -> None:
    assert check_session_id(good) == good


@pytest.mark.parametrize(
    "bad", ["", "../sessions/victim", "a/b", ".hidden", "-x", "a" * 65, "a" * 300, "a b", 7, None]
)
def test_session_ids_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="session id must be 1 to 64"):
        check_session_id(bad)


def test_json_depth_is_bounded_without_recursion() -> None:
    check_json({"a": nested(MAX_JSON_DEPTH - 1)}, "context")
    for levels in (MAX_JSON_DEPTH + 1, 10_000):
        with pytest.raises(ValueError, match=f"context nests deeper than {MAX_JSON_DEPTH}"):
            check_json({"a": nested(levels)}, "context")


BAD_SESSION_CHANGES: list[tuple[str, Callable[[Manager, str], Any], str]] = [
    ("request NUL", lambda m, sid: m.set_request(sid, NUL), "session request"),
    ("response NUL", lambda m, sid: m.set_completed(sid, NUL), "session response"),
    ("error surrogate", lambda m, sid: m.set_failed(sid, LONE_SURROGATE), "session error"),
    ("context NUL", lambda m, sid: m.set_context(sid, "k", {"v": NUL}), "context"),
    ("context key", lambda m, sid: m.set_context(sid, "k", {NUL: 1}), "a key in"),
    ("context deep", lambda m, sid: m.set_context(sid, "k", nested(10_000)), "nests deeper"),
    ("update request", lambda m, sid: m.update(sid, _set_request), "session request"),
]


def _set_request(session: Any) -> None:
    session.request = LONE_SURROGATE


@pytest.mark.parametrize(
    ("change", "what"),
    [(c, w) for _, c, w in BAD_SESSION_CHANGES],
    ids=[n for n, _, _ in BAD_SESSION_CHANGES],
)
def test_bad_session_text_is_refused_and_nothing_changes(
    manager: Manager, change: Callable[[Manager, str], Any], what: str
) -> None:
    session = manager.create("fix the build", {"k": "v"})
    manager.set_running(session.id)
    before = manager.get(session.id)
    with pytest.raises(ValueError, match=what):
        change(manager, session.id)
    assert manager.get(session.id) == before


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"request": NUL}, "session request"),
        ({"request": LONE_SURROGATE}, "session request"),
        ({"context": {"k": NUL}}, "session context"),
        ({"context": {"k": nested(10_000)}}, "session context nests deeper"),
    ],
    ids=["request NUL", "request surrogate", "context NUL", "context deep"],
)
def test_bad_new_session_is_refused_and_nothing_is_written(
    manager: Manager, kwargs: dict[str, Any], what: str
) -> None:
    with pytest.raises(ValueError, match=what):
        manager.create(**kwargs)
    assert manager.list() == []


@pytest.mark.parametrize(
    ("message", "what"),
    [
        (Message("user", NUL), "message content"),
        (Message("user", LONE_SURROGATE), "message content"),
        (Message("user", "ok", summary=NUL), "message summary"),
        (Message("us\x00er", "ok"), "message role"),
        (Message("user", "ok", source_key=LONE_SURROGATE), "message source_key"),
        (Message("user", "ok", meta={"tool": NUL}), "message meta"),
        (Message("user", "ok", meta={"input": nested(10_000)}), "message meta nests deeper"),
    ],
    ids=["content NUL", "content surrogate", "summary", "role", "source_key", "meta", "deep"],
)
def test_bad_message_is_refused_and_nothing_is_written(
    manager: Manager, message: Message, what: str
) -> None:
    session = manager.create("fix the build")
    good = Message("user", "first")
    with pytest.raises(ValueError, match=what):
        manager.append_messages(session.id, [good, message])
    assert manager.get_messages(session.id) == []
    stored = manager.get(session.id)
    assert stored is not None and stored.message_count == 0
