"""Writes are safe to retry: Idempotency-Key replays, batches are all or nothing."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.api.conftest import ApiClient
from tests.api.test_errors import database_state


def test_a_repeated_key_returns_the_first_answer_and_appends_nothing(
    api: ApiClient, app: Any
) -> None:
    sid = api.new_session()["id"]
    path = f"/sessions/{sid}/messages"
    batch = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    first = api.post(path, json=batch, headers={"Idempotency-Key": "turn-1"})
    assert first.status_code == 201 and first.get_json() == {"appended": 2}
    assert "Idempotent-Replayed" not in first.headers
    state = database_state(app)
    # The same key again, even with another body: the first answer, nothing appended.
    for body in (batch, {"role": "user", "content": "different"}):
        again = api.post(path, json=body, headers={"Idempotency-Key": "turn-1"})
        assert again.status_code == 201 and again.get_json() == {"appended": 2}
        assert again.headers["Idempotent-Replayed"] == "true"
    assert database_state(app) == state
    # Another key appends.
    other = api.post(path, json={"role": "user", "content": "q2"}, headers={"Idempotency-Key": "2"})
    assert other.get_json() == {"appended": 1}
    assert api.get(f"/sessions/{sid}").get_json()["message_count"] == 3


def test_keys_are_per_session(api: ApiClient) -> None:
    one, two = api.new_session()["id"], api.new_session()["id"]
    message = {"role": "user", "content": "x"}
    for sid in (one, two):
        response = api.post(
            f"/sessions/{sid}/messages", json=message, headers={"Idempotency-Key": "k"}
        )
        assert (
            response.get_json() == {"appended": 1} and "Idempotent-Replayed" not in response.headers
        )


def test_a_retry_after_the_session_closed_still_gets_the_first_answer(api: ApiClient) -> None:
    sid = api.new_session()["id"]
    path = f"/sessions/{sid}/messages"
    message = {"role": "user", "content": "x"}
    assert api.post(path, json=message, headers={"Idempotency-Key": "k"}).status_code == 201
    api.patch(f"/sessions/{sid}", json={"status": "closed"})
    replay = api.post(path, json=message, headers={"Idempotency-Key": "k"})
    assert replay.status_code == 201 and replay.get_json() == {"appended": 1}
    fresh = api.post(path, json=message, headers={"Idempotency-Key": "new"})
    assert fresh.status_code == 409


def test_a_refused_append_does_not_burn_its_key(api: ApiClient, app: Any) -> None:
    sid = api.new_session()["id"]
    path = f"/sessions/{sid}/messages"
    bad = {"messages": [{"role": "user", "content": "ok"}, {"role": "", "content": "bad"}]}
    assert api.post(path, json=bad, headers={"Idempotency-Key": "k"}).status_code == 422
    good = {"messages": [{"role": "user", "content": "ok"}]}
    response = api.post(path, json=good, headers={"Idempotency-Key": "k"})
    assert response.get_json() == {"appended": 1} and "Idempotent-Replayed" not in response.headers


def test_a_batch_is_one_transaction(
    api: ApiClient, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the batch's last row after the session row was claimed
    and the other rows sent: none of it stays."""
    from webapp.sessions.store import MessageStore

    sid = api.new_session()["id"]
    path = f"/sessions/{sid}/messages"
    api.post(path, json={"role": "user", "content": "first"})
    state = database_state(app)
    real_rows = MessageStore._message_rows

    def last_row_breaks(self: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        rows = real_rows(self, *args, **kwargs)
        rows[-1]["role"] = None  # NOT NULL: fails inside the INSERT
        return rows

    monkeypatch.setattr(MessageStore, "_message_rows", last_row_breaks)
    batch = {"messages": [{"role": "user", "content": str(i)} for i in range(50)]}
    response = api.post(path, json=batch, headers={"Idempotency-Key": "k"})
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert database_state(app) == state
    monkeypatch.undo()
    ok = api.post(path, json=batch, headers={"Idempotency-Key": "k"})
    assert ok.get_json() == {"appended": 50} and "Idempotent-Replayed" not in ok.headers
    assert api.get(f"/sessions/{sid}").get_json()["message_count"] == 51


def test_concurrent_retries_with_one_key_append_once(api: ApiClient, app: Any) -> None:
    sid = api.new_session()["id"]
    path = f"/api/v1/sessions/{sid}/messages"
    headers = {"Authorization": f"Bearer {api.tokens.ingest}", "Idempotency-Key": "same"}
    batch = {"messages": [{"role": "user", "content": f"m{i}"} for i in range(20)]}
    answers: list[tuple[int, Any]] = []
    start = threading.Barrier(6)

    def send() -> None:
        client = app.test_client()
        start.wait()
        response = client.post(path, json=batch, headers=headers)
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [(201, {"appended": 20})] * 6
    messages = api.get(f"/sessions/{sid}/messages").get_json()["messages"]
    assert [m["content"] for m in messages] == [f"m{i}" for i in range(20)]
