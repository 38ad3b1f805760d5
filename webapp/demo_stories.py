# ruff: noqa: E501  (sample data: long literal lines)
"""The stories the demo tells: each one a coherent Claude Code session.

A story is a request, the agent's tool calls with the output each one got, and
the answer that follows from them, in the style of the real transcripts
(Read, Grep, Glob, Edit, Write, Bash, TodoWrite, WebFetch, a Task handed to a
subagent). A failed session stops part-way with the error a runner really sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, eq=False)  # hashed by identity: steps are constants
class Step:
    """One tool call and the result it got."""

    tool: str
    input: dict[str, Any]
    output: str
    is_error: bool = False


@dataclass(frozen=True)
class Subagent:
    """Work handed to a subagent through a Task call: its own little session."""

    description: str
    prompt: str
    steps: tuple[Step, ...]
    report: str


@dataclass(frozen=True)
class Story:
    """A session from request to answer; ``follow_up`` is an optional second turn."""

    request: str
    project: str
    branch: str
    thinking: str
    steps: tuple[Step, ...]
    answer: str
    follow_up: tuple[str, tuple[Step, ...], str] | None = None
    subagent: Subagent | None = None
    #: Errors this kind of session fails with, and after how many steps.
    errors: tuple[str, ...] = field(default=())


RATE_LIMIT = (
    "anthropic.RateLimitError: Error code: 429 - {'type': 'error', 'error': {'type': "
    "'rate_limit_error', 'message': 'Number of request tokens has exceeded your per-minute "
    "rate limit'}}"
)
OVERLOADED = (
    "anthropic.APIStatusError: Error code: 529 - {'type': 'error', 'error': "
    "{'type': 'overloaded_error', 'message': 'Overloaded'}}"
)
CONTEXT = "prompt is too long: 212345 tokens > 200000 maximum"
MAX_TURNS = "Agent stopped: maximum number of turns (50) reached"

_REFUND_PY = """from decimal import Decimal


def refund_amount(order, ratio):
    \"\"\"What a partial refund pays back, in the order's currency.\"\"\"
    return (order.total * ratio).quantize(Decimal("0.01"))
"""

STORIES: tuple[Story, ...] = (
    Story(
        request="Fix the failing test in tests/test_billing.py::test_refund_rounding",
        project="/home/dev/src/payments-api",
        branch="fix/refund-rounding",
        thinking=(
            "The test name says rounding. Run it first to see the numbers, then read "
            "refund_amount: quantize without a rounding argument uses the context's "
            "ROUND_HALF_EVEN."
        ),
        steps=(
            Step(
                "Bash",
                {"command": "pytest -x -q tests/test_billing.py", "description": "Run the billing tests"},
                "F.....\n"
                "=================================== FAILURES ===================================\n"
                "_____________________________ test_refund_rounding _____________________________\n"
                "\n    def test_refund_rounding():\n"
                "        order = Order(total=Decimal(\"6.65\"))\n"
                ">       assert refund_amount(order, Decimal(\"0.5\")) == Decimal(\"3.33\")\n"
                "E       AssertionError: assert Decimal('3.32') == Decimal('3.33')\n"
                "E        +  where Decimal('3.32') = refund_amount(...)\n"
                "FAILED tests/test_billing.py::test_refund_rounding - AssertionError\n"
                "1 failed, 5 passed in 0.42s",
                is_error=True,
            ),
            Step(
                "Read",
                {"file_path": "/home/dev/src/payments-api/src/billing/refund.py"},
                "\n".join(f"{i:>6}\t{line}" for i, line in enumerate(_REFUND_PY.splitlines(), 1)),
            ),
            Step(
                "Edit",
                {
                    "file_path": "/home/dev/src/payments-api/src/billing/refund.py",
                    "old_string": '    return (order.total * ratio).quantize(Decimal("0.01"))',
                    "new_string": (
                        '    return (order.total * ratio).quantize(Decimal("0.01"), '
                        "rounding=ROUND_HALF_UP)"
                    ),
                },
                "The file /home/dev/src/payments-api/src/billing/refund.py has been updated.",
            ),
            Step(
                "Edit",
                {
                    "file_path": "/home/dev/src/payments-api/src/billing/refund.py",
                    "old_string": "from decimal import Decimal",
                    "new_string": "from decimal import ROUND_HALF_UP, Decimal",
                },
                "The file /home/dev/src/payments-api/src/billing/refund.py has been updated.",
            ),
            Step(
                "Bash",
                {"command": "pytest -q tests/test_billing.py", "description": "Run the billing tests again"},
                "......\n6 passed in 0.39s",
            ),
        ),
        answer=(
            "The test failed because `quantize` used the decimal context's default rounding, "
            "`ROUND_HALF_EVEN`: 6.65 × 0.5 = 3.325 became **3.32** (ties go to the even digit). "
            "Refunds must round **half up**, to 3.33:\n\n"
            "```python\nfrom decimal import ROUND_HALF_UP, Decimal\n\n\n"
            "def refund_amount(order, ratio):\n"
            '    return (order.total * ratio).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)\n'
            "```\n\nAll 6 billing tests pass."
        ),
        follow_up=(
            "Thanks. Add a test for a refund of exactly half a cent.",
            (
                Step(
                    "Edit",
                    {
                        "file_path": "/home/dev/src/payments-api/tests/test_billing.py",
                        "old_string": "def test_refund_rounding():",
                        "new_string": (
                            "def test_refund_of_half_a_cent_rounds_up():\n"
                            '    assert refund_amount(Order(total=Decimal("0.01")), Decimal("0.5")) '
                            '== Decimal("0.01")\n\n\ndef test_refund_rounding():'
                        ),
                    },
                    "The file /home/dev/src/payments-api/tests/test_billing.py has been updated.",
                ),
                Step(
                    "Bash",
                    {"command": "pytest -q tests/test_billing.py"},
                    ".......\n7 passed in 0.41s",
                ),
            ),
            "Added `test_refund_of_half_a_cent_rounds_up`; 7 tests pass.",
        ),
        errors=(RATE_LIMIT, OVERLOADED),
    ),
    Story(
        request="Add pagination to the /orders endpoint, keyset not offset",
        project="/home/dev/src/payments-api",
        branch="feat/orders-keyset",
        thinking=(
            "Offset pagination gets slower with depth. A keyset on (created_at, id) keeps "
            "every page an index range scan. Find where the endpoint pages today."
        ),
        steps=(
            Step(
                "Grep",
                {"pattern": "def paginate", "path": "src", "output_mode": "content", "-n": True},
                "src/api/orders.py:41:def paginate(query, limit, offset):",
            ),
            Step(
                "Read",
                {"file_path": "/home/dev/src/payments-api/src/api/orders.py", "offset": 35, "limit": 15},
                "    35\t@router.get(\"/orders\")\n"
                "    36\tdef list_orders(limit: int = 50, offset: int = 0):\n"
                "    37\t    query = select(Order).order_by(Order.created_at.desc())\n"
                "    38\t    return paginate(query, limit, offset)\n"
                "    39\t\n    40\t\n"
                "    41\tdef paginate(query, limit, offset):\n"
                "    42\t    return db.execute(query.limit(limit).offset(offset)).scalars().all()\n",
            ),
            Step(
                "MultiEdit",
                {
                    "file_path": "/home/dev/src/payments-api/src/api/orders.py",
                    "edits": [
                        {
                            "old_string": "def list_orders(limit: int = 50, offset: int = 0):",
                            "new_string": "def list_orders(limit: int = 50, cursor: str | None = None):",
                        },
                        {
                            "old_string": "    return paginate(query, limit, offset)",
                            "new_string": (
                                "    if cursor:\n"
                                "        created, order_id = decode_cursor(cursor)\n"
                                "        query = query.where(tuple_(Order.created_at, Order.id) "
                                "< (created, order_id))\n"
                                "    rows = db.execute(query.limit(limit)).scalars().all()\n"
                                "    return {\"orders\": rows, \"next\": encode_cursor(rows[-1]) "
                                "if len(rows) == limit else None}"
                            ),
                        },
                    ],
                },
                "Applied 2 edits to /home/dev/src/payments-api/src/api/orders.py",
            ),
            Step(
                "Write",
                {
                    "file_path": "/home/dev/src/payments-api/migrations/0042_orders_created_id.sql",
                    "content": "CREATE INDEX CONCURRENTLY ix_orders_created_id ON orders (created_at DESC, id DESC);\n",
                },
                "File created successfully at: /home/dev/src/payments-api/migrations/0042_orders_created_id.sql",
            ),
            Step(
                "Bash",
                {"command": "pytest -q tests/api/test_orders.py"},
                "..........\n10 passed in 1.12s",
            ),
        ),
        answer=(
            "The `/orders` endpoint now pages by keyset:\n\n"
            "1. the cursor encodes `(created_at, id)` of the last row;\n"
            "2. the query filters `WHERE (created_at, id) < (:created, :id)`;\n"
            "3. migration `0042` adds an index on `(created_at DESC, id DESC)`.\n\n"
            "| rows | offset page 2,000 | keyset page 2,000 |\n|---:|---:|---:|\n"
            "| 10k | 180 ms | 4 ms |\n| 1M | 9.2 s | 5 ms |"
        ),
        errors=(CONTEXT, OVERLOADED),
    ),
    Story(
        request="Why does the CI job `lint` fail on main since yesterday?",
        project="/home/dev/src/web-frontend",
        branch="main",
        thinking="Read the failing run's log before guessing: which rule, which ruff version.",
        steps=(
            Step(
                "Bash",
                {"command": "gh run view --log-failed --job lint | tail -8", "description": "Show the failing lint log"},
                "lint\tRun ruff check .\tscripts/build.py:12:15: UP038 Use `X | Y` in `isinstance` call instead of `(X, Y)`\n"
                "lint\tRun ruff check .\tscripts/release.py:40:8: UP038 Use `X | Y` in `isinstance` call instead of `(X, Y)`\n"
                "lint\tRun ruff check .\tFound 14 errors.\n"
                "lint\tRun ruff check .\t[*] 14 fixable with the `--fix` option.\n"
                "lint\tRun ruff check .\t##[error]Process completed with exit code 1.",
            ),
            Step(
                "Read",
                {"file_path": "/home/dev/src/web-frontend/.github/workflows/ci.yml"},
                "     1\tname: ci\n     2\ton: [push, pull_request]\n     3\tjobs:\n"
                "     4\t  lint:\n     5\t    runs-on: ubuntu-latest\n     6\t    steps:\n"
                "     7\t      - uses: actions/checkout@v4\n     8\t      - run: pip install ruff\n"
                "     9\t      - run: ruff check .\n",
            ),
            Step(
                "Bash",
                {"command": "ruff check --fix --select UP038 . && ruff check .", "description": "Apply the fix"},
                "Found 14 errors (14 fixed, 0 remaining).\nAll checks passed!",
            ),
            Step(
                "Edit",
                {
                    "file_path": "/home/dev/src/web-frontend/.github/workflows/ci.yml",
                    "old_string": "      - run: pip install ruff",
                    "new_string": "      - run: pip install ruff==0.8.4",
                },
                "The file /home/dev/src/web-frontend/.github/workflows/ci.yml has been updated.",
            ),
        ),
        answer=(
            "`lint` installs the newest ruff on every run (`pip install ruff`), and yesterday's "
            "release enabled **UP038** by default. I:\n\n"
            "- applied the fix (`ruff check --fix --select UP038 .`, 14 files), and\n"
            "- pinned `ruff==0.8.4` in `ci.yml` so a new release cannot break main again.\n\n"
            "`ruff check .` passes locally."
        ),
        errors=(MAX_TURNS,),
    ),
    Story(
        request="Our Dockerfile image is 2 GB. Make it smaller.",
        project="/home/dev/src/payments-api",
        branch="chore/slim-image",
        thinking="A 2 GB Python image usually means build tools and caches in the final layer.",
        steps=(
            Step(
                "Read",
                {"file_path": "/home/dev/src/payments-api/Dockerfile"},
                "     1\tFROM python:3.12\n     2\tWORKDIR /app\n     3\tCOPY . .\n"
                "     4\tRUN apt-get update && apt-get install -y build-essential libpq-dev\n"
                "     5\tRUN pip install -r requirements.txt\n"
                "     6\tCMD [\"gunicorn\", \"app:create_app()\"]\n",
            ),
            Step(
                "Write",
                {
                    "file_path": "/home/dev/src/payments-api/Dockerfile",
                    "content": (
                        "FROM python:3.12-slim AS build\n"
                        "RUN apt-get update && apt-get install -y --no-install-recommends build-essential libpq-dev\n"
                        "COPY requirements.txt .\n"
                        "RUN pip wheel --wheel-dir /wheels -r requirements.txt\n\n"
                        "FROM python:3.12-slim\nWORKDIR /app\n"
                        "RUN apt-get update && apt-get install -y --no-install-recommends libpq5 "
                        "&& rm -rf /var/lib/apt/lists/*\n"
                        "COPY --from=build /wheels /wheels\n"
                        "RUN pip install --no-cache-dir --no-index /wheels/* && rm -rf /wheels\n"
                        "COPY . .\nCMD [\"gunicorn\", \"app:create_app()\"]\n"
                    ),
                },
                "The file /home/dev/src/payments-api/Dockerfile has been updated.",
            ),
            Step(
                "Bash",
                {"command": "docker build -q -t payments-api:slim . && docker images payments-api", "timeout": 600000},
                "sha256:4f9c1d0e2b7a\n"
                "REPOSITORY     TAG    IMAGE ID       CREATED          SIZE\n"
                "payments-api   slim   4f9c1d0e2b7a   3 seconds ago    164MB\n"
                "payments-api   latest 9a1e77c3d210   2 weeks ago      2.11GB",
            ),
        ),
        answer=(
            "The image went from **2.11 GB** to **164 MB**: a build stage makes the wheels with "
            "the compilers, and the final `python:3.12-slim` stage installs only the wheels and "
            "`libpq5`.\n\n```dockerfile\nFROM python:3.12-slim AS build\n"
            "RUN pip wheel --wheel-dir /wheels -r requirements.txt\n\nFROM python:3.12-slim\n"
            "COPY --from=build /wheels /wheels\nRUN pip install --no-cache-dir --no-index /wheels/*\n```"
        ),
        errors=(
            "subprocess.TimeoutExpired: Command '['docker', 'build', '-q', '-t', "
            "'payments-api:slim', '.']' timed out after 600 seconds",
        ),
    ),
    Story(
        request="Write a migration that adds an index on events(created_at)",
        project="/home/ana/work/ml-pipeline",
        branch="feat/events-index",
        thinking="Check how the project writes migrations (Alembic?) and the table's size.",
        steps=(
            Step(
                "Glob",
                {"pattern": "migrations/versions/*.py"},
                "migrations/versions/0017_add_runs.py\nmigrations/versions/0018_events.py\n"
                "migrations/versions/0019_event_payload_jsonb.py",
            ),
            Step(
                "Write",
                {
                    "file_path": "/home/ana/work/ml-pipeline/migrations/versions/0020_events_created_at.py",
                    "content": (
                        '"""Index events by created_at."""\nfrom alembic import op\n\n'
                        'revision = "0020"\ndown_revision = "0019"\n\n\n'
                        "def upgrade():\n    with op.get_context().autocommit_block():\n"
                        '        op.create_index("ix_events_created_at", "events", ["created_at"], '
                        "postgresql_concurrently=True)\n\n\n"
                        "def downgrade():\n"
                        '    op.drop_index("ix_events_created_at", "events")\n'
                    ),
                },
                "File created successfully at: /home/ana/work/ml-pipeline/migrations/versions/0020_events_created_at.py",
            ),
            Step(
                "Bash",
                {"command": "alembic upgrade head && alembic current"},
                "INFO  [alembic.runtime.migration] Running upgrade 0019 -> 0020, Index events by created_at.\n"
                "0020 (head)",
            ),
        ),
        answer=(
            "Migration `0020_events_created_at.py` creates `ix_events_created_at` **concurrently** "
            "(in an autocommit block), so writes to `events` are not blocked while it builds. "
            "`alembic upgrade head` applied it; `downgrade` drops it."
        ),
        errors=(
            "psycopg.errors.ActiveSqlTransaction: CREATE INDEX CONCURRENTLY cannot run inside a "
            "transaction block",
        ),
    ),
    Story(
        request="Explain what `terraform plan` will change in the staging workspace",
        project="/srv/repos/infra-terraform",
        branch="main",
        thinking="Run the plan read-only and summarise resource by resource.",
        steps=(
            Step(
                "Bash",
                {"command": "terraform workspace select staging && terraform plan -no-color | tail -20"},
                "Terraform will perform the following actions:\n\n"
                "  # aws_db_instance.main must be replaced\n"
                "-/+ resource \"aws_db_instance\" \"main\" {\n"
                "      ~ engine_version = \"14.10\" -> \"16.4\" # forces replacement\n"
                "    }\n\n"
                "  # aws_security_group.api will be updated in-place\n"
                "  ~ resource \"aws_security_group\" \"api\" {\n"
                "      + ingress { from_port = 443, to_port = 443, protocol = \"tcp\" }\n"
                "    }\n\n"
                "Plan: 1 to add, 1 to change, 1 to destroy.",
            ),
        ),
        answer=(
            "In **staging** the plan does two things:\n\n"
            "- `aws_db_instance.main`: **replaced** (engine 14.10 → 16.4 forces it);\n"
            "- `aws_security_group.api`: updated in place (a new ingress rule on 443).\n\n"
            "> The replacement means downtime and a new, empty instance unless you restore a "
            "snapshot. Take one first, or upgrade in place with `allow_major_version_upgrade`."
        ),
        errors=(
            "PermissionError: [Errno 13] Permission denied: "
            "'/srv/repos/infra-terraform/.terraform/terraform.tfstate.lock.info'",
        ),
    ),
    Story(
        request="The dashboard is slow with 10k rows. Profile it and fix the hot spot.",
        project="/home/dev/src/web-frontend",
        branch="perf/dashboard",
        thinking="Profile first. A subagent can find where the rows are rendered meanwhile.",
        steps=(
            Step(
                "TodoWrite",
                {
                    "todos": [
                        {"content": "Profile the dashboard with 10k rows", "status": "completed", "activeForm": "Profiling"},
                        {"content": "Find the hot spot", "status": "in_progress", "activeForm": "Finding the hot spot"},
                        {"content": "Fix it and measure again", "status": "pending", "activeForm": "Fixing"},
                    ]
                },
                "Todos have been modified successfully.",
            ),
            Step(
                "Bash",
                {"command": "npx vite build && node scripts/profile-table.mjs --rows 10000"},
                "render <OrdersTable rows=10000>: 2,840 ms\n"
                "  formatDate (called 10000x)      2,310 ms  81%\n"
                "  OrdersRow                          412 ms  15%",
            ),
            Step(
                "Edit",
                {
                    "file_path": "/home/dev/src/web-frontend/src/orders/OrdersRow.tsx",
                    "old_string": "const when = formatDate(order.createdAt, { locale: navigator.language });",
                    "new_string": "const when = dateFormat.format(order.createdAt);",
                },
                "The file /home/dev/src/web-frontend/src/orders/OrdersRow.tsx has been updated.",
            ),
            Step(
                "Bash",
                {"command": "node scripts/profile-table.mjs --rows 10000"},
                "render <OrdersTable rows=10000>: 301 ms\n  OrdersRow                          236 ms  78%",
            ),
        ),
        subagent=Subagent(
            description="Find where the order rows are rendered",
            prompt="Find the component that renders one order row and how it formats dates.",
            steps=(
                Step(
                    "Grep",
                    {"pattern": "formatDate\\(", "path": "src", "output_mode": "files_with_matches"},
                    "src/orders/OrdersRow.tsx\nsrc/lib/format.ts",
                ),
                Step(
                    "Read",
                    {"file_path": "/home/dev/src/web-frontend/src/lib/format.ts"},
                    "     1\texport function formatDate(d: Date, opts: { locale: string }) {\n"
                    "     2\t  return new Intl.DateTimeFormat(opts.locale, { dateStyle: 'medium' }).format(d);\n"
                    "     3\t}\n",
                ),
            ),
            report=(
                "`OrdersRow.tsx` calls `formatDate` once per row, and `formatDate` builds a new "
                "`Intl.DateTimeFormat` on every call (src/lib/format.ts:2)."
            ),
        ),
        answer=(
            "The table spent **81%** of its 2.8 s render in `formatDate`, which built a new "
            "`Intl.DateTimeFormat` for every row. One formatter made once per table brings "
            "10,000 rows from **2,840 ms to 301 ms**."
        ),
        errors=(MAX_TURNS, OVERLOADED),
    ),
    Story(
        request="Add OpenTelemetry tracing to the HTTP handlers",
        project="/home/dev/src/payments-api",
        branch="feat/otel",
        thinking="Use the Flask instrumentation rather than hand-written spans.",
        steps=(
            Step(
                "WebFetch",
                {
                    "url": "https://opentelemetry-python-contrib.readthedocs.io/en/latest/instrumentation/flask/flask.html",
                    "prompt": "How do I instrument a Flask app factory?",
                },
                "Call FlaskInstrumentor().instrument_app(app) after creating the app. Requests "
                "become server spans named after the route.",
            ),
            Step(
                "Edit",
                {
                    "file_path": "/home/dev/src/payments-api/src/app.py",
                    "old_string": "    app.register_blueprint(api)\n    return app",
                    "new_string": (
                        "    app.register_blueprint(api)\n"
                        "    FlaskInstrumentor().instrument_app(app)\n    return app"
                    ),
                },
                "The file /home/dev/src/payments-api/src/app.py has been updated.",
            ),
            Step(
                "Bash",
                {"command": "pip install opentelemetry-instrumentation-flask && pytest -q"},
                "Successfully installed opentelemetry-instrumentation-flask-0.49b2\n"
                "........................................ [100%]\n40 passed in 3.81s",
            ),
        ),
        answer=(
            "Every HTTP handler is now traced: `FlaskInstrumentor().instrument_app(app)` in the "
            "app factory makes one server span per request, named after the route. Export is "
            "set by the standard `OTEL_EXPORTER_OTLP_ENDPOINT` variable. All 40 tests pass."
        ),
        errors=(RATE_LIMIT,),
    ),
    Story(
        request="Port the CSV exporter to stream rows instead of building a list",
        project="/home/ana/work/ml-pipeline",
        branch="feat/stream-csv",
        thinking="Building the whole list holds every row in memory. A generator and a response that iterates it streams.",
        steps=(
            Step(
                "Read",
                {"file_path": "/home/ana/work/ml-pipeline/pipeline/export.py"},
                "    10\tdef export_csv(runs):\n    11\t    rows = []\n"
                "    12\t    for run in runs:\n    13\t        rows.append(to_row(run))\n"
                "    14\t    return \"\\n\".join(\",\".join(r) for r in rows)\n",
            ),
            Step(
                "Edit",
                {
                    "file_path": "/home/ana/work/ml-pipeline/pipeline/export.py",
                    "old_string": (
                        "def export_csv(runs):\n    rows = []\n    for run in runs:\n"
                        "        rows.append(to_row(run))\n"
                        '    return "\\n".join(",".join(r) for r in rows)'
                    ),
                    "new_string": (
                        "def export_csv(runs):\n    buffer = io.StringIO()\n"
                        "    writer = csv.writer(buffer)\n    for run in runs:\n"
                        "        writer.writerow(to_row(run))\n        yield buffer.getvalue()\n"
                        "        buffer.seek(0)\n        buffer.truncate()"
                    ),
                },
                "The file /home/ana/work/ml-pipeline/pipeline/export.py has been updated.",
            ),
            Step(
                "Bash",
                {"command": "python -m pytest -q tests/test_export.py"},
                "...F\nE   TypeError: object of type 'generator' has no len()\n1 failed, 3 passed in 0.30s",
                is_error=True,
            ),
            Step(
                "Edit",
                {
                    "file_path": "/home/ana/work/ml-pipeline/tests/test_export.py",
                    "old_string": "    assert len(export_csv(runs)) > 0",
                    "new_string": "    assert \"\".join(export_csv(runs)).count(\"\\n\") == len(runs)",
                },
                "The file /home/ana/work/ml-pipeline/tests/test_export.py has been updated.",
            ),
            Step(
                "Bash",
                {"command": "python -m pytest -q tests/test_export.py"},
                "....\n4 passed in 0.28s",
            ),
        ),
        answer=(
            "`export_csv` is now a generator: it writes each row through `csv.writer` into a "
            "small buffer and yields it, so memory stays flat however many runs there are (it "
            "also quotes commas correctly now, which the `join` did not). One test measured "
            "`len()` of the result; it now counts the lines."
        ),
        errors=(CONTEXT,),
    ),
)
