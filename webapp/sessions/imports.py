"""What importers need of the store beyond appends: which messages a session holds
already, late additions to stored messages' meta, and the links between subagent
sessions and their parents. None of it counts as activity."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import and_, select, update

from .rows import messages_t, sessions_t
from .usage import UsageLedger

#: Ids per ``IN (...)`` list: well under every engine's bound parameter limit.
ID_BATCH = 500


def _chunks(items: Sequence[Any], size: int = ID_BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ImportSupport(UsageLedger):
    """The importer's part of :class:`~webapp.sessions.store.MessageStore` (a
    message whose usage an import completes is restated in the usage ledger)."""

    def stored_source_keys(self, session_id: str, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` the session's stored messages carry."""
        m = messages_t.c
        found: set[str] = set()
        with self.read() as conn:
            for chunk in _chunks(list(keys)):
                query = select(m.source_key).where(
                    m.session_id == session_id, m.source_key.in_(chunk)
                )
                found.update(conn.execute(query).scalars())
        return found

    def merge_message_meta(self, session_id: str, updates: dict[str, dict[str, Any]]) -> int:
        """Merge keys into the ``meta`` of stored messages, by ``source_key``, in one
        transaction (their usage restated in the ledger); return how many changed."""
        m = messages_t.c
        changed = 0
        with self.write() as conn:
            for chunk in _chunks(list(updates)):
                rows = conn.execute(
                    select(m.id, m.meta, m.source_key, m.timestamp).where(
                        m.session_id == session_id, m.source_key.in_(chunk)
                    )
                ).all()
                for row in rows:
                    meta = {**(row.meta or {}), **updates[row.source_key]}
                    conn.execute(update(messages_t).where(m.id == row.id).values(meta=meta))
                    self.restate_usage(conn, session_id, row.source_key, row.timestamp, meta)
                    changed += 1
        return changed

    def add_context(self, session_id: str, values: dict[str, Any], *, replace: bool) -> bool:
        """Add ``values`` to a session's context (``replace``: over keys it has, else
        only missing keys), without touching its activity; True if it changed."""
        c = sessions_t.c
        with self.write() as conn:
            row = conn.execute(select(c.context).where(c.id == session_id)).first()
            if row is None:
                return False
            context = {**row.context, **values} if replace else {**values, **row.context}
            if context == row.context:
                return False
            conn.execute(update(sessions_t).where(c.id == session_id).values(context=context))
            return True

    def waiting_for_parent(self) -> dict[str, str]:
        """Subagent sessions whose parent was not stored when they were: child id ->
        the parent id in their ``context.parent_session_id``."""
        c = sessions_t.c
        parent = c.context["parent_session_id"].as_string()
        query = select(c.id, parent).where(c.parent_id.is_(None), parent.is_not(None))
        with self.read() as conn:
            return {child: str(parent_id) for child, parent_id in conn.execute(query)}

    def link_parents(self, parents: dict[str, str]) -> int:
        """Set ``parent_id`` of each child (key) to its parent (value) where the parent
        is stored and the child has none yet; return how many were linked."""
        c = sessions_t.c
        linked = 0
        with self.write() as conn:
            for chunk in _chunks(sorted(set(parents.values()))):
                found = set(conn.execute(select(c.id).where(c.id.in_(chunk))).scalars())
                for child_id, parent_id in parents.items():
                    if parent_id in found:
                        result = conn.execute(
                            update(sessions_t)
                            .where(and_(c.id == child_id, c.parent_id.is_(None)))
                            .values(parent_id=parent_id)
                        )
                        linked += result.rowcount
        return linked
