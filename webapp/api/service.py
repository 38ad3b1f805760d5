"""What the API's writes do, over the Manager: each is one transaction.

A PATCH that sets a status and other fields must not half-apply, and the
Manager's ``set_running``/``set_completed``/``set_failed``/``close`` each commit
on their own. So a PATCH is one ``Manager.update`` whose function checks, under
the row lock, the same rule those methods apply in their guarded UPDATE:
``closed`` needs a session that is not terminal; every other change needs one
that still accepts changes (not terminal, not past ``expires_at``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from webapp.api.payloads import UNSET, SessionPatch
from webapp.sessions import AppendGuard, AppendOutcome, Manager, Message, Session, Status

log = logging.getLogger(__name__)


class SessionRefused(Exception):
    """The session is terminal or past its expiry: it takes no such change."""

    def __init__(self, session: Session, wanted: str) -> None:
        self.session = session
        super().__init__(
            f"session {session.id!r} is {session.status}"
            + ("" if session.is_terminal else " and past its expiry")
            + f": it takes no {wanted}"
        )


def patch_session(manager: Manager, session_id: str, patch: SessionPatch) -> Session | None:
    """Apply ``patch`` atomically; the session as saved, None if unknown, or
    ``SessionRefused`` (nothing written) when the session takes no change."""
    now = manager.clock()
    saved: list[Session] = []

    def change(session: Session) -> None:
        if patch.status is Status.CLOSED:
            if session.is_terminal:
                raise SessionRefused(session, "close")
        elif not session.accepts_changes(now):
            raise SessionRefused(session, "change")
        if patch.status is not None:
            session.status = patch.status
        for name in ("response", "error", "request"):
            value = getattr(patch, name)
            if value is not UNSET:
                setattr(session, name, value)
        if patch.context is not None:
            session.context.update(patch.context)
        saved.append(session)

    if not manager.update(session_id, change):
        return None
    # Manager.update answers only True/False: read the saved row back (its
    # last_activity and expiry are the store's); a delete racing in leaves the snapshot.
    return manager.get(session_id) or saved[0]


def append_messages(
    manager: Manager,
    session_id: str,
    messages: Sequence[Message],
    idempotency_key: str | None,
    runner: str | None = None,
    guard: AppendGuard | None = None,
) -> AppendOutcome:
    """Append as one transaction, their usage counted for ``runner`` (the token's
    name), if ``guard`` holds (the token is still live). The messages were checked
    by the API's schemas. A racing twin with the same idempotency key makes this
    one a replay; two racing with one ``source_key`` can both pass the check
    before either commits: the loser's unique-key error rolls it back whole, and
    trying once more skips the winner's message."""

    def append() -> AppendOutcome:
        return manager.append_messages(
            session_id,
            messages,
            idempotency_key=idempotency_key,
            runner=runner,
            guard=guard,
            checked=True,
        )

    try:
        return append()
    except IntegrityError:
        log.info("append to %s raced another with the same key; trying again", session_id)
        return append()
