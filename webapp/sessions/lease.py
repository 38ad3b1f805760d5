"""The sweeper's lease and the purge log: which process sweeps this interval,
and what each pass did."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, insert, or_, select, update

from .engine import Database
from .rows import lease_t, purge_log_t
from .types import SweepResult


class SweepLeaseStore(Database):
    """The lease row that lets exactly one process sweep per interval, and the log
    of the passes; part of :class:`~webapp.sessions.store.MessageStore`."""

    def claim_sweep(
        self,
        holder: str,
        *,
        now: datetime,
        interval: timedelta,
        lease_ttl: timedelta,
        name: str = "sweeper",
    ) -> bool:
        """Claim the next sweep if it is due and the lease is ours or free.

        One conditional UPDATE decides, so however many processes ask, exactly one
        gets each interval. The holder keeps the lease by claiming or by
        :meth:`renew_lease`; when it stops renewing, the lease lapses after
        ``lease_ttl`` and another process takes over.
        """
        lt = lease_t.c
        with self.write() as conn:
            conn.execute(
                self._insert(lease_t)
                .values(name=name, holder=None, lease_expires_at=None, next_sweep_at=None)
                .on_conflict_do_nothing(index_elements=[lt.name])
            )
            result: CursorResult[Any] = conn.execute(
                update(lease_t)
                .where(
                    lt.name == name,
                    or_(lt.next_sweep_at.is_(None), lt.next_sweep_at <= now),
                    or_(
                        lt.holder.is_(None),
                        lt.holder == holder,
                        lt.lease_expires_at.is_(None),
                        lt.lease_expires_at <= now,
                    ),
                )
                .values(
                    holder=holder, lease_expires_at=now + lease_ttl, next_sweep_at=now + interval
                )
            )
            return result.rowcount == 1

    def renew_lease(
        self, holder: str, *, now: datetime, lease_ttl: timedelta, name: str = "sweeper"
    ) -> bool:
        """Extend the lease if ``holder`` has it; True if it does."""
        lt = lease_t.c
        with self.write() as conn:
            result = conn.execute(
                update(lease_t)
                .where(lt.name == name, lt.holder == holder, lt.lease_expires_at > now)
                .values(lease_expires_at=now + lease_ttl)
            )
            return result.rowcount == 1

    def release_lease(self, holder: str, *, name: str = "sweeper") -> None:
        """Give the lease up so another process can take it at once."""
        lt = lease_t.c
        with self.write() as conn:
            conn.execute(
                update(lease_t)
                .where(lt.name == name, lt.holder == holder)
                .values(holder=None, lease_expires_at=None)
            )

    def lease_holder(self, *, now: datetime, name: str = "sweeper") -> str | None:
        """Who holds a live lease at ``now``, if anyone."""
        lt = lease_t.c
        with self.read() as conn:
            return conn.execute(
                select(lt.holder).where(lt.name == name, lt.lease_expires_at > now)
            ).scalar()

    def record_sweep(self, result: SweepResult, *, trigger: str, holder: str = "") -> None:
        """Append a pass to the purge log."""
        with self.write() as conn:
            conn.execute(
                insert(purge_log_t).values(
                    ran_at=result.ran_at,
                    trigger=trigger,
                    holder=holder,
                    expired_sessions=result.expired_sessions,
                    purged_messages=result.purged_messages,
                    purged_sessions=result.purged_sessions,
                    message_cutoff=result.message_cutoff,
                    session_cutoff=result.session_cutoff,
                )
            )

    def purge_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest purge log entries, newest first."""
        p = purge_log_t.c
        with self.read() as conn:
            rows = conn.execute(
                select(purge_log_t).order_by(p.ran_at.desc(), p.id.desc()).limit(limit)
            )
            return [dict(r._mapping) for r in rows]
