"""Import safety (issue 9, items 2 and 3), on both backends, through the upload page
and the CLI: an import never overwrites a session it did not create; a bad record
refuses its whole file with the file and line named, and writes nothing; the
retention question counts the sessions the next sweep would delete whole."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.transfer.conftest import count_rows, stored_sessions
from webapp.sessions import Manager, Message, MessageStore, Session
from webapp.sessions.models import MessageRow
from webapp.transfer.export import format_time

NOW = datetime.now(UTC)
OLD = format_time(NOW - timedelta(days=40))  # the default window is 30 days


def write_export(path: Path, records: list[Any], *, whole: bool = False) -> Path:
    """An export file as ``sessionboard export`` lays it out (header on line 1, a
    record a line), or re-indented as one JSON document (``whole``)."""
    header = {"sessionboard_export": 1, "exported_at": format_time(NOW)}
    if whole:
        path.write_text(json.dumps({**header, "sessions": records}, indent=2), encoding="utf-8")
        return path
    lines = [json.dumps(header)[:-1] + ', "sessions": [']
    lines += [json.dumps(r) + ("," if i < len(records) - 1 else "") for i, r in enumerate(records)]
    path.write_text("\n".join([*lines, "]}"]) + "\n", encoding="utf-8")
    return path


def record(session_id: str, **fields: Any) -> dict[str, Any]:
    """A valid export record with the given fields changed."""
    values: dict[str, Any] = {
        "id": session_id,
        "status": "completed",
        "request": "fix the build",
        "response": "done",
        "error": "",
        "created_at": format_time(NOW - timedelta(hours=2)),
        "last_activity": format_time(NOW - timedelta(hours=1)),
        "expires_at": format_time(NOW + timedelta(hours=1)),
        "context": {"project": "demo"},
        "keep": False,
        "parent_id": None,
        "messages": [
            {
                "role": "user",
                "content": "fix the build",
                "summary": "",
                "timestamp": format_time(NOW - timedelta(hours=1)),
                "meta": None,
                "source_key": None,
            }
        ],
        "review": {"verdict": None, "tags": [], "comments": []},
    }
    values.update(fields)
    return values


def live_session(manager: Manager) -> Session:
    """A running session with 3 acknowledged messages."""
    session = manager.create("the real request", {"team": "a"})
    manager.set_running(session.id)
    for text in ("one", "two", "three"):
        assert manager.append_message(session.id, Message("user", text))
    stored = manager.get(session.id)
    assert stored is not None
    return stored


def upload(client: Any, path: Path, retention: str = "ask") -> Any:
    data = {"retention": retention, "files": (io.BytesIO(path.read_bytes()), path.name)}
    return client.post("/admin/import", data=data, content_type="multipart/form-data")


def import_cli(runner: Any, *args: Any) -> Any:
    result = runner.invoke(args=["import", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def assert_survives_the_sweep(manager: Manager, before: Session) -> None:
    """The session is as it was, and the next sweep keeps it and its 3 messages."""
    assert manager.get(before.id) == before
    manager.sweep()
    assert manager.get(before.id) == before
    messages = manager.get_messages(before.id)
    assert [m.content for m in messages or []] == ["one", "two", "three"]


# -- item 2: an import never overwrites a session it did not create ----------------


def test_upload_of_a_one_record_export_keeps_the_running_session(
    app: Any, client: Any, auth: Any, app_manager: Manager, tmp_path: Path
) -> None:
    live = live_session(app_manager)
    attack = record(
        live.id,
        status="completed",
        last_activity=OLD,
        created_at=OLD,
        expires_at=OLD,
        messages=[],
    )
    auth.login("admin")
    answer = upload(client, write_export(tmp_path / "attack.json", [attack]))
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, page
    assert f"conflict: session {live.id} exists already: kept the stored session, " in page
    assert "0 new, 0 updated, 0 unchanged, 1 conflicts" in page
    assert_survives_the_sweep(app_manager, live)


def test_cli_import_keeps_the_live_session_and_adds_only_new_messages(
    runner: Any, app_manager: Manager, tmp_path: Path
) -> None:
    live = live_session(app_manager)
    exported = tmp_path / "exported.json"
    assert runner.invoke(args=["export", str(exported)]).exit_code == 0
    (line,) = [x for x in exported.read_text().splitlines()[1:-1] if x]
    tampered = json.loads(line.removesuffix(","))
    new_message = {"role": "user", "content": "four", "timestamp": format_time(datetime.now(UTC))}
    tampered.update(
        status="pending",
        request="replaced",
        last_activity=OLD,
        messages=[*tampered["messages"], new_message],
    )
    path = write_export(tmp_path / "tampered.json", [tampered])

    result = import_cli(runner, "--accept-retention", path)
    assert result.exit_code == 0, result.output
    # the 3 exported messages have no source_key: same role, time and content = stored
    assert f"conflict: session {live.id} exists already: kept the stored session, 1 " in (
        result.output
    )
    assert "messages added: 1" in result.output
    assert "updated" not in result.output.replace("0 updated", "")
    after = app_manager.get(live.id)
    assert after is not None and after.message_count == 4
    assert (after.status, after.request, after.last_activity, after.expires_at) == (
        live.status,
        live.request,
        live.last_activity,
        live.expires_at,
    )
    again = import_cli(runner, "--accept-retention", path)
    assert "messages added: 0" in again.output
    app_manager.sweep()
    messages = app_manager.get_messages(live.id)
    assert [m.content for m in messages or []] == ["one", "two", "three", "four"]


def test_a_transcript_never_overwrites_a_session_it_did_not_create(
    runner: Any, app_manager: Manager, tmp_path: Path
) -> None:
    live = live_session(app_manager)
    line = {
        "type": "user",
        "uuid": "u1",
        "sessionId": live.id,
        "timestamp": OLD,
        "message": {"role": "user", "content": "not the real request"},
    }
    path = tmp_path / f"{live.id}.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    result = import_cli(runner, "--accept-retention", path)
    assert result.exit_code == 0, result.output
    assert f"conflict: session {live.id} exists already: kept the stored session, 1 " in (
        result.output
    )
    assert app_manager.get(live.id) == live.__class__(**{**vars(live), "message_count": 4})


# -- item 3: a bad record refuses its file; nothing is written ------------------------


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"k": value}
    return value


BAD_RECORDS: dict[str, tuple[dict[str, Any], str]] = {
    "bogus status": ({"status": "bogus"}, "session status must be one of"),
    "missing created_at": ({"created_at": None}, "created_at is missing"),
    "lone surrogate": ({"request": "a\ud800b"}, "session request must be valid Unicode"),
    "context 10,000 deep": ({"context": "DEEP"}, "not valid JSON: nested too deeply"),
    "context 100 deep": ({"context": _deep(100)}, "session context nests deeper than 64"),
    "NUL": (
        {"messages": [{"role": "user", "content": "a\x00b"}]},
        "messages[0]: message content must not contain NUL",
    ),
    "300-character id": ({"id": "a" * 300}, "session id must be 1 to 64"),
    "path id": ({"id": "../sessions/victim"}, "session id must be 1 to 64"),
    "tag twice": (
        {"review": {"verdict": None, "tags": ["x", "x"], "comments": []}},
        "review.tags names a tag twice",
    ),
}


def _bad_file(tmp_path: Path, name: str, **layout: Any) -> Path:
    changes, _ = BAD_RECORDS[name]
    bad = record("bad-one", **changes)
    if "created_at" in changes and changes["created_at"] is None:
        del bad["created_at"]
    records = [record("good-1"), bad, record("good-2")]
    path = write_export(tmp_path / "mixed.json", records, **layout)
    # too deep for json.dumps to write: spelled out
    deep = '{"k": ' * 10_000 + '"bottom"' + "}" * 10_000
    path.write_text(path.read_text().replace('"DEEP"', deep), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", BAD_RECORDS)
def test_cli_refuses_a_file_with_a_bad_record_and_writes_nothing(
    runner: Any, app_manager: Manager, tmp_path: Path, name: str
) -> None:
    path = _bad_file(tmp_path, name)
    for flags in ([], ["--accept-retention"], ["--keep"]):
        result = import_cli(runner, *flags, path)
        assert result.exit_code == 1
        assert f"{path}, line 3: {BAD_RECORDS[name][1]}" in result.output
        assert "Nothing was imported." in result.output
        assert stored_sessions(app_manager) == {}
        assert count_rows(app_manager, MessageRow) == 0


@pytest.mark.parametrize("name", BAD_RECORDS)
def test_upload_refuses_a_file_with_a_bad_record_and_writes_nothing(
    app: Any, client: Any, auth: Any, app_manager: Manager, tmp_path: Path, name: str
) -> None:
    auth.login("admin")
    answer = upload(client, _bad_file(tmp_path, name), "accept")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "mixed.json, line 3: " in page and "Nothing was imported." in page
    assert stored_sessions(app_manager) == {}
    assert count_rows(app_manager, MessageRow) == 0


def test_a_reindented_export_names_the_record(
    runner: Any, app_manager: Manager, tmp_path: Path
) -> None:
    path = _bad_file(tmp_path, "bogus status", whole=True)
    result = import_cli(runner, "--accept-retention", path)
    assert result.exit_code == 1
    assert f"{path}, record 2: session status must be one of" in result.output
    assert stored_sessions(app_manager) == {}


def test_a_transcript_with_a_path_as_session_id_is_refused(
    runner: Any, app_manager: Manager, tmp_path: Path
) -> None:
    good = {
        "type": "user",
        "uuid": "u1",
        "sessionId": "a-good-session",
        "timestamp": format_time(NOW),
        "message": {"role": "user", "content": "hello"},
    }
    bad = {**good, "uuid": "u2", "sessionId": "../sessions/victim"}
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    result = import_cli(runner, "--accept-retention", path)
    assert result.exit_code == 1
    assert f"{path}, session '../sessions/victim': session id must be 1 to 64" in result.output
    assert stored_sessions(app_manager) == {}
    assert count_rows(app_manager, MessageRow) == 0


# -- the retention question counts the sessions the next sweep would delete ----------


def test_retention_question_counts_sessions_purged_by_their_imported_times(
    app: Any, client: Any, auth: Any, app_manager: Manager, tmp_path: Path
) -> None:
    old = {"created_at": OLD, "last_activity": OLD, "expires_at": OLD}
    records = [
        record("old-done", **old, messages=[]),
        # running, but past its expiry: the sweep expires it, then deletes it
        record("old-running", **old, status="running", messages=[]),
        record("recent", messages=[]),
        record("old-never-expires", **{**old, "expires_at": None}, messages=[]),
    ]
    path = write_export(tmp_path / "old.json", records)
    auth.login("admin")

    asked = upload(client, path, "ask")
    page = asked.get_data(as_text=True)
    assert asked.status_code == 409, page
    assert "0 imported message(s) in 2 session(s)" in page
    assert "2 of these session(s) were last active before the window" in page
    assert stored_sessions(app_manager) == {}

    kept = upload(client, path, "keep")
    assert kept.status_code == 200
    assert "4 new" in kept.get_data(as_text=True)
    app_manager.sweep()
    assert sorted(stored_sessions(app_manager)) == sorted(r["id"] for r in records)


def test_a_failure_while_writing_a_file_rolls_all_of_it_back(
    runner: Any, app_manager: Manager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_export(tmp_path / "two.json", [record("first"), record("second")])
    append = MessageStore.append_messages
    appended_to: list[str] = []

    def fail_on_the_second(
        store: MessageStore, session_id: str, messages: Any, **options: Any
    ) -> Any:
        appended_to.append(session_id)
        if session_id == "second":
            raise RuntimeError("the disk is full")
        return append(store, session_id, messages, **options)

    monkeypatch.setattr(MessageStore, "append_messages", fail_on_the_second)
    result = runner.invoke(args=["import", "--accept-retention", str(path)])
    assert isinstance(result.exception, RuntimeError)
    assert appended_to == ["first", "second"]
    assert stored_sessions(app_manager) == {}
    assert count_rows(app_manager, MessageRow) == 0
