"""Manager: the lifecycle rules of sessions, over a MessageStore.

A port of the Go ``session.Manager``. The store is the single source of truth:
the manager keeps no session state of its own, so any number of processes can
share one database.
"""

from __future__ import annotations

import builtins
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from .store import AppendGuard, AppendOutcome, MessageStore
from .sweeper import Sweeper
from .types import (
    UNFINISHED_STATUSES,
    Config,
    Message,
    Session,
    Status,
    SweepResult,
    check_json,
    check_session_id,
    utcnow,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: Sentinel for "expires_at not given": the default timeout applies.
DEFAULT_EXPIRY: Any = object()


class Manager:
    """Creates, changes, lists and sweeps sessions by the rules of DESIGN.md section 2.

    ``store`` None means a private in-memory store (the same code path).
    ``clock`` returns the current aware UTC time; tests inject one to move time.
    """

    def __init__(
        self,
        config: Config | None = None,
        store: MessageStore | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.config = config or Config()
        self.store = store if store is not None else MessageStore(":memory:")
        self.clock: Clock = clock or utcnow
        self.started_at = self.clock()
        self._sweeper: Sweeper[SweepResult] | None = None
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def _sliding(self) -> timedelta | None:
        return self.config.timeout if self.config.sliding_expiry else None

    # -- create and read --------------------------------------------------------

    def create(
        self,
        request: str | None = None,
        context: dict[str, Any] | None = None,
        *,
        id: str | None = None,
        expires_at: datetime | None = DEFAULT_EXPIRY,
        status: Status = Status.PENDING,
        created_at: datetime | None = None,
    ) -> Session:
        """Create a pending session; ``expires_at`` defaults to now + timeout,
        None means never. Raises ``DuplicateSessionError`` for a taken id."""
        now = self.clock()
        if context is not None and not isinstance(context, dict):
            raise ValueError("session context must be a JSON object")
        check_json(context or {}, "session context")
        if id is not None:
            check_session_id(id)
        created = created_at or now
        session = Session(
            id=id or str(uuid.uuid4()),
            status=Status(status),
            request=request or "",
            created_at=created,
            last_activity=created,
            expires_at=created + self.config.timeout
            if expires_at is DEFAULT_EXPIRY
            else expires_at,
            context=dict(context or {}),
        )
        self.store.create_session(session)
        return session

    def get(self, id: str) -> Session | None:
        """The current snapshot of a session, without messages; None if unknown."""
        return self.store.get_session(id)

    def get_or_load(self, id: str) -> Session | None:
        """The session with its messages loaded; None if unknown."""
        session = self.store.get_session(id)
        if session is not None:
            session.messages = self.store.get_messages(id)
        return session

    def list(self, status: Status | str | None = None, limit: int | None = None) -> list[Session]:
        """Sessions, newest ``last_activity`` first."""
        return self.store.list_sessions(status=status, limit=limit)

    # -- change -----------------------------------------------------------------

    def update(self, id: str, fn: Callable[[Session], None]) -> bool:
        """Let ``fn`` change a snapshot and save it atomically; False if unknown."""
        return (
            self.store.update_session(id, fn, now=self.clock(), sliding_timeout=self._sliding)
            is not None
        )

    def _transition(self, id: str, **values: Any) -> bool:
        return self.store.change_session(
            id, values, now=self.clock(), sliding_timeout=self._sliding, guard="open"
        )

    def set_running(self, id: str) -> bool:
        """Mark running; False if unknown, terminal or past its expiry."""
        return self._transition(id, status=Status.RUNNING)

    def set_completed(self, id: str, response: str) -> bool:
        """Mark completed with the agent's response; False if unknown, terminal or past expiry."""
        return self._transition(id, status=Status.COMPLETED, response=response or "")

    def set_failed(self, id: str, error: str) -> bool:
        """Mark failed with an error; False if unknown, terminal or past expiry."""
        return self._transition(id, status=Status.FAILED, error=error or "")

    def set_request(self, id: str, request: str) -> bool:
        """Replace the request text; False if unknown."""
        return self.store.change_session(
            id,
            {"request": request or ""},
            now=self.clock(),
            sliding_timeout=self._sliding,
            guard=None,
        )

    def get_request(self, id: str) -> str | None:
        """The request text, or None if unknown."""
        session = self.store.get_session(id)
        return session.request if session is not None else None

    def set_context(self, id: str, key: str, value: Any) -> bool:
        """Set one context value (JSON-serialisable, else ValueError); False if unknown."""
        return self.store.set_context_value(
            id, key, value, now=self.clock(), sliding_timeout=self._sliding
        )

    def get_context(self, id: str, key: str, default: Any = None) -> Any:
        """One context value, or ``default`` when the session or the key is missing."""
        session = self.store.get_session(id)
        if session is None:
            return default
        return session.context.get(key, default)

    def set_expiry(self, id: str, expires_at: datetime | None) -> bool:
        """Move the expiry (None = never expires); False if unknown or terminal.
        An admin's change: ``last_activity`` stays."""
        return self.store.change_session(
            id, {"expires_at": expires_at}, now=self.clock(), guard="live", touch=False
        )

    def set_keep(self, id: str, keep: bool) -> bool:
        """Exempt a session from (or return it to) retention purging; False if unknown.
        A reviewer's change: ``last_activity`` stays."""
        return self.store.change_session(
            id, {"keep": bool(keep)}, now=self.clock(), guard=None, touch=False
        )

    def hold(self, id: str, holder: str, until: datetime) -> bool:
        """Keep a session from retention until ``until`` for ``holder`` (a share
        link, say), replacing that holder's hold; False if unknown."""
        return self.store.set_hold(id, holder, until)

    def release(self, id: str, holder: str) -> bool:
        """End ``holder``'s hold on a session; False if it had none."""
        return self.store.clear_hold(id, holder)

    # -- messages ---------------------------------------------------------------

    def append_message(self, id: str, msg: Message) -> bool:
        """Persist one message before returning True; False if unknown, terminal or
        past expiry. A message that cannot be stored raises ``ValueError``."""
        return self.append_messages(id, [msg]).status == "appended"

    def append_messages(
        self,
        id: str,
        messages: Sequence[Message],
        *,
        idempotency_key: str | None = None,
        runner: str | None = None,
        guard: AppendGuard | None = None,
        checked: bool = False,
    ) -> AppendOutcome:
        """Append messages as one transaction (all or nothing) by the rules of
        :meth:`append_message`; a repeated ``idempotency_key`` appends nothing.
        Their usage is counted for ``runner`` (e.g. the API token's name) when
        given, else for the session context's ``runner``. ``guard`` and
        ``checked``: see :meth:`MessageStore.append_messages`."""
        return self.store.append_messages(
            id,
            messages,
            now=self.clock(),
            sliding_timeout=self._sliding,
            idempotency_key=idempotency_key,
            runner=runner,
            guard=guard,
            checked=checked,
        )

    def get_messages(self, id: str) -> builtins.list[Message] | None:
        """The session's messages in order, or None if the session is unknown."""
        if self.store.get_session(id) is None:
            return None
        return self.store.get_messages(id)

    # -- end ----------------------------------------------------------------------

    def close(self, id: str) -> bool:
        """Mark closed and keep the data; False if unknown or already terminal."""
        return self.store.change_session(
            id, {"status": Status.CLOSED}, now=self.clock(), guard="live"
        )

    def delete(self, id: str) -> bool:
        """Remove the session and its messages; False if unknown."""
        return self.store.delete_session(id)

    def clear(self) -> int:
        """Remove every session and message; return how many sessions there were."""
        return self.store.clear_all_sessions()

    # -- numbers --------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """How many sessions there are in each status present."""
        return self.store.count_by_status()

    def get_stats(self) -> dict[str, Any]:
        """Totals per status, ``active`` (= running), what was created per status in
        the last 24 hours, and this manager's uptime."""
        now = self.clock()
        counts = self.store.count_by_status()
        stats: dict[str, Any] = {"total": sum(counts.values())}
        for status in Status:
            stats[status.value] = counts.get(status.value, 0)
        stats["active"] = stats[Status.RUNNING.value]
        stats["recent_actions"] = self.store.count_by_status(
            created_since=now - timedelta(hours=24)
        )
        stats["uptime"] = format_uptime(now - self.started_at)
        return stats

    # -- expiry and retention ----------------------------------------------------------

    def sweep(self, now: datetime | None = None, *, dry_run: bool = False) -> SweepResult:
        """One expiry and retention pass at ``now``; with ``dry_run`` count only.

        The pass is recorded in the purge log by the caller that owns the trigger
        (see :meth:`sweep_and_record`)."""
        now = now or self.clock()
        store = self.store
        result = SweepResult(ran_at=now, dry_run=dry_run)
        batch = self.config.sweep_batch_size
        retention = self.config.message_retention
        if retention > timedelta(0):
            result.message_cutoff = result.session_cutoff = now - retention
        if dry_run:
            result.expired_sessions = store.count_expire_due(now)
            if result.message_cutoff is not None:
                cutoff = result.message_cutoff
                result.purged_messages = store.count_purgeable_messages(cutoff, now=now)
                result.purged_sessions = store.count_purgeable_sessions(cutoff, now=now)
            return result
        result.expired_sessions = store.expire_due(now, batch_size=batch)
        if result.message_cutoff is not None:
            result.purged_messages = store.purge_older_than(
                result.message_cutoff, batch_size=batch, now=now
            )
            result.purged_sessions = store.purge_sessions_older_than(
                result.message_cutoff, batch_size=batch, now=now
            )
        store.end_holds(now)  # only tidying: a hold past ``now`` keeps nothing already
        store.fold_rollups()
        return result

    def sweep_and_record(
        self, now: datetime | None = None, *, trigger: str, holder: str = ""
    ) -> SweepResult:
        """Run :meth:`sweep` and append what it did to the purge log."""
        result = self.sweep(now)
        self.store.record_sweep(result, trigger=trigger, holder=holder)
        log.info("sweep (%s): %s", trigger, result.describe())
        return result

    def make_sweeper(self, holder: str | None = None) -> Sweeper[SweepResult]:
        """A sweep loop over this manager's store, clock and interval, not started;
        each pass it wins runs :meth:`sweep_and_record` (trigger ``sweeper``)."""

        def sweep(now: datetime, holder: str) -> SweepResult:
            return self.sweep_and_record(now, trigger="sweeper", holder=holder)

        return Sweeper(
            self.store,
            sweep,
            interval=self.config.sweep_interval,
            clock=self.clock,
            holder=holder,
        )

    def start_sweeper(self, holder: str | None = None) -> Sweeper[SweepResult]:
        """Start the background sweep loop in this process (once); return it."""
        with self._lock:
            if self._sweeper is None:
                self._sweeper = self.make_sweeper(holder)
                self._sweeper.start()
            return self._sweeper

    def stop(self) -> None:
        """Stop the sweeper and close the store; calling twice is harmless."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._sweeper is not None:
                self._sweeper.stop()
                self._sweeper = None
        self.store.close()


def format_uptime(delta: timedelta) -> str:
    """``1d 2h 3m 4s``-style text, as Go's Duration.String would read to a person."""
    seconds = max(int(delta.total_seconds()), 0)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{seconds}s")
    return " ".join(parts)


__all__ = ["DEFAULT_EXPIRY", "UNFINISHED_STATUSES", "Manager", "format_uptime"]
