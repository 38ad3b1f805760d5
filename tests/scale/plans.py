"""The query plans of what the read model runs: every statement a call executes is
captured, then EXPLAINed on the same connection settings."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

#: A plan line that reads a whole big table: SQLite's SCAN without an index, or
#: PostgreSQL's Seq Scan (the big tables only: sessions, messages).
_SQLITE_SCAN = re.compile(r"^SCAN (sessions|messages)(?! USING (COVERING )?INDEX)")
_POSTGRES_SCAN = re.compile(r"Seq Scan on (sessions|messages)\b")


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every (statement, parameters) the engine executes inside the block."""
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plan(engine: Engine, statement: str, parameters: Any, *, no_sort: bool = False) -> list[str]:
    """The plan of one statement, one line per step. On PostgreSQL the planner is
    told to avoid seq scans (and with ``no_sort`` sorts) wherever it can: small
    tables make them cheapest, and the question is whether an index can serve."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if not sqlite:
            conn.exec_driver_sql("SET enable_seqscan = off")
            if no_sort:
                conn.exec_driver_sql("SET enable_sort = off")
        prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    return [str(r[-1]) for r in rows]


def scans(engine: Engine, call: Callable[[], Any]) -> list[str]:
    """The plan lines, of every statement ``call`` runs, that read all of
    ``sessions`` or ``messages`` (empty: each uses an index)."""
    with captured(engine) as statements:
        call()
    assert statements, "the call ran no query"
    pattern = _SQLITE_SCAN if engine.dialect.name == "sqlite" else _POSTGRES_SCAN
    found = []
    for statement, parameters in statements:
        for line in plan(engine, statement, parameters):
            if pattern.search(line.strip()):
                found.append(f"{line.strip()}  <- {' '.join(statement.split())[:300]}")
    return found


def scans_of(engine: Engine, calls: dict[str, Callable[[], Any]]) -> dict[str, list[str]]:
    """Per named call, the plan lines that read all of ``sessions`` or ``messages``
    (only the calls that have some: empty when every one uses an index)."""
    found = {}
    for name, call in calls.items():
        lines = scans(engine, call)
        if lines:
            found[name] = lines
    return found


def all_plans(engine: Engine, call: Callable[[], Any], *, no_sort: bool = False) -> list[str]:
    """Every plan line of every statement ``call`` runs."""
    with captured(engine) as statements:
        call()
    lines = []
    for statement, parameters in statements:
        lines.append("## " + " ".join(statement.split())[:400])
        lines.extend(plan(engine, statement, parameters, no_sort=no_sort))
    return lines


#: A plan line that sorts every row it gets: SQLite's temp B-tree for ORDER BY,
#: PostgreSQL's Sort node (not an Incremental Sort, which orders only the rows
#: that tie on an index's leading column).
SORTS = re.compile(r"USE TEMP B-TREE FOR ORDER BY|^\s*(->\s*)?Sort  \(")
