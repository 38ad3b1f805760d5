"""The expiry and retention loop: one background thread per process, one sweeping
process per interval across all of them, through a lease in the database.

The loop knows the lease and the pass it runs, not who provides them: the
:class:`~webapp.sessions.manager.Manager` builds it (``make_sweeper``). Another
pass can run the same way under a lease of its own name (``webapp.prerender``'s,
which renders the messages' HTML).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from .types import SweepResult

log = logging.getLogger(__name__)


def default_holder() -> str:
    """A name for this process that is unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SweepLease(Protocol):
    """The lease that lets one process sweep per interval (a ``MessageStore`` is one)."""

    def claim_sweep(
        self,
        holder: str,
        *,
        now: datetime,
        interval: timedelta,
        lease_ttl: timedelta,
        name: str = "sweeper",
    ) -> bool:
        """Claim the next pass if it is due and the lease is ``holder``'s or free."""
        ...

    def renew_lease(
        self, holder: str, *, now: datetime, lease_ttl: timedelta, name: str = "sweeper"
    ) -> bool:
        """Extend the lease if ``holder`` has it."""
        ...

    def release_lease(self, holder: str, *, name: str = "sweeper") -> None:
        """Give the lease up."""
        ...


#: What a pass returns (the sweep's :class:`SweepResult`).
R = TypeVar("R")
#: One pass, run by the lease's winner: ``sweep(now, holder)`` sweeps and records it.
SweepPass = Callable[[datetime, str], SweepResult]


class Sweeper(Generic[R]):
    """Wakes a few times per interval, keeps the lease if it holds it, and sweeps
    when it wins the claim on the next due pass.

    The lease lapses ``lease_ttl`` (two intervals) after its holder last renewed:
    a holder that stalls for a moment keeps it, and when the holder dies another
    process takes over within about two intervals.
    """

    def __init__(
        self,
        lease: SweepLease,
        sweep: Callable[[datetime, str], R],
        *,
        interval: timedelta,
        clock: Callable[[], datetime],
        holder: str | None = None,
        name: str = "sweeper",
    ) -> None:
        self.name = name
        self.lease = lease
        self.sweep = sweep
        self.clock = clock
        self.holder = holder or default_holder()
        self.interval = interval
        self.lease_ttl = interval * 2
        self.tick_seconds = max(interval.total_seconds() / 4, 0.05)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: datetime | None = None) -> R | None:
        """One wake-up: renew the lease if held; sweep if this process wins the
        claim on a due pass. Returns the pass it ran, if any."""
        now = now or self.clock()
        self.lease.renew_lease(self.holder, now=now, lease_ttl=self.lease_ttl, name=self.name)
        if not self.lease.claim_sweep(
            self.holder,
            now=now,
            interval=self.interval,
            lease_ttl=self.lease_ttl,
            name=self.name,
        ):
            return None
        return self.sweep(now, self.holder)

    def run(self) -> None:
        """Loop until :meth:`stop`; a failing pass is logged and retried next tick."""
        log.info("%s %s started, interval %s", self.name, self.holder, self.interval)
        while not self._stop.is_set():
            ran = None
            try:
                ran = self.tick()
            except Exception:
                log.exception("%s pass failed; retrying at the next tick", self.name)
            if ran is None:
                # Right after a pass, look again at once: a pass that used its
                # whole interval (the search index's, following a stream of
                # writes) is due again, and waiting would leave a gap.
                self._stop.wait(self.tick_seconds)
        try:
            self.lease.release_lease(self.holder, name=self.name)
        except Exception:
            log.exception("could not release the %s lease", self.name)

    def start(self) -> None:
        """Run the loop in a daemon thread."""
        self._thread = threading.Thread(
            target=self.run, name=f"sessionboard-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: timedelta = timedelta(seconds=10)) -> None:
        """Ask the loop to end and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout.total_seconds())
