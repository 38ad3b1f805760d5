"""counters and rollups kept by triggers; context key indexes

Revision ID: 0009
Revises: 0008

Status counters (nav counts), a day x status x duration x length rollup and a
day x error rollup (the stats page), each kept in step with every write to
``sessions`` by triggers, so the store's Python write path needs no change; and
expression indexes on the context keys the app knows, ordered like the list, and
on the UTC creation day then activity (a creation range sorted by activity);
and the sweep's indexes: (status, expires_at, id) and (keep, created_at, id);
and an expression index on a session's duration in milliseconds (last activity
less creation) then id, for the list sorted by duration.

The triggers only insert change rows (+1/-1); the sweep folds them. The SQL here
is frozen: a later change of buckets or keys is a new migration.
"""

# ruff: noqa: S608  (the SQL here is built from this file's own constant names)

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DURATION_BUCKETS = (1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600)
MESSAGE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 500, 1000)
CONTEXT_KEYS = ("project_path", "git_branch", "model", "runner", "user")
SORT_COLUMNS = {"activity": "last_activity", "created": "created_at"}
ROLLUP_COLUMNS = ("status", "created_at", "last_activity", "message_count", "error")


def _case(value: str, bounds: Sequence[int]) -> str:
    whens = " ".join(f"WHEN {value} < {b} THEN {i}" for i, b in enumerate(bounds))
    return f"(CASE {whens} ELSE {len(bounds)} END)"


def _day(row: str, dialect: str) -> str:
    if dialect == "postgresql":
        return f"to_char(timezone('UTC', {row}.created_at), 'YYYY-MM-DD')"
    return f"substr({row}.created_at, 1, 10)"


def _seconds(row: str, dialect: str) -> str:
    if dialect == "postgresql":
        return f"EXTRACT(epoch FROM {row}.last_activity - {row}.created_at)"
    return f"round((julianday({row}.last_activity) - julianday({row}.created_at)) * 86400.0, 3)"


def _rollup_key(row: str, dialect: str) -> str:
    duration = _case(_seconds(row, dialect), DURATION_BUCKETS)
    messages = _case(f"{row}.message_count", MESSAGE_BUCKETS)
    return f"{_day(row, dialect)}, {row}.status, {duration}, {messages}"


def duration_ms(dialect: str) -> str:
    """A session's duration (last activity less creation) in whole milliseconds,
    written exactly as the read model writes it (``queries.Duration``)."""
    if dialect == "postgresql":
        return "CAST(EXTRACT(epoch FROM last_activity - created_at) * 1000 AS BIGINT)"
    return "CAST(round((julianday(last_activity) - julianday(created_at)) * 86400000.0) AS INTEGER)"


def _context_value(key: str, dialect: str) -> str:
    if dialect == "postgresql":
        return f"(context ->> '{key}')"
    return f"json_extract(context, '$.{key}')"


def _changes(row: str, sign: int, dialect: str, *, count_status: str) -> list[str]:
    """The change rows of ``row`` (OLD or NEW) with ``sign``; the status counter
    only when ``count_status`` (a SQL condition) holds."""
    failed = f"{row}.status = 'failed' AND {row}.error <> ''"
    return [
        f"INSERT INTO session_counts (status, n) SELECT {row}.status, {sign} WHERE {count_status}",
        "INSERT INTO session_rollup (day, status, duration_bucket, message_bucket, n) "
        f"SELECT {_rollup_key(row, dialect)}, {sign}",
        f"INSERT INTO error_rollup (day, error, n) "
        f"SELECT {_day(row, dialect)}, {row}.error, {sign} WHERE {failed}",
    ]


def _changed(dialect: str) -> str:
    """Whether an UPDATE moved the row to another rollup key or error."""
    distinct = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    old, new = _rollup_key("OLD", dialect), _rollup_key("NEW", dialect)
    return f"({old}, OLD.error) {distinct} ({new}, NEW.error)"


def _sqlite_triggers() -> list[str]:
    moved = "OLD.status IS NOT NEW.status"
    insert = _changes("NEW", 1, "sqlite", count_status="1")
    delete = _changes("OLD", -1, "sqlite", count_status="1")
    update = [
        *_changes("OLD", -1, "sqlite", count_status=moved),
        *_changes("NEW", 1, "sqlite", count_status=moved),
    ]
    columns = ", ".join(ROLLUP_COLUMNS)
    return [
        "CREATE TRIGGER trg_sessions_rollup_insert AFTER INSERT ON sessions BEGIN "
        + "; ".join(insert)
        + "; END",
        "CREATE TRIGGER trg_sessions_rollup_delete AFTER DELETE ON sessions BEGIN "
        + "; ".join(delete)
        + "; END",
        f"CREATE TRIGGER trg_sessions_rollup_update AFTER UPDATE OF {columns} ON sessions "
        f"WHEN {_changed('sqlite')} BEGIN " + "; ".join(update) + "; END",
    ]


def _grouped(table: str, keys: list[str], parts: list[tuple[str, list[str], str, str]]) -> str:
    """One INSERT of ``table``'s change rows summed per key from ``parts``: each
    (FROM clause, key expressions, sign, WHERE condition)."""
    selects = [
        f"SELECT {', '.join(exprs)}, {sign} FROM {source} WHERE {where}"
        for source, exprs, sign, where in parts
    ]
    names = ", ".join(keys)
    return (
        f"INSERT INTO {table} ({names}, n) SELECT {names}, sum(n) FROM ("
        + " UNION ALL ".join(selects)
        + f") AS c ({names}, n) GROUP BY {names} HAVING sum(n) <> 0"
    )


def _statement_changes(parts: list[tuple[str, str, str, str]]) -> str:
    """The change rows of a whole statement, summed per key (PostgreSQL): ``parts``
    are (FROM clause over the transition tables, row alias, sign, WHERE)."""
    dialect = "postgresql"
    rollup_keys = ["day", "status", "duration_bucket", "message_bucket"]
    counts, rollup, errors = [], [], []
    for source, row, sign, where in parts:
        moved = f"{where} AND {row}.status IS DISTINCT FROM o2.status" if "o2" in source else where
        counts.append((source, [f"{row}.status"], sign, moved))
        rollup.append((source, [_rollup_key(row, dialect)], sign, where))
        failed = f"{where} AND {row}.status = 'failed' AND {row}.error <> ''"
        errors.append((source, [_day(row, dialect), f"{row}.error"], sign, failed))
    return "; ".join(
        [
            _grouped("session_counts", ["status"], counts),
            _grouped("session_rollup", rollup_keys, rollup),
            _grouped("error_rollup", ["day", "error"], errors),
        ]
    )


def _moved(a: str, b: str) -> str:
    """Whether row ``a`` and row ``b`` (one row before and after an UPDATE) differ
    in rollup key or error."""
    old, new = _rollup_key(a, "postgresql"), _rollup_key(b, "postgresql")
    return f"({old}, {a}.error) IS DISTINCT FROM ({new}, {b}.error)"


def _postgres_triggers() -> list[str]:
    """Statement-level triggers over transition tables: a sweep's UPDATE of
    thousands of rows writes one change row per key, not one per row. In an
    UPDATE, ``o2`` is the other side of the same row."""
    bodies = {
        "insert": _statement_changes([("new_rows n", "n", "1", "TRUE")]),
        "delete": _statement_changes([("old_rows o", "o", "-1", "TRUE")]),
        "update": _statement_changes(
            [
                ("old_rows o JOIN new_rows o2 ON o2.id = o.id", "o", "-1", _moved("o", "o2")),
                ("new_rows n JOIN old_rows o2 ON o2.id = n.id", "n", "1", _moved("o2", "n")),
            ]
        ),
    }
    tables = {
        "insert": "NEW TABLE AS new_rows",
        "delete": "OLD TABLE AS old_rows",
        "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    }
    statements = []
    for event, body in bodies.items():
        statements += [
            f"CREATE FUNCTION sessionboard_rollup_{event}() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$",
            f"CREATE TRIGGER trg_sessions_rollup_{event} AFTER {event.upper()} ON sessions "
            f"REFERENCING {tables[event]} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION sessionboard_rollup_{event}()",
        ]
    return statements


def _backfill(dialect: str) -> list[str]:
    key = _rollup_key("sessions", dialect)
    return [
        "INSERT INTO session_counts (status, n) SELECT status, count(*) FROM sessions "
        "GROUP BY status",
        "INSERT INTO session_rollup (day, status, duration_bucket, message_bucket, n) "
        f"SELECT {key}, count(*) FROM sessions GROUP BY 1, 2, 3, 4",
        f"INSERT INTO error_rollup (day, error, n) SELECT {_day('sessions', dialect)}, error, "
        "count(*) FROM sessions WHERE status = 'failed' AND error <> '' GROUP BY 1, 2",
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "session_counts",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_counts")),
    )
    op.create_table(
        "session_rollup",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("duration_bucket", sa.Integer(), nullable=False),
        sa.Column("message_bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_rollup")),
    )
    op.create_index(op.f("ix_session_rollup_day"), "session_rollup", ["day"])
    op.create_table(
        "error_rollup",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_rollup")),
    )
    op.create_index(op.f("ix_error_rollup_day"), "error_rollup", ["day"])
    if dialect == "postgresql":
        # Each fold deletes every change row: vacuum them soon, not at 20% of the table,
        # or the sums read pages of dead rows.
        for table in ("session_counts", "session_rollup", "error_rollup"):
            op.execute(
                f"ALTER TABLE {table} SET (autovacuum_vacuum_scale_factor = 0, "
                "autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0)"
            )
    triggers = _postgres_triggers() if dialect == "postgresql" else _sqlite_triggers()
    for statement in [*triggers, *_backfill(dialect)]:
        op.execute(statement)
    day = (
        "(timezone('UTC', created_at))::date"
        if dialect == "postgresql"
        else "substr(created_at, 1, 10)"
    )
    op.create_index("ix_sessions_status_expires", "sessions", ["status", "expires_at", "id"])
    op.create_index("ix_sessions_keep_created", "sessions", ["keep", "created_at", "id"])
    op.execute(f"CREATE INDEX ix_sessions_day_activity ON sessions (({day}), last_activity, id)")
    op.execute(f"CREATE INDEX ix_sessions_duration ON sessions (({duration_ms(dialect)}), id)")
    for key in CONTEXT_KEYS:
        for sort, column in SORT_COLUMNS.items():
            op.execute(
                f"CREATE INDEX ix_sessions_context_{key}_{sort} ON sessions "
                f"({_context_value(key, dialect)}, {column}, id)"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP INDEX ix_sessions_day_activity")
    op.execute("DROP INDEX ix_sessions_duration")
    op.drop_index("ix_sessions_keep_created", "sessions")
    op.drop_index("ix_sessions_status_expires", "sessions")
    for key in CONTEXT_KEYS:
        for sort in SORT_COLUMNS:
            op.execute(f"DROP INDEX ix_sessions_context_{key}_{sort}")
    for name in ("insert", "delete", "update"):
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER trg_sessions_rollup_{name} ON sessions")
            op.execute(f"DROP FUNCTION sessionboard_rollup_{name}()")
        else:
            op.execute(f"DROP TRIGGER trg_sessions_rollup_{name}")
    op.drop_table("error_rollup")
    op.drop_table("session_rollup")
    op.drop_table("session_counts")
