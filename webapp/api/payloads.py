"""The API's JSON: reading request bodies and query strings, writing sessions and
messages. Every check that the OpenAPI document states is made here, before
anything is written, so that a refused request changes nothing.

Strings must be storable on both engines: no NUL character (PostgreSQL refuses
it in text and JSONB) and no lone surrogate (not UTF-8). JSON objects (``meta``,
``context``) nest at most ``MAX_JSON_DEPTH`` levels.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnprocessableEntity

from webapp.sessions import Message, Status
from webapp.sessions.types import format_utc

#: Ids a client may choose: URL-safe, starting with a letter or digit (so that
#: ``.`` and ``..`` never reach a URL), as long as the column allows.
SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~:-]{0,63}$"
MAX_ROLE_LENGTH = 32  # messages.role
MAX_SOURCE_KEY_LENGTH = 200  # messages.source_key
MAX_IDEMPOTENCY_KEY_LENGTH = 200  # idempotency_keys.key
MAX_JSON_DEPTH = 64
DEFAULT_PAGE_LIMIT = 100
#: The statuses a PATCH may set; pending and expired are the Manager's to give.
PATCH_STATUSES = (Status.RUNNING, Status.COMPLETED, Status.FAILED, Status.CLOSED)
UNSET: Any = object()

#: Timestamps a client sends: years 1900 to 2999 (no overflow when moved to UTC).
TIMESTAMP_PATTERN = r"^(19|2[0-9])[0-9]{2}-"

_SESSION_ID = re.compile(SESSION_ID_PATTERN)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


def invalid(message: str) -> UnprocessableEntity:
    """A 422 for a field that parsed as JSON but is not what the API takes."""
    return UnprocessableEntity(message)


# -- reading ---------------------------------------------------------------------


def parse_json_body(data: bytes) -> Any:
    """The JSON value of a request body, or 400 when it is not JSON (bad UTF-8,
    bad syntax, nesting deeper than the parser's stack)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def check_text(value: Any, where: str) -> str:
    """``value`` if it is a string the database can store, else 422."""
    if not isinstance(value, str):
        raise invalid(f"{where} must be a string")
    if "\x00" in value:
        raise invalid(f"{where} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(f"{where} must be valid Unicode (no lone surrogates)") from None
    return value


def check_json_value(value: Any, where: str) -> None:
    """422 unless ``value`` is JSON that both engines store and give back unchanged."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise invalid(f"{where} nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, str):
            check_text(item, f"a string in {where}")
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise invalid(f"{where} must not contain NaN or Infinity")
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(key, f"a key in {where}")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif item is not None and not isinstance(item, bool | int):
            raise invalid(f"{where} holds a value that is not JSON")


def check_object(value: Any, where: str) -> dict[str, Any]:
    """``value`` if it is a storable JSON object, else 422."""
    if not isinstance(value, dict):
        raise invalid(f"{where} must be a JSON object")
    check_json_value(value, where)
    return value


def _parse_iso(value: str) -> datetime:
    """ISO 8601 with a zone as aware UTC; ``ValueError`` otherwise."""
    text = value.strip()
    if len(text) > 10 and text[10] in "tT ":
        text = text[:10] + "T" + text[11:]
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("no time zone")
    return parsed.astimezone(UTC)


def parse_timestamp(value: Any, where: str) -> datetime:
    """An RFC 3339 / ISO 8601 date-time with a zone (``Z`` or ``+hh:mm``) in years
    1900 to 2999, as aware UTC; 422 otherwise."""
    if not isinstance(value, str):
        raise invalid(f"{where} must be an ISO 8601 date-time string")
    try:
        if not _TIMESTAMP.match(value):
            raise ValueError("year out of range")
        return _parse_iso(value)
    except (ValueError, OverflowError):
        raise invalid(
            f"{where} must be an ISO 8601 date-time with a zone in years 1900 to 2999, "
            f"e.g. 2026-01-15T12:00:00Z; got {value[:64]!r}"
        ) from None


def _only(body: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise invalid(f"unknown field(s) in {where}: {', '.join(map(repr, unknown))}")


def _as_object(body: Any, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid(f"{where} must be a JSON object")
    return body


@dataclass
class NewSession:
    """The fields of POST /sessions."""

    request: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    #: ``UNSET``: the default timeout; None: never expires.
    expires_at: datetime | None = UNSET


def parse_new_session(body: Any) -> NewSession:
    """Read a POST /sessions body: ``request``, ``context``, ``expires_at``, ``id``."""
    body = _as_object(body, "the body")
    _only(body, ("request", "context", "expires_at", "id"), "a new session")
    new = NewSession()
    if "request" in body:
        new.request = check_text(body["request"], "request")
    if "context" in body:
        new.context = check_object(body["context"], "context")
    if "id" in body:
        value = body["id"]
        if not isinstance(value, str) or not _SESSION_ID.fullmatch(value):
            raise invalid(
                "id must be 1 to 64 letters, digits or ._~:- and start with a letter or digit"
            )
        new.id = value
    if "expires_at" in body:
        value = body["expires_at"]
        new.expires_at = None if value is None else parse_timestamp(value, "expires_at")
    return new


@dataclass
class SessionPatch:
    """The fields of PATCH /sessions/{id}; ``UNSET`` leaves a field as it is."""

    status: Status | None = None
    response: str = UNSET
    error: str = UNSET
    request: str = UNSET
    context: dict[str, Any] | None = None


def parse_patch(body: Any) -> SessionPatch:
    """Read a PATCH body: ``status`` (running, completed, failed, closed),
    ``response``, ``error``, ``request``, ``context`` (merged into the session's)."""
    body = _as_object(body, "the body")
    _only(body, ("status", "response", "error", "request", "context"), "a session change")
    patch = SessionPatch()
    if "status" in body:
        value = body["status"]
        if not isinstance(value, str) or value not in {s.value for s in PATCH_STATUSES}:
            raise invalid("status must be one of running, completed, failed, closed")
        patch.status = Status(value)
    for name in ("response", "error", "request"):
        if name in body:
            setattr(patch, name, check_text(body[name], name))
    if "context" in body:
        patch.context = check_object(body["context"], "context")
    return patch


MESSAGE_FIELDS = ("role", "content", "summary", "timestamp", "meta", "source_key")


@dataclass(frozen=True)
class MessageRules:
    """What the messages of one POST must keep to, besides their fields' types."""

    #: ``MAX_BATCH_MESSAGES``: more in one POST is 413.
    max_messages: int
    #: The server's clock when the request came.
    now: datetime
    #: ``CLOCK_SKEW``: how far ahead of ``now`` a timestamp may be.
    skew: timedelta
    #: The retention window; a timestamp older than ``now`` minus it would be purged
    #: at once. None: nothing is purged (retention off, or the session is kept).
    retention: timedelta | None


def describe_duration(value: timedelta) -> str:
    """``30 days``, ``12 hours``, ``5 minutes``, ``90 seconds``: the largest whole unit."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{value.total_seconds():g} seconds"


def check_message_time(moment: datetime, where: str, rules: MessageRules) -> None:
    """422 when ``moment`` is beyond the clock-skew allowance or past retention."""
    if moment > rules.now + rules.skew:
        raise invalid(
            f"{where} is {format_utc(moment)}, more than {describe_duration(rules.skew)} "
            "ahead of the server's clock (SESSIONBOARD_CLOCK_SKEW)"
        )
    if rules.retention is not None and moment < rules.now - rules.retention:
        raise invalid(
            f"{where} is {format_utc(moment)}, past retention "
            f"({describe_duration(rules.retention)}): the message would be purged at once; "
            "send a recent timestamp, or keep the session first"
        )


def parse_message(body: Any, where: str, rules: MessageRules) -> Message:
    """Read one message: ``role``, ``content``, and optional ``summary``,
    ``timestamp`` (default: now), ``meta`` (object or null), ``source_key``."""
    body = _as_object(body, where)
    _only(body, MESSAGE_FIELDS, where)
    for name in ("role", "content"):
        if name not in body:
            raise invalid(f"{where} needs {name!r}")
    role = check_text(body["role"], f"role of {where}")
    if not role.strip() or len(role) > MAX_ROLE_LENGTH:
        raise invalid(f"role of {where} must be 1 to {MAX_ROLE_LENGTH} characters, not blank")
    message = Message(role=role, content=check_text(body["content"], f"content of {where}"))
    if "summary" in body:
        message.summary = check_text(body["summary"], f"summary of {where}")
    if body.get("timestamp") is not None:
        message.timestamp = parse_timestamp(body["timestamp"], f"timestamp of {where}")
        check_message_time(message.timestamp, f"timestamp of {where}", rules)
    if body.get("meta") is not None:
        message.meta = check_object(body["meta"], f"meta of {where}")
    if body.get("source_key") is not None:
        key = check_text(body["source_key"], f"source_key of {where}")
        if not key or len(key) > MAX_SOURCE_KEY_LENGTH:
            raise invalid(f"source_key of {where} must be 1 to {MAX_SOURCE_KEY_LENGTH} characters")
        message.source_key = key
    return message


def parse_messages(body: Any, rules: MessageRules) -> list[Message]:
    """One message object, or ``{"messages": [...]}`` with at least one and at most
    ``rules.max_messages`` (413 above it)."""
    body = _as_object(body, "the body")
    if "messages" not in body:
        return [parse_message(body, "the message", rules)]
    _only(body, ("messages",), "a batch")
    items = body["messages"]
    if not isinstance(items, list) or not items:
        raise invalid("messages must be a non-empty array of messages")
    if len(items) > rules.max_messages:
        raise RequestEntityTooLarge(
            f"a batch holds at most {rules.max_messages} messages "
            f"(SESSIONBOARD_MAX_BATCH_MESSAGES), this one {len(items)}: split it"
        )
    return [parse_message(item, f"messages[{i}]", rules) for i, item in enumerate(items)]


def parse_idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header: 1 to 200 visible ASCII characters, or absent."""
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise invalid(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters"
        )
    return value


def parse_limit(value: str | None, cap: int) -> int:
    """The ``limit`` query parameter: a positive integer, capped at ``cap``."""
    if value is None:
        return min(DEFAULT_PAGE_LIMIT, cap)
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise invalid("limit must be a positive integer")
    return min(int(value), cap)


def parse_status_filter(value: str | None) -> Status | None:
    """The ``status`` query parameter of the session list."""
    if value is None:
        return None
    try:
        return Status(value)
    except ValueError:
        raise invalid(f"status must be one of {', '.join(s.value for s in Status)}") from None


# -- cursors -----------------------------------------------------------------------


def encode_cursor(kind: str, moment: datetime, key: str | int) -> str:
    """An opaque cursor: where the last row of a page stands in its list's order."""
    raw = json.dumps([kind, format_utc(moment), key], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(value: str, kind: str, key_type: type) -> tuple[datetime, Any]:
    """The position a cursor of ``kind`` stands for, or 422. A cursor is opaque but
    comes back from the client: its contents are checked like any input."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        got_kind, moment, key = json.loads(raw)
        if got_kind != kind or type(key) is not key_type or not isinstance(moment, str):
            raise ValueError(kind)
        if isinstance(key, int) and not 0 <= key < 2**63:
            raise ValueError(key)
        if isinstance(key, str):
            check_text(key, "cursor")
        return _parse_iso(moment), key
    except (
        ValueError,
        TypeError,
        OverflowError,
        RecursionError,
        binascii.Error,
        UnprocessableEntity,
    ):
        raise invalid("the cursor is not one this list gave out") from None
