"""Usage as first-class data: the ledger of what each API response used and cost,
each session's totals per model, and rollups per period, all written in the
transaction of the messages that carry the usage.

A message carries usage when its ``meta`` has ``usage`` (the API's shape, see
:mod:`.pricing`), with ``model`` and optionally ``cost_usd`` (a runner's own
figure, used instead of the price table). Its cost is computed once, when it is
written, from the store's :class:`~.pricing.PriceTable`; ``reprice`` restates
stored costs after the table changed.

Three tables, kept in step:

- ``usage_entries``: one row per response, outliving its message (retention
  purges messages, not usage) and deleted with its session;
- ``session_usage``: a session's totals per model (and ``sessions.total_tokens``
  / ``sessions.cost_nanos`` for sorting lists);
- ``usage_rollups``: sums per hour and model, and per day and project, runner or
  user, which nothing deletes: they are the ledger the stats read.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    Table,
    bindparam,
    func,
    insert,
    select,
    tuple_,
    update,
)

from .engine import Database, marker, run_sql
from .pricing import PriceTable, Usage, runner_cost_nanos
from .rows import (
    bulk_insert,
    bulk_rows,
    messages_t,
    session_usage_t,
    sessions_t,
    usage_entries_t,
    usage_rollups_t,
)
from .types import as_utc

#: The token columns, named as :class:`~.pricing.Usage`'s fields.
TOKEN_COLUMNS = tuple(f.name for f in fields(Usage))
#: Columns that rollups and session totals sum.
SUM_COLUMNS = (*TOKEN_COLUMNS, "cost_nanos", "responses", "priced")
#: How long a key or label kept with usage may be (longer ones are cut).
_LABEL_LENGTHS = {"model": 200, "project": 500, "runner": 200, "user": 200}


class Dimension(enum.StrEnum):
    """What the rollups sum usage by (besides the model)."""

    MODEL = "model"
    PROJECT = "project"
    RUNNER = "runner"
    USER = "user"


#: The session context key that names each labelled dimension.
CONTEXT_KEYS = {
    Dimension.PROJECT: "project_path",
    Dimension.RUNNER: "runner",
    Dimension.USER: "user",
}
#: The period each dimension is summed over: hours for the model (so days and
#: ccusage's 5-hour blocks can be read from it), days for the others.
PERIODS = {
    Dimension.MODEL: timedelta(hours=1),
    Dimension.PROJECT: timedelta(days=1),
    Dimension.RUNNER: timedelta(days=1),
    Dimension.USER: timedelta(days=1),
}


def period_start(dimension: Dimension, at: datetime) -> datetime:
    """The start of the rollup period of ``dimension`` that holds ``at`` (UTC)."""
    at = as_utc(at)
    if PERIODS[dimension] == timedelta(hours=1):
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class UsageTotals:
    """Usage summed over ``responses`` responses, ``priced`` of which had a price;
    ``cost_nanos`` is what the priced ones cost."""

    usage: Usage = field(default_factory=Usage)
    cost_nanos: int = 0
    responses: int = 0
    priced: int = 0

    @property
    def cost(self) -> int | None:
        """The cost in nano-dollars, or None ("no price") when no response had one."""
        return self.cost_nanos if self.priced else None

    @property
    def partly_priced(self) -> bool:
        """Some responses had a price and some did not: the cost is a lower bound."""
        return 0 < self.priced < self.responses

    def __add__(self, other: UsageTotals) -> UsageTotals:
        return UsageTotals(
            self.usage + other.usage,
            self.cost_nanos + other.cost_nanos,
            self.responses + other.responses,
            self.priced + other.priced,
        )

    def __neg__(self) -> UsageTotals:
        usage = Usage(*(-getattr(self.usage, name) for name in TOKEN_COLUMNS))
        return UsageTotals(usage, -self.cost_nanos, -self.responses, -self.priced)

    def sums(self) -> dict[str, int]:
        """The values of :data:`SUM_COLUMNS`."""
        return {
            **{name: getattr(self.usage, name) for name in TOKEN_COLUMNS},
            "cost_nanos": self.cost_nanos,
            "responses": self.responses,
            "priced": self.priced,
        }

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> UsageTotals:
        """Totals from a row with the :data:`SUM_COLUMNS`."""
        tokens = [int(row[name] or 0) for name in TOKEN_COLUMNS]
        return cls(
            Usage(*tokens),
            int(row["cost_nanos"] or 0),
            int(row["responses"] or 0),
            int(row["priced"] or 0),
        )


@dataclass(frozen=True)
class Labels:
    """Who and what a session's usage is counted for, besides its model."""

    project: str = ""
    runner: str = ""
    user: str = ""

    @classmethod
    def of(cls, context: Mapping[str, Any] | None, runner: str | None = None) -> Labels:
        """The labels in a session's context; ``runner`` (the API token's name, when
        the write came through the API) comes before the context's ``runner``."""
        context = context or {}

        def label(dimension: Dimension) -> str:
            value = context.get(CONTEXT_KEYS[dimension])
            return _cut(value, dimension.value) if isinstance(value, str) else ""

        return cls(
            project=label(Dimension.PROJECT),
            runner=_cut(runner, "runner") if runner else label(Dimension.RUNNER),
            user=label(Dimension.USER),
        )

    def key(self, dimension: Dimension) -> str:
        """The rollup key of ``dimension`` ("" for the model dimension)."""
        return "" if dimension is Dimension.MODEL else str(getattr(self, dimension.value))


def _cut(text: str, what: str) -> str:
    return text[: _LABEL_LENGTHS[what]]


@dataclass(frozen=True)
class UsageEntry:
    """What one response used and cost, as the ledger keeps it."""

    session_id: str
    at: datetime
    model: str
    usage: Usage
    cost_nanos: int | None
    cost_source: str
    labels: Labels
    #: The message's ``source_key``: what an importer restates it by.
    source_key: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> UsageEntry:
        """An entry from its ``usage_entries`` row."""
        return cls(
            row["session_id"],
            row["at"],
            row["model"],
            Usage(*(int(row[name]) for name in TOKEN_COLUMNS)),
            row["cost_nanos"],
            row["cost_source"],
            Labels(row["project"], row["runner"], row["user_name"]),
            row["source_key"],
        )

    @property
    def totals(self) -> UsageTotals:
        """This response as totals of one."""
        priced = self.cost_nanos is not None
        return UsageTotals(self.usage, self.cost_nanos or 0, 1, int(priced))

    def values(self) -> dict[str, Any]:
        """The entry's ``usage_entries`` row."""
        return {
            "session_id": self.session_id,
            "at": self.at,
            "model": self.model,
            **{name: getattr(self.usage, name) for name in TOKEN_COLUMNS},
            "cost_nanos": self.cost_nanos,
            "cost_source": self.cost_source,
            "project": self.labels.project,
            "runner": self.labels.runner,
            "user_name": self.labels.user,
            "source_key": self.source_key,
        }


def usage_entry(
    session_id: str,
    meta: Mapping[str, Any] | None,
    at: datetime,
    labels: Labels,
    prices: PriceTable,
    source_key: str | None = None,
) -> UsageEntry | None:
    """The ledger entry of a message's ``meta``, or None when it carries no usage
    (or only zeros and no cost, as Claude Code's ``<synthetic>`` error messages do).
    A runner's ``cost_usd`` is taken as it is; otherwise the price table prices it."""
    if not meta or not isinstance(meta.get("usage"), Mapping):
        return None
    usage = Usage.from_api(meta["usage"])
    runner_cost = runner_cost_nanos(meta.get("cost_usd"))
    if not usage.total and runner_cost is None:
        return None
    model = meta.get("model")
    model = _cut(model, "model") if isinstance(model, str) else ""
    if runner_cost is not None:
        return UsageEntry(
            session_id, as_utc(at), model, usage, runner_cost, "runner", labels, source_key
        )
    cost = prices.cost(model, usage)
    return UsageEntry(session_id, as_utc(at), model, usage, cost, "table", labels, source_key)


@dataclass(frozen=True)
class _Change:
    """Totals to add for a session and model at a time, under some labels."""

    session_id: str
    model: str
    at: datetime
    labels: Labels
    totals: UsageTotals


@dataclass(frozen=True)
class RepriceResult:
    """What a reprice did: entries read, and those whose cost changed."""

    entries: int = 0
    changed: int = 0


class _Sums:
    """Sums of :data:`SUM_COLUMNS` accumulated for one row to upsert, with the
    time span they cover (plain integers: a bulk load adds hundreds of thousands)."""

    __slots__ = ("first_at", "last_at", "values")

    def __init__(self, values: Sequence[int], first_at: datetime, last_at: datetime) -> None:
        self.values = list(values)
        self.first_at = first_at
        self.last_at = last_at

    def add(self, values: Sequence[int], first_at: datetime, last_at: datetime) -> None:
        for i, value in enumerate(values):
            self.values[i] += value
        self.first_at = min(self.first_at, first_at)
        self.last_at = max(self.last_at, last_at)

    def row(self) -> dict[str, int]:
        return dict(zip(SUM_COLUMNS, self.values, strict=True))


@functools.cache
def shipped_prices() -> PriceTable:
    """The price table shipped with the package, loaded once per process."""
    return PriceTable.load()


class UsageLedger(Database):
    """Writes usage: entries, session totals and rollups, in the caller's
    transaction; part of :class:`~webapp.sessions.store.MessageStore`.

    ``prices`` is the shipped table unless the app sets its own (with the
    instance's ``prices.json``)."""

    _prices: PriceTable | None = None

    @property
    def prices(self) -> PriceTable:
        """The price table costs are computed with."""
        return self._prices if self._prices is not None else shipped_prices()

    @prices.setter
    def prices(self, table: PriceTable) -> None:
        self._prices = table

    def usage_entries(
        self, session_id: str, rows: Iterable[Mapping[str, Any]], labels: Labels
    ) -> list[UsageEntry]:
        """The ledger entries of message rows (dicts with ``meta``, ``timestamp`` and
        ``source_key``)."""
        entries = []
        for row in rows:
            entry = usage_entry(
                session_id,
                row["meta"],
                row["timestamp"],
                labels,
                self.prices,
                row.get("source_key"),
            )
            if entry is not None:
                entries.append(entry)
        return entries

    def record_usage(self, conn: Connection, entries: Sequence[UsageEntry]) -> None:
        """Store ``entries`` and add them to their sessions' totals and the rollups,
        in ``conn``'s transaction."""
        add_to_totals(conn, self.record_entries(conn, entries))

    @staticmethod
    def add_totals(conn: Connection, changes: Sequence[_Change]) -> None:
        """Add the changes :meth:`record_entries` returned to the totals and rollups."""
        add_to_totals(conn, changes)

    def record_entries(self, conn: Connection, entries: Sequence[UsageEntry]) -> list[_Change]:
        """Store ``entries`` in ``conn``'s transaction and return what they add to
        the totals, for :func:`add_to_totals` (a group commit sums its writes'
        changes once, in one order)."""
        if not entries:
            return []
        rows = bulk_rows([e.values() for e in entries], dialect=conn.dialect.name)
        bulk_insert(conn, usage_entries_t, rows)
        return [_change_of(e) for e in entries]

    def load_usage(self, conn: Connection, entries: Sequence[UsageEntry]) -> None:
        """:meth:`record_usage`, as bulk loads (``sessionboard demo``) call it."""
        add_to_totals(conn, self.record_entries(conn, entries))

    def restate_usage(
        self,
        conn: Connection,
        session_id: str,
        source_key: str,
        at: datetime,
        meta: Mapping[str, Any] | None,
    ) -> None:
        """The stored message ``source_key`` of a session has a new ``meta`` (an
        importer learnt a response's final usage): its ledger entry, the session's
        totals and the rollups follow, in ``conn``'s transaction."""
        e = usage_entries_t.c
        stored = conn.execute(
            select(usage_entries_t).where(e.session_id == session_id, e.source_key == source_key)
        ).first()
        old = UsageEntry.from_row(stored._mapping) if stored is not None else None
        if old is not None:
            labels = old.labels
        else:
            context = conn.execute(
                select(sessions_t.c.context).where(sessions_t.c.id == session_id)
            ).scalar()
            labels = Labels.of(context)
        new = usage_entry(session_id, meta, at, labels, self.prices, source_key)
        if new == old:
            return
        changes = []
        if old is not None and stored is not None:
            conn.execute(usage_entries_t.delete().where(e.id == stored.id))
            changes.append(_Change(session_id, old.model, old.at, labels, -old.totals))
        if new is not None:
            conn.execute(insert(usage_entries_t), [new.values()])
            changes.append(_change_of(new))
        add_to_totals(conn, changes)

    def _priced_by_table(self, since: datetime | None) -> Select[Any]:
        e = usage_entries_t.c
        query = select(usage_entries_t).where(e.cost_source == "table")
        if since is not None:
            query = query.where(e.at >= as_utc(since))
        return query

    def count_priced_by_table(self, since: datetime | None = None) -> int:
        """How many responses :meth:`reprice` reads (those the price table priced,
        or found no price for)."""
        query = select(func.count()).select_from(self._priced_by_table(since).subquery())
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())

    def reprice(
        self,
        since: datetime | None = None,
        *,
        batch_size: int = 5000,
        progress: Callable[[int], None] | None = None,
    ) -> RepriceResult:
        """Recompute the stored cost of every response priced by the table (since
        ``since``, when given) with :attr:`prices`, and restate session totals and
        rollups by the difference. Runners' own costs stay. In batches of
        ``batch_size`` entries, one transaction each; ``progress(n)`` after each.
        Idempotent: a second run changes nothing."""
        e = usage_entries_t.c
        position: tuple[datetime, int] | None = None
        seen = changed = 0
        while True:
            query = self._priced_by_table(since)
            if position is not None:
                query = query.where(tuple_(e.at, e.id) > tuple_(*position))
            query = query.order_by(e.at, e.id).limit(batch_size)
            with self.write() as conn:
                rows = [dict(r._mapping) for r in conn.execute(query)]
                if not rows:
                    return RepriceResult(seen, changed)
                changed += self._restate(conn, rows)
            seen += len(rows)
            position = (rows[-1]["at"], rows[-1]["id"])
            if progress is not None:
                progress(len(rows))

    def _restate(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Reprice stored entries; return how many changed."""
        e = usage_entries_t.c
        updates, changes = [], []
        for row in rows:
            usage = Usage(*(int(row[name]) for name in TOKEN_COLUMNS))
            old, new = row["cost_nanos"], self.prices.cost(row["model"], usage)
            if old == new:
                continue
            updates.append({"entry_id": row["id"], "cost": new})
            delta = UsageTotals(
                cost_nanos=(new or 0) - (old or 0),
                priced=int(new is not None) - int(old is not None),
            )
            entry = UsageEntry.from_row(row)
            changes.append(_Change(entry.session_id, entry.model, entry.at, entry.labels, delta))
        if updates:
            conn.execute(
                update(usage_entries_t)
                .where(e.id == bindparam("entry_id"))
                .values(cost_nanos=bindparam("cost")),
                updates,
            )
            add_to_totals(conn, changes)
        return len(updates)


def add_to_totals(conn: Connection, changes: Sequence[_Change]) -> None:
    """Add ``changes`` to session totals, sessions' sort columns and rollups."""
    if not changes:
        return
    # First per session, model, hour and labels (a session's responses mostly
    # share them), then those groups into session totals and rollups.
    groups: dict[tuple[str, str, datetime, Labels], _Sums] = {}
    for change in changes:
        hour = period_start(Dimension.MODEL, change.at)
        values = tuple(change.totals.sums().values())
        key = (change.session_id, change.model, hour, change.labels)
        _accumulate(groups, key, values, change.at, change.at)
    per_session: dict[tuple[str, str], _Sums] = {}
    per_rollup: dict[tuple[str, datetime, str, str], _Sums] = {}
    for (sid, model, hour, labels), group in groups.items():
        _accumulate(per_session, (sid, model), group.values, group.first_at, group.last_at)
        day = hour.replace(hour=0)
        for dimension in Dimension:
            start = hour if PERIODS[dimension] == timedelta(hours=1) else day
            rollup = (dimension.value, start, labels.key(dimension), model)
            _accumulate(per_rollup, rollup, group.values, group.first_at, group.last_at)
    # Rows go in one order, so concurrent writers lock them in one order: sessions,
    # then their totals, then rollups, each by key (two batches naming two models
    # in opposite orders deadlocked on PostgreSQL; so would a reprice and an append).
    tokens_at = [SUM_COLUMNS.index(name) for name in TOKEN_COLUMNS]
    cost_at = SUM_COLUMNS.index("cost_nanos")
    per_session_total: dict[str, list[int]] = {}
    for (sid, _model), sums in per_session.items():
        total = per_session_total.setdefault(sid, [0, 0])
        total[0] += sum(sums.values[i] for i in tokens_at)
        total[1] += sums.values[cost_at]
    mark = marker(conn.dialect.name)
    run_sql(
        conn,
        f"UPDATE sessions SET total_tokens = total_tokens + {mark}, "  # noqa: S608 (markers only)
        f"cost_nanos = cost_nanos + {mark} WHERE id = {mark}",
        [(tokens, cost, sid) for sid, (tokens, cost) in sorted(per_session_total.items())],
        many=True,
    )
    session_rows = [
        {"session_id": sid, "model": model, **sums.row()}
        for (sid, model), sums in sorted(per_session.items())
    ]
    _upsert_sums(conn, session_usage_t, session_rows, spans=False)
    rollup_rows = [
        {
            "dimension": dimension,
            "period_start": start,
            "key": key,
            "model": model,
            **sums.row(),
            "first_at": sums.first_at,
            "last_at": sums.last_at,
        }
        for (dimension, start, key, model), sums in sorted(per_rollup.items())
    ]
    _upsert_sums(conn, usage_rollups_t, rollup_rows, spans=True)


def _upsert_sums(
    conn: Connection, table: Table, rows: list[dict[str, Any]], *, spans: bool
) -> None:
    """Insert rows, or add their sums to the rows with the same key: plain SQL
    made once per table (:func:`_upsert_sql`) through the driver's executemany.
    Building the dialect's ``on_conflict_do_update`` with its ``excluded``
    columns for every group, then its cache key, was 40% of the CPU of an
    append of 100 messages with usage."""
    if not rows:
        return
    bulk = bulk_rows(rows, dialect=conn.dialect.name)
    sql = _upsert_sql(conn.dialect.name, table.name, bulk.columns, spans=spans)
    run_sql(conn, sql, bulk.values, many=True)


@functools.lru_cache(maxsize=16)
def _upsert_sql(dialect: str, table_name: str, columns: tuple[str, ...], *, spans: bool) -> str:
    table = {t.name: t for t in (session_usage_t, usage_rollups_t)}[table_name]
    mark = marker(dialect)
    keys = ", ".join(f'"{c.name}"' for c in table.primary_key)
    changes = [f'"{name}" = {table_name}."{name}" + excluded."{name}"' for name in SUM_COLUMNS]
    if spans:
        changes += [
            f"first_at = CASE WHEN excluded.first_at < {table_name}.first_at "
            f"THEN excluded.first_at ELSE {table_name}.first_at END",
            f"last_at = CASE WHEN excluded.last_at > {table_name}.last_at "
            f"THEN excluded.last_at ELSE {table_name}.last_at END",
        ]
    return (
        f"INSERT INTO {table_name} ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)}) "  # noqa: S608
        f"VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT ({keys}) DO UPDATE SET {', '.join(changes)}"
    )


def backfill_usage(conn: Connection, prices: PriceTable, *, batch_size: int = 5000) -> int:
    """Put the usage of every stored message in the ledger, in ``conn``'s transaction;
    return how many responses. For the migration that makes the ledger (0008),
    when no message is in it yet."""
    m, c = messages_t.c, sessions_t.c
    query = (
        select(m.id, m.session_id, m.timestamp, m.meta, m.source_key, c.context)
        .join(sessions_t, c.id == m.session_id)
        .order_by(m.id)
        .limit(batch_size)
    )
    last, counted = 0, 0
    while rows := conn.execute(query.where(m.id > last)).all():
        entries = [
            entry
            for r in rows
            if (
                entry := usage_entry(
                    r.session_id, r.meta, r.timestamp, Labels.of(r.context), prices, r.source_key
                )
            )
            is not None
        ]
        if entries:
            conn.execute(insert(usage_entries_t), [e.values() for e in entries])
            add_to_totals(conn, [_change_of(e) for e in entries])
        counted += len(entries)
        last = rows[-1].id
    return counted


def _change_of(entry: UsageEntry) -> _Change:
    return _Change(entry.session_id, entry.model, entry.at, entry.labels, entry.totals)


def _accumulate(
    sums: dict[Any, _Sums],
    key: Any,
    values: Sequence[int],
    first_at: datetime,
    last_at: datetime,
) -> None:
    if key in sums:
        sums[key].add(values, first_at, last_at)
    else:
        sums[key] = _Sums(values, first_at, last_at)
