"""The records Sessionboard writes out, as typed models (pydantic 2): a session and
a message exactly as the API answers them and an export keeps them. One definition
serves both, so a field or a time format cannot drift between them; the API's
OpenAPI document is generated from the same models (``webapp.api.schemas``).
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


