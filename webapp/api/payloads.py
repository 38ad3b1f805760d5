"""The API's input: request bodies read with the typed models of
``webapp.api.schemas`` (which the OpenAPI document is generated from), and the
query strings and headers. Every check is made here, before anything is written,
so that a refused request changes nothing; a refused field is 422 with a
sentence that names it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnprocessableEntity

from webapp.api import schemas
from webapp.sessions import Message, Status
from webapp.sessions.types import format_utc
from webapp.sessions.usage_reads import UsageGroup
from webapp.times import describe_duration

MAX_IDEMPOTENCY_KEY_LENGTH = 200  # idempotency_keys.key
DEFAULT_PAGE_LIMIT = 100
UNSET: Any = object()

Model = TypeVar("Model", bound=BaseModel)

_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


def invalid(message: str) -> UnprocessableEntity:
    """A 422 for a field that parsed as JSON but is not what the API takes."""
    return UnprocessableEntity(message)


# -- bodies ----------------------------------------------------------------------


def parse_json_body(data: bytes) -> Any:
    """The JSON value of a request body, or 400 when it is not JSON (bad UTF-8,
    bad syntax, nesting deeper than the parser's stack)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def read(model: type[Model], body: Any, where: str) -> Model:
    """``body`` as ``model``, or 422 naming the first field that is wrong."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise invalid(describe(exc.errors()[0], where)) from None


def describe(error: Any, where: str) -> str:
    """One pydantic error as a sentence: ``role of messages[2] must be ...``."""
    place = where
    names = [str(part) for part in error["loc"]]
    if names[:1] == ["messages"] and len(names) > 1:
        place, names = f"messages[{names[1]}]", names[2:]
    reason = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{place} needs {names[-1]!r}"
    if error["type"] == "extra_forbidden":
        return f"unknown field in {place}: {names[-1]!r}"
    if error["type"] in ("model_type", "model_attributes_type"):
        return f"{place} must be a JSON object"
    if not names:
        return f"{place}: {reason}"
    return f"{names[-1]} of {place}: {reason}"


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
    new = read(schemas.NewSession, body, "the new session")
    expires_at = new.expires_at if "expires_at" in new.model_fields_set else UNSET
    return NewSession(new.request, dict(new.context), new.id, expires_at)


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
    change = read(schemas.SessionPatch, body, "the session change")
    given = change.model_fields_set
    patch = SessionPatch()
    patch.status = change.status
    for name in ("response", "error", "request"):
        if name in given:
            setattr(patch, name, getattr(change, name))
    if change.context is not None:
        patch.context = dict(change.context)
    return patch


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
    #: at once. None: nothing is purged (retention off).
    retention: timedelta | None
    #: Whether the session is kept (exempt from retention); asked only when a
    #: timestamp is past retention, so that most appends read no session first.
    kept: Callable[[], bool] = lambda: False


def check_message_time(moment: datetime, where: str, rules: MessageRules) -> None:
    """422 when ``moment`` is beyond the clock-skew allowance or past retention."""
    if moment > rules.now + rules.skew:
        raise invalid(
            f"{where} is {format_utc(moment)}, more than {describe_duration(rules.skew)} "
            "ahead of the server's clock (SESSIONBOARD_CLOCK_SKEW)"
        )
    if rules.retention is not None and moment < rules.now - rules.retention and not rules.kept():
        raise invalid(
            f"{where} is {format_utc(moment)}, past retention "
            f"({describe_duration(rules.retention)}): the message would be purged at once; "
            "send a recent timestamp, or keep the session first"
        )


def parse_messages(body: Any, rules: MessageRules) -> list[Message]:
    """One message object, or ``{"messages": [...]}`` with at least one and at most
    ``rules.max_messages`` (413 above it)."""
    if isinstance(body, dict) and "messages" in body:
        items = body["messages"]
        if isinstance(items, list) and len(items) > rules.max_messages:
            raise RequestEntityTooLarge(
                f"a batch holds at most {rules.max_messages} messages "
                f"(SESSIONBOARD_MAX_BATCH_MESSAGES), this one {len(items)}: split it"
            )
        batch = read(schemas.MessageBatch, body, "the batch")
        named = [(m, f"messages[{i}]") for i, m in enumerate(batch.messages)]
    else:
        named = [(read(schemas.NewMessage, body, "the message"), "the message")]
    messages = []
    for new, where in named:
        if new.timestamp is not None:
            check_message_time(new.timestamp, f"timestamp of {where}", rules)
        messages.append(
            Message(
                role=new.role,
                content=new.content,
                summary=new.summary,
                meta=None if new.meta is None else dict(new.meta),
                source_key=new.source_key,
                timestamp=new.timestamp,
            )
        )
    return messages


# -- query strings and headers ---------------------------------------------------------


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


#: ``group_by`` of ``GET /usage``: "token" is the runner (the API token's name).
USAGE_GROUPS = {
    "day": UsageGroup.DAY,
    "model": UsageGroup.MODEL,
    "project": UsageGroup.PROJECT,
    "token": UsageGroup.RUNNER,
    "user": UsageGroup.USER,
}


def parse_usage_group(value: str | None) -> UsageGroup:
    """The ``group_by`` query parameter of the usage aggregates (default ``day``)."""
    if value is None:
        return UsageGroup.DAY
    if value not in USAGE_GROUPS:
        raise invalid(f"group_by must be one of {', '.join(USAGE_GROUPS)}")
    return USAGE_GROUPS[value]


def parse_instant(value: str | None, name: str) -> datetime | None:
    """A ``since``/``until`` query parameter: a UTC day ``YYYY-MM-DD`` (its
    midnight) or an RFC 3339 time with a zone."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), time(), UTC)
        else:
            parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(f"{name} must be a day (YYYY-MM-DD) or a time with a zone") from None
    if parsed.tzinfo is None or not 1900 <= parsed.year <= 2999:
        raise invalid(f"{name} must be a day (YYYY-MM-DD) or a time with a zone")
    return parsed.astimezone(UTC)


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
            schemas.storable_text(key)
        return schemas.parse_iso(moment), key
    except (
        ValueError,
        TypeError,
        OverflowError,
        RecursionError,
        binascii.Error,
    ):
        raise invalid("the cursor is not one this list gave out") from None
