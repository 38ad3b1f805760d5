"""The messages' HTML, rendered once, in the background: a transcript page reads
it with its messages instead of rendering their markdown.

A message never changes once written, so the HTML of its text (what
:func:`webapp.rendering.render_markdown` makes of the content a transcript reads,
cut at ``TRUNCATE_CHARS``; a subagent's report cleaned as tool output: see
:func:`webapp.transcript.model.markdown_text`) can be kept: ``message_html``, under the renderer's
:data:`~webapp.rendering.VERSION` and the text's digest. Appends do not render
(they stay as fast as they were): a pass in each serving process, one at a time
through a lease (the sweeper's, under its own name), renders the messages that
have no HTML of this version, in id order, and stores it. A message read before
the pass reached it is rendered as before (and kept in the process's cache).

A new renderer version makes every stored HTML stale: reads ignore it and the
pass renders those messages again; ``sessionboard render`` does it at once (and
``--drop`` removes what another version left).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from webapp import rendering
from webapp.sessions import MessageStore
from webapp.sessions.sweeper import Sweeper
from webapp.sessions.transcripts import TRUNCATE_CHARS
from webapp.sessions.types import utcnow
from webapp.transcript.model import markdown_text

log = logging.getLogger(__name__)

#: The lease's name (one process renders at a time).
LEASE = "renderer"
#: How often a pass is due; a pass renders for at most this long.
INTERVAL = timedelta(seconds=10)
#: Messages read, rendered and stored per batch (one short write each).
BATCH = 100


@dataclass
class RenderPass:
    """What a pass did: messages rendered and stored, and the last id it looked at."""

    rendered: int = 0
    after: int = 0


class Prerenderer:
    """Renders messages without stored HTML of ``version``. Remembers how far it
    got (``after``), so a pass reads only newer messages; a message committed
    late below that mark (concurrent appends on PostgreSQL) is rendered when it
    is read, and by the next process's first pass."""

    def __init__(
        self, store: MessageStore, *, version: str = rendering.VERSION, batch: int = BATCH
    ) -> None:
        self.store = store
        self.version = version
        self.batch = batch
        self.after = 0
        self._lock = threading.Lock()

    def run_pass(self, budget: timedelta | None = None) -> RenderPass:
        """Render and store batches until none is left (or ``budget`` is spent)."""
        done = RenderPass(after=self.after)
        deadline = None if budget is None else time.monotonic() + budget.total_seconds()
        with self._lock:
            while deadline is None or time.monotonic() < deadline:
                todo = self.store.unrendered(
                    self.version, after=self.after, limit=self.batch, truncate=TRUNCATE_CHARS
                )
                if not todo:
                    break
                made = [
                    (i, *rendering.render_to_store(markdown_text(text, meta)))
                    for i, text, meta in todo
                ]
                done.rendered += self.store.save_renders(self.version, made)
                self.after = done.after = todo[-1][0]
        return done

    def sweep(self, _now: datetime, _holder: str) -> RenderPass:
        """One pass as the lease's holder runs it (at most an interval long)."""
        done = self.run_pass(INTERVAL)
        if done.rendered:
            log.info("rendered %d messages (up to id %d)", done.rendered, done.after)
        return done

    def make_loop(self, holder: str | None = None) -> Sweeper[RenderPass]:
        """The background loop (not started): one process per interval renders."""
        return Sweeper(
            self.store, self.sweep, interval=INTERVAL, clock=utcnow, holder=holder, name=LEASE
        )


__all__ = ["BATCH", "INTERVAL", "LEASE", "Prerenderer", "RenderPass"]
