"""An import killed with ``kill -9`` in the middle of a transaction, then run
again, leaves every message of its files stored once (issue 13 item 3: nothing
acknowledged is lost, nothing is written twice), on both backends."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.transfer.conftest import stored_messages, stored_sessions
from webapp.sessions import Manager
from webapp.transfer.importer import Importer, read_file

# An import with a transaction a file, by worker processes; its second
# transaction says so once its messages are written, then waits to be killed.
_KILLED_IMPORT = """
import sys, time
from webapp.sessions import Config, Manager, MessageStore
from webapp.transfer import importer, newsessions

importer.MESSAGES_PER_TRANSACTION = 1
writes = []
real_write = newsessions.NewSessions.write

def write(self):
    sessions = bool(self._sessions)
    real_write(self)
    writes.append(sessions)
    if sum(writes) == 2:
        print("inside", flush=True)
        time.sleep(60)

newsessions.NewSessions.write = write
manager = Manager(Config(), MessageStore(sys.argv[1], migrate=False))
run = importer.Importer(manager, keep=True, workers=2)
plans = run.plan([sys.argv[2]])
run.check_retention(plans)
run.run(plans)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
def test_an_import_killed_mid_transaction_then_run_again_stores_each_message_once(
    manager: Manager, database_url: str, corpus: Path
) -> None:
    command = [sys.executable, "-c", _KILLED_IMPORT, database_url, str(corpus)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as killed:
        try:
            assert killed.stdout is not None
            assert killed.stdout.readline().strip() == "inside"
        finally:
            killed.send_signal(signal.SIGKILL)
    # the first file's transaction is stored, the second's is not
    first = len(stored_messages(manager))
    assert 0 < first

    again = Importer(manager, keep=True)
    plans = again.plan([corpus])
    assert again.unchanged_files >= 1
    again.check_retention(plans)
    summary = again.run(plans)

    assert Importer(manager, keep=True).plan([corpus]) == []  # every file recorded
    every = {
        (item.session.id, m.source_key)
        for plan in Importer(manager, remember=False).plan([corpus])
        for item in read_file(plan).sessions
        for m in item.messages
    }
    rows = stored_messages(manager)
    keys = Counter((r.session_id, r.source_key) for r in rows)
    assert set(keys) == every and max(keys.values()) == 1
    assert first + summary.messages_added == len(rows)
    counts = Counter(r.session_id for r in rows)
    assert {s.id: s.message_count for s in stored_sessions(manager).values()} == {
        sid: counts.get(sid, 0) for sid in stored_sessions(manager)
    }
