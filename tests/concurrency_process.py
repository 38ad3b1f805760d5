"""Worker processes for tests/test_concurrency.py.

``append URL SECONDS TAG SESSION...``: four threads append messages round-robin to
the sessions for SECONDS; prints one JSON line with the acknowledged contents and
any errors. ``update URL COUNT SESSION``: COUNT read-modify-write increments of
``context["n"]`` through Manager.update; prints the errors.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from webapp.sessions import Config, Manager, Message, MessageStore

THREADS = 4


def append(url: str, seconds: float, tag: str, session_ids: list[str]) -> None:
    """Append from four threads until the time is up."""
    manager = Manager(Config(), MessageStore(url, migrate=False))
    acknowledged: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def work(thread: int) -> None:
        n = 0
        while time.monotonic() < stop_at:
            content = f"{tag}-t{thread}-{n}"
            session_id = session_ids[n % len(session_ids)]
            try:
                ok = manager.append_message(session_id, Message("user", content))
            except Exception as exc:  # noqa: BLE001  (reported to the test)
                with lock:
                    errors.append(repr(exc))
                continue
            if ok:
                with lock:
                    acknowledged.append(content)
            n += 1

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"acknowledged": acknowledged, "errors": errors}))
    manager.stop()


def update(url: str, count: int, session_id: str) -> None:
    """Increment the session's context counter ``count`` times."""
    manager = Manager(Config(), MessageStore(url, migrate=False))
    errors: list[str] = []

    def bump(session: object) -> None:
        context = session.context  # type: ignore[attr-defined]
        context["n"] = context.get("n", 0) + 1

    for _ in range(count):
        try:
            assert manager.update(session_id, bump)
        except Exception as exc:  # noqa: BLE001  (reported to the test)
            errors.append(repr(exc))
    print(json.dumps({"errors": errors}))
    manager.stop()


if __name__ == "__main__":
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "append":
        append(url, float(sys.argv[3]), sys.argv[4], sys.argv[5:])
    else:
        update(url, int(sys.argv[3]), sys.argv[4])
