"""The API's wire format as typed models (pydantic 2): what it sends for sessions,
messages, pages, counts and errors. ``webapp.api.views`` answers with them, the
OpenAPI document's schemas of them are generated from them
(:func:`component_schemas`), and an export can write its records with them.

Time is written by :func:`webapp.sessions.types.format_utc` alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from webapp.sessions import Message as StoredMessage
from webapp.sessions import Session as StoredSession
from webapp.sessions import Status
from webapp.sessions.types import format_utc

#: A moment as the API writes it: UTC, microseconds, ``Z``.
UtcTimestamp = Annotated[
    datetime,
    PlainSerializer(format_utc, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2026-01-15T12:00:00.000000Z"]}
    ),
]


class WireModel(BaseModel):
    """A record the API sends: exactly these fields, nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)

    def wire(self) -> dict[str, Any]:
        """The record as JSON-ready Python values."""
        return self.model_dump(mode="json")


class Session(WireModel):
    """A session as the API shows it (without its messages)."""

    id: str
    status: Status
    request: str
    response: str
    error: str
    created_at: UtcTimestamp
    last_activity: UtcTimestamp
    expires_at: UtcTimestamp | None = Field(description="null: never expires.")
    context: dict[str, Any]
    message_count: int = Field(ge=0)

    @classmethod
    def of(cls, session: StoredSession) -> Session:
        """The record of a domain session."""
        return cls(
            id=session.id,
            status=Status(session.status),
            request=session.request,
            response=session.response,
            error=session.error,
            created_at=session.created_at,
            last_activity=session.last_activity,
            expires_at=session.expires_at,
            context=session.context,
            message_count=session.message_count,
        )


class Message(WireModel):
    """A stored message as the API shows it."""

    id: int
    role: str
    content: str
    summary: str
    timestamp: UtcTimestamp
    meta: dict[str, Any] | None
    source_key: str | None

    @classmethod
    def of(cls, message: StoredMessage) -> Message:
        """The record of a stored domain message (it has an id and a timestamp:
        a message without them is refused)."""
        return cls.model_validate(
            {
                "id": message.id,
                "role": message.role,
                "content": message.content,
                "summary": message.summary,
                "timestamp": message.timestamp,
                "meta": message.meta,
                "source_key": message.source_key,
            }
        )


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


#: The models the OpenAPI document names, under these names.
DOCUMENTED = (Session, Message, SessionPage, MessagePage, Appended, Error)


def component_schemas() -> dict[str, Any]:
    """The JSON schemas of :data:`DOCUMENTED` (and what they use) for the document's
    ``components/schemas``, each under its class name."""
    schemas: dict[str, Any] = {}
    for model in DOCUMENTED:
        schema = model.model_json_schema(
            mode="serialization", ref_template="#/components/schemas/{model}"
        )
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas
