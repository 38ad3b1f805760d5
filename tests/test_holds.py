"""Session holds: a held session (a live share link, say) keeps its messages and
itself through retention until the hold ends, on both engines."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from webapp.sessions import Manager, Message


def _old_session(manager: Manager, text: str = "old") -> str:
    session = manager.create(text)
    manager.set_running(session.id)
    manager.append_message(session.id, Message("user", text))
    manager.append_message(session.id, Message("assistant", "done"))
    manager.set_completed(session.id, "done")
    return session.id


def test_a_held_session_survives_retention_until_the_hold_ends(
    manager: Manager, clock: Any
) -> None:
    held = _old_session(manager, "held")
    free = _old_session(manager, "free")
    assert manager.hold(held, "share:1", clock() + timedelta(days=40))
    clock.advance(days=35)  # past the 30-day retention
    dry = manager.sweep(dry_run=True)
    assert (dry.purged_messages, dry.purged_sessions) == (2, 1)
    result = manager.sweep()
    assert (result.purged_messages, result.purged_sessions) == (2, 1)
    assert manager.get(free) is None
    kept = manager.get(held)
    assert kept is not None and kept.message_count == 2
    assert len(manager.get_messages(held) or []) == 2
    clock.advance(days=5)  # the hold ends now
    result = manager.sweep()
    assert (result.purged_messages, result.purged_sessions) == (2, 1)
    assert manager.get(held) is None
    assert manager.store.holds(held) == {}


def test_a_released_hold_keeps_nothing_and_holders_are_separate(
    manager: Manager, clock: Any
) -> None:
    sid = _old_session(manager)
    until = clock() + timedelta(days=60)
    assert manager.hold(sid, "share:1", until)
    assert manager.hold(sid, "share:2", until)
    assert manager.hold(sid, "share:2", until)  # set again: still one row
    assert manager.hold("no-such-session", "share:3", until) is False
    assert manager.release(sid, "share:1")
    assert not manager.release(sid, "share:1")
    clock.advance(days=35)
    manager.sweep()
    assert manager.get(sid) is not None  # share:2 holds it still
    assert manager.release(sid, "share:2")
    manager.sweep()
    assert manager.get(sid) is None


def test_deleting_a_held_session_takes_its_holds(manager: Manager, clock: Any) -> None:
    sid = _old_session(manager)
    manager.hold(sid, "share:1", clock() + timedelta(days=1))
    assert manager.delete(sid)
    assert manager.store.holds(sid) == {}


def test_a_dry_run_counts_an_ended_hold_as_nothing_and_writes_nothing(
    manager: Manager, clock: Any
) -> None:
    sid = _old_session(manager)
    manager.hold(sid, "share:1", clock() + timedelta(days=31))
    clock.advance(days=32)  # past retention, and the hold ended a day ago
    dry = manager.sweep(dry_run=True)
    assert (dry.purged_messages, dry.purged_sessions) == (2, 1)
    assert list(manager.store.holds(sid)) == ["share:1"]  # a dry run changes nothing
    manager.sweep()
    assert manager.get(sid) is None
