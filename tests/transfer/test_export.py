"""``sessionboard export``: the JSON round trip, redaction, filters, formats, and the
session page's downloads."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.transfer.conftest import stored_messages, stored_sessions
from webapp.review import service as review
from webapp.sessions import Manager, Message
from webapp.transfer.export import session_review
from webapp.transfer.importer import Importer

SECRET = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8I9j0" * 3


def _snapshot(manager: Manager) -> dict[str, Any]:
    """Every stored session, message and review field (messages by their position in
    the transcript's order, since ids are the database's)."""
    messages: dict[str, list[Any]] = {}
    positions: dict[int, int] = {}
    for row in sorted(stored_messages(manager), key=lambda m: (m.timestamp, m.id)):
        mine = messages.setdefault(row.session_id, [])
        positions[row.id] = len(mine)
        values = dict(row._mapping)
        del values["id"], values["session_id"]
        mine.append(values)
    snapshot = {}
    for sid, row in stored_sessions(manager).items():
        reviewed = session_review(sid)
        for comment in reviewed["comments"]:
            comment["message_id"] = positions.get(comment["message_id"])
        snapshot[sid] = (dict(row._mapping), messages.get(sid, []), reviewed)
    return snapshot


def _import_corpus(manager: Manager, corpus: Path) -> None:
    importer = Importer(manager, remember=False)
    importer.run(importer.plan([corpus]))


def test_json_export_imports_back_exactly(
    runner: Any, app_manager: Manager, corpus: Path, tmp_path: Path
) -> None:
    _import_corpus(app_manager, corpus)
    sessions = stored_sessions(app_manager)
    reviewed, other = sorted(sessions)[:2]
    first_message = next(m for m in stored_messages(app_manager) if m.session_id == reviewed)
    review.set_verdict(reviewed, "flagged", "the agent deleted the tests")
    review.add_tag(reviewed, "regression")
    review.add_tag(reviewed, "flaky")
    review.add_comment(reviewed, "Look at **this** call.", message_id=first_message.id)
    review.add_comment(reviewed, "Overall fine.")
    review.set_verdict(other, "approved")
    app_manager.set_keep(other, True)
    plain = app_manager.create("made by the API", {"n": 1.5}, expires_at=None)
    app_manager.append_message(plain.id, Message("user", "no source key", meta={"x": [1]}))
    before = _snapshot(app_manager)
    assert before[reviewed][2]["verdict"]["verdict"] == "flagged"

    out = tmp_path / "export.json"
    result = runner.invoke(args=["export", "--format", "json", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))  # one valid JSON document
    assert len(document["sessions"]) == len(sessions) + 1

    app_manager.clear()
    assert stored_sessions(app_manager) == {}
    again = runner.invoke(args=["import", "--accept-retention", str(out)])
    assert again.exit_code == 0, again.output
    assert f"sessions: {len(sessions) + 1} new" in again.output
    assert _snapshot(app_manager) == before
    # importing the export once more adds nothing
    twice = runner.invoke(args=["import", "--accept-retention", str(out)])
    assert "messages added: 0" in twice.output
    assert _snapshot(app_manager) == before


def test_redacted_export_hides_secrets(runner: Any, app_manager: Manager) -> None:
    session = app_manager.create(f"use {SECRET}", {"env": f"API_KEY={SECRET}"})
    app_manager.append_message(
        session.id,
        Message("assistant", f"curl -H 'Authorization: Bearer {SECRET}'", meta={"key": SECRET}),
    )
    for fmt in ("json", "markdown", "csv"):
        plain = runner.invoke(args=["export", "--format", fmt, "-"])
        assert SECRET in plain.output
        redacted = runner.invoke(args=["export", "--format", fmt, "--redact", "-"])
        assert redacted.exit_code == 0, redacted.output
        assert SECRET not in redacted.output
        assert "[REDACTED:" in redacted.output


def test_filters_are_the_session_lists(runner: Any, app_manager: Manager) -> None:
    clock_now = app_manager.clock()
    failed = app_manager.create("deploy the site", {"project_path": "/src/site"})
    app_manager.set_failed(failed.id, "boom")
    done = app_manager.create("fix the docs", {"project_path": "/src/docs"})
    app_manager.set_completed(done.id, "done")
    old = app_manager.create("ancient", created_at=clock_now - timedelta(days=3))

    def ids(*args: str) -> set[str]:
        result = runner.invoke(args=["export", "--format", "csv", *args, "-"])
        assert result.exit_code == 0, result.output
        return {row["id"] for row in csv.DictReader(io.StringIO(result.stdout))}

    assert ids() == {failed.id, done.id, old.id}
    assert ids("--status", "failed", "--status", "completed") == {failed.id, done.id}
    assert ids("--context", "project_path=/src/docs") == {done.id}
    assert ids("--search", "deploy") == {failed.id}
    day = (clock_now - timedelta(days=1)).date().isoformat()
    assert ids("--since", day) == {failed.id, done.id}
    assert ids("--until", day) == {old.id}
    assert runner.invoke(args=["export", "--context", "nokey", "-"]).exit_code == 2


def test_markdown_shows_messages_by_kind(runner: Any, app_manager: Manager) -> None:
    session = app_manager.create("list files")
    for msg in (
        Message("user", "list files"),
        Message(
            "assistant",
            "{}",
            meta={"kind": "tool_use", "tool_name": "Bash", "tool_input": {"command": "ls"}},
        ),
        Message("tool", "a.txt\n```\nb.txt", meta={"kind": "tool_result", "is_error": True}),
        Message("assistant", "two files", meta={"kind": "text"}),
    ):
        app_manager.append_message(session.id, msg)
    text = runner.invoke(args=["export", "--format", "markdown", "-"]).stdout
    assert "# list files" in text
    assert "**Tool call** `Bash`" in text and '"command": "ls"' in text
    assert "**Tool result (error)**" in text
    assert "````\na.txt\n```\nb.txt\n````" in text  # a fence longer than the content's
    assert "**Assistant**" in text and "two files" in text


@pytest.mark.parametrize("suffix", ["md", "json"])
def test_session_page_downloads(app: Any, client: Any, auth: Any, suffix: str) -> None:
    # no app context held here: the client's requests must each get their own
    session = app.extensions["sessionboard.manager"].create(f"token {SECRET}")
    url = f"/sessions/{session.id}/export.{suffix}"
    assert client.get(url).status_code in (302, 401)
    auth.login("viewer")
    answer = client.get(url)
    assert answer.status_code == 200
    assert f'filename="{session.id}.{suffix}"' in answer.headers["Content-Disposition"]
    assert SECRET in answer.get_data(as_text=True)
    hidden = client.get(url + "?redact=1").get_data(as_text=True)
    assert SECRET not in hidden and "[REDACTED:" in hidden
    if suffix == "json":
        (exported,) = json.loads(answer.get_data(as_text=True))["sessions"]
        assert exported["id"] == session.id and exported["messages"] == []
    assert client.get("/sessions/nope/export." + suffix).status_code == 404
