"""CPU a page costs, this tree against an earlier revision, alternated in one process.

    .venv/bin/python bench/ab_pages.py --before REV --database-url URL [--rounds 16] PATH...

On a shared or throttled machine two runs of the same code minutes apart differ
by a third (the host's speed drifts), far more than most changes. Here both
trees serve the same database in one process, their requests alternated in
batches (``--batch`` requests of one tree, then of the other, in turns whose
order flips every round), so a drift falls on both alike.

The earlier revision's ``webapp`` package, templates and static files are taken
with ``git archive`` into a temporary folder and its package renamed
``webapp_before`` (every ``webapp`` name in its Python files), so that both import
side by side. Each tree logs in as the user ``bench`` with the password
``bench/million.py`` gives it (create it with that run, or ``sessionboard user``).

For each path: the app's CPU per request (this process's, in ms; the median
batch in brackets), on PostgreSQL the server processes' CPU per request (all
``postgres`` processes of this machine, from ``/proc``: run it on a quiet
database server), the wall time, and this tree's (app + server) CPU over the
earlier one's. Not a test: it prints a Markdown table.
"""

from __future__ import annotations

import argparse
import glob
import importlib
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api_throughput import process_cpu  # noqa: E402  (bench/ is on the path)
from million import BENCH_PASSWORD  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def server_cpu() -> float:
    """CPU seconds of every ``postgres`` process of this machine so far."""
    total = 0.0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            name, seconds = process_cpu(int(stat.split("/")[2]))
        except OSError:  # gone meanwhile
            continue
        if name.startswith("postgres"):
            total += seconds
    return total


def earlier_tree(revision: str, into: Path) -> None:
    """``revision``'s package as ``webapp_before`` in ``into``, with its templates
    and static files beside it (where its ``create_app`` looks for them)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "webapp", "templates", "static"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    tar = into / "tree.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as files:
        files.extractall(into, filter="data")
    (into / "webapp").rename(into / "webapp_before")
    for source in (into / "webapp_before").rglob("*.py"):
        text = source.read_text()
        source.write_text(re.sub(r"\bwebapp\b", "webapp_before", text))


def logged_in(package: Any, url: str) -> Any:
    """A test client of ``package``'s app on ``url``, logged in as ``bench``."""
    app = package.create_app({"DATABASE_URL": url})
    app.extensions["sessionboard.manager"].stop()  # no sweeper, no passes
    client = app.test_client()
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if token is None:
        sys.exit("no login form")
    data = {"csrf_token": token.group(1), "name": "bench", "password": BENCH_PASSWORD}
    if client.post("/login", data=data).status_code != 302:
        sys.exit("cannot log in as bench: run bench/million.py on this database first")
    return client


@dataclass
class Cost:
    """A tree's seconds on one page, summed over its turns, and each turn's app
    CPU per request."""

    app: float = 0.0
    server: float = 0.0
    wall: float = 0.0
    turns: list[float] = field(default_factory=list)

    def cells(self, requests: int) -> str:
        ms = 1000 / requests
        median = sorted(self.turns)[len(self.turns) // 2] * 1000
        return f"{self.app * ms:.2f} ({median:.2f}) | {self.server * ms:.2f} | {self.wall * ms:.2f}"


def measure(clients: dict[str, Any], path: str, rounds: int, batch: int) -> dict[str, Cost]:
    """Each tree's cost of ``path``, their turns alternated."""
    costs = {name: Cost() for name in clients}
    for client in clients.values():
        for _ in range(10):  # warm: compiled templates and statements, pooled connections
            status = client.get(path).status_code
            if status not in (200, 204):
                sys.exit(f"{path}: {status}")
    order = list(clients.items())
    for turn in range(rounds):
        for name, client in order if turn % 2 == 0 else order[::-1]:
            cpu, wall, server = time.process_time(), time.perf_counter(), server_cpu()
            for _ in range(batch):
                client.get(path)
            cost = costs[name]
            cost.turns.append((time.process_time() - cpu) / batch)
            cost.app += time.process_time() - cpu
            cost.server += server_cpu() - server
            cost.wall += time.perf_counter() - wall
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="pages, e.g. /sessions '/sessions?status=failed'")
    parser.add_argument("--before", required=True, help="the earlier revision (git)")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rounds", type=int, default=16, help="turns of each tree per page")
    parser.add_argument("--batch", type=int, default=10, help="requests per turn")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sessionboard-ab-") as folder:
        earlier_tree(args.before, Path(folder))
        sys.path.insert(0, folder)
        sys.path.insert(0, str(ROOT))
        clients = {
            "before": logged_in(importlib.import_module("webapp_before"), args.database_url),
            "this": logged_in(importlib.import_module("webapp"), args.database_url),
        }
        requests = args.rounds * args.batch
        print(f"\n{args.before} against this tree, {args.rounds} x {args.batch} requests each\n")
        print(
            "| page | before: app ms (median) | server ms | wall ms "
            "| this: app ms (median) | server ms | wall ms | this / before (app + server) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for path in args.paths:
            costs = measure(clients, path, args.rounds, args.batch)
            before, this = costs["before"], costs["this"]
            ratio = (this.app + this.server) / (before.app + before.server)
            cells = f"{before.cells(requests)} | {this.cells(requests)}"
            print(f"| {path} | {cells} | {ratio:.3f} |", flush=True)


if __name__ == "__main__":
    main()
