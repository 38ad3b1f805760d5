"""A request's reads on one connection (``Database.shared_reads``, opened by the
app per request) and the templates' remembered ``url_for`` (``webapp.urls``)."""

from __future__ import annotations

from typing import Any

from flask import url_for
from sqlalchemy import event, text

from webapp.extensions import get_database
from webapp.sessions import Message
from webapp.sessions.engine import Database
from webapp.sessions.search import Search, parse


def _checkouts(engine: Any) -> list[int]:
    seen: list[int] = []
    event.listen(engine, "checkout", lambda *_: seen.append(1))
    return seen


def test_a_page_checks_out_one_connection(
    client: Any, auth: Any, app: Any, make_session: Any
) -> None:
    auth.login("reviewer")
    for _ in range(3):
        make_session("completed")
    seen = _checkouts(app.extensions["sessionboard.database"].engine)
    for path in ("/sessions", "/sessions?status=failed", "/review", "/stats"):
        seen.clear()
        assert client.get(path).status_code == 200
        assert len(seen) == 1, path


def test_a_list_page_reads_in_few_transactions(
    client: Any, auth: Any, app: Any, make_session: Any
) -> None:
    """On PostgreSQL a request's reads are one transaction (each a round trip of
    BEGIN and ROLLBACK saved), a search's too; on SQLite the list's and the
    inbox's own reads share one (the login's, the nav's saved views and the
    filter form's criteria have their own), and so do a search's."""
    auth.login("reviewer")
    for _ in range(3):
        make_session("failed")
    database = app.extensions["sessionboard.database"]
    begins: list[int] = []
    event.listen(database.engine, "begin", lambda *_: begins.append(1))
    most = 1 if database.dialect == "postgresql" else 4
    paths = ("/sessions", "/sessions?status=failed", "/review", "/sessions?q=nothing-matches")
    for path in paths:
        begins.clear()
        assert client.get(path).status_code == 200
        assert 1 <= len(begins) <= most, (path, len(begins))


def test_a_read_after_a_write_sees_it(app: Any) -> None:
    """Inside the shared scope each read still sees what was committed before it,
    also by a write of the same scope on another connection."""
    database = Database(app.extensions["sessionboard.database"].engine, migrate=False)
    other = Database(database.engine.url.render_as_string(hide_password=False), migrate=False)
    try:
        with database.write() as conn:
            conn.execute(text("CREATE TABLE shared_probe (n INTEGER)"))
        with database.shared_reads():
            with database.read() as conn:
                assert conn.execute(text("SELECT count(*) FROM shared_probe")).scalar() == 0
            with database.write() as conn:
                conn.execute(text("INSERT INTO shared_probe VALUES (1)"))
            with other.write() as conn:  # another process's engine
                conn.execute(text("INSERT INTO shared_probe VALUES (2)"))
            with database.read() as first, database.read() as nested:
                assert first is nested
                assert first.execute(text("SELECT count(*) FROM shared_probe")).scalar() == 2
    finally:
        other.close()
        with database.write() as conn:
            conn.execute(text("DROP TABLE shared_probe"))


def test_a_failed_read_does_not_spoil_the_next(app: Any) -> None:
    database = app.extensions["sessionboard.database"]
    with database.shared_reads():
        try:
            with database.read() as conn:
                conn.execute(text("SELECT * FROM no_such_table"))
        except Exception:  # noqa: BLE001, S110  (the failure is the point)
            pass
        with database.read() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1


def test_the_scope_ends_with_the_request(app: Any, client: Any, auth: Any) -> None:
    auth.login("viewer")
    engine = app.extensions["sessionboard.database"].engine
    client.get("/sessions")
    assert engine.pool.checkedout() == 0
    with app.test_request_context("/"):
        app.preprocess_request()
        with get_database().read() as first:
            pass
        with get_database().read() as second:
            assert first is second
        assert engine.pool.checkedout() == 1
        app.do_teardown_request()
        assert engine.pool.checkedout() == 0


def test_remembered_urls_are_what_url_for_writes(app: Any) -> None:
    remembered = app.jinja_env.globals["url_for"]
    cases: list[tuple[str, dict[str, Any]]] = [
        ("dashboard.sessions", {}),
        ("dashboard.sessions", {"status": "failed", "tag": "a&b %00 é"}),
        ("dashboard.sessions", {"status": ["running", "pending"]}),  # unhashable
        ("static", {"filename": "app.css"}),
        ("dashboard.session_page", {"session_id": "a?b#c", "_anchor": "m-1"}),
        ("dashboard.sessions", {"_external": True}),
    ]
    for base in ("http://localhost/", "http://localhost/board/", "http://other.example/"):
        with app.test_request_context("/", base_url=base):
            for _ in range(2):  # built, then remembered
                for endpoint, values in cases:
                    assert remembered(endpoint, **values) == url_for(endpoint, **values)
    with app.test_request_context("/", base_url="http://localhost/board/"):
        assert remembered("dashboard.sessions") == "/board/sessions"


def test_what_a_search_sets_for_its_read_ends_with_it(app: Any, make_session: Any) -> None:
    """Search sets planner switches and a time limit for its transaction
    (PostgreSQL), in a savepoint: they must not reach the next read of the
    request, which on PostgreSQL is in the same transaction. On both engines
    the search reads on the scope's one connection."""
    database = app.extensions["sessionboard.database"]
    make_session(messages=[Message("user", "a common word in a text")])
    postgresql = database.dialect == "postgresql"
    settings = text(
        "SELECT current_setting('enable_seqscan'), current_setting('statement_timeout')"
        if postgresql
        else "PRAGMA query_only"
    )
    checkouts = _checkouts(database.engine)
    with database.shared_reads():
        with database.read() as conn:
            before = conn.execute(settings).one()
        assert Search(database).hits(parse("common word")).hits
        with database.read() as again:
            assert again is conn
            assert again.execute(settings).one() == before
            # PostgreSQL: the scope's one transaction; SQLite: the block's own.
            assert again.in_transaction()
    assert len(checkouts) == 1


def test_a_figure_a_page_shows_twice_is_read_once(
    client: Any, auth: Any, app: Any, make_session: Any
) -> None:
    """The inbox's total and the nav read the status counters once a request,
    and the stats page's four charts read the rollups' stamp once."""
    auth.login("reviewer")
    make_session("failed")
    statements: list[str] = []
    engine = app.extensions["sessionboard.database"].engine
    event.listen(engine, "after_cursor_execute", lambda *a: statements.append(a[2]))
    for path, marker in (("/review", "FROM session_counts"), ("/stats", "max(session_rollup.id)")):
        client.get(path)  # the charts' sums remembered: the next request reads the stamp only
        statements.clear()
        assert client.get(path).status_code == 200
        assert len([s for s in statements if marker in s]) == 1, path


def test_a_commit_forgets_what_the_request_remembered(app: Any, make_session: Any) -> None:
    """Inside a request's scope the counters are read once, until a commit on the
    engine in the same thread: a store's write or any other (the web app's own
    session, plain SQL); outside a scope every call reads."""
    store = app.extensions["sessionboard.manager"].store
    make_session("running")
    reads: list[int] = []
    event.listen(
        store.engine,
        "after_cursor_execute",
        lambda *a: reads.append(1) if "FROM session_counts" in a[2] else None,
    )
    with store.shared_reads():
        assert store.status_counts() == {"running": 1}
        assert store.status_counts() == {"running": 1} and len(reads) == 1
        make_session("failed")  # a store's write
        assert store.status_counts() == {"running": 1, "failed": 1}
        with store.engine.begin() as conn:  # a commit of another kind
            conn.execute(text("UPDATE sessions SET status = 'completed' WHERE status = 'failed'"))
        assert store.status_counts() == {"running": 1, "completed": 1}
        assert len(reads) == 3
    store.status_counts()
    store.status_counts()
    assert len(reads) == 5
