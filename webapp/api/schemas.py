"""The API's wire format as typed models (pydantic 2): what it takes (a new
session, a session change, messages) and what it sends (sessions, messages,
pages, counts, errors). ``webapp.api.payloads`` reads request bodies with them,
``webapp.api.views`` answers with them, the OpenAPI document's schemas are
generated from them (:func:`component_schemas`), and an export can write its
records with them.

Values must be storable on both engines: text without NUL characters (PostgreSQL
refuses them) or lone surrogates (not UTF-8); JSON objects (``meta``,
``context``) without NaN or Infinity, nesting at most ``MAX_JSON_DEPTH`` levels.
Each such type is validated by one function and documented by one JSON schema,
declared together below. Time is written by
:func:`webapp.sessions.types.format_utc` alone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
)

from webapp.config import SETTINGS, parse_duration
from webapp.records import Message as Message
from webapp.records import Session as Session
from webapp.records import UtcTimestamp as UtcTimestamp
from webapp.records import WireModel as WireModel
from webapp.sessions import Status
from webapp.sessions.pricing import NANOS_PER_USD
from webapp.sessions.search import Hit
from webapp.sessions.types import (
    MAX_ROLE_LENGTH,
    MAX_SOURCE_KEY_LENGTH,
    SESSION_ID_PATTERN,
    check_json,
    check_session_id,
    check_text,
)
from webapp.sessions.usage_reads import UsageRow

#: Timestamps a client sends: years 1900 to 2999 (no overflow when moved to UTC).
TIMESTAMP_PATTERN = r"^(19|2[0-9])[0-9]{2}-"

_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_REF = "#/components/schemas/{}"
#: Stands for a ``$ref`` to a component in a type's JSON schema until the document
#: is made (pydantic resolves every ``$ref`` it meets against its own definitions).
_COMPONENT = "x-component"

# -- what the API takes ------------------------------------------------------------

#: Text the database stores: anything but NUL.
TEXT_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[^\\u0000]*$"}


def _without_subject(error: ValueError) -> ValueError:
    """A domain rule's error, less its subject (the API's message names the field
    itself). The validators call the rules directly, each in one ``try``: they run
    for every field of every message."""
    return ValueError(str(error).removeprefix("value ").removeprefix("session id "))


def storable_text(value: Any) -> str:
    """``value`` if it is a string both databases store, else ``ValueError``."""
    try:
        return check_text(value, "value")
    except ValueError as exc:
        raise _without_subject(exc) from None


def storable_json(value: Any) -> None:
    """``ValueError`` unless ``value`` is JSON that both engines store and give back
    unchanged."""
    try:
        check_json(value, "value")
    except ValueError as exc:
        raise _without_subject(exc) from None


def json_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a storable JSON object, else ``ValueError``."""
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    storable_json(value)
    return value


def parse_iso(value: str) -> datetime:
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


def client_timestamp(value: Any) -> datetime:
    """An RFC 3339 / ISO 8601 date-time with a zone (``Z`` or ``+hh:mm``) in years
    1900 to 2999, as aware UTC; ``ValueError`` otherwise."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string")
    try:
        if not _TIMESTAMP.match(value):
            raise ValueError("year out of range")
        return parse_iso(value)
    except (ValueError, OverflowError):
        raise ValueError(
            "must be an ISO 8601 date-time with a zone in years 1900 to 2999, "
            f"e.g. 2026-01-15T12:00:00Z; got {value[:64]!r}"
        ) from None


def session_id(value: Any) -> str:
    """An id a client may choose, else ``ValueError``."""
    try:
        return check_session_id(value)
    except ValueError as exc:
        raise _without_subject(exc) from None


def role(value: Any) -> str:
    """A message's role: 1 to ``MAX_ROLE_LENGTH`` characters, not blank."""
    text = storable_text(value)
    if not text.strip() or len(text) > MAX_ROLE_LENGTH:
        raise ValueError(f"must be 1 to {MAX_ROLE_LENGTH} characters, not blank")
    return text


def source_key(value: Any) -> str:
    """A message's ``source_key``: 1 to ``MAX_SOURCE_KEY_LENGTH`` characters."""
    text = storable_text(value)
    if not text or len(text) > MAX_SOURCE_KEY_LENGTH:
        raise ValueError(f"must be 1 to {MAX_SOURCE_KEY_LENGTH} characters")
    return text


#: The statuses a PATCH may set; pending and expired are the Manager's to give.
PATCH_STATUSES = (Status.RUNNING, Status.COMPLETED, Status.FAILED, Status.CLOSED)


def patch_status(value: Any) -> Status:
    """A status a PATCH may set, else ``ValueError``."""
    if not isinstance(value, str) or value not in {s.value for s in PATCH_STATUSES}:
        raise ValueError("must be one of running, completed, failed, closed")
    return Status(value)


JSON_OBJECT_SCHEMA = {
    "type": "object",
    "propertyNames": TEXT_SCHEMA,
    "additionalProperties": {_COMPONENT: "JsonValue"},
}
SESSION_ID_SCHEMA = {"type": "string", "pattern": SESSION_ID_PATTERN}
PATCH_STATUS_SCHEMA = {"type": "string", "enum": [s.value for s in PATCH_STATUSES]}

Text = Annotated[str, PlainValidator(storable_text), WithJsonSchema(TEXT_SCHEMA)]
JsonObject = Annotated[
    dict[str, Any], PlainValidator(json_object), WithJsonSchema(JSON_OBJECT_SCHEMA)
]
# The ``Maybe`` types are for fields a body may leave out but never set to null:
# None stands for "not given", and a null that is sent is refused like any non-value.
MaybeText = Annotated[str | None, PlainValidator(storable_text), WithJsonSchema(TEXT_SCHEMA)]
MaybeJsonObject = Annotated[
    dict[str, Any] | None, PlainValidator(json_object), WithJsonSchema(JSON_OBJECT_SCHEMA)
]
MaybeSessionId = Annotated[
    str | None, PlainValidator(session_id), WithJsonSchema(SESSION_ID_SCHEMA)
]
MaybePatchStatus = Annotated[
    Status | None, PlainValidator(patch_status), WithJsonSchema(PATCH_STATUS_SCHEMA)
]
ClientTimestamp = Annotated[
    datetime,
    PlainValidator(client_timestamp),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": TIMESTAMP_PATTERN,
            "description": "RFC 3339 with a zone (`Z` or `+hh:mm`), years 1900 to 2999.",
        }
    ),
]
Role = Annotated[
    str,
    PlainValidator(role),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_ROLE_LENGTH,
            "pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$",
        }
    ),
]
SourceKey = Annotated[
    str,
    PlainValidator(source_key),
    WithJsonSchema({**TEXT_SCHEMA, "minLength": 1, "maxLength": MAX_SOURCE_KEY_LENGTH}),
]


class InputModel(BaseModel):
    """A body the API takes: these fields only (an unknown one is 422)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NewSession(InputModel):
    """The body of POST /sessions."""

    request: Text = Field(default="", description="What the user asked.")
    context: JsonObject = Field(
        default_factory=dict, description="Free JSON object (project path, chat id, ...)."
    )
    expires_at: ClientTimestamp | None = Field(
        default=None, description="Absent: now + SESSION_TIMEOUT; null: never expires."
    )
    id: MaybeSessionId = Field(
        default=None, description="Your own id (else a UUID is made); 409 if taken."
    )


class SessionPatch(InputModel):
    """The body of PATCH /sessions/{id}: what it names changes, the rest stays."""

    status: MaybePatchStatus = None
    response: MaybeText = None
    error: MaybeText = None
    request: MaybeText = None
    context: MaybeJsonObject = Field(
        default=None, description="Merged into the session's context, key by key."
    )


class NewMessage(InputModel):
    """One message to append."""

    role: Role = Field(description="user, assistant, system, tool, ...; not blank.")
    content: Text
    summary: Text = ""
    timestamp: ClientTimestamp | None = Field(
        default=None,
        description="Absent or null: now. At most CLOCK_SKEW ahead of the server's clock, "
        "and not older than MESSAGE_RETENTION unless the session is kept (it would be "
        "purged at once): else 422.",
    )
    meta: JsonObject | None = Field(
        default=None, description="Model, token usage, tool calls, ...; returned as sent."
    )
    source_key: SourceKey | None = Field(
        default=None, description="Your key for the message: stored once per session."
    )


class MessageBatch(InputModel):
    """Messages appended as one transaction."""

    messages: list[NewMessage] = Field(min_length=1)


def _whole_number(value: Any) -> Any:
    """A JSON number with no fraction (``3600.0``) as the integer it is, as JSON
    Schema's ``integer`` counts it; anything else is left to the strict check."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: SHARE_MAX_AGE's default in seconds: the document's bound on ``expires_in``.
_DEFAULT_SHARE_MAX_AGE = int(parse_duration(SETTINGS["SHARE_MAX_AGE"][0]).total_seconds())


class NewShare(InputModel):
    """The body of POST /sessions/{id}/shares."""

    expires_in: Annotated[int | None, BeforeValidator(_whole_number)] = Field(
        default=None,
        ge=1,
        le=_DEFAULT_SHARE_MAX_AGE,
        description="Seconds the link lives: 1 to SHARE_MAX_AGE (else 422; the document "
        "gives the setting's default); absent or null: 7 days (or SHARE_MAX_AGE if shorter).",
    )
    redact: bool = Field(default=False, description="Secrets are redacted when the page is drawn.")


# -- what the API sends ------------------------------------------------------------


class SessionPage(WireModel):
    """A page of the session list and the cursor of the next one."""

    sessions: list[Session]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last."
    )


class MessagePage(WireModel):
    """A page of a session's messages and the cursor of the next one."""

    messages: list[Message]
    next_cursor: str | None = Field(
        description="Pass as `after` for the next page; null on the last."
    )


class SearchHit(WireModel):
    """A text that matches a search: a message (``message_id``), or a session's
    request, response or error, or a review comment (``message_id`` null)."""

    session_id: str
    message_id: int | None
    role: str | None
    kind: str | None = Field(
        description="The message's kind (text, tool_use, tool_result, thinking, ...), "
        "or request, response, error, comment."
    )
    snippet: str = Field(
        description="HTML: the text around the first match, escaped, each match in <mark>."
    )
    timestamp: UtcTimestamp

    @classmethod
    def of(cls, hit: Hit) -> SearchHit:
        """The record of a domain search hit."""
        return cls(
            session_id=hit.session_id,
            message_id=hit.message_id,
            role=hit.role,
            kind=hit.kind,
            snippet=str(hit.snippet),
            timestamp=hit.timestamp,
        )


class SearchPage(WireModel):
    """A page of search hits, newest first, and the cursor of the next one."""

    results: list[SearchHit]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last."
    )


class Share(WireModel):
    """A share link just made: its token is in ``url`` and shown this once."""

    id: int
    url: str = Field(description="The page's absolute URL; it opens without login.")
    expires_at: UtcTimestamp


class Appended(WireModel):
    """How many messages a POST appended."""

    appended: int = Field(ge=0)


class ErrorDetail(BaseModel):
    """What went wrong: a machine-readable code and a sentence."""

    code: str = Field(
        description="bad_request, unauthorized, forbidden, not_found, conflict, too_large, "
        "unsupported_media_type, invalid, busy, ..."
    )
    message: str


class Error(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


class UsageFigures(WireModel):
    """Usage of one group and one model: tokens by kind and their cost."""

    key: str = Field(
        description="The day (YYYY-MM-DD, UTC), model, project, token or user; "
        '"" when the sessions did not say.'
    )
    model: str = Field(description='The model that answered ("" when not given).')
    responses: int = Field(ge=0, description="API responses counted.")
    input: int = Field(ge=0)
    output: int = Field(ge=0)
    cache_read: int = Field(ge=0)
    cache_write_5m: int = Field(ge=0)
    cache_write_1h: int = Field(ge=0)
    tokens: int = Field(ge=0, description="Every token of the responses.")
    priced: int = Field(ge=0, description="Responses that had a price.")
    cost_nanos: int | None = Field(
        description="What the priced responses cost, in nano-dollars (exact); "
        "null: no price for this model."
    )
    cost_usd: float | None = Field(description="The same in dollars.")

    @classmethod
    def of(cls, row: UsageRow) -> UsageFigures:
        """The wire form of a read model's usage row."""
        t, usage = row.totals, row.totals.usage
        return cls(
            key=row.key,
            model=row.model,
            responses=t.responses,
            input=usage.input,
            output=usage.output,
            cache_read=usage.cache_read,
            cache_write_5m=usage.cache_write_5m,
            cache_write_1h=usage.cache_write_1h,
            tokens=usage.total,
            priced=t.priced,
            cost_nanos=t.cost,
            cost_usd=None if t.cost is None else t.cost / NANOS_PER_USD,
        )


#: What ``GET /usage`` groups by ("token": the runner, the API token's name).
UsageGroupName = Literal["day", "model", "project", "token", "user"]


class UsageReport(WireModel):
    """Usage aggregates over a time range, a row per group and model."""

    group_by: UsageGroupName
    since: UtcTimestamp | None = Field(description="null: from the first usage.")
    until: UtcTimestamp | None = Field(description="null: to now (exclusive).")
    rows: list[UsageFigures]


#: The models the OpenAPI document names, under these names.
DOCUMENTED = (
    NewSession,
    SessionPatch,
    NewMessage,
    MessageBatch,
    NewShare,
    Share,
    Session,
    Message,
    SessionPage,
    MessagePage,
    SearchHit,
    SearchPage,
    Appended,
    UsageReport,
    Error,
)


#: A JSON value as ``meta`` and ``context`` hold them (see :func:`storable_json`).
JSON_SCHEMAS: dict[str, Any] = {
    "JsonValue": {
        "description": "Any JSON value whose strings and keys hold no NUL character.",
        "anyOf": [
            {"type": "null"},
            {"type": "boolean"},
            {"type": "number"},
            TEXT_SCHEMA,
            {"type": "array", "items": {_COMPONENT: "JsonValue"}},
            {_COMPONENT: "JsonObject"},
        ],
    },
    "JsonObject": {
        "type": "object",
        "propertyNames": TEXT_SCHEMA,
        "additionalProperties": {_COMPONENT: "JsonValue"},
    },
}


def _with_refs(schema: Any) -> Any:
    """``schema`` with each ``{"x-component": name}`` made a ``$ref`` to it."""
    if isinstance(schema, dict):
        if set(schema) == {_COMPONENT}:
            return {"$ref": _REF.format(schema[_COMPONENT])}
        return {key: _with_refs(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_with_refs(item) for item in schema]
    return schema


def component_schemas() -> dict[str, Any]:
    """The JSON schemas of :data:`DOCUMENTED` (and what they use) for the document's
    ``components/schemas``, each under its class name."""
    schemas: dict[str, Any] = dict(JSON_SCHEMAS)
    for model in DOCUMENTED:
        mode: Literal["validation", "serialization"] = (
            "validation" if issubclass(model, InputModel) else "serialization"
        )
        schema = model.model_json_schema(mode=mode, ref_template=_REF.replace("{}", "{model}"))
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {name: _with_refs(schema) for name, schema in schemas.items()}
