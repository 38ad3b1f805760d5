"""Ingestion (issue 13 item 3, issue 12's append overhead): appends and imports
beside their floors, in one run. Not a test: prints a Markdown report.

    .venv/bin/python bench/ingest.py [--database-url URL] [--copies 200] [--batches 60]
        [--before /path/to/a/clean/copy/of/main] [--import-only] [--runs 1]

1. Batches of 100 messages through ``Manager.append_messages`` (one transaction
   and commit each, the usage ledger and the search index kept), beside the raw
   floor: the same rows through the driver's ``executemany``, one transaction
   and commit a batch. On two fresh databases of the same engine: the index on,
   and the index dropped (``search_index.uninstall``: no triggers, no FTS).
2. Single appends on the same two databases (the search index's overhead).
3. ``sessionboard import --keep`` of ``--copies`` copies of the corpus
   (tests/data/corpus/claude-code, session ids rewritten per copy), with the
   search index on and off, and its start-up: the same command on an empty
   folder; with ``--before``, the import by that copy of the source too (its
   ``webapp`` on ``PYTHONPATH``), alternating with this tree's, ``--runs``
   times each (each figure the best of its runs). Beside it, the
   import's floor: the same messages' rows (the copies parsed beforehand, their
   sessions made beforehand) through the driver's ``executemany``, as many a
   transaction as the import writes (``MESSAGES_PER_TRANSACTION``), index on
   and off.

Each figure in wall time and in CPU time (the machine is shared: wall time
depends on the other load, CPU time less so).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search import fresh_database  # noqa: E402  (bench/search.py)

from webapp.claude.transcript import iter_transcript_files  # noqa: E402
from webapp.sessions import (  # noqa: E402
    Config,
    Manager,
    Message,
    MessageStore,
    search_index,  # noqa: E402
)
from webapp.sessions.rows import message_values, messages_t  # noqa: E402
from webapp.sessions.store import make_engine  # noqa: E402
from webapp.transfer.importer import (  # noqa: E402
    MESSAGES_PER_TRANSACTION,
    FilePlan,
    read_in_order,
)

TEXT = "Ran the billing tests: the refund rounding is off by one cent. " * 4
CORPUS = ROOT / "tests" / "data" / "corpus" / "claude-code"


class Timer:
    """Wall and CPU seconds (this process's) of a block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def _batch(b: int, size: int) -> list[Message]:
    meta = {"model": "claude-sonnet-4-5", "usage": {"input_tokens": 10, "output_tokens": 20}}
    return [Message("assistant", f"{b}.{i} {TEXT}", meta=meta) for i in range(size)]


def _store(url: str, index: bool) -> tuple[Manager, str]:
    store = MessageStore(url)
    if not index:
        with store.write() as conn:
            search_index.uninstall(conn)
    manager = Manager(Config(), store)
    session = manager.create("ingest benchmark", expires_at=None)
    manager.set_running(session.id)
    return manager, session.id


def appends(url: str, index: bool, batches: int, singles: int) -> dict[str, Timer]:
    """Batches of 100 and single appends through the Manager, and the raw floor."""
    manager, sid = _store(url, index)
    manager.append_messages(sid, _batch(-1, 100))  # warm-up
    out: dict[str, Timer] = {}
    with Timer() as out["batch"]:
        for b in range(batches):
            manager.append_messages(sid, _batch(b, 100))
    with Timer() as out["single"]:
        for i in range(singles):
            manager.append_messages(sid, [Message("assistant", f"{i} {TEXT}")])
    store = manager.store
    columns = ("session_id", "role", "content", "summary", "timestamp", "meta", "source_key")
    now = manager.clock()
    with Timer() as out["raw"]:
        for b in range(batches):
            rows = [
                {
                    "session_id": sid,
                    "role": m.role,
                    "content": m.content,
                    "summary": "",
                    "timestamp": now,
                    "meta": m.meta,
                    "source_key": None,
                }
                for m in _batch(b, 100)
            ]
            bulk = store.bulk_rows(rows)
            assert bulk.columns == columns
            with store.write() as conn:
                store.bulk_insert(conn, messages_t, bulk)
    manager.stop()
    return out


def make_copies(folder: Path, copies: int) -> int:
    """``copies`` copies of the corpus with their session ids rewritten; its files."""
    texts = {f.name: f.read_text() for f in sorted(CORPUS.glob("*.jsonl"))}
    ids: set[str] = set()
    for text in texts.values():
        ids.update(re.findall(r'"sessionId":"([^"]+)"', text))
    pattern = re.compile("|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)))
    for k in range(copies):
        target = folder / f"copy{k:03d}"
        target.mkdir(parents=True)
        names = {i: str(uuid.uuid5(uuid.NAMESPACE_URL, f"{k}/{i}")) for i in ids}

        def swap(match: re.Match[str], names: dict[str, str] = names) -> str:
            return names[match.group(0)]

        for name, text in texts.items():
            (target / pattern.sub(swap, name)).write_text(pattern.sub(swap, text))
    return len(texts) * copies


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of ``sessionboard ARGS`` and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "sessionboard"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def _without_index(url: str) -> None:
    store = MessageStore(url)
    with store.write() as conn:
        search_index.uninstall(conn)
    store.close()


def import_floor(url: str, corpus: Path, index: bool) -> tuple[int, Timer]:
    """The import's messages through the driver's executemany, as many a
    transaction as the import writes: the copies are parsed and their sessions
    made before the timer starts."""
    if not index:
        _without_index(url)
    store = MessageStore(url)
    plans = [
        FilePlan(p, "transcript", size=p.stat().st_size, mtime=p.stat().st_mtime)
        for p in iter_transcript_files(corpus)
    ]
    rows: list[dict[str, object]] = []
    with store.write():
        for _plan, contents in read_in_order(plans, os.cpu_count() or 1):
            for item in contents.sessions:
                session = item.session
                session.parent_id = None
                store.create_session(session)
                at = session.last_activity
                rows += message_values(session.id, item.messages, at, checked=True)
    with Timer() as timer:
        for start in range(0, len(rows), MESSAGES_PER_TRANSACTION):
            bulk = store.bulk_rows(rows[start : start + MESSAGES_PER_TRANSACTION])
            with store.write() as conn:
                store.bulk_insert(conn, messages_t, bulk)
    store.close()
    return len(rows), timer


def import_rows(
    url: str, folder: Path, copies: int, before: Path | None, runs: int = 1
) -> list[str]:
    """The import of ``copies`` copies, with the index on and off, by this tree and
    (``before``) by another copy of Sessionboard's source, alternately, each into
    a fresh database of ``url``'s engine, ``runs`` times (each figure the best
    of them); its start-up; and its floor."""
    corpus = folder / "corpus"
    files = make_copies(corpus, copies)
    (folder / "empty").mkdir()
    sources: list[tuple[str, Path]] = [("this tree", ROOT)]
    if before is not None:
        sources.append(("before", before.resolve()))
    best: dict[tuple[str, str], tuple[float, float, int, list[str]]] = {}
    for run in range(runs):
        for name in ("on", "off"):
            for label, source in sources:
                with fresh_database(url, f"import_{name}_{run}_{len(best)}", folder) as db:
                    env = {
                        **os.environ,
                        "PYTHONPATH": str(source),
                        "SESSIONBOARD_DATABASE_URL": db,
                        "SESSIONBOARD_INSTANCE_PATH": str(folder / "instance"),
                        "SESSIONBOARD_LOG_LEVEL": "WARNING",
                    }
                    run_cli(["db", "upgrade"], env)
                    if name == "off":
                        _without_index(db)
                    load = Path("/proc/loadavg").read_text().split()[0]
                    wall, cpu, output = run_cli(["import", "--keep", str(corpus)], env)
                added = int(re.search(r"messages added: (\d+)", output).group(1))  # type: ignore[union-attr]
                was_wall, was_cpu, _, loads = best.get((name, label), (wall, cpu, added, []))
                best[name, label] = (min(wall, was_wall), min(cpu, was_cpu), added, [*loads, load])
    out: list[str] = []
    for (name, label), (wall, cpu, added, loads) in best.items():
        out.append(
            f"| import of {copies} copies ({files} files, {added} messages), "
            f"index {name}, {label} | {added / wall:,.0f} | {added / cpu:,.0f} | "
            f"{wall:.1f} s wall, {cpu:.1f} s CPU (its processes; best of {runs}), "
            f"load {', '.join(loads)} |"
        )
    env = {**os.environ, "SESSIONBOARD_DATABASE_URL": url, "SESSIONBOARD_LOG_LEVEL": "WARNING"}
    env["SESSIONBOARD_INSTANCE_PATH"] = str(folder / "instance")
    run_cli(["db", "upgrade"], env)
    s_wall, s_cpu, _ = run_cli(["import", "--keep", str(folder / "empty")], env)
    out.append(
        f"| its start-up (import of an empty folder) | | | {s_wall:.1f} s wall, {s_cpu:.1f} s CPU |"
    )
    for name in ("on", "off"):
        floors = []
        for run in range(runs):
            with fresh_database(url, f"floor_{name}_{run}", folder) as floor_db:
                floors.append(import_floor(floor_db, corpus, name == "on"))
        n = floors[0][0]
        wall, cpu = min(t.wall for _, t in floors), min(t.cpu for _, t in floors)
        out.append(
            f"| floor: the import's {n} messages, raw executemany, "
            f"{MESSAGES_PER_TRANSACTION} a transaction, index {name} | "
            f"{n / wall:,.0f} | {n / cpu:,.0f} | {wall:.1f} s wall (best of {runs}) |"
        )
    return out


def append_rows(results: dict[str, dict[str, Timer]], n_batch: int, n_single: int) -> None:
    """The appends' rows of the report."""

    def rate(n: int, t: Timer) -> str:
        return f"{n / t.wall:,.0f} | {n / t.cpu:,.0f}"

    on, off = results["on"], results["off"]
    rows: list[tuple[str, int, Callable[[dict[str, Timer]], Timer]]] = [
        ("batches of 100, Manager", n_batch, lambda r: r["batch"]),
        ("floor: raw executemany, 100 a transaction", n_batch, lambda r: r["raw"]),
        ("single appends, Manager", n_single, lambda r: r["single"]),
    ]
    for label, n, pick in rows:
        for name, result in (("index on", on), ("index off", off)):
            print(f"| {label}, {name} | {rate(n, pick(result))} | |")
    print(
        f"| batches: Manager / floor (index on) | {on['raw'].wall / on['batch'].wall:.0%} | "
        f"{on['raw'].cpu / on['batch'].cpu:.0%} | |"
    )
    for label, key in (("batches", "batch"), ("single appends", "single")):
        print(
            f"| {label}: index on / off | {off[key].wall / on[key].wall:.0%} | "
            f"{off[key].cpu / on[key].cpu:.0%} | |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: SQLite files in a temp dir")
    parser.add_argument("--batches", type=int, default=60, help="batches of 100 per run")
    parser.add_argument("--singles", type=int, default=300, help="single appends per run")
    parser.add_argument("--copies", type=int, default=200, help="copies of the corpus")
    parser.add_argument(
        "--before", type=Path, help="another copy of the source (e.g. main): its import too"
    )
    parser.add_argument("--import-only", action="store_true", help="skip the appends")
    parser.add_argument(
        "--runs", type=int, default=1, help="imports of each kind, alternated (the best shown)"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sb-ingest-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    engine = make_engine(url)
    backend = engine.dialect.name
    engine.dispose()
    results: dict[str, dict[str, Timer]] = {}
    with ExitStack() as stack:
        for name, index in (("on", True), ("off", False)):
            if not args.import_only:
                db = stack.enter_context(fresh_database(url, f"ingest_{name}", folder))
                results[name] = appends(db, index, args.batches, args.singles)
        import_url = stack.enter_context(fresh_database(url, "ingest_import", folder))
        imported = (
            import_rows(import_url, folder, args.copies, args.before, args.runs)
            if args.copies
            else []
        )
    print(f"## Ingestion on {backend}, {os.cpu_count()} CPUs (shared)\n")
    print("| what | messages/s (wall) | messages/s (CPU) | note |")
    print("|---|---:|---:|---|")
    if results:
        append_rows(results, args.batches * 100, args.singles)
    for row in imported:
        print(row)
    print()
    print(json.dumps({"database": backend, "batches": args.batches, "copies": args.copies}))


if __name__ == "__main__":
    main()
