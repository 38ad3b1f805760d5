"""Sending webhooks: the payload, its signature, one POST, and the dispatcher
thread that takes due deliveries from the database and retries with backoff.

No Flask here: the dispatcher gets the database, a session lookup and its
settings from whoever starts it (``webapp.webhooks.init_app``), and runs in a
background thread of each serving process, beside the sweeper.

Once per event across processes: a dispatcher *claims* due deliveries with one
conditional UPDATE that sets its name (``holder``) and a lease deadline
(``lease_until``) on rows that are pending and not leased (on PostgreSQL the
candidate rows are also locked ``FOR UPDATE SKIP LOCKED``, so two dispatchers
take different rows rather than waiting on each other). Only the holder records
the outcome. The POST happens after the claim commits, outside any transaction,
so a slow receiver holds no lock and no API write waits for it. A process that
dies after claiming leaves its lease to lapse; another then sends the delivery
again (receivers deduplicate on the event id, sent in every attempt).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

from sqlalchemy import Table, delete, exists, or_, select, update

from webapp.claude.redact import redact
from webapp.sessions import Session
from webapp.sessions.engine import Database
from webapp.sessions.events import session_events_t
from webapp.sessions.sweeper import default_holder
from webapp.version import __version__
from webapp.webhooks.models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

webhooks_t = cast(Table, Webhook.__table__)
deliveries_t = cast(Table, WebhookDelivery.__table__)

SIGNATURE_HEADER = "Sessionboard-Signature"
#: Characters of a request or error in a payload (after redaction).
EXCERPT_CHARS = 300
#: Characters of a response body kept in the delivery log.
RESPONSE_EXCERPT_BYTES = 1024
#: How long the delivery log keeps a finished delivery, and the outbox an event
#: no delivery waits for.
LOG_KEEP = timedelta(days=30)
#: How often a dispatcher prunes them.
PRUNE_EVERY = timedelta(hours=1)
#: The longest wait between two attempts.
MAX_BACKOFF = timedelta(hours=6)
#: Event kinds as payload types.
TYPES = {
    "failed": "session.failed",
    "expired": "session.expired",
    "flagged": "session.flagged",
    "assigned": "session.assigned",
    "test": "test",
}
_TITLES = {
    "failed": "failed",
    "expired": "expired",
    "flagged": "was flagged",
    "assigned": "was assigned for review",
}


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Sessionboard-Signature`` header value: ``t=<unix>,v1=<hex HMAC-SHA256
    of "<unix>." + body under the secret>`` (Stripe's scheme)."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of ``text`` with secrets redacted (redacted before it is cut, so
    a cut never leaves the part of a secret the redactor would not recognise)."""
    redacted = redact(text[: limit * 8])
    return redacted if len(redacted) <= limit else redacted[: limit - 1] + "…"


def session_url(base_url: str, session_id: str) -> str:
    """The absolute address of a session's page (a path when no base is known)."""
    return f"{base_url.rstrip('/')}/sessions/{quote(session_id, safe='')}"


@dataclass(frozen=True)
class Event:
    """An event as the outbox holds it."""

    id: int
    kind: str
    session_id: str | None
    at: datetime
    data: dict[str, Any]


def payload(event: Event, session: Session | None, base_url: str) -> dict[str, Any]:
    """The JSON a webhook receives: ``id``, ``type``, ``created_at``, the session
    (as it is when sent: id, status, redacted request and error excerpts, its
    page's address; ``deleted`` if it is gone) and the event's ``data``."""
    about: dict[str, Any] | None = None
    if event.session_id is not None:
        about = {"id": event.session_id, "url": session_url(base_url, event.session_id)}
        if session is None:
            about["deleted"] = True
        else:
            about |= {
                "status": str(session.status),
                "request": excerpt(session.request or ""),
                "error": excerpt(session.error or ""),
            }
    return {
        "id": f"evt_{event.id}",
        "type": TYPES[event.kind],
        "created_at": event.at.isoformat(),
        "session": about,
        "data": event.data,
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(body: dict[str, Any]) -> dict[str, Any]:
    """The Slack-compatible form of :func:`payload`: ``{"text": ...}`` with a link."""
    session = body["session"]
    if session is None:
        return {"text": "Sessionboard: a test event. This webhook works."}
    title = _TITLES.get(body["type"].split(".", 1)[-1], body["type"])
    link = f"<{session['url']}|{_slack_escape(session['id'][:8])}>"
    lines = [f"Session {link} {title}."]
    for label in ("request", "error"):
        if session.get(label):
            lines.append(f"*{label.title()}:* {_slack_escape(session[label])}")
    reason = body["data"].get("reason")
    if isinstance(reason, str) and reason:
        lines.append(f"*Reason:* {_slack_escape(excerpt(reason))}")
    return {"text": "\n".join(lines)}


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an HTTP status (None: no answer), the start of the
    body, the error when there was no answer, how long it took."""

    status: int | None
    response: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a hop: the delivery fails and is logged."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


#: No redirects, and no proxy from the environment: a receiver is reached directly.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _clean(text: str) -> str:
    # PostgreSQL's text takes no NUL.
    return text.replace("\x00", "\ufffd")


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    """POST ``body`` to ``url`` and wait at most ``timeout`` seconds (to connect,
    and between bytes of the answer)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    started = time.monotonic()
    status: int | None = None
    text = error = ""
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = response.status
            text = response.read(RESPONSE_EXCERPT_BYTES).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            text = exc.read(RESPONSE_EXCERPT_BYTES).decode("utf-8", "replace")
        except OSError:
            text = ""
        exc.close()
    except (OSError, ValueError) as exc:  # refused, timed out, unreachable, bad URL
        reason = getattr(exc, "reason", None) or exc
        error = f"{type(exc).__name__}: {reason}"[:500]
    duration = round((time.monotonic() - started) * 1000)
    return Outcome(status, _clean(text), _clean(error), duration)


def backoff(attempts: int, base: timedelta) -> timedelta:
    """The wait after ``attempts`` failed attempts: ``base`` doubled each time, at
    most :data:`MAX_BACKOFF`, and between half and all of it (jitter, so that
    deliveries that failed together do not all come back at once)."""
    delay: timedelta = min(base * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    jitter: float = secrets.SystemRandom().uniform(0.5, 1.0)
    return delay * jitter


@dataclass(frozen=True)
class DispatchSettings:
    """How the dispatcher sends: its timeout, attempts, backoff, polling, links."""

    timeout: timedelta = timedelta(seconds=5)
    max_attempts: int = 8
    retry_base: timedelta = timedelta(seconds=30)
    poll_interval: timedelta = timedelta(seconds=2)
    base_url: str = ""
    #: Deliveries claimed per tick, and sent side by side.
    batch: int = 8
    senders: int = 4

    @property
    def lease(self) -> timedelta:
        """How long a claim holds: every batch's POSTs at their timeout, and a margin."""
        rounds = -(-self.batch // self.senders)
        return self.timeout * (rounds + 1) + timedelta(seconds=30)


@dataclass(frozen=True)
class Claimed:
    """A delivery this dispatcher holds, with its event and webhook."""

    id: int
    attempts: int
    event: Event
    url: str
    secret: str
    format: str
    base_url: str


class Dispatcher:
    """Takes due deliveries, sends them, records the outcome; in a thread that
    wakes every ``poll_interval`` (or at once on :meth:`wake`)."""

    def __init__(
        self,
        database: Database,
        lookup: Callable[[str], Session | None],
        settings: DispatchSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        holder: str | None = None,
    ) -> None:
        self.database = database
        self.lookup = lookup
        self.settings = settings
        self.clock = clock
        self.holder = holder or default_holder()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def claim(self, now: datetime) -> list[Claimed]:
        """Claim up to ``batch`` due deliveries of enabled webhooks (one transaction)."""
        d, w, e = deliveries_t.c, webhooks_t.c, session_events_t.c
        free = or_(d.lease_until.is_(None), d.lease_until <= now)
        due = (
            select(d.id)
            .join(webhooks_t, w.id == d.webhook_id)
            .where(d.state == "pending", free, w.enabled)
            .where(or_(d.next_at.is_(None), d.next_at <= now))
            .order_by(d.id)
            .limit(self.settings.batch)
        )
        if self.database.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True, of=deliveries_t)
        with self.database.write() as conn:
            taken = conn.execute(
                update(deliveries_t)
                .where(d.id.in_(due.scalar_subquery()), d.state == "pending", free)
                .values(
                    holder=self.holder,
                    lease_until=now + self.settings.lease,
                    attempts=d.attempts + 1,
                    last_attempt_at=now,
                )
                .returning(d.id)
            )
            ids = list(taken.scalars())
            if not ids:
                return []
            rows = conn.execute(
                select(
                    d.id,
                    d.attempts,
                    e.id.label("event_id"),
                    e.kind,
                    e.session_id,
                    e.at,
                    e.data,
                    w.url,
                    w.secret,
                    w.format,
                    w.base_url,
                )  # fmt: skip
                .join(webhooks_t, w.id == d.webhook_id)
                .join(session_events_t, e.id == d.event_id)
                .where(d.id.in_(ids))
                .order_by(d.id)
            )
            return [
                Claimed(
                    id=r.id,
                    attempts=r.attempts,
                    event=Event(r.event_id, r.kind, r.session_id, r.at, r.data or {}),
                    url=r.url,
                    secret=r.secret,
                    format=r.format,
                    base_url=r.base_url,
                )
                for r in rows
            ]

    def body(self, claimed: Claimed) -> bytes:
        """The JSON body of one delivery (the session read as it is now)."""
        event = claimed.event
        session = self.lookup(event.session_id) if event.session_id is not None else None
        content = payload(event, session, self.settings.base_url or claimed.base_url)
        if claimed.format == "slack":
            content = slack_payload(content)
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()

    def send(self, claimed: Claimed) -> Outcome:
        """Sign and POST one claimed delivery."""
        body = self.body(claimed)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Sessionboard-Webhooks/{__version__}",
            SIGNATURE_HEADER: sign(claimed.secret, body, int(time.time())),
            "Sessionboard-Event-Id": f"evt_{claimed.event.id}",
            "Sessionboard-Delivery-Id": str(claimed.id),
            "Sessionboard-Attempt": str(claimed.attempts),
        }
        return post(claimed.url, body, headers, self.settings.timeout.total_seconds())

    def record(self, claimed: Claimed, outcome: Outcome, now: datetime) -> bool:
        """Store the outcome if this dispatcher still holds the delivery: delivered,
        due again after a backoff, or given up after the last attempt."""
        d = deliveries_t.c
        if outcome.ok:
            state, next_at = "delivered", None
        elif claimed.attempts >= self.settings.max_attempts:
            state, next_at = "failed", None
        else:
            state = "pending"
            next_at = now + backoff(claimed.attempts, self.settings.retry_base)
        with self.database.write() as conn:
            done = conn.execute(
                update(deliveries_t)
                .where(d.id == claimed.id, d.holder == self.holder)
                .values(
                    state=state,
                    next_at=next_at,
                    holder=None,
                    lease_until=None,
                    last_status=outcome.status,
                    last_response=outcome.response,
                    last_error=outcome.error,
                    last_duration_ms=outcome.duration_ms,
                )
            )
        if not done.rowcount:
            log.warning("webhook delivery %s: lease lost before its outcome was kept", claimed.id)
        return bool(done.rowcount)

    def _deliver(self, claimed: Claimed) -> Outcome:
        try:
            outcome = self.send(claimed)
        except Exception as exc:  # a bug must not leave the delivery leased for good
            log.exception("webhook delivery %s could not be sent", claimed.id)
            outcome = Outcome(None, "", f"{type(exc).__name__}: {exc}"[:500], 0)
        if not outcome.ok:
            log.info(
                "webhook delivery %s to %s: attempt %s got %s",
                claimed.id, claimed.url, claimed.attempts, outcome.status or outcome.error,
            )  # fmt: skip
        self.record(claimed, outcome, self.clock())
        return outcome

    def tick(self, now: datetime | None = None) -> list[Outcome]:
        """Claim what is due and send it (side by side, at most ``senders`` at once)."""
        claimed = self.claim(now or self.clock())
        if not claimed:
            return []
        if len(claimed) == 1:
            return [self._deliver(claimed[0])]
        with ThreadPoolExecutor(min(self.settings.senders, len(claimed))) as pool:
            return list(pool.map(self._deliver, claimed))

    def prune(self, now: datetime) -> int:
        """Forget finished deliveries older than :data:`LOG_KEEP`, then the events
        that old with no delivery left (idempotent: any process may run it).
        Returns how many deliveries went."""
        d, e = deliveries_t.c, session_events_t.c
        cutoff = now - LOG_KEEP
        with self.database.write() as conn:
            gone = conn.execute(
                delete(deliveries_t).where(
                    d.state.in_(("delivered", "failed")), d.last_attempt_at < cutoff
                )
            ).rowcount
            conn.execute(
                delete(session_events_t).where(e.at < cutoff, ~exists().where(d.event_id == e.id))
            )
        return int(gone or 0)

    def run(self) -> None:
        """Loop until :meth:`stop`; a failing tick is logged and tried again.
        Prunes the log every :data:`PRUNE_EVERY`."""
        log.info("webhook dispatcher %s started", self.holder)
        next_prune = self.clock()
        while not self._stop.is_set():
            try:
                if self.clock() >= next_prune:
                    next_prune = self.clock() + PRUNE_EVERY
                    self.prune(self.clock())
                while self.tick() and not self._stop.is_set():
                    pass  # a full batch may leave more due at once
            except Exception:
                log.exception("webhook dispatch failed; retrying at the next tick")
            self._wake.wait(self.settings.poll_interval.total_seconds())
            self._wake.clear()

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Run the loop in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="sessionboard-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: timedelta = timedelta(seconds=10)) -> None:
        """Ask the loop to end and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout.total_seconds())
