"""MessageStore: the Go store's methods, counts kept in step, retention, bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import postgres_unavailable
from webapp.sessions import Message, MessageStore, Session, Status, UnknownSessionError
from webapp.sessions import rows as rows_module
from webapp.sessions import store as store_module
from webapp.sessions.engine import SQLITE_CACHE_KIB
from webapp.sessions.store import database_url


def make_session(clock, status: Status = Status.RUNNING, **kw) -> Session:
    """A session with sensible defaults at the clock's time."""
    kw.setdefault("id", f"s-{clock().timestamp()}-{status.value}-{kw.get('request', '')}")
    return Session(
        status=status,
        created_at=kw.pop("created_at", clock()),
        last_activity=kw.pop("last_activity", clock()),
        expires_at=kw.pop("expires_at", clock() + timedelta(minutes=30)),
        **kw,
    )


def test_database_url_forms(tmp_path) -> None:
    assert database_url(":memory:") == "sqlite://"
    assert database_url(tmp_path / "x.db") == f"sqlite:///{tmp_path / 'x.db'}"
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:////abs.db") == "sqlite:////abs.db"


def test_upsert_inserts_then_overwrites_fields_not_count(store: MessageStore, clock) -> None:
    s = make_session(clock, id="a", request="first request")
    store.upsert_session(s)
    store.insert_message("a", Message("user", "x"), now=clock())
    s.request = "second " * 100
    s.status = Status.COMPLETED
    s.message_count = 999
    store.upsert_session(s)
    got = store.get_session("a")
    assert got.status is Status.COMPLETED and got.request == "second " * 100
    assert got.message_count == 1


def test_request_excerpt_is_short_and_one_line(store: MessageStore, clock) -> None:
    store.upsert_session(make_session(clock, id="a", request="line one\n\nline   two " + "x" * 500))
    with store.read() as conn:
        got = conn.execute(text("SELECT request_excerpt FROM sessions WHERE id = 'a'")).scalar()
    assert got.startswith("line one line two x")
    assert len(got) <= 200 and "\n" not in got and got.endswith("…")


def test_load_delete_clear(store: MessageStore, clock) -> None:
    for i in range(3):
        store.upsert_session(make_session(clock, id=f"s{i}"))
        store.insert_message(f"s{i}", Message("user", f"m{i}"), now=clock())
    assert {s.id for s in store.load_sessions()} == {"s0", "s1", "s2"}
    assert store.delete_session("s0") is True
    assert store.delete_session("s0") is False
    assert store.get_messages("s0") == []
    assert store.clear_all_sessions() == 2
    assert store.load_sessions() == []


def test_insert_message_unknown_session_raises(store: MessageStore, clock) -> None:
    with pytest.raises(UnknownSessionError):
        store.insert_message("nope", Message("user", "x"), now=clock())


def test_delete_and_clear_messages_reset_counts(store: MessageStore, clock) -> None:
    store.upsert_session(make_session(clock, id="a"))
    store.upsert_session(make_session(clock, id="b"))
    for sid in ("a", "a", "b"):
        store.insert_message(sid, Message("user", "x"), now=clock())
    assert store.delete_messages_for_session("a") == 2
    assert store.get_session("a").message_count == 0
    assert store.get_session("b").message_count == 1
    assert store.clear_all_messages() == 1
    assert store.get_session("b").message_count == 0


def test_meta_and_context_round_trip(store: MessageStore, clock) -> None:
    context = {"project_path": "/src", "nested": {"list": [1, 2.5, None, "é"]}, "flag": True}
    store.upsert_session(make_session(clock, id="a", context=context))
    meta = {"kind": "tool_use", "tool_input": {"command": "ls -la", "n": [1, {"x": None}]}}
    store.insert_message("a", Message("assistant", "call", meta=meta), now=clock())
    assert store.get_session("a").context == context
    assert store.get_messages("a")[0].meta == meta


def test_get_messages_after_and_limit(store: MessageStore, clock) -> None:
    store.upsert_session(make_session(clock, id="a"))
    for i in range(5):
        store.insert_message(
            "a", Message("user", f"m{i}", timestamp=clock() + timedelta(seconds=i)), now=clock()
        )
    first_two = store.get_messages("a", limit=2)
    assert [m.content for m in first_two] == ["m0", "m1"]
    rest = store.get_messages("a", after=first_two[-1])
    assert [m.content for m in rest] == ["m2", "m3", "m4"]
    # the page goes on even when the message it started from is gone
    store.purge_older_than(first_two[-1].timestamp + timedelta(microseconds=1))
    assert [m.content for m in store.get_messages("a", after=first_two[-1])] == ["m2", "m3", "m4"]


def test_source_keys_store_a_message_once(store: MessageStore, clock) -> None:
    store.upsert_session(make_session(clock, id="a"))
    batch = [Message("user", "x", source_key="k1"), Message("user", "y", source_key="k2")]
    assert store.append_messages("a", batch, now=clock()).appended == 2
    again = [Message("user", "x", source_key="k1"), Message("user", "z", source_key="k3")]
    assert store.append_messages("a", again, now=clock()).appended == 1
    assert [m.content for m in store.get_messages("a")] == ["x", "y", "z"]
    assert store.get_session("a").message_count == 3


def test_append_to_unknown_or_closed(store: MessageStore, clock) -> None:
    store.upsert_session(make_session(clock, Status.CLOSED, id="c"))
    assert store.append_messages("nope", [Message("user", "x")], now=clock()).status == "unknown"
    assert store.append_messages("c", [Message("user", "x")], now=clock()).status == "closed"
    assert store.get_messages("c") == []


@pytest.fixture
def sent_sql(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL the store's appends send through ``run_sql`` (the claim, the
    inserts, the key) from now on."""
    sent: list[str] = []
    run_sql = store_module.run_sql

    def counting(conn: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(sql)
        return run_sql(conn, sql, *args, **kwargs)

    monkeypatch.setattr(store_module, "run_sql", counting)
    monkeypatch.setattr(rows_module, "run_sql", counting)  # the messages' insert
    return sent


def test_an_append_is_one_statement_on_postgresql(
    store: MessageStore, clock, sent_sql: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the claim, the messages and the idempotency key in one round
    trip (SQLite: three statements); a closed session's append inserts nothing."""
    store.upsert_session(make_session(clock, id="a"))
    store.upsert_session(make_session(clock, Status.CLOSED, id="c"))
    sent_sql.clear()
    batch = [Message("user", "x"), Message("assistant", "y", meta={"k": [1]})]
    assert store.append_messages("a", batch, now=clock(), idempotency_key="i1").appended == 2
    appended, sent_sql[:] = list(sent_sql), []
    assert store.append_messages("c", batch, now=clock(), idempotency_key="i2").status == "closed"
    replay = store.append_messages("a", batch, now=clock(), idempotency_key="i1")
    monkeypatch.undo()
    assert len(appended) == (1 if store.dialect == "postgresql" else 3)
    assert (replay.status, replay.response) == ("replayed", {"appended": 2})
    assert [(m.content, m.meta) for m in store.get_messages("a")] == [
        ("x", None),
        ("y", {"k": [1]}),
    ]
    assert store.get_messages("c") == []
    assert (store.get_session("a").message_count, store.get_session("c").message_count) == (2, 0)


def test_an_append_past_the_one_statement_bound_takes_three(
    store: MessageStore, clock, sent_sql: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More messages than one statement's parameters hold (an import's write):
    the claim, the messages' insert and the key's insert, on both engines."""
    store.upsert_session(make_session(clock, id="a"))
    monkeypatch.setattr(store_module, "PG_ROWS_PER_INSERT", 1)
    sent_sql.clear()
    batch = [Message("user", "x"), Message("assistant", "y")]
    assert store.append_messages("a", batch, now=clock(), idempotency_key="k").appended == 2
    monkeypatch.undo()
    assert len(sent_sql) == 3
    assert [m.content for m in store.get_messages("a")] == ["x", "y"]


def test_naive_datetimes_are_refused(store: MessageStore, clock) -> None:
    s = make_session(clock, id="a")
    s.created_at = s.created_at.replace(tzinfo=None)
    with pytest.raises(Exception, match="naive"):
        store.upsert_session(s)
    assert store.get_session("a") is None


def test_purge_messages_respects_cutoff_keep_and_counts(store: MessageStore, clock) -> None:
    t0 = clock()
    store.upsert_session(make_session(clock, id="plain"))
    store.upsert_session(make_session(clock, id="kept", keep=True))
    for sid in ("plain", "kept"):
        for i in range(10):
            store.insert_message(
                sid, Message("user", f"{i}", timestamp=t0 + timedelta(minutes=i)), now=t0
            )
    cutoff = t0 + timedelta(minutes=4)  # messages 0..3 are older
    assert store.count_purgeable_messages(cutoff) == 4
    assert store.purge_older_than(cutoff, batch_size=3) == 4
    assert [m.content for m in store.get_messages("plain")] == [str(i) for i in range(4, 10)]
    assert store.get_session("plain").message_count == 6
    assert store.get_session("kept").message_count == 10
    assert store.purge_older_than(cutoff) == 0


def test_purge_batches_with_equal_timestamps(store: MessageStore, clock) -> None:
    store.upsert_session(make_session(clock, id="a"))
    same = clock() - timedelta(days=1)
    store.append_messages(
        "a",
        [Message("user", str(i), timestamp=same) for i in range(7)],
        now=clock(),
        require_open=False,
    )
    assert store.purge_older_than(clock(), batch_size=2) == 7
    assert store.get_session("a").message_count == 0


def test_purge_sessions_exceptions(store: MessageStore, clock) -> None:
    old = clock() - timedelta(days=30)
    specs = {
        "old-completed": dict(status=Status.COMPLETED),
        "old-running": dict(status=Status.RUNNING),
        "old-never": dict(status=Status.COMPLETED, expires_at=None),
        "old-kept": dict(status=Status.FAILED, keep=True),
        "old-expired": dict(status=Status.EXPIRED),
    }
    for sid, kw in specs.items():
        store.upsert_session(
            make_session(
                clock,
                id=sid,
                created_at=old,
                last_activity=old,
                **{"expires_at": old + timedelta(minutes=30), **kw},
            )
        )
        store.insert_message(sid, Message("user", "x", timestamp=old), now=old)
    store.upsert_session(make_session(clock, Status.COMPLETED, id="fresh"))
    cutoff = clock() - timedelta(days=7)
    assert store.count_purgeable_sessions(cutoff) == 2
    assert store.purge_sessions_older_than(cutoff, batch_size=1) == 2
    left = {s.id for s in store.load_sessions()}
    assert left == {"old-running", "old-never", "old-kept", "fresh"}


def test_foreign_keys_cascade_messages(store: MessageStore, clock) -> None:
    store.upsert_session(make_session(clock, id="a"))
    store.insert_message("a", Message("user", "x"), now=clock())
    store.delete_session("a")
    with store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM messages")).scalar() == 0


def test_sqlite_connection_settings(sqlite_url: str) -> None:
    store = MessageStore(sqlite_url, migrate=False)
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        # A bounded page cache per pooled connection (the worker's RSS), in KiB.
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
    store.close()


def test_postgresql_connection_settings(
    postgres_database: str | None, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every PostgreSQL connection starts with JIT off, the store's and the web
    app's (which also waits WRITE_LOCK_TIMEOUT for a lock): a page's walks,
    costed as if they read whole tables, were compiled first."""
    if postgres_database is None:
        postgres_unavailable("no server")
    store = MessageStore(postgres_database, migrate=False)
    with store.read() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
    store.close()
    from webapp import create_app
    from webapp.extensions import db

    monkeypatch.setenv("SESSIONBOARD_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"DATABASE_URL": postgres_database, "WRITE_LOCK_TIMEOUT": "2s"})
    app.extensions["sessionboard.manager"].stop()
    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "2s"
    with app.app_context():
        db.engine.dispose()


def test_new_store_migrates_itself(tmp_path) -> None:
    store = MessageStore(tmp_path / "fresh.db")
    store.upsert_session(Session(id="x"))
    assert store.get_session("x") is not None
    store.close()
    # opening again is idempotent
    again = MessageStore(tmp_path / "fresh.db")
    assert again.get_session("x") is not None
    again.close()


def test_a_batch_keeps_each_message_time(store: MessageStore, clock) -> None:
    """The rows of a batch share ``now`` (converted once for all of them): the
    messages without a time get it, each message with its own time keeps that."""
    store.upsert_session(make_session(clock, id="a"))
    now = clock()
    earlier, later = now - timedelta(minutes=2), now - timedelta(minutes=1)
    batch = [
        Message("user", "0"),
        Message("user", "1", timestamp=earlier),
        Message("user", "2"),
        Message("user", "3", timestamp=later),
        Message("user", "4", timestamp=later.replace(microsecond=7)),
        Message("user", "5"),
    ]
    assert store.append_messages("a", batch, now=now).appended == 6
    stored = {m.content: m.timestamp for m in store.get_messages("a")}
    assert stored == {
        "0": now,
        "1": earlier,
        "2": now,
        "3": later,
        "4": later.replace(microsecond=7),
        "5": now,
    }
