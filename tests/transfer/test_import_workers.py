"""Files read ahead by worker processes (``Importer(workers=...)``, the CLI's
choice): the same contents in the same order as a read in this process, a bad
file still stops the import at its own turn, and the workers end with a killed
import."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.transfer.conftest import count_rows, stored_sessions, with_a_bad_file
from webapp.sessions import Manager
from webapp.sessions.models import MessageRow
from webapp.transfer import importer as importer_module
from webapp.transfer.importer import (
    FileContents,
    FilePlan,
    Importer,
    ImportRefused,
    read_file,
    read_in_order,
)


def _plans(folder: Path) -> list[FilePlan]:
    return [
        FilePlan(path, "transcript", size=path.stat().st_size, mtime=path.stat().st_mtime)
        for path in sorted(folder.glob("*.jsonl"))
    ]


def test_workers_read_what_this_process_reads_in_the_same_order(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer_module, "READ_AHEAD_FILES", 1)  # a window of 2 files
    plans = _plans(corpus)
    here = list(read_in_order(plans))
    ahead = list(read_in_order(plans, workers=2))
    assert [plan.key for plan, _ in ahead] == [plan.key for plan in plans]
    assert [contents for _, contents in ahead] == [contents for _, contents in here]
    assert sum(len(item.messages) for _, c in ahead for item in c.sessions) > 100
    # the ones known already are taken out of ``known``, not read again: kept,
    # or loaded from their spool file (which goes)
    spooled = tmp_path / "2.pickle"
    spooled.write_bytes(pickle.dumps(here[2][1]))
    known: dict[str, FileContents | Path] = {plans[1].key: here[1][1], plans[2].key: spooled}
    again = list(read_in_order(plans, workers=2, known=known))
    assert again[1][1] is here[1][1] and known == {}
    assert again[2][1] == here[2][1] and not spooled.exists()


def test_a_bad_file_read_ahead_stops_the_import_at_its_turn(
    manager: Manager, corpus: Path, tmp_path: Path
) -> None:
    bad = with_a_bad_file(corpus, tmp_path)
    importer = Importer(manager, keep=True, remember=False, workers=2)
    plans = importer.plan([tmp_path])
    assert 2 <= [plan.path for plan in plans].index(bad) < len(plans) - 2
    with pytest.raises(ImportRefused, match="5bad.jsonl, session '../sessions/victim'"):
        importer.check_retention(plans)
    assert stored_sessions(manager) == {}
    # written without the check: the files before the bad one are, not those after it
    with pytest.raises(ImportRefused, match="5bad.jsonl"):
        Importer(manager, keep=True, remember=False, workers=2).run(plans)
    before = plans[: [plan.path for plan in plans].index(bad)]
    ids = {item.session.id for plan in before for item in read_file(plan).sessions}
    assert set(stored_sessions(manager)) == ids
    assert count_rows(manager, MessageRow) > 0


_HOLDS_A_POOL = """
import multiprocessing, sys, time
from pathlib import Path
from webapp.transfer.importer import FilePlan, read_in_order
paths = sorted(Path(sys.argv[1]).glob("*.jsonl"))
plans = [FilePlan(p, "transcript", size=p.stat().st_size) for p in paths]
files = read_in_order(plans, workers=2)
next(files)
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie no longer does)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_reading_workers_end_when_the_import_is_killed(corpus: Path) -> None:
    command = [sys.executable, "-c", _HOLDS_A_POOL, str(corpus)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None
            workers = [int(pid) for pid in holder.stdout.readline().split()]
            assert len(workers) == 2 and all(map(_alive, workers))
        finally:
            holder.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10 * importer_module.PARENT_CHECK_S + 5
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, workers))
