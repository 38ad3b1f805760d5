"""The search index's pending documents, indexed in the background: off the
append path, as :mod:`webapp.prerender` renders messages.

On SQLite FTS5 holds the documents up to a watermark and a search scans the
ones above it (see :mod:`webapp.sessions.search_index`), so a search is exact
whether or not they are indexed yet. An append only adds its documents to
``search_docs``; this pass, in each serving process, one at a time through a
lease (the sweeper's, under its own name), adds the documents above the
watermark to FTS5, :data:`~webapp.sessions.search_index.FTS_FLUSH_BATCH` per
short transaction, until none is left. Backpressure: a writer that commits with
more than ``SEARCH_TAIL_LIMIT`` documents above the watermark indexes them
itself (:func:`~webapp.sessions.search_index.keep_fts_current`), so a search
never scans more than that however far this pass falls behind or when no server
runs it (a CLI import). A crash between an append and the pass loses nothing:
the documents stay above the watermark, and the next pass indexes them.

On PostgreSQL (round 5) the same: a new text waits outside the trigram
index (``search_docs.unindexed``), searches check the waiting texts one by
one, and this pass moves them into the index,
:data:`~webapp.sessions.search_index.FTS_FLUSH_BATCH` per transaction, then
empties the GIN index's own pending list (``gin_clean_pending_list``): the
pass is the index's only writer but for a writer past the bound.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from webapp.sessions import MessageStore, search_index
from webapp.sessions.sweeper import Sweeper
from webapp.sessions.types import utcnow

log = logging.getLogger(__name__)

#: The lease's name (one process indexes at a time).
LEASE = "search-index"
#: How often a pass is due; a pass indexes for at most this long. Short: on
#: PostgreSQL a writer that fills the GIN pending list past its 4 MB cleans it
#: itself (the merge is about a third of the GIN index's cost: docs/search.md).
INTERVAL = timedelta(seconds=5)
#: While writes keep coming, how often a pass looks for new texts, and how long
#: it goes on looking after the last it found (within its interval): a stream
#: of appends is indexed here as it comes, off the writers' path, instead of by
#: the writers themselves each time ``SEARCH_TAIL_LIMIT`` texts wait between
#: two passes (docs/search.md, round 8).
POLL = timedelta(milliseconds=200)
QUIET = timedelta(seconds=1)


@dataclass
class FlushPass:
    """What a pass did: texts moved into the index (FTS5 on SQLite, the
    trigram index on PostgreSQL), and GIN pending-list pages merged into the
    index (PostgreSQL)."""

    indexed: int = 0
    pending_pages: int = 0


class SearchFlusher:
    """Indexes the texts a search would otherwise check one by one, and empties
    the GIN index's pending list (PostgreSQL)."""

    def __init__(self, store: MessageStore, *, batch: int = search_index.FTS_FLUSH_BATCH) -> None:
        self.store = store
        self.batch = batch
        self._lock = threading.Lock()

    def run_pass(self, budget: timedelta | None = None) -> FlushPass:
        """Index batches until a batch is not full (or ``budget`` is spent):
        what is left then came in meanwhile. Going on while any came in indexed
        a stream of single appends one text a write, each with its checkpoint,
        and halved their rate (round 8); :meth:`follow` takes them every
        ``POLL`` instead."""
        done = FlushPass()
        deadline = None if budget is None else time.monotonic() + budget.total_seconds()
        with self._lock:
            while deadline is None or time.monotonic() < deadline:
                with self.store.write(durable=False) as conn:
                    added = search_index.flush_fts(conn, limit=self.batch)
                self.store.checkpoint()  # outside the write lock (Database.checkpoint)
                done.indexed += added
                if added < self.batch:
                    break
            if self.store.dialect == "postgresql":
                # Redone by the next pass if lost: no fsync of its own.
                with self.store.write(durable=False) as conn:
                    done.pending_pages = search_index.clean_pending(conn)
        return done

    def follow(
        self, window: timedelta, *, poll: timedelta = POLL, quiet: timedelta = QUIET
    ) -> FlushPass:
        """Index what waits; then, if there was any, what keeps coming in the
        rest of ``window``: a look every ``poll`` (a read: a look that finds
        nothing takes no write lock), until ``quiet`` has passed with nothing
        new. An idle pass returns at once."""
        deadline = time.monotonic() + window.total_seconds()
        done = self.run_pass(window)
        last_found = time.monotonic() if done.indexed else -math.inf
        while (now := time.monotonic()) - last_found < quiet.total_seconds():
            if now + poll.total_seconds() >= deadline:
                break
            time.sleep(poll.total_seconds())
            with self.store.read() as conn:
                waiting = search_index.fts_tail(conn)
            if not waiting:
                continue
            more = self.run_pass(timedelta(seconds=max(deadline - time.monotonic(), 0)))
            done.indexed += more.indexed
            done.pending_pages += more.pending_pages
            if more.indexed:
                last_found = time.monotonic()
        return done

    def sweep(self, _now: datetime, _holder: str) -> FlushPass:
        """One pass as the lease's holder runs it (at most an interval long),
        following a stream of writes (:meth:`follow`)."""
        done = self.follow(INTERVAL)
        if done.indexed or done.pending_pages:
            log.info(
                "search index: %d texts indexed, %d pending pages cleaned",
                done.indexed,
                done.pending_pages,
            )
        return done

    def make_loop(
        self, holder: str | None = None, interval: timedelta = INTERVAL
    ) -> Sweeper[FlushPass]:
        """The background loop (not started): one process per interval indexes."""
        return Sweeper(
            self.store, self.sweep, interval=interval, clock=utcnow, holder=holder, name=LEASE
        )


__all__ = ["INTERVAL", "LEASE", "POLL", "QUIET", "FlushPass", "SearchFlusher"]
