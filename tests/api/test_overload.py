"""The API under overload (Sessionboard issue 9, item 7): gunicorn (2 workers of 4
threads, as ``sessionboard serve``) takes 8 runners sending maximum batches at once,
with small appends beside them and bodies over the limits. No answer is a 5xx
other than 503 ``busy``; each is 201, 503 or 413; every acknowledged batch is
stored exactly once; the workers' peak RSS stays bounded. Prints the small
appends' p50/p99 (for the notes; no timing is asserted)."""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
from sqlalchemy import func, select

from tests.api.test_durability import Gunicorn
from webapp.accounts.tokens import create_token
from webapp.config import SETTINGS
from webapp.sessions.store import make_engine, messages_t

RUNNERS = 8
BATCHES_PER_RUNNER = 2
SMALL_APPENDS = 40
MAX_MESSAGES = int(SETTINGS["MAX_BATCH_MESSAGES"][0])
MAX_BYTES = int(SETTINGS["MAX_BATCH_BYTES"][0])
RSS_BOUND_MB = 300


def post(url: str, token: str, body: bytes, key: str) -> tuple[int, str | None]:
    """POST a JSON body once: the status and ``Retry-After``."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Idempotency-Key": key,
    }
    request = Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urlopen(request, timeout=120) as answer:  # noqa: S310
            answer.read()
            return int(answer.status), None
    except HTTPError as exc:
        exc.read()
        return exc.code, exc.headers.get("Retry-After")


def full_batch(tag: str) -> bytes:
    """A batch of ``MAX_MESSAGES`` messages just under ``MAX_BYTES``."""
    filler = "x" * ((MAX_BYTES - 200 * MAX_MESSAGES) // MAX_MESSAGES)
    items = [{"role": "assistant", "content": f"{tag}-{i} {filler}"} for i in range(MAX_MESSAGES)]
    body = json.dumps({"messages": items}).encode()
    assert len(body) <= MAX_BYTES
    return body


def tiny_messages_body() -> bytes:
    """Just under ``MAX_BYTES`` of the smallest messages: the most a body can make a
    worker build while parsing (refused by count, 413)."""
    item = b'{"role":"u","content":""},'
    count = (MAX_BYTES - 20) // len(item)
    return b'{"messages":[' + item * (count - 1) + item[:-1] + b"]}"


def chunked_post(url: str, token: str, size: int) -> int:
    """POST ``size`` bytes with Transfer-Encoding: chunked (no Content-Length)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        conn.putrequest("POST", parts.path)
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        body = b'{"role": "user", "content": "' + b"x" * size + b'"}'
        for start in range(0, len(body), 65536):
            chunk = body[start : start + 65536]
            conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
        return conn.getresponse().status
    finally:
        conn.close()


def worker_peak_rss_mb(master_pid: int) -> list[float]:
    """The peak resident size (VmHWM) of each child of gunicorn's master, in MB."""
    peaks = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(master_pid) and "VmHWM" in fields:
            peaks.append(int(fields["VmHWM"].split()[0]) / 1024)
    return peaks


@pytest.mark.slow
def test_maximum_batches_in_parallel_get_201_or_503_never_500(
    server: Gunicorn, database_url: str
) -> None:
    engine = make_engine(database_url)
    try:
        token = create_token(engine, "overload", "ingest")[1]
        base = f"{server.url}/api/v1/sessions"
        sessions = []
        for _ in range(RUNNERS + 1):
            request = Request(  # noqa: S310
                base, data=b"{}", method="POST",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )  # fmt: skip
            with urlopen(request) as answer:  # noqa: S310
                sessions.append(json.load(answer)["id"])
        statuses: Counter[int] = Counter()
        acked: list[str] = []
        small_waits: list[float] = []
        lock = threading.Lock()
        errors: list[BaseException] = []

        def note(status: int) -> None:
            with lock:
                statuses[status] += 1

        def runner(r: int) -> None:
            url = f"{base}/{sessions[r]}/messages"
            try:
                for b in range(BATCHES_PER_RUNNER):
                    tag = f"r{r}b{b}"
                    body = full_batch(tag)
                    for _try in range(30):  # honour Retry-After, as the client does
                        status, retry_after = post(url, token, body, key=tag)
                        note(status)
                        if status != 503:
                            break
                        assert retry_after is not None and retry_after.isdigit()
                        time.sleep(float(retry_after))
                    if status == 201:
                        with lock:
                            acked.append(tag)
                if r < 2:  # the worst body for memory: refused by count
                    note(post(url, token, tiny_messages_body(), key=f"tiny-{r}")[0])
            except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
                errors.append(exc)

        def small_appender() -> None:
            url = f"{base}/{sessions[RUNNERS]}/messages"
            try:
                for i in range(SMALL_APPENDS):
                    body = json.dumps({"role": "user", "content": f"small-{i}"}).encode()
                    started = time.monotonic()
                    status, _after = post(url, token, body, key=f"small-{i}")
                    note(status)
                    if status == 201:
                        with lock:
                            small_waits.append(time.monotonic() - started)
                            acked.append(f"small-{i}")
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=runner, args=(r,)) for r in range(RUNNERS)]
        threads.append(threading.Thread(target=small_appender))
        for thread in threads:
            thread.start()
        note(chunked_post(f"{base}/{sessions[0]}/messages", token, MAX_BYTES + 1000))
        for thread in threads:
            thread.join()
        assert not errors, errors
        peaks = worker_peak_rss_mb(server.process.pid if server.process else 0)

        waits = sorted(small_waits)
        p50 = statistics.median(waits)
        p99 = waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))]
        print(  # noqa: T201  (the figures for the notes: run with -s)
            f"\n[{engine.dialect.name}] answers {dict(statuses)}; small appends "
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {waits[-1] * 1000:.0f} ms "
            f"({len(waits)} of {SMALL_APPENDS} acknowledged); workers' peak RSS "
            f"{', '.join(f'{p:.0f}' for p in peaks)} MB"
        )
        assert set(statuses) <= {201, 503, 413}, statuses
        assert statuses[413] == 3  # the two tiny-message bodies and the chunked one
        assert len(peaks) == 2 and max(peaks) < RSS_BOUND_MB, peaks

        with engine.connect() as conn:
            stored = Counter(
                dict(
                    conn.execute(
                        select(
                            func.substr(messages_t.c.content, 1, 20).label("head"),
                            func.count(),
                        ).group_by("head")
                    ).all()
                )
            )
        batches = Counter()
        for head, count in stored.items():
            tag = head.split("-")[0] if not head.startswith("small-") else head.split(" ")[0]
            batches[tag] += count
        for tag in acked:
            expected = 1 if tag.startswith("small-") else MAX_MESSAGES
            assert batches.pop(tag, 0) == expected, tag
        assert not batches, f"stored without a 201: {batches}"
    finally:
        engine.dispose()
