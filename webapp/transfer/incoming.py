"""What an import reads: the sessions of a Sessionboard export or of a Claude Code
transcript, each validated by the domain's rules (and the export format's) before
anything is written. A broken rule raises ``ValueError`` naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from webapp.claude.transcript import ParsedMessage, ParsedSession
from webapp.review.models import VERDICTS
from webapp.sessions import Message, Session, Status
from webapp.sessions.types import check_session_id, check_text
from webapp.transfer.export import parse_time

#: The review fields' column widths (tags, authors, verdict givers).
REVIEW_NAME_LENGTH = 64


@dataclass
class Incoming:
    """One session of a file, read and validated: its fields, its messages, and its
    source (the ParsedSession of a transcript, the record of an export)."""

    session: Session
    messages: list[Message]
    source: ParsedSession | dict[str, Any]

    @property
    def exported(self) -> bool:
        """Whether it comes from a Sessionboard export."""
        return isinstance(self.source, dict)


def iter_export_records(path: Path) -> Iterator[tuple[str, Any]]:
    """The session records of an export, one at a time, each with where it is
    (``"line 3"``, or ``"record 2"`` in a file laid out otherwise).

    ``sessionboard export`` writes one session a line between a header line and
    a closing line, so the file is read a line at a time; a file laid out
    otherwise (re-indented by a tool) is read whole. Text that is not UTF-8 or
    not JSON raises ``ValueError`` (naming the line)."""
    with path.open(encoding="utf-8") as f:
        header = f.readline()
        if header.rstrip().endswith('"sessions": ['):
            for number, line in enumerate(f, start=2):
                text = line.strip().removesuffix(",")
                if text and text != "]}":
                    yield f"line {number}", _decode(text, f"line {number}: ")
            return
    document = _decode(path.read_text(encoding="utf-8"))
    sessions = document.get("sessions") if isinstance(document, dict) else None
    if not isinstance(sessions, list):
        raise ValueError("no list of sessions")
    for number, record in enumerate(sessions, start=1):
        yield f"record {number}", record


def read_export(path: Path) -> list[Incoming]:
    """Every session of an export, validated; ``ValueError`` naming the line (or
    record) of the first one that breaks a rule."""
    sessions = []
    for where, record in iter_export_records(path):
        try:
            sessions.append(export_incoming(record))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return sessions


def _decode(text: str, place: str = "") -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ValueError(f"{place}not valid JSON: {reason}") from None


def export_incoming(record: Any) -> Incoming:
    """An export's session record as a validated :class:`Incoming`; ``ValueError``
    naming the field if it breaks a rule of the domain or of the export format."""
    if not isinstance(record, dict):
        raise ValueError("a session record must be a JSON object")
    session = Session(
        id=check_session_id(record.get("id")),
        status=record.get("status"),  # type: ignore[arg-type]  # validated below
        request=_optional_text(record, "request"),
        response=_optional_text(record, "response"),
        error=_optional_text(record, "error"),
        created_at=record_time(record, "created_at"),
        last_activity=record_time(record, "last_activity"),
        expires_at=record_time(record, "expires_at", required=False),
        context=record.get("context") or {},
        keep=_flag(record, "keep"),
        parent_id=_optional_id(record, "parent_id"),
    )
    session.validate()
    session.status = Status(session.status)
    messages = record.get("messages", [])
    if not isinstance(messages, list):
        raise ValueError("messages must be a list")
    incoming = Incoming(session, [_record_message(m, i) for i, m in enumerate(messages)], record)
    _check_review(record.get("review"))
    return incoming


def _optional_id(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    return None if value is None else check_session_id(value)


def _optional_text(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    return "" if value is None else value


def _flag(record: dict[str, Any], name: str) -> bool:
    value = record.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def record_time(record: dict[str, Any], name: str, *, required: bool = True) -> Any:
    """The aware UTC time at ``record[name]``; None only when not ``required``."""
    value = record.get(name)
    if value is None:
        if required:
            raise ValueError(f"{name} is missing")
        return None
    try:
        if not isinstance(value, str):
            raise TypeError
        return parse_time(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(
            f"{name} must be an ISO 8601 time with a zone, not {repr(value)[:64]}"
        ) from None


def _record_message(record: Any, index: int) -> Message:
    where = f"messages[{index}]"
    if not isinstance(record, dict):
        raise ValueError(f"{where} must be a JSON object")
    try:
        message = Message(
            role=record.get("role"),  # type: ignore[arg-type]  # validated below
            content=record.get("content"),  # type: ignore[arg-type]
            summary=_optional_text(record, "summary"),
            timestamp=record_time(record, "timestamp", required=False),
            meta=record.get("meta"),
            source_key=record.get("source_key"),
        )
        message.validate()
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return message


def _check_review(review: Any) -> None:
    """``ValueError`` unless ``review`` is review data as the export writes it."""
    if review is None:
        return
    if not isinstance(review, dict):
        raise ValueError("review must be a JSON object")
    verdict = review.get("verdict")
    if verdict is not None:
        if not isinstance(verdict, dict) or verdict.get("verdict") not in VERDICTS:
            raise ValueError(f"review.verdict must name one of {', '.join(VERDICTS)}")
        _check_name(verdict.get("by"), "review.verdict.by")
        record_time(verdict, "at")
        check_text(_optional_text(verdict, "reason"), "review.verdict.reason")
    tags = review.get("tags", [])
    if not isinstance(tags, list):
        raise ValueError("review.tags must be a list")
    for tag in tags:
        _check_name(tag, "a review tag")
    if len(set(tags)) != len(tags):
        raise ValueError("review.tags names a tag twice")
    comments = review.get("comments", [])
    if not isinstance(comments, list):
        raise ValueError("review.comments must be a list")
    for i, comment in enumerate(comments):
        where = f"review.comments[{i}]"
        if not isinstance(comment, dict):
            raise ValueError(f"{where} must be a JSON object")
        _check_name(comment.get("author"), f"{where}.author")
        check_text(comment.get("body"), f"{where}.body")
        record_time(comment, "created_at")
    scores = review.get("scores", [])
    if not isinstance(scores, list):
        raise ValueError("review.scores must be a list")
    for i, score in enumerate(scores):
        where = f"review.scores[{i}]"
        if not isinstance(score, dict):
            raise ValueError(f"{where} must be a JSON object")
        for key in ("queue", "criterion"):
            name = check_text(score.get(key), f"{where}.{key}")
            if not name.strip() or len(name) > 200:
                raise ValueError(f"{where}.{key} must be 1 to 200 characters, not blank")
        for key in ("kind", "reviewer"):
            _check_name(score.get(key), f"{where}.{key}")
        check_text(score.get("value"), f"{where}.value")
        record_time(score, "at")


def _check_name(value: Any, what: str) -> None:
    name = check_text(value, what)
    if not name.strip() or len(name) > REVIEW_NAME_LENGTH:
        raise ValueError(f"{what} must be 1 to {REVIEW_NAME_LENGTH} characters, not blank")


def transcript_incoming(parsed: ParsedSession, fallback: datetime) -> Incoming:
    """A parsed transcript session as a validated :class:`Incoming` (``fallback``:
    the creation time of a session whose lines carry none)."""
    check_session_id(parsed.id)
    created = parsed.created_at or fallback
    context = dict(parsed.context)
    if parsed.parent_id is not None:
        context["parent_session_id"] = check_session_id(parsed.parent_id)
    if parsed.parent_tool_use_id is not None:
        context["parent_tool_use_id"] = parsed.parent_tool_use_id
    session = Session(
        id=parsed.id,
        status=Status(parsed.status),
        request=parsed.request or "",
        response=parsed.response or "",
        error=parsed.error or "",
        created_at=created,
        last_activity=parsed.last_activity or created,
        expires_at=parsed.last_activity or created,
        context=context,
        parent_id=parsed.parent_id,
    )
    session.validate()
    messages = [_message(m) for m in parsed.messages]
    for message in messages:
        try:
            message.validate()
        except ValueError as exc:
            raise ValueError(f"message {message.source_key}: {exc}") from None
    return Incoming(session, messages, parsed)


def _message(m: ParsedMessage) -> Message:
    return Message(**m.as_message_kwargs(), source_key=m.source_key)
