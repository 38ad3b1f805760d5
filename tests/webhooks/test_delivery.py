"""Webhook deliveries end to end, on both engines, with a real local receiver:
events from every path, signatures, retries, once-only across dispatchers,
restarts, and writes that never wait for a receiver."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.webhooks.conftest import BASE, FAST, Receiver, add_hook, deliveries, make_dispatcher
from webapp.sessions.engine import Database
from webapp.sessions.events import record_event, session_events_t
from webapp.webhooks.delivery import Dispatcher, DispatchSettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET_KEY = "sk-ant-api03-" + "a1B2" * 10


def verify_from_docs() -> Any:
    """The ``verify`` function of docs/webhooks.md, run as the docs give it."""
    snippet = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert snippet is not None
    scope: dict[str, Any] = {}
    exec(snippet.group(1), scope)  # noqa: S102  (our own documentation)
    return scope["verify"]


def token(app: Any) -> dict[str, str]:
    from webapp.accounts.tokens import create_token

    engine = app.extensions["sessionboard.manager"].store.engine
    return {"Authorization": f"Bearer {create_token(engine, 'runner', 'ingest')[1]}"}


def new_session(client: Any, headers: dict[str, str], request: str = "Fix the build") -> str:
    response = client.post("/api/v1/sessions", json={"request": request}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def fail(client: Any, headers: dict[str, str], session_id: str, error: str = "boom") -> Any:
    return client.patch(
        f"/api/v1/sessions/{session_id}", json={"status": "failed", "error": error}, headers=headers
    )


def events(app: Any) -> list[Any]:
    with app.app_context(), app.extensions["sessionboard.database"].read() as conn:
        return list(conn.execute(select(session_events_t).order_by(session_events_t.c.id)))


def test_api_failure_is_delivered_signed_redacted_with_a_deep_link(
    app: Any, client: Any, receiver: Receiver
) -> None:
    _info, secret = add_hook(app, receiver.url, "failed")
    headers = token(app)
    sid = new_session(client, headers, f"deploy with {SECRET_KEY} please")
    assert fail(client, headers, sid, f"auth failed for {SECRET_KEY}").status_code == 200

    outcomes = make_dispatcher(app).tick()

    assert [o.status for o in outcomes] == [200]
    [got] = receiver.received
    body = got.json
    assert body["type"] == "session.failed"
    assert body["id"] == got.headers["Sessionboard-Event-Id"]
    assert body["session"]["id"] == sid
    assert body["session"]["status"] == "failed"
    assert body["session"]["url"] == f"{BASE}sessions/{sid}"
    assert SECRET_KEY not in got.body.decode()
    assert "[REDACTED:" in body["session"]["request"]
    assert "[REDACTED:" in body["session"]["error"]
    assert body["data"] == {"status": "failed", "previous": "pending"}
    verify = verify_from_docs()
    signature = got.headers["Sessionboard-Signature"]
    assert verify(secret, got.body, signature)
    assert not verify(secret, got.body + b" ", signature)
    assert not verify("whsec_another_secret_entirely", got.body, signature)
    stale = re.sub(r"t=\d+", "t=1000", signature)
    assert not verify(secret, got.body, stale)
    [logged] = deliveries(app)
    assert logged["state"] == "delivered" and logged["last_status"] == 200
    assert logged["attempts"] == 1 and logged["last_response"] == '{"ok": true}'


def test_a_500_is_retried_with_backoff_then_delivered(app: Any, receiver: Receiver) -> None:
    add_hook(app, receiver.url, "failed")
    manager = app.extensions["sessionboard.manager"]
    session = manager.create("x")
    manager.set_failed(session.id, "boom")
    receiver.statuses.extend([500])
    dispatcher = make_dispatcher(app)
    now = datetime.now(UTC)

    assert [o.status for o in dispatcher.tick(now)] == [500]
    [first] = deliveries(app)
    assert first["state"] == "pending" and first["attempts"] == 1
    assert first["last_status"] == 500 and "down" in first["last_response"]
    # Backoff: between half and all of retry_base (10 s) away, not due now.
    assert timedelta(seconds=4) < first["next_at"] - now < timedelta(seconds=11)
    assert dispatcher.tick(now) == []

    assert [o.status for o in dispatcher.tick(now + timedelta(seconds=11))] == [200]
    [second] = deliveries(app)
    assert second["state"] == "delivered" and second["attempts"] == 2
    assert receiver.event_ids() == [receiver.event_ids()[0]] * 2
    assert [r.headers["Sessionboard-Attempt"] for r in receiver.received] == ["1", "2"]


def test_a_delivery_is_given_up_after_the_last_attempt(app: Any, receiver: Receiver) -> None:
    add_hook(app, receiver.url, "failed")
    manager = app.extensions["sessionboard.manager"]
    manager.set_failed(manager.create("x").id, "boom")
    receiver.statuses.extend([503] * 5)
    dispatcher = make_dispatcher(app)
    later = datetime.now(UTC)
    for _ in range(FAST.max_attempts):
        assert [o.status for o in dispatcher.tick(later)] == [503]
        later += timedelta(days=1)
    assert dispatcher.tick(later) == []
    [gone] = deliveries(app)
    assert gone["state"] == "failed" and gone["attempts"] == FAST.max_attempts


def test_a_receiver_that_is_down_is_logged_and_retried(app: Any) -> None:
    add_hook(app, "http://127.0.0.1:9/nothing-listens", "failed")
    manager = app.extensions["sessionboard.manager"]
    manager.set_failed(manager.create("x").id, "boom")
    [outcome] = make_dispatcher(app).tick()
    assert outcome.status is None and "refused" in outcome.error.lower()
    [logged] = deliveries(app)
    assert logged["state"] == "pending" and logged["last_error"]


def test_two_dispatchers_racing_deliver_each_event_once(
    app: Any, receiver: Receiver, database_url: str
) -> None:
    add_hook(app, receiver.url, "failed")
    manager = app.extensions["sessionboard.manager"]
    for n in range(24):
        manager.set_failed(manager.create(f"s{n}").id, "boom")
    settings = DispatchSettings(**{**FAST.__dict__, "batch": 3, "senders": 2})
    databases = [Database(database_url, migrate=False) for _ in range(2)]
    racers = [
        Dispatcher(db, manager.get, settings, holder=f"w{n}") for n, db in enumerate(databases)
    ]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def drain(dispatcher: Dispatcher) -> None:
        try:
            start.wait()
            idle = 0
            while idle < 3:
                idle = 0 if dispatcher.tick() else idle + 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(d,)) for d in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for db in databases:
        db.close()
    assert not errors
    ids = receiver.event_ids()
    assert len(ids) == 24 and len(set(ids)) == 24
    assert {d["state"] for d in deliveries(app)} == {"delivered"}


def test_a_restart_resumes_what_a_dead_dispatcher_held(app: Any, receiver: Receiver) -> None:
    add_hook(app, receiver.url, "failed")
    manager = app.extensions["sessionboard.manager"]
    manager.set_failed(manager.create("x").id, "boom")
    now = datetime.now(UTC)
    dead = make_dispatcher(app, holder="dead")
    [claimed] = dead.claim(now)  # claimed, then the process died before sending

    after_restart = make_dispatcher(app, holder="new")
    assert after_restart.tick(now) == []  # the lease still holds
    assert after_restart.tick(now + FAST.lease + timedelta(seconds=1))[0].status == 200
    assert len(receiver.received) == 1
    [logged] = deliveries(app)
    assert logged["state"] == "delivered" and logged["attempts"] == 2
    # The dead one's late answer is not kept over the new holder's.
    from webapp.webhooks.delivery import Outcome

    assert not dead.record(claimed, Outcome(500, "", "", 1), now)
    assert deliveries(app)[0]["state"] == "delivered"


def test_writes_do_not_wait_for_a_slow_receiver(app: Any, client: Any, receiver: Receiver) -> None:
    add_hook(app, receiver.url, "failed")
    headers = token(app)
    receiver.hold = True
    dispatcher = make_dispatcher(app)
    dispatcher.start()
    try:
        first = new_session(client, headers)
        assert fail(client, headers, first).status_code == 200
        dispatcher.wake()
        assert receiver.entered.wait(10), "the dispatcher never reached the receiver"
        # The receiver now holds a delivery open: writes go on meanwhile.
        second = new_session(client, headers)
        appended = client.post(
            f"/api/v1/sessions/{second}/messages",
            json={"role": "user", "content": "hello"},
            headers=headers,
        )
        assert appended.status_code == 201
        assert fail(client, headers, second).status_code == 200
        assert not receiver.release.is_set() and receiver.received == []
    finally:
        receiver.release.set()
        dispatcher.stop()
    assert len(events(app)) == 2


def test_sweeper_expiry_is_an_event(app: Any, receiver: Receiver) -> None:
    add_hook(app, receiver.url, "expired")
    manager = app.extensions["sessionboard.manager"]
    now = datetime.now(UTC)
    session = manager.create("slow one", expires_at=now + timedelta(seconds=1))
    manager.set_running(session.id)
    result = manager.sweep(now + timedelta(minutes=1))
    assert result.expired_sessions == 1
    make_dispatcher(app).tick()
    [got] = receiver.received
    assert got.json["type"] == "session.expired"
    assert got.json["session"]["id"] == session.id
    assert got.json["data"]["previous"] == "running"


def test_no_event_is_written_while_no_webhook_listens(app: Any, receiver: Receiver) -> None:
    manager = app.extensions["sessionboard.manager"]
    manager.set_failed(manager.create("a").id, "boom")
    assert events(app) == []
    info, _ = add_hook(app, receiver.url, "expired")  # listens to another kind
    manager.set_failed(manager.create("b").id, "boom")
    assert events(app) == []
    from webapp.webhooks import service

    with app.app_context():
        service.add_webhook(receiver.url, ["failed"], actor="t")
        service.set_enabled(2, False, actor="t")
    manager.set_failed(manager.create("c").id, "boom")
    assert events(app) == []


def test_an_event_commits_or_rolls_back_with_its_change(app: Any, receiver: Receiver) -> None:
    add_hook(app, receiver.url, "failed")
    manager = app.extensions["sessionboard.manager"]
    session = manager.create("a")
    database = app.extensions["sessionboard.database"]
    try:
        with database.write():
            assert manager.set_failed(session.id, "boom")
            raise RuntimeError("the request fails after the change")
    except RuntimeError:
        pass
    assert events(app) == [] and deliveries(app) == []
    assert manager.get(session.id).status == "pending"


def test_assigned_is_an_event_a_feature_records_in_its_write(app: Any, receiver: Receiver) -> None:
    add_hook(app, receiver.url, "assigned")
    session = app.extensions["sessionboard.manager"].create("review me")
    with app.app_context(), app.extensions["sessionboard.database"].write() as conn:
        record_event(conn, "assigned", session.id, {"queue": "triage", "reviewer": "rita"})
    make_dispatcher(app).tick()
    [got] = receiver.received
    assert got.json["type"] == "session.assigned"
    assert got.json["data"] == {"queue": "triage", "reviewer": "rita"}


def test_a_dashboard_flag_and_fail_are_events(
    app: Any, auth: Any, client: Any, receiver: Receiver
) -> None:
    add_hook(app, receiver.url, "failed,flagged")
    session = app.extensions["sessionboard.manager"].create("look at this")
    auth.login("reviewer")
    url = f"/review/sessions/{session.id}/verdict"
    assert client.post(url, data={"verdict": "flagged", "reason": "wrong"}).status_code < 400
    assert client.post(url, data={"verdict": "flagged", "reason": "still"}).status_code < 400
    assert client.post(url, data={"verdict": "approved"}).status_code < 400
    failed = client.post(f"/sessions/{session.id}/fail", data={"reason": "gave up"})
    assert failed.status_code < 400
    assert [e.kind for e in events(app)] == ["flagged", "failed"]
    make_dispatcher(app).tick()
    kinds = sorted(r.json["type"] for r in receiver.received)
    assert kinds == ["session.failed", "session.flagged"]
    flagged = next(r.json for r in receiver.received if r.json["type"] == "session.flagged")
    assert flagged["data"] == {"by": "test-reviewer", "reason": "wrong"}


def test_slack_format_is_text_with_a_link(app: Any, receiver: Receiver) -> None:
    add_hook(app, receiver.url, "failed", slack=True)
    manager = app.extensions["sessionboard.manager"]
    session = manager.create("<b>build</b> & ship")
    manager.set_failed(session.id, "exit 1")
    make_dispatcher(app).tick()
    [got] = receiver.received
    assert list(got.json) == ["text"]
    text = got.json["text"]
    assert f"<{BASE}sessions/{session.id}|{session.id[:8]}>" in text
    assert "&lt;b&gt;build&lt;/b&gt; &amp; ship" in text and "failed" in text


def test_send_test_goes_to_that_webhook_alone(app: Any, receiver: Receiver) -> None:
    from webapp.webhooks import service

    first, secret = add_hook(app, receiver.url, "failed")
    add_hook(app, receiver.url + "?other=1", "failed")
    with app.app_context():
        service.send_test(first.id, actor="test")
    make_dispatcher(app).tick()
    [got] = receiver.received
    assert got.json["type"] == "test" and got.json["session"] is None
    assert verify_from_docs()(secret, got.body, got.headers["Sessionboard-Signature"])
    with app.app_context(), app.extensions["sessionboard.database"].read() as conn:
        n = conn.execute(select(func.count()).select_from(session_events_t)).scalar()
    assert n == 1


def test_prune_forgets_old_finished_deliveries_and_their_events(
    app: Any, receiver: Receiver
) -> None:
    from webapp.webhooks.delivery import LOG_KEEP

    add_hook(app, receiver.url, "failed")
    manager = app.extensions["sessionboard.manager"]
    receiver.statuses.extend([200, 500])
    for name in ("done", "retrying"):
        manager.set_failed(manager.create(name).id, "boom")
    dispatcher = make_dispatcher(app)
    now = datetime.now(UTC)
    dispatcher.tick(now)
    assert sorted(d["state"] for d in deliveries(app)) == ["delivered", "pending"]
    assert dispatcher.prune(now) == 0
    assert dispatcher.prune(now + LOG_KEEP + timedelta(minutes=1)) == 1
    [left] = deliveries(app)
    assert left["state"] == "pending"
    assert len(events(app)) == 1  # the pending one's event stays


def test_a_queue_assignment_is_an_assigned_event(
    app: Any, auth: Any, client: Any, receiver: Receiver
) -> None:
    from tests.queues.test_queues import make_queue, save_view

    add_hook(app, receiver.url, "assigned")
    auth.user("reviewer", "rita")
    auth.login("admin", "ada")
    queue_id = make_queue(client, save_view(client, "Failed", "status=failed"), ["rita"])
    manager = app.extensions["sessionboard.manager"]
    session = manager.create("review me")
    manager.set_failed(session.id, "boom")
    assert client.get(f"/queues/{queue_id}").status_code == 200  # picks it up, assigns it
    assert [(e.kind, e.session_id) for e in events(app)] == [("assigned", session.id)]
    make_dispatcher(app).tick()
    [got] = receiver.received
    assert got.json["type"] == "session.assigned"
    assert got.json["data"] == {"queue": queue_id, "reviewer": "rita", "how": "round_robin"}
