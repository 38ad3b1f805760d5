"""The admin's upload form: same importer, same retention question, admin only."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from tests.transfer.conftest import count_rows
from webapp.claude.transcript import parse_file
from webapp.sessions.models import MessageRow


def _post(client: Any, path: Path, retention: str, **extra: Any) -> Any:
    data = {"retention": retention, "files": (io.BytesIO(path.read_bytes()), path.name), **extra}
    return client.post("/admin/import", data=data, content_type="multipart/form-data")


def test_admin_uploads_a_transcript(app: Any, client: Any, auth: Any, corpus: Path) -> None:
    source = next(corpus.glob("*03eb5929*.jsonl"))
    n = len(parse_file(source).sessions[0].messages)
    manager = app.extensions["sessionboard.manager"]
    auth.login("admin")
    assert client.get("/admin/import").status_code == 200

    asked = _post(client, source, "ask")
    assert asked.status_code == 409
    assert f"{n} imported message(s) in 1 session(s) are older" in asked.get_data(as_text=True)
    assert count_rows(manager, MessageRow) == 0

    kept = _post(client, source, "keep")
    assert kept.status_code == 200
    assert f"messages added: {n}" in kept.get_data(as_text=True)
    (session,) = manager.list()
    assert session.keep is True
    again = _post(client, source, "accept")
    assert "messages added: 0" in again.get_data(as_text=True)

    bad = client.post(
        "/admin/import",
        data={"files": (io.BytesIO(b"x"), "notes.txt")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400
    with app.app_context():
        from webapp.accounts.audit import AuditFilter, entries

        rows, _ = entries(AuditFilter(action="import"))
    assert len(rows) == 2 and rows[0]["actor"] == "test-admin"


def test_upload_needs_admin_and_csrf(app: Any, client: Any, auth: Any, corpus: Path) -> None:
    source = next(corpus.glob("*03eb5929*.jsonl"))
    auth.login("reviewer")
    assert client.get("/admin/import").status_code == 403
    assert _post(client, source, "accept").status_code == 403
    plain = app.test_client()  # logged in as admin, but no CSRF token sent
    auth.client = plain
    auth.login("admin")
    plain.environ_base.pop("HTTP_X_CSRFTOKEN", None)
    assert _post(plain, source, "accept").status_code in (400, 403)


def test_uploading_an_imported_file_again_changes_nothing_and_says_so(
    app: Any, client: Any, auth: Any, corpus: Path
) -> None:
    source = next(corpus.glob("*03eb5929*.jsonl"))
    auth.login("admin")
    assert _post(client, source, "keep").status_code == 200
    again = _post(client, source, "keep").get_data(as_text=True)
    assert "sessions: 0 new, 0 updated, 1 unchanged" in again
    assert "messages added: 0" in again
    (session,) = app.extensions["sessionboard.manager"].list()
    assert "sessionboard-upload-" not in str(session.context)


def test_skipped_lines_name_their_file(app: Any, client: Any, auth: Any, corpus: Path) -> None:
    source = next(corpus.glob("*03eb5929*.jsonl"))
    broken = source.read_bytes() + b"{not json\n"
    auth.login("admin")
    data = {"retention": "keep", "files": (io.BytesIO(broken), "mine.jsonl")}
    answer = client.post("/admin/import", data=data, content_type="multipart/form-data")
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200, text
    line = next(x for x in text.splitlines() if "lines skipped: 1" in x)
    assert "mine.jsonl" in line


def test_import_form_says_the_retention_window_in_words(client: Any, auth: Any) -> None:
    auth.login("admin")
    page = client.get("/admin/import").get_data(as_text=True)
    assert "older than the retention window (30 days)" in page
    assert "0:00:00" not in page
    assert page.count('type="radio"') == 3
    assert page.count('<label class="check"><input type="radio"') == 3
