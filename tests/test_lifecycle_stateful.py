"""A hypothesis state machine over the Manager with an injected clock.

A plain-Python model predicts every answer; the invariants check that terminal
states stay terminal, expired sessions take no message, purging never deletes a
message newer than the retention window, and message counts always match.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from tests.conftest import FakeClock
from webapp.sessions import Config, Manager, Message, MessageStore, Status
from webapp.sessions.schema import upgrade_schema
from webapp.sessions.store import make_engine

CONFIG = Config(timeout=timedelta(minutes=30), message_retention=timedelta(days=1))
TERMINAL = {Status.EXPIRED, Status.CLOSED}
_TEMPLATE: list[Path] = []


def _fresh_database() -> tuple[str, Path]:
    """A copy of a migrated SQLite file (migrating once per process, not per example)."""
    if not _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="sb-stateful-"))
        engine = make_engine(folder / "template.db")
        upgrade_schema(engine)
        engine.dispose()
        _TEMPLATE.append(folder / "template.db")
    folder = Path(tempfile.mkdtemp(prefix="sb-stateful-"))
    shutil.copyfile(_TEMPLATE[0], folder / "db.sqlite")
    return str(folder / "db.sqlite"), folder


@dataclass
class Model:
    status: Status
    expires_at: datetime | None
    last_activity: datetime
    keep: bool = False
    messages: list[datetime] = field(default_factory=list)


class Lifecycle(RuleBasedStateMachine):
    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        path, self.folder = _fresh_database()
        self.manager = Manager(CONFIG, MessageStore(path, migrate=False), clock=self.clock)
        self.model: dict[str, Model] = {}
        self.ever_terminal: set[str] = set()
        self.last_cutoff: datetime | None = None

    def teardown(self) -> None:
        self.manager.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _open(self, sid: str) -> bool:
        m = self.model.get(sid)
        now = self.clock()
        return (
            m is not None
            and m.status not in TERMINAL
            and (m.expires_at is None or m.expires_at > now)
        )

    @initialize(target=sessions)
    def first_session(self) -> str:
        return self.create(expiring=True)

    @rule(target=sessions, expiring=st.booleans())
    def create(self, expiring: bool) -> str:
        kw = {} if expiring else {"expires_at": None}
        s = self.manager.create("q", **kw)
        now = self.clock()
        self.model[s.id] = Model(Status.PENDING, s.expires_at, now)
        return s.id

    def _change(self, sid: str, new_status: Status, ok: bool) -> None:
        """Check the Manager's answer (taken before the model moves) and apply it."""
        assert ok == self._open(sid)
        if ok:
            self.model[sid].status = new_status
            self.model[sid].last_activity = self.clock()

    @rule(sid=sessions)
    def set_running(self, sid: str) -> None:
        self._change(sid, Status.RUNNING, self.manager.set_running(sid))

    @rule(sid=sessions)
    def set_completed(self, sid: str) -> None:
        self._change(sid, Status.COMPLETED, self.manager.set_completed(sid, "done"))

    @rule(sid=sessions)
    def set_failed(self, sid: str) -> None:
        self._change(sid, Status.FAILED, self.manager.set_failed(sid, "boom"))

    @rule(sid=sessions)
    def close(self, sid: str) -> None:
        m = self.model.get(sid)
        expected = m is not None and m.status not in TERMINAL
        assert self.manager.close(sid) == expected
        if expected:
            m.status = Status.CLOSED
            m.last_activity = self.clock()

    @rule(sid=sessions, age=st.sampled_from([0, 5, 60 * 30, 60 * 60 * 30]))
    def append(self, sid: str, age: int) -> None:
        expected = self._open(sid)
        ts = self.clock() - timedelta(seconds=age)
        ok = self.manager.append_message(sid, Message("user", "x", timestamp=ts))
        assert ok == expected
        if ok:
            self.model[sid].messages.append(ts)
            self.model[sid].last_activity = self.clock()

    @rule(sid=sessions, keep=st.booleans())
    def keep(self, sid: str, keep: bool) -> None:
        assert self.manager.set_keep(sid, keep) == (sid in self.model)
        if sid in self.model:
            self.model[sid].keep = keep  # a reviewer's mark: not the agent's activity

    @rule(sid=consumes(sessions))
    def delete(self, sid: str) -> None:
        assert self.manager.delete(sid) == (sid in self.model)
        self.model.pop(sid, None)

    @rule(minutes=st.sampled_from([1, 31, 60 * 25]))
    def advance(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    @precondition(lambda self: bool(self.model))
    @rule()
    def sweep(self) -> None:
        now = self.clock()
        cutoff = now - CONFIG.message_retention
        result = self.manager.sweep()
        expired = purged_messages = 0
        for m in self.model.values():
            due = m.expires_at is not None and m.expires_at <= now
            if m.status in (Status.PENDING, Status.RUNNING) and due:
                m.status = Status.EXPIRED
                expired += 1
        for m in self.model.values():
            if not m.keep:
                kept = [t for t in m.messages if t >= cutoff]
                purged_messages += len(m.messages) - len(kept)
                m.messages = kept
        gone = [
            sid
            for sid, m in self.model.items()
            if m.last_activity < cutoff
            and m.status is not Status.RUNNING
            and m.expires_at is not None
            and not m.keep
        ]
        for sid in gone:
            del self.model[sid]
        assert result.expired_sessions == expired
        assert result.purged_messages == purged_messages
        assert result.purged_sessions == len(gone)
        self.last_cutoff = cutoff

    @invariant()
    def matches_model(self) -> None:
        stored = {s.id: s for s in self.manager.list()}
        assert set(stored) == set(self.model)
        for sid, m in self.model.items():
            s = stored[sid]
            assert s.status is m.status
            if sid in self.ever_terminal:
                assert s.status in TERMINAL, "a terminal session left its terminal state"
            if s.status in TERMINAL:
                self.ever_terminal.add(sid)
            messages = self.manager.get_messages(sid)
            assert s.message_count == len(messages) == len(m.messages)
            assert sorted(msg.timestamp for msg in messages) == sorted(m.messages)


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
