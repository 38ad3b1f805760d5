"""Realistic generated sessions for a first look and for benchmarks.

Sessions are spread over the last 30 days in every status, with transcripts that
hold markdown, code blocks, tool calls and results in ``meta``, thinking, long
messages, and failures with real-looking errors. Rows go in with set-based
inserts in batches, so 100,000 sessions take seconds, not minutes.
"""

from __future__ import annotations

import gc
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from webapp.sessions import MessageStore, Status
from webapp.sessions.store import BulkRows, messages_t, sessions_t
from webapp.sessions.types import excerpt

PROJECTS = [
    "/home/dev/src/payments-api",
    "/home/dev/src/web-frontend",
    "/srv/repos/infra-terraform",
    "/home/ana/work/ml-pipeline",
    "/Users/sam/code/mobile-app",
    "/home/dev/src/sessionboard",
]
BRANCHES = ["main", "develop", "fix/flaky-tests", "feat/oauth-login", "chore/deps", "release/2.4"]
MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"]
REQUESTS = [
    "Fix the failing test in tests/test_billing.py::test_refund_rounding",
    "Add pagination to the /orders endpoint, keyset not offset",
    "Why does the CI job `lint` fail on main since yesterday?",
    "Refactor the retry logic in client.py into a decorator with jitter",
    "Write a migration that adds an index on events(created_at)",
    "Upgrade React Router to v7 and fix the type errors",
    "The dashboard is slow with 10k rows. Profile it and fix the hot spot.",
    "Add a dark mode that follows the system setting",
    "Explain what `terraform plan` will change in the staging workspace",
    "Port the CSV exporter to stream rows instead of building a list",
    "Our Dockerfile image is 2 GB. Make it smaller.",
    "Add OpenTelemetry tracing to the HTTP handlers",
]
ERRORS = [
    "anthropic.RateLimitError: Error code: 429 - rate_limit_error: Number of request tokens has exceeded your per-minute rate limit",
    "anthropic.APIStatusError: Error code: 529 - overloaded_error: Overloaded",
    "subprocess.TimeoutExpired: Command '['pytest', '-x']' timed out after 600 seconds",
    "PermissionError: [Errno 13] Permission denied: '/srv/repos/infra-terraform/.terraform/lock'",
    "git.exc.GitCommandError: Cmd('git') failed due to: exit code(128) cmdline: git push origin HEAD stderr: 'rejected: non-fast-forward'",
    "Agent stopped: maximum number of turns (50) reached",
    "ConnectionResetError: [Errno 104] Connection reset by peer",
    "context window exceeded: prompt is too long: 212345 tokens > 200000 maximum",
]
TOOLS: list[tuple[str, dict[str, Any], str]] = [
    (
        "Read",
        {"file_path": "src/billing/refund.py"},
        "     1\tfrom decimal import Decimal, ROUND_HALF_EVEN\n     2\t\n     3\tdef refund_amount(order, ratio):\n     4\t    return (order.total * ratio).quantize(Decimal('0.01'))\n",
    ),
    (
        "Bash",
        {"command": "pytest -x -q tests/test_billing.py", "description": "Run the billing tests"},
        "F.....\n=================================== FAILURES ===================================\n___________________________ test_refund_rounding ____________________________\nE       AssertionError: assert Decimal('3.34') == Decimal('3.33')\n1 failed, 5 passed in 0.42s",
    ),
    (
        "Grep",
        {"pattern": "def paginate", "path": "src"},
        "src/api/orders.py:41:def paginate(query, limit, offset):",
    ),
    (
        "Edit",
        {"file_path": "src/api/orders.py", "old_string": "offset", "new_string": "cursor"},
        "The file src/api/orders.py has been updated.",
    ),
    (
        "Glob",
        {"pattern": "**/*.tf"},
        "main.tf\nvariables.tf\nmodules/vpc/main.tf\nmodules/rds/main.tf",
    ),
    (
        "WebFetch",
        {"url": "https://docs.python.org/3/library/decimal.html", "prompt": "rounding modes"},
        "ROUND_HALF_EVEN rounds to nearest with ties going to the nearest even integer.",
    ),
]
ANSWERS = [
    "The test fails because `quantize` uses the context's rounding, which is `ROUND_HALF_EVEN`. "
    "Refunds must round **half up**:\n\n```python\nfrom decimal import ROUND_HALF_UP\n\n"
    'def refund_amount(order, ratio):\n    return (order.total * ratio).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)\n```\n\n'
    "All 6 tests pass now.",
    "I replaced the offset pagination with a keyset cursor:\n\n1. the cursor encodes `(created_at, id)` of the last row\n"
    "2. the query filters `WHERE (created_at, id) < (:c, :i)`\n3. an index on `(created_at, id)` serves it\n\n"
    "| rows | before | after |\n|---:|---:|---:|\n| 10k | 180 ms | 4 ms |\n| 1M | 9.2 s | 5 ms |",
    "The `lint` job fails since ruff 0.8 enabled `UP038`. Two options:\n\n- pin ruff in `requirements-dev.txt`, or\n"
    "- apply the fix: `ruff check --fix --select UP038 .`\n\nI applied the fix; the diff touches 14 files.",
    "Done. The image went from **2.1 GB** to **164 MB**:\n\n```dockerfile\nFROM python:3.12-slim AS build\n"
    "RUN pip wheel --wheel-dir /wheels -r requirements.txt\n\nFROM python:3.12-slim\nCOPY --from=build /wheels /wheels\n"
    "RUN pip install --no-index /wheels/* && rm -rf /wheels\n```",
    "Here is what `terraform plan` will do in *staging*:\n\n- `aws_db_instance.main` — **replace** (engine version 14 → 16)\n"
    "- `aws_security_group.api` — update in place (new ingress rule on 443)\n\n> The replacement means downtime: take a snapshot first.",
]
THOUGHTS = [
    "The assertion shows 3.34 vs 3.33, so this is rounding, not arithmetic. Check the decimal context.",
    "Offset pagination gets slower with depth; a keyset on (created_at, id) keeps it constant.",
    "Before changing anything I should read the workflow file to see which ruff version CI installs.",
]
#: (status, weight): most sessions finished well; some failed, expired or closed.
STATUS_WEIGHTS = [
    (Status.COMPLETED, 55),
    (Status.FAILED, 12),
    (Status.EXPIRED, 8),
    (Status.CLOSED, 15),
    (Status.RUNNING, 5),
    (Status.PENDING, 5),
]


def _long_log(rng: random.Random) -> str:
    """A build log of a few hundred lines: a long message (tens of KB)."""
    lines = [
        f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z "
        f"INFO worker[{rng.randint(1, 8)}] processed batch {i} in {rng.randint(5, 900)} ms"
        for i in range(rng.randint(300, 900))
    ]
    return "```\n" + "\n".join(lines) + "\n```"


def _transcript(
    rng: random.Random,
    request: str,
    start: datetime,
    end: datetime,
    model: str,
    failed_with: str,
    long_logs: list[str],
) -> Iterator[dict[str, Any]]:
    """The message rows of one session, spread between ``start`` and ``end``."""
    turns = rng.choices([1, 2, 3, 8], weights=[50, 28, 17, 5])[0]
    rows: list[dict[str, Any]] = []
    prompt = request
    for turn in range(turns):
        rows.append({"role": "user", "content": prompt, "meta": None})
        if rng.random() < 0.4:
            rows.append(
                {"role": "assistant", "content": rng.choice(THOUGHTS), "meta": {"kind": "thinking"}}
            )
        for _ in range(rng.randint(0, 3)):
            name, tool_input, output = rng.choice(TOOLS)
            tool_id = f"toolu_{uuid.UUID(int=rng.getrandbits(128)).hex[:24]}"
            rows.append(
                {
                    "role": "assistant",
                    "content": f"{name}({', '.join(f'{k}={v!r}' for k, v in tool_input.items())})",
                    "meta": {
                        "kind": "tool_use",
                        "tool_name": name,
                        "tool_input": tool_input,
                        "tool_use_id": tool_id,
                        "model": model,
                    },
                }
            )
            is_error = rng.random() < 0.08
            rows.append(
                {
                    "role": "tool",
                    "content": "Error: command exited with status 1" if is_error else output,
                    "meta": {"kind": "tool_result", "tool_use_id": tool_id, "is_error": is_error},
                }
            )
            if rng.random() < 0.005:  # a long build log now and then (tens of KB)
                rows.append(
                    {
                        "role": "tool",
                        "content": rng.choice(long_logs),
                        "meta": {"kind": "tool_result", "tool_use_id": tool_id, "is_error": False},
                    }
                )
        answer = rng.choice(ANSWERS)
        rows.append(
            {
                "role": "assistant",
                "content": answer,
                "summary": answer.split("\n", 1)[0][:120] if len(answer) > 300 else "",
                "meta": {
                    "model": model,
                    "usage": {
                        "input_tokens": rng.randint(800, 90000),
                        "output_tokens": rng.randint(50, 4000),
                    },
                },
            }
        )
        prompt = rng.choice(
            [
                "Thanks. Now add a test for it.",
                "Also update the README.",
                "Can you explain the second change?",
                "Run the whole suite again.",
            ]
        )
        if turn == turns - 1 and failed_with:
            rows.append({"role": "system", "content": failed_with, "meta": {"kind": "error"}})
    span = max((end - start).total_seconds(), 1.0)
    for i, row in enumerate(rows):
        row["timestamp"] = start + timedelta(seconds=span * (i + 1) / (len(rows) + 1))
        row.setdefault("summary", "")
        yield row


def _statuses(rng: random.Random, n: int) -> list[Status]:
    statuses = [s for s, _ in STATUS_WEIGHTS]
    return rng.choices(statuses, [w for _, w in STATUS_WEIGHTS], k=n)


def _created(rng: random.Random, now: datetime, timeout: timedelta, status: Status) -> datetime:
    """When a session began; running and pending ones began within their timeout."""
    if status in (Status.RUNNING, Status.PENDING):
        return now - timedelta(seconds=rng.uniform(0, timeout.total_seconds() * 0.9))
    return now - timedelta(seconds=rng.uniform(60, 30 * 86400))


def _uuid7(rng: random.Random, when: datetime) -> str:
    """A version 7 UUID (RFC 9562): the millisecond time first, then random bits."""
    millis = int(when.timestamp() * 1000) & (2**48 - 1)
    value = (millis << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64)
    value |= (0b10 << 62) | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


def generate(
    store: MessageStore,
    sessions: int,
    *,
    now: datetime,
    timeout: timedelta,
    retention: timedelta,
    seed: int = 1,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Insert ``sessions`` generated sessions with their transcripts; return counts.

    Sessions older than the retention window are marked "keep" (all but one in ten),
    so the demo survives the first sweep and the sweeper still has work to show.
    """
    totals = {"sessions": 0, "messages": 0, "kept": 0}
    # Millions of short-lived dicts and no reference cycles: the cyclic garbage
    # collector would only rescan the growing heap, again and again.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for session_rows, message_rows in _batches(
            store, sessions, now, timeout, retention, seed, batch_size, totals
        ):
            with store.write() as conn:
                store.bulk_insert(conn, sessions_t, session_rows)
                store.bulk_insert(conn, messages_t, message_rows)
            if progress is not None:
                progress(len(session_rows.values))
    finally:
        if gc_was_enabled:
            gc.enable()
    return totals


def _batches(
    store: MessageStore,
    sessions: int,
    now: datetime,
    timeout: timedelta,
    retention: timedelta,
    seed: int,
    batch_size: int,
    totals: dict[str, int],
) -> Iterator[tuple[BulkRows, BulkRows]]:
    """The sessions and messages of each batch, ready for the driver."""
    rng = random.Random(seed)
    long_logs = [_long_log(rng) for _ in range(8)]
    # Sessions are made oldest first, with time-ordered (version 7) ids, as a
    # real history arrives: every index then grows at its end, which keeps a
    # bulk load of 100,000 sessions far from the random page writes of uuid4 order.
    plan = sorted(
        (_created(rng, now, timeout, status), status) for status in _statuses(rng, sessions)
    )
    for first in range(0, sessions, batch_size):
        session_rows: list[dict[str, Any]] = []
        message_rows: list[dict[str, Any]] = []
        for created, status in plan[first : first + batch_size]:
            duration = timedelta(seconds=rng.lognormvariate(4.5, 1.1))
            end = min(created + duration, now)
            model = rng.choice(MODELS)
            request = rng.choice(REQUESTS)
            error = rng.choice(ERRORS) if status in (Status.FAILED,) else ""
            session_id = _uuid7(rng, created)
            msgs = list(_transcript(rng, request, created, end, model, error, long_logs))
            if status is Status.PENDING:
                msgs = msgs[:1]
            expires = None if rng.random() < 0.03 else created + timeout
            if status in (Status.RUNNING, Status.PENDING) and expires is not None:
                expires = max(expires, now + timedelta(minutes=5))
            keep = created < now - retention and retention > timedelta(0) and rng.random() < 0.9
            totals["kept"] += keep
            session_rows.append(
                {
                    "id": session_id,
                    "status": status.value,
                    "request": request,
                    "request_excerpt": excerpt(request),
                    "response": next(
                        (
                            m["content"]
                            for m in reversed(msgs)
                            if m["role"] == "assistant" and not m["meta"].get("kind")
                        ),
                        "",
                    )
                    if status is Status.COMPLETED
                    else "",
                    "error": error,
                    "created_at": created,
                    "last_activity": msgs[-1]["timestamp"] if msgs else created,
                    "expires_at": expires,
                    "context": {
                        "project_path": rng.choice(PROJECTS),
                        "git_branch": rng.choice(BRANCHES),
                        "model": model,
                        "runner": rng.choice(["slack-bot", "ci", "cli"]),
                    },
                    "message_count": len(msgs),
                    "keep": keep,
                    "parent_id": None,
                }
            )
            for m in msgs:
                m["session_id"] = session_id
                m["source_key"] = None
            message_rows.extend(msgs)
        totals["sessions"] += len(session_rows)
        totals["messages"] += len(message_rows)
        yield store.bulk_rows(session_rows), store.bulk_rows(message_rows)
