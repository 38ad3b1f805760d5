"""Rubric scores travel with their session: JSON export and import (a round trip),
CSV, and a refused import that writes nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.accounts.test_login import audit_actions
from tests.accounts.test_role_matrix import snapshot
from tests.queues.test_queues import add_criterion, make_queue, save_view
from tests.review.test_review import make_session


@pytest.fixture
def scored(app: Any, client: Any, auth: Any) -> dict[str, Any]:
    """Two completed sessions in a queue, scored by two reviewers."""
    manager = app.extensions["sessionboard.manager"]
    auth.user("reviewer", "rita")
    auth.user("reviewer", "sam")
    auth.login("admin", "ada")
    view_id = save_view(client, "Done", "status=completed")
    queue_id = make_queue(client, view_id, ["rita", "sam"], mode="claim", name="Weekly")
    ok = add_criterion(client, queue_id, "Correct", "passfail")
    quality = add_criterion(client, queue_id, "Quality", "score")
    note = add_criterion(client, queue_id, "Notes", "text", required=False)
    first, second = make_session(manager, request="one"), make_session(manager, request="two")
    client.get(f"/queues/{queue_id}")
    secret = "uses sk-ant-api03-" + "A1b2C3d4E5f6G7h8I9j0" * 3
    for who, answers in {
        "rita": [(first, ok, "pass"), (first, quality, "4"), (first, note, secret)],
        "sam": [(first, ok, "fail"), (second, ok, "pass")],
    }.items():
        auth.login("reviewer", who)
        for sid, criterion, value in answers:
            url = f"/queues/{queue_id}/sessions/{sid}/score"
            answer = client.post(url, data={"criterion": criterion, "value": value})
            assert answer.status_code == 303
    return {"queue": queue_id, "first": first, "second": second}


def scores_of(app: Any, session_id: str) -> list[dict[str, Any]]:
    from webapp.queues import service

    with app.app_context():
        return service.scores_record(session_id)


def test_scores_export_and_import_back(
    app: Any, runner: Any, scored: dict[str, Any], tmp_path: Path
) -> None:
    before = {sid: scores_of(app, sid) for sid in (scored["first"], scored["second"])}
    assert [(s["criterion"], s["reviewer"], s["value"]) for s in before[scored["first"]]][:3] == [
        ("Correct", "rita", "pass"),
        ("Correct", "sam", "fail"),
        ("Quality", "rita", "4"),
    ]
    out = tmp_path / "export.json"
    assert runner.invoke(args=["export", "--format", "json", str(out)]).exit_code == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    exported = {s["id"]: s["review"]["scores"] for s in document["sessions"]}
    assert exported[scored["first"]][0] == {
        "queue": "Weekly",
        "criterion": "Correct",
        "kind": "passfail",
        "reviewer": "rita",
        "value": "pass",
        "at": before[scored["first"]][0]["at"].isoformat().replace("+00:00", "Z"),
    }
    manager = app.extensions["sessionboard.manager"]
    with app.app_context():
        manager.clear()
    assert scores_of(app, scored["first"]) == []
    result = runner.invoke(args=["import", "--accept-retention", str(out)])
    assert result.exit_code == 0, result.output
    assert {sid: scores_of(app, sid) for sid in before} == before
    assert ("system", "rubric.import") in audit_actions(app)
    # the sessions are items of the queue again
    from tests.queues.test_queues import items

    assert set(items(app, scored["queue"])) == set(before)


def test_csv_and_redaction(runner: Any, scored: dict[str, Any]) -> None:
    plain = runner.invoke(args=["export", "--format", "csv", "-"])
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(plain.stdout))}
    cell = json.loads(rows[scored["second"]]["scores"])
    assert cell == [{"queue": "Weekly", "criterion": "Correct", "reviewer": "sam", "value": "pass"}]
    assert "sk-ant-api03-" in rows[scored["first"]]["scores"]
    redacted = runner.invoke(args=["export", "--format", "json", "--redact", "-"])
    assert "sk-ant-api03-A1b2" not in redacted.stdout
    assert '"value":"pass"' in redacted.stdout


@pytest.mark.parametrize(
    "change",
    [
        {"queue": "No such queue"},
        {"criterion": "No such criterion"},
        {"kind": "score"},
        {"value": "maybe"},
        {"value": "a\u0000b"},
        {"reviewer": ""},
        {"at": "yesterday"},
    ],
)
def test_a_bad_score_refuses_the_import(
    app: Any, runner: Any, scored: dict[str, Any], tmp_path: Path, change: dict[str, Any]
) -> None:
    out = tmp_path / "export.json"
    runner.invoke(args=["export", "--format", "json", str(out)])
    document = json.loads(out.read_text(encoding="utf-8"))
    for session in document["sessions"]:
        if session["id"] == scored["first"]:
            session["review"]["scores"][0].update(change)
    manager = app.extensions["sessionboard.manager"]
    with app.app_context():
        manager.clear()
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"sessionboard_export": 1, "sessions": [\n'
        + ",\n".join(json.dumps(s) for s in document["sessions"])
        + "\n]}\n",
        encoding="utf-8",
    )
    before = snapshot(app)
    result = runner.invoke(args=["import", "--accept-retention", str(bad)])
    assert result.exit_code != 0
    after = snapshot(app)
    assert after["sessions"] == before["sessions"] == []
    assert after["rubric_scores"] == before["rubric_scores"]
