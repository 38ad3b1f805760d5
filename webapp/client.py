"""A small client of the Sessionboard HTTP API for agent runners (standard library only).

>>> from webapp.client import SessionboardClient
>>> board = SessionboardClient("http://127.0.0.1:8000", token)      # doctest: +SKIP
>>> session = board.create_session("Fix the failing test")          # doctest: +SKIP
>>> board.update_session(session["id"], status="running")           # doctest: +SKIP
>>> board.append(session["id"], "user", "Fix the failing test")     # doctest: +SKIP

Every call is safe to retry, and is retried on a connection error, a timeout,
429, 500, 502, 503 (e.g. ``busy``: the server's write lock was taken) and 504,
with backoff; ``Retry-After`` (seconds) sets the wait, capped at ``max_backoff``:

- an append carries an ``Idempotency-Key`` (made here unless given), the same
  on every try, so a retry after a lost answer appends nothing twice;
- a new session gets its id here, so a retried create that finds the id taken
  (its first try did arrive) returns that session;
- a retried PATCH whose first try arrived sets the same values again; if that
  try closed the session, the retry's 409 is taken as done.

Errors the server gives raise :class:`SessionboardError` with its status, code
and message.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from http.client import HTTPException
from typing import Any, cast
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class SessionboardError(Exception):
    """An error answer of the API (or no answer after every retry: ``status`` 0).
    ``retry_after``: the seconds the server asked to wait (429, 503), else None."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _timestamp(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("use a timezone-aware datetime")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message(
    role: str,
    content: str,
    *,
    summary: str | None = None,
    timestamp: datetime | str | None = None,
    meta: Mapping[str, Any] | None = None,
    source_key: str | None = None,
) -> dict[str, Any]:
    """One message as the API takes it (for :meth:`SessionboardClient.append_many`)."""
    body: dict[str, Any] = {"role": role, "content": content}
    if summary is not None:
        body["summary"] = summary
    if timestamp is not None:
        body["timestamp"] = _timestamp(timestamp)
    if meta is not None:
        body["meta"] = dict(meta)
    if source_key is not None:
        body["source_key"] = source_key
    return body


class SessionboardClient:
    """The API at ``base_url`` (e.g. ``http://127.0.0.1:8000``) with a bearer token.

    ``retries`` is how many times a call is tried again after the first try;
    waits grow from ``backoff`` seconds, doubling, with jitter, up to ``max_backoff``.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    # -- sessions -------------------------------------------------------------------

    def create_session(
        self,
        request: str | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        expires_at: datetime | str | None = None,
        never_expires: bool = False,
    ) -> dict[str, Any]:
        """Create a session and return it. It expires at ``expires_at``, or after the
        server's timeout when that is None, or never with ``never_expires``."""
        session_id = id or str(uuid.uuid4())
        body: dict[str, Any] = {"id": session_id}
        if request is not None:
            body["request"] = request
        if context is not None:
            body["context"] = dict(context)
        if never_expires:
            body["expires_at"] = None
        elif expires_at is not None:
            body["expires_at"] = _timestamp(expires_at)
        status, answer = self._call("POST", "/sessions", body, accept_on_retry={409: _yes})
        if status == 409:  # an earlier try made it: the id is ours
            return self.get_session(session_id)
        return cast(dict[str, Any], answer)

    def get_session(self, session_id: str) -> dict[str, Any]:
        """One session (without messages)."""
        return cast(dict[str, Any], self._call("GET", _session_path(session_id))[1])

    def update_session(
        self,
        session_id: str,
        *,
        status: str | None = None,
        response: str | None = None,
        error: str | None = None,
        request: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change a session (``status``: running, completed, failed, closed; ``context``
        is merged) and return it as saved."""
        fields = {
            "status": status,
            "response": response,
            "error": error,
            "request": request,
            "context": dict(context) if context is not None else None,
        }
        body = {k: v for k, v in fields.items() if v is not None}
        path = _session_path(session_id)

        def already_closed() -> bool:
            return status == "closed" and self.get_session(session_id)["status"] == "closed"

        code, answer = self._call("PATCH", path, body, accept_on_retry={409: already_closed})
        if code == 409:
            return self.get_session(session_id)
        return cast(dict[str, Any], answer)

    def list_sessions(
        self, status: str | None = None, *, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Every session (of ``status``), newest first, fetched a page at a time."""
        cursor: str | None = None
        while True:
            query = {"status": status, "limit": page_size, "cursor": cursor}
            page = self._call("GET", "/sessions", query=query)[1]
            yield from page["sessions"]
            cursor = page["next_cursor"]
            if cursor is None:
                return

    def delete_session(self, session_id: str) -> None:
        """Remove a session and its messages (admin token)."""
        self._call("DELETE", _session_path(session_id))

    def clear(self) -> int:
        """Remove every session (admin token); return how many there were."""
        return int(self._call("DELETE", "/sessions")[1]["cleared"])

    def stats(self) -> dict[str, Any]:
        """Sessions per status and the rest of ``Manager.get_stats()``."""
        return cast(dict[str, Any], self._call("GET", "/stats")[1])

    # -- messages -------------------------------------------------------------------

    def append(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        summary: str | None = None,
        timestamp: datetime | str | None = None,
        meta: Mapping[str, Any] | None = None,
        source_key: str | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """Append one message; return how many were appended (1, or 0 when its
        ``source_key`` was stored already)."""
        body = message(
            role, content, summary=summary, timestamp=timestamp, meta=meta, source_key=source_key
        )
        return self._append(session_id, body, idempotency_key)

    def append_many(
        self,
        session_id: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> int:
        """Append messages (see :func:`message`) as one transaction; return how many."""
        return self._append(session_id, {"messages": [dict(m) for m in messages]}, idempotency_key)

    def _append(self, session_id: str, body: dict[str, Any], key: str | None) -> int:
        headers = {"Idempotency-Key": key or str(uuid.uuid4())}
        path = _session_path(session_id) + "/messages"
        return int(self._call("POST", path, body, headers=headers)[1]["appended"])

    def list_messages(self, session_id: str, *, page_size: int = 500) -> Iterator[dict[str, Any]]:
        """Every message of a session in order, fetched a page at a time."""
        after: str | None = None
        path = _session_path(session_id) + "/messages"
        while True:
            page = self._call("GET", path, query={"limit": page_size, "after": after})[1]
            yield from page["messages"]
            after = page["next_cursor"]
            if after is None:
                return

    # -- transport ------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        accept_on_retry: Mapping[int, Callable[[], bool]] | None = None,
    ) -> tuple[int, Any]:
        """Send one request, retrying as the module says; return status and JSON.

        ``accept_on_retry`` maps an error status to a check: when a retry (not the
        first try) gets that status and the check says so, the earlier try is taken
        to have done the work and the status is returned instead of raised.
        """
        url = f"{self.base_url}/api/v1{path}"
        if query:
            pairs = {k: v for k, v in query.items() if v is not None}
            if pairs:
                url += "?" + urlencode(pairs)
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        attempt = 0
        while True:
            request = Request(url, data=data, method=method, headers=all_headers)  # noqa: S310
            try:
                status, payload, answer_headers = self._open(request)
            except (URLError, HTTPException, OSError) as exc:
                failure: Any = exc
                retry_after = None
            else:
                if status < 400:
                    return status, payload
                check = (accept_on_retry or {}).get(status)
                if attempt > 0 and check is not None and check():
                    return status, payload
                error = _error(status, payload, answer_headers.get("Retry-After"))
                if status not in RETRY_STATUSES:
                    raise error
                failure, retry_after = error, error.retry_after
            if attempt >= self.retries:
                if isinstance(failure, SessionboardError):
                    raise failure
                raise SessionboardError(0, "unreachable", f"{method} {url}: {failure}") from failure
            delay = self._delay(attempt, retry_after)
            log.info("%s %s failed (%s); again in %.2fs", method, path, failure, delay)
            time.sleep(delay)
            attempt += 1

    def _open(self, request: Request) -> tuple[int, Any, Mapping[str, str]]:
        """Send ``request``; return status, parsed JSON (or None) and headers."""
        try:
            with urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 (http(s) only)
                raw = answer.read()
                status, headers = answer.status, dict(answer.headers.items())
        except HTTPError as exc:
            raw = exc.read()
            status, headers = exc.code, dict(exc.headers.items())
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        return status, payload, headers

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        base: float = min(self.backoff * 2**attempt, self.max_backoff)
        return base / 2 + random.uniform(0, base / 2)  # noqa: S311 (jitter, not secrecy)


def _session_path(session_id: str) -> str:
    return f"/sessions/{quote(session_id, safe='')}"


def _yes() -> bool:
    return True


def _error(status: int, payload: Any, retry_after: str | None) -> SessionboardError:
    wait = float(retry_after) if retry_after and retry_after.isdigit() else None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        code, text = str(err.get("code", "error")), str(err.get("message", ""))
        return SessionboardError(status, code, text, wait)
    return SessionboardError(status, "error", f"HTTP {status}", wait)
