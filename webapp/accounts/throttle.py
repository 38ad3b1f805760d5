"""The login throttle, after OWASP's authentication cheat sheet.

Failed logins are counted in a fixed window per (name, address) pair with a low
limit, per name with a much higher ceiling, and per address with a ceiling. So an
attacker who hammers a name from one address locks only that pair; the right
password from another address still gets in until the name's ceiling.

Every attempt is counted *before* its password is checked, in one transaction
that holds the locks of its counters (the rows are upserted in key order; SQLite
serialises writers anyway), so parallel attempts never check more passwords than
the limit. A successful login forgives its own attempt.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from webapp.accounts.models import LoginThrottle

throttle_t = cast(Table, LoginThrottle.__table__)

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_PAIR = 5
MAX_FAILURES_PER_NAME = 100
MAX_FAILURES_PER_ADDRESS = 50

#: What each kind of counter limits, in the words of the message the user sees.
_LIMITS = {
    "pair": (MAX_FAILURES_PER_PAIR, "for this name from your address"),
    "name": (MAX_FAILURES_PER_NAME, "for this name"),
    "address": (MAX_FAILURES_PER_ADDRESS, "from your address"),
}


@dataclass(frozen=True)
class Refusal:
    """An attempt refused by the throttle: which counter, and how long to wait."""

    kind: str
    retry_after: int

    @property
    def message(self) -> str:
        """What the login page says."""
        minutes = math.ceil(self.retry_after / 60)
        unit = "minute" if minutes == 1 else "minutes"
        return f"Too many failed logins {_LIMITS[self.kind][1]}. Try again in {minutes} {unit}."


def _key(kind: str, value: str) -> str:
    # Hashed: any text (NUL, lone surrogates, megabytes) makes a short, safe key.
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:{digest}"


def attempt_keys(name: str, address: str) -> dict[str, str]:
    """The counters of a login attempt: kind -> key."""
    folded = name.strip().casefold()
    return {
        "pair": _key("pair", f"{folded}\n{address}"),
        "name": _key("name", folded),
        "address": _key("address", address),
    }


def forget_expired(conn: Connection, now: datetime) -> None:
    """Delete counters whose window has passed (skipping rows others hold)."""
    expired = (
        select(throttle_t.c.key)
        .where(throttle_t.c.window_start <= now - WINDOW)
        .with_for_update(skip_locked=True)
    )
    conn.execute(delete(throttle_t).where(throttle_t.c.key.in_(expired)))


def _lock(conn: Connection, key: str, now: datetime) -> tuple[int, datetime]:
    """Make the counter exist, hold its lock till the transaction ends, and read it."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(throttle_t).values(key=key, failures=0, window_start=now)
    conn.execute(
        upsert.on_conflict_do_update(index_elements=["key"], set_={"key": upsert.excluded.key})
    )
    row = conn.execute(
        select(throttle_t.c.failures, throttle_t.c.window_start).where(throttle_t.c.key == key)
    ).one()
    if row.window_start <= now - WINDOW:
        return 0, now
    return int(row.failures), row.window_start


def count_attempt(conn: Connection, keys: dict[str, str], now: datetime) -> Refusal | None:
    """Count one login attempt against every counter of ``keys``, or refuse it
    (counting nothing) when one of them is at its limit."""
    counters = {kind: _lock(conn, keys[kind], now) for kind in sorted(keys, key=keys.__getitem__)}
    refusals = [
        Refusal(kind, max(1, math.ceil((start + WINDOW - now).total_seconds())))
        for kind, (failures, start) in counters.items()
        if failures >= _LIMITS[kind][0]
    ]
    if refusals:
        return max(refusals, key=lambda r: r.retry_after)
    for kind, (failures, start) in counters.items():
        conn.execute(
            update(throttle_t)
            .where(throttle_t.c.key == keys[kind])
            .values(failures=failures + 1, window_start=start)
        )
    return None


def forgive(conn: Connection, keys: dict[str, str]) -> None:
    """After a successful login: clear the pair's count, take this attempt off the others."""
    c = throttle_t.c
    for kind in sorted(keys, key=keys.__getitem__):
        if kind == "pair":
            conn.execute(delete(throttle_t).where(c.key == keys[kind]))
        else:
            conn.execute(
                update(throttle_t)
                .where(c.key == keys[kind], c.failures > 0)
                .values(failures=c.failures - 1)
            )
