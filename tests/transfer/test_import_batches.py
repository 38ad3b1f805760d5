"""An import writes small files several to a transaction (one commit and fsync per
batch, not per file), each file still whole."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import Connection, event

from tests.transfer.conftest import count_rows, stored_messages, with_a_bad_file
from webapp.sessions import Manager
from webapp.sessions.models import MessageRow
from webapp.transfer import importer as importer_module
from webapp.transfer.importer import Importer, read_file


def _import_counting_commits(manager: Manager, corpus: Path) -> tuple[int, int, int]:
    """Files imported, their messages, and the commits the import made."""
    commits: list[int] = []

    def count(_conn: Connection) -> None:
        commits.append(1)

    event.listen(manager.store.engine, "commit", count)
    try:
        importer = Importer(manager, keep=True, remember=False)
        plans = importer.plan([corpus])
        summary = importer.run(plans)
    finally:
        event.remove(manager.store.engine, "commit", count)
    return summary.files, summary.messages_added, len(commits)


def test_small_files_share_a_transaction(manager: Manager, corpus: Path) -> None:
    files, messages, commits = _import_counting_commits(manager, corpus)
    assert files >= 5
    assert messages == count_rows(manager, MessageRow) > 0
    # the corpus is under MESSAGES_PER_TRANSACTION: one transaction for the files,
    # one to link subagents to their parents
    assert commits == 2


def test_a_transaction_holds_at_most_its_bound_of_messages(
    manager: Manager, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer_module, "MESSAGES_PER_TRANSACTION", 1)
    files, messages, commits = _import_counting_commits(manager, corpus)
    assert messages == count_rows(manager, MessageRow) > 0
    assert commits == files + 1  # every file over the bound: one each, and the links


def _import_counting_reads(
    manager: Manager, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, int, int]:
    """Files planned, reads of a file (check and write together), messages added."""
    reads: list[Path] = []
    real = importer_module.read_file

    def counted(plan: importer_module.FilePlan) -> importer_module.FileContents:
        reads.append(plan.path)
        return real(plan)

    monkeypatch.setattr(importer_module, "read_file", counted)
    importer = Importer(manager, keep=True, remember=False)
    plans = importer.plan([corpus])
    importer.check_retention(plans)
    summary = importer.run(plans)
    return len(plans), len(reads), summary.messages_added


def test_the_check_and_the_write_parse_a_file_once(
    manager: Manager, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files, reads, messages = _import_counting_reads(manager, corpus, monkeypatch)
    assert files >= 5 and reads == files
    assert messages == count_rows(manager, MessageRow) > 0


def test_files_past_the_kept_bytes_are_parsed_once_too(
    manager: Manager, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer_module, "PARSED_KEPT_BYTES", 0)
    files, reads, messages = _import_counting_reads(manager, corpus, monkeypatch)
    assert files >= 5 and reads == files  # the check's parses waited in the spool
    assert messages == count_rows(manager, MessageRow) > 0


def _spools(folder: Path) -> list[Path]:
    return sorted(folder.glob("sessionboard-import-*/*.pickle"))


@pytest.mark.parametrize("workers", [1, 2])
def test_the_spool_holds_the_parses_past_the_kept_bytes_until_the_write(
    manager: Manager, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    plans = Importer(manager, keep=True, remember=False).plan([corpus])
    # the first file is kept in memory, the others are spooled
    monkeypatch.setattr(importer_module, "PARSED_KEPT_BYTES", plans[0].todo)
    importer = Importer(manager, keep=True, remember=False, workers=workers)
    importer.check_retention(plans)
    assert len(_spools(temp)) == len(plans) - 1
    summary = importer.run(plans)
    assert list(temp.iterdir()) == []  # the folder went with the run
    expected = {
        (item.session.id, m.source_key, m.content)
        for plan in plans
        for item in read_file(plan).sessions
        for m in item.messages
    }
    stored = {(r.session_id, r.source_key, r.content) for r in stored_messages(manager)}
    assert stored == expected and summary.messages_added == len(stored_messages(manager))


def test_a_refused_check_leaves_no_spool(
    manager: Manager, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    folder = tmp_path / "files"
    folder.mkdir()
    with_a_bad_file(corpus, folder)
    monkeypatch.setattr(importer_module, "PARSED_KEPT_BYTES", 0)
    importer = Importer(manager, keep=True, remember=False)
    with pytest.raises(importer_module.ImportRefused):
        importer.check_retention(importer.plan([folder]))
    assert list((tmp_path / "temp").iterdir()) == []
    assert count_rows(manager, MessageRow) == 0


def test_a_spool_left_by_a_killed_import_goes_with_the_next_one(
    manager: Manager, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    killed = tmp_path / f"{importer_module.SPOOL_PREFIX}{int(ended.stdout)}-abc"
    running = tmp_path / f"{importer_module.SPOOL_PREFIX}{os.getpid()}-def"
    for folder in (killed, running):
        folder.mkdir()
        (folder / "0.pickle").write_bytes(b"left")
    monkeypatch.setattr(importer_module, "PARSED_KEPT_BYTES", 0)
    importer = Importer(manager, keep=True, remember=False)
    plans = importer.plan([corpus])
    importer.check_retention(plans)
    assert not killed.exists() and (running / "0.pickle").exists()
    assert len(_spools(tmp_path)) == len(plans) + 1  # this import's, and the running one's
    importer.run(plans)
    assert _spools(tmp_path) == [running / "0.pickle"]
