"""The import's bulk write of new sessions: a batch's new transcript sessions and
their messages gathered, then written by a few set-based statements
(``MessageStore.bulk_load``: one ``executemany`` for the sessions, one for all
their messages, one for their usage entries and the totals summed once)
instead of the statements of ``create_session`` and ``append_messages`` per
session, each in its own savepoint.

What it writes is what those two write for a session not stored yet: its row
with ``message_count`` and ``last_activity`` as an append leaves them, the
messages checked as an append checks them (their usage) and each ``source_key``
once (the first), and their usage counted for the session's context.
"""

from __future__ import annotations

from typing import Any

from webapp.sessions import (
    Message,
    MessageStore,
    Session,
    first_of_each_key,
    message_values,
    session_values,
)
from webapp.sessions.usage import Labels, UsageEntry


class NewSessions:
    """New sessions waiting for :meth:`write`, in the order they were added."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store
        self._sessions: list[dict[str, Any]] = []
        self._messages: list[dict[str, Any]] = []
        self._usage: list[UsageEntry] = []
        self._ids: set[str] = set()

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._ids

    def add(self, session: Session, messages: list[Message]) -> int:
        """Take a session that is not stored (nor waiting here) and its messages;
        return how many of them it adds (each ``source_key`` once)."""
        rows = message_values(session.id, messages, session.last_activity, checked=True)
        fresh = first_of_each_key(rows)
        self._sessions.append({**session_values(session), "message_count": len(fresh)})
        self._ids.add(session.id)
        self._messages += fresh
        self._usage += self.store.usage_entries(session.id, fresh, Labels.of(session.context))
        return len(fresh)

    def write(self) -> None:
        """Write the waiting sessions (in the open write's transaction, if any)."""
        if not self._sessions:
            return
        sessions, messages = map(self.store.bulk_rows, (self._sessions, self._messages))
        self.store.bulk_load(sessions, messages, self._usage)
        self._sessions, self._messages, self._usage = [], [], []
        self._ids.clear()
