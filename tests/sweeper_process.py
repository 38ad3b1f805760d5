"""A process that runs the sweeper loop on a database until it is killed.

Used by tests/test_sweeper.py: ``python -m tests.sweeper_process URL HOLDER INTERVAL``.
"""

from __future__ import annotations

import sys
import threading
from datetime import timedelta

from webapp.sessions import Config, Manager, MessageStore


def main() -> None:
    """Sweep every INTERVAL seconds as HOLDER until killed."""
    url, holder, interval = sys.argv[1], sys.argv[2], float(sys.argv[3])
    manager = Manager(
        Config(sweep_interval=timedelta(seconds=interval)), MessageStore(url, migrate=False)
    )
    manager.start_sweeper(holder=holder)
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
