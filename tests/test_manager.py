"""The Manager against DESIGN.md section 2: every row of the Go-to-Python table,
with the Go package's own tests ported (create, get, update, close, set_*,
set_context with a string and a number, stats, expiry)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from webapp.sessions import (
    Config,
    DuplicateSessionError,
    Manager,
    Message,
    MessageStore,
    Session,
    Status,
)
from webapp.sessions.types import UNFINISHED_STATUSES


def test_create_defaults(manager: Manager, clock) -> None:
    s = manager.create("hello", {"chat": "c1"})
    assert len(s.id) == 36 and uuid.UUID(s.id).version == 4
    assert s.status is Status.PENDING
    assert s.request == "hello"
    assert s.created_at == s.last_activity == clock()
    assert s.expires_at == clock() + Config().timeout
    stored = manager.get(s.id)
    assert stored is not None
    assert stored.id == s.id and stored.context == {"chat": "c1"}
    assert stored.created_at == clock() and stored.created_at.tzinfo is not None


def test_create_with_id_and_never_expiring(manager: Manager) -> None:
    s = manager.create(id="my-session", expires_at=None)
    assert s.id == "my-session"
    got = manager.get("my-session")
    assert got is not None and got.expires_at is None


def test_create_duplicate_id_raises_and_keeps_the_first(manager: Manager) -> None:
    manager.create("first", id="dup")
    with pytest.raises(DuplicateSessionError):
        manager.create("second", id="dup")
    got = manager.get("dup")
    assert got is not None and got.request == "first"


def test_get_unknown_is_none(manager: Manager) -> None:
    assert manager.get("nope") is None
    assert manager.get_or_load("nope") is None
    assert manager.get_messages("nope") is None
    assert manager.get_request("nope") is None


def test_get_does_not_load_messages_get_or_load_does(manager: Manager) -> None:
    s = manager.create("q")
    assert manager.append_message(s.id, Message("user", "q"))
    assert manager.append_message(s.id, Message("assistant", "a"))
    got = manager.get(s.id)
    assert got is not None and got.messages == [] and got.message_count == 2
    loaded = manager.get_or_load(s.id)
    assert loaded is not None
    assert [(m.role, m.content) for m in loaded.messages] == [("user", "q"), ("assistant", "a")]


def test_update_mutates_atomically_and_bumps_activity(manager: Manager, clock) -> None:
    s = manager.create("q")
    clock.advance(minutes=1)

    def change(snapshot: Session) -> None:
        snapshot.response = "partial"
        snapshot.context["k"] = "v"

    assert manager.update(s.id, change)
    got = manager.get(s.id)
    assert got is not None
    assert got.response == "partial" and got.context == {"k": "v"}
    assert got.last_activity == clock()
    assert manager.update("unknown", change) is False


def test_set_running_completed_failed(manager: Manager) -> None:
    s = manager.create("q")
    assert manager.set_running(s.id)
    assert manager.get(s.id).status is Status.RUNNING
    assert manager.set_completed(s.id, "the answer")
    got = manager.get(s.id)
    assert got.status is Status.COMPLETED and got.response == "the answer"
    # completed is not terminal: the next chat turn runs again
    assert manager.set_running(s.id)
    assert manager.set_failed(s.id, "boom")
    got = manager.get(s.id)
    assert got.status is Status.FAILED and got.error == "boom"
    for fn in (manager.set_running,):
        assert fn("unknown") is False
    assert manager.set_completed("unknown", "x") is False
    assert manager.set_failed("unknown", "x") is False


@pytest.mark.parametrize("terminal", ["close", "expire"])
def test_terminal_sessions_take_no_change(manager: Manager, clock, terminal: str) -> None:
    s = manager.create("q")
    manager.append_message(s.id, Message("user", "q"))
    if terminal == "close":
        assert manager.close(s.id)
        expected = Status.CLOSED
    else:
        clock.advance(Config().timeout + timedelta(seconds=1))
        assert manager.sweep().expired_sessions == 1
        expected = Status.EXPIRED
    assert manager.set_running(s.id) is False
    assert manager.set_completed(s.id, "x") is False
    assert manager.set_failed(s.id, "x") is False
    assert manager.append_message(s.id, Message("user", "more")) is False
    assert manager.close(s.id) is False
    got = manager.get_or_load(s.id)
    assert got.status is expected
    assert got.message_count == 1 and len(got.messages) == 1


def test_completed_past_expiry_keeps_outcome_but_takes_no_turn(manager: Manager, clock) -> None:
    s = manager.create("q")
    manager.set_completed(s.id, "done")
    clock.advance(Config().timeout + timedelta(seconds=1))
    assert manager.set_running(s.id) is False
    assert manager.append_message(s.id, Message("user", "again")) is False
    manager.sweep()
    got = manager.get(s.id)
    assert got.status is Status.COMPLETED and got.response == "done"


def test_set_and_get_request(manager: Manager) -> None:
    s = manager.create()
    assert manager.get_request(s.id) == ""
    assert manager.set_request(s.id, "new request")
    assert manager.get_request(s.id) == "new request"
    assert manager.set_request("unknown", "x") is False


def test_set_context_string_and_number(manager: Manager) -> None:
    s = manager.create()
    assert manager.set_context(s.id, "chat_id", "abc")
    assert manager.set_context(s.id, "turns", 42)
    assert manager.set_context(s.id, "ratio", 0.5)
    assert manager.get_context(s.id, "chat_id") == "abc"
    assert manager.get_context(s.id, "turns") == 42
    assert manager.get_context(s.id, "ratio") == 0.5
    assert manager.get_context(s.id, "missing", "dflt") == "dflt"
    assert manager.get_context("unknown", "chat_id") is None
    assert manager.set_context("unknown", "k", 1) is False


def test_set_context_rejects_non_json_and_writes_nothing(manager: Manager) -> None:
    s = manager.create(context={"a": 1})
    with pytest.raises(ValueError, match="JSON"):
        manager.set_context(s.id, "bad", object())
    with pytest.raises(ValueError, match="JSON"):
        manager.set_context(s.id, "nan", float("nan"))
    assert manager.get(s.id).context == {"a": 1}


def test_create_rejects_non_json_context(manager: Manager) -> None:
    with pytest.raises(ValueError):
        manager.create("q", {"when": object()})
    assert manager.list() == []


def test_append_message_persists_and_bumps_activity(manager: Manager, clock) -> None:
    s = manager.create("q")
    clock.advance(seconds=5)
    assert manager.append_message(s.id, Message("user", "hi", meta={"model": "m"}))
    got = manager.get_or_load(s.id)
    assert got.last_activity == clock()
    assert got.message_count == 1
    (msg,) = got.messages
    assert msg.timestamp == clock() and msg.meta == {"model": "m"}


def test_append_message_bad_input_raises_and_writes_nothing(manager: Manager) -> None:
    s = manager.create("q")
    for bad in (Message("", "x"), Message("   ", "x"), Message("user", "x", meta={"o": object()})):
        with pytest.raises(ValueError):
            manager.append_message(s.id, bad)
    assert manager.get_messages(s.id) == []
    assert manager.get(s.id).message_count == 0
    assert manager.append_message("unknown", Message("user", "x")) is False


def test_append_batch_is_all_or_nothing(manager: Manager) -> None:
    s = manager.create("q")
    with pytest.raises(ValueError):
        manager.append_messages(s.id, [Message("user", "ok"), Message("", "bad")])
    assert manager.get_messages(s.id) == []
    out = manager.append_messages(s.id, [Message("user", "a"), Message("assistant", "b")])
    assert out.status == "appended" and out.appended == 2
    assert manager.get(s.id).message_count == 2


def test_idempotency_key_appends_once(manager: Manager) -> None:
    s = manager.create("q")
    first = manager.append_messages(s.id, [Message("user", "a")], idempotency_key="k1")
    again = manager.append_messages(s.id, [Message("user", "a")], idempotency_key="k1")
    assert first.status == "appended"
    assert again.status == "replayed" and again.response == {"appended": 1}
    assert len(manager.get_messages(s.id)) == 1


def test_messages_are_chronological(manager: Manager, clock) -> None:
    s = manager.create("q")
    t0 = clock()
    manager.append_message(s.id, Message("user", "second", timestamp=t0 + timedelta(seconds=2)))
    manager.append_message(s.id, Message("user", "first", timestamp=t0 + timedelta(seconds=1)))
    manager.append_message(s.id, Message("user", "third", timestamp=t0 + timedelta(seconds=2)))
    assert [m.content for m in manager.get_messages(s.id)] == ["first", "second", "third"]


def test_close_keeps_data(manager: Manager) -> None:
    s = manager.create("q")
    manager.append_message(s.id, Message("user", "q"))
    assert manager.close(s.id)
    got = manager.get_or_load(s.id)
    assert got.status is Status.CLOSED and len(got.messages) == 1
    assert manager.close("unknown") is False


def test_delete_removes_session_and_messages(manager: Manager) -> None:
    s = manager.create("q")
    manager.append_message(s.id, Message("user", "q"))
    assert manager.delete(s.id)
    assert manager.get(s.id) is None
    assert manager.store.get_messages(s.id) == []
    assert manager.delete(s.id) is False


def test_clear_returns_count(manager: Manager) -> None:
    for i in range(3):
        s = manager.create(f"q{i}")
        manager.append_message(s.id, Message("user", "x"))
    assert manager.clear() == 3
    assert manager.list() == [] and manager.stats() == {}


def test_list_newest_activity_first_with_status_and_limit(manager: Manager, clock) -> None:
    a = manager.create("a")
    clock.advance(seconds=1)
    b = manager.create("b")
    clock.advance(seconds=1)
    manager.set_running(a.id)  # a is now the most recently active
    assert [s.id for s in manager.list()] == [a.id, b.id]
    assert [s.id for s in manager.list(status=Status.PENDING)] == [b.id]
    assert [s.id for s in manager.list(status="running")] == [a.id]
    assert len(manager.list(limit=1)) == 1


def test_stats_and_get_stats(manager: Manager, clock) -> None:
    old = manager.create("old")
    manager.set_completed(old.id, "x")
    clock.advance(hours=25)
    r = manager.create("r")
    manager.set_running(r.id)
    manager.create("p")
    assert manager.stats() == {"completed": 1, "running": 1, "pending": 1}
    stats = manager.get_stats()
    assert stats["total"] == 3
    assert stats["active"] == stats["running"] == 1
    assert stats["pending"] == 1 and stats["completed"] == 1
    assert stats["failed"] == stats["closed"] == stats["expired"] == 0
    assert stats["recent_actions"] == {"running": 1, "pending": 1}
    assert stats["uptime"] == "1d 1h 0m 0s"


def test_expiry_marks_pending_and_running_only(manager: Manager, clock) -> None:
    pending = manager.create("p")
    running = manager.create("r")
    manager.set_running(running.id)
    done = manager.create("c")
    manager.set_completed(done.id, "ok")
    never = manager.create("n", expires_at=None)
    clock.advance(Config().timeout - timedelta(seconds=1))
    assert manager.sweep().expired_sessions == 0
    clock.advance(seconds=2)
    result = manager.sweep()
    assert result.expired_sessions == 2
    assert manager.get(pending.id).status is Status.EXPIRED
    assert manager.get(running.id).status is Status.EXPIRED
    assert manager.get(done.id).status is Status.COMPLETED
    assert manager.get(never.id).status is Status.PENDING
    assert manager.sweep().expired_sessions == 0  # idempotent


@pytest.mark.parametrize("status", list(Status))
def test_expiry_follows_the_unfinished_statuses(manager: Manager, clock, status: Status) -> None:
    """The sweep's SQL expires exactly the statuses the domain calls unfinished,
    and its dry run counts the same."""
    s = manager.create("q", status=status)
    clock.advance(Config().timeout)
    due = status in UNFINISHED_STATUSES
    assert manager.sweep(dry_run=True).expired_sessions == int(due)
    assert manager.sweep().expired_sessions == int(due)
    assert manager.get(s.id).status is (Status.EXPIRED if due else status)


def test_sliding_expiry_moves_expires_at(store: MessageStore, clock) -> None:
    manager = Manager(Config(sliding_expiry=True), store, clock=clock)
    s = manager.create("q")
    clock.advance(minutes=20)
    assert manager.append_message(s.id, Message("user", "still here"))
    assert manager.get(s.id).expires_at == clock() + Config().timeout
    clock.advance(minutes=20)
    assert manager.set_running(s.id)
    assert manager.get(s.id).expires_at == clock() + Config().timeout
    never = manager.create("n", expires_at=None)
    assert manager.set_running(never.id)
    assert manager.get(never.id).expires_at is None


def test_fixed_expiry_counts_from_creation(manager: Manager, clock) -> None:
    s = manager.create("q")
    clock.advance(minutes=20)
    manager.append_message(s.id, Message("user", "x"))
    assert manager.get(s.id).expires_at == s.created_at + Config().timeout


def test_set_expiry_and_keep(manager: Manager, clock) -> None:
    s = manager.create("q")
    clock.advance(hours=1)
    later = clock() + timedelta(days=3)
    assert manager.set_expiry(s.id, later)
    assert manager.get(s.id).expires_at == later
    assert manager.set_expiry(s.id, None)
    assert manager.get(s.id).expires_at is None
    assert manager.set_keep(s.id, True) and manager.get(s.id).keep
    # a reviewer's or admin's change is not the agent's activity
    assert manager.get(s.id).last_activity == s.created_at
    manager.close(s.id)
    assert manager.set_expiry(s.id, later) is False
    assert manager.set_expiry("unknown", later) is False


def test_stop_twice_is_harmless(store: MessageStore) -> None:
    m = Manager(Config(), store)
    m.stop()
    m.stop()


def test_manager_without_store_uses_private_memory_store() -> None:
    m = Manager()
    s = m.create("q")
    assert m.append_message(s.id, Message("user", "q"))
    assert m.get_messages(s.id)[0].content == "q"
    other = Manager()
    assert other.get(s.id) is None
    m.stop()
    other.stop()
