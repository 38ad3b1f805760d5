"""Export sessions as JSON, Markdown or CSV, streaming: constant memory whatever
the number of sessions and messages.

Sessions are read in keyset pages of the session list (the dashboard's filters),
each session's messages in pages by id, and every piece is written as soon as
it is read.

JSON layout (``sessionboard import`` reads it back exactly)::

    {"sessionboard_export": 1, "exported_at": "...", "sessions": [
    {"id": ..., "status": ..., ..., "review": {...}, "messages": [{...}, ...]},
    ...
    ]}

A valid JSON document, with one session a line, so that the importer reads it
a session at a time. ``review`` holds ``verdict`` (null or ``{verdict, by, at,
reason}``), ``tags`` and ``comments`` (``message_id`` is the exported message's
``id``, or null for a comment on the session). Times are ISO 8601 UTC.
CSV is one row per session (no messages); Markdown is a readable transcript.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from webapp import records
from webapp.claude.redact import redact, redact_value
from webapp.review import service as review
from webapp.sessions import Message, Session
from webapp.sessions.queries import ReadModel
from webapp.sessions.types import excerpt, format_utc
from webapp.transcript.markdown import fence, markdown_turns

EXPORT_MARKER = "sessionboard_export"
EXPORT_VERSION = 1
FORMATS = ("json", "markdown", "csv")
SESSION_PAGE = 100
MESSAGE_PAGE = 500




class ExportedSession(records.Session):
    """A session as the export writes it: the API's record, with what a restore
    needs besides (whether it is kept, its parent session)."""

    keep: bool
    parent_id: str | None

    @classmethod
    def of(cls, session: Session) -> ExportedSession:
        """The export record of a domain session."""
        return cls(**records.Session.of(session).model_dump(), keep=session.keep,
                   parent_id=session.parent_id)  # fmt: skip


CSV_COLUMNS = (
    "id",
    "status",
    "created_at",
    "last_activity",
    "message_count",
    "project_path",
    "request",
    "response",
    "error",
    "verdict",
    "tags",
    "comments",
)


def format_time(value: datetime | None) -> str | None:
    """A moment as every record writes it (:func:`format_utc`), or None."""
    return None if value is None else format_utc(value)


def parse_time(value: str | None) -> datetime | None:
    """The aware UTC datetime :func:`format_time` wrote, or None."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"a time without zone: {value!r}")
    return parsed.astimezone(UTC)


# -- reading -------------------------------------------------------------------------


def session_review(session_id: str) -> dict[str, Any]:
    """The review data of a session as the export writes it."""
    record = review.review_record(session_id)
    verdict = record["verdict"]
    return {
        "verdict": None if verdict is None else {**verdict, "at": format_time(verdict["at"])},
        "tags": record["tags"],
        "comments": [
            {**c, "created_at": format_time(c["created_at"])} for c in record["comments"]
        ],
    }


class Redactor:
    """Applies :mod:`webapp.claude.redact` to what an export writes, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def text(self, value: str) -> str:
        """``value`` with its secrets replaced."""
        return redact(value) if self.enabled and value else value

    def value(self, value: Any) -> Any:
        """A JSON value with the secrets in its strings replaced."""
        return redact_value(value) if self.enabled and value else value

    def session(self, s: Session) -> Session:
        """A copy of ``s`` with its text fields and context redacted."""
        if not self.enabled:
            return s
        return replace(
            s,
            request=self.text(s.request),
            response=self.text(s.response),
            error=self.text(s.error),
            context=self.value(s.context),
        )

    def message(self, m: Message) -> Message:
        """A copy of ``m`` with its content, summary and meta redacted."""
        if not self.enabled:
            return m
        return replace(
            m, content=self.text(m.content), summary=self.text(m.summary), meta=self.value(m.meta)
        )

    def review(self, review: dict[str, Any]) -> dict[str, Any]:
        """Review data with comment bodies and the verdict's reason redacted."""
        if not self.enabled:
            return review
        if review["verdict"]:
            review["verdict"]["reason"] = self.text(review["verdict"]["reason"])
        for comment in review["comments"]:
            comment["body"] = self.text(comment["body"])
        return review


# -- JSON ----------------------------------------------------------------------------


def session_json(s: Session) -> dict[str, Any]:
    """A session's fields as the export writes them."""
    return ExportedSession.of(s).wire()


def message_json(m: Message) -> dict[str, Any]:
    """A message as the export writes it."""
    return records.Message.of(m).wire()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Writer:
    """Writes sessions to ``out`` in one format; ``begin``, ``session`` for each, ``end``."""

    def __init__(self, fmt: str, queries: ReadModel, redactor: Redactor) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}")
        self.fmt = fmt
        self.queries = queries
        self.redactor = redactor
        self.count = 0

    def begin(self, now: datetime) -> Iterator[str]:
        """What comes before the first session."""
        if self.fmt == "json":
            header = {EXPORT_MARKER: EXPORT_VERSION, "exported_at": format_time(now)}
            yield _dumps(header)[:-1] + ',"sessions": [\n'
        elif self.fmt == "csv":
            yield _csv_row(CSV_COLUMNS)

    def session(self, s: Session) -> Iterator[str]:
        """One session, in pieces."""
        r = self.redactor
        review = r.review(session_review(s.id))
        messages = (r.message(m) for m in self.queries.iter_messages(s.id, batch=MESSAGE_PAGE))
        s = r.session(s)
        first = self.count == 0
        self.count += 1
        if self.fmt == "json":
            head = _dumps({**session_json(s), "review": review})
            yield ("" if first else ",\n") + head[:-1] + ',"messages":['
            for i, m in enumerate(messages):
                yield ("," if i else "") + _dumps(message_json(m))
            yield "]}"
        elif self.fmt == "csv":
            yield _csv_row(_csv_values(s, review))
        else:
            yield from markdown_session(s, review, messages)

    def end(self) -> Iterator[str]:
        """What comes after the last session."""
        if self.fmt == "json":
            yield "\n]}\n"


def _csv_row(values: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def _csv_values(s: Session, review: dict[str, Any]) -> list[Any]:
    verdict = review["verdict"]["verdict"] if review["verdict"] else "unreviewed"
    return [
        s.id,
        str(s.status),
        format_time(s.created_at),
        format_time(s.last_activity),
        s.message_count,
        s.context.get("project_path", ""),
        s.request,
        s.response,
        s.error,
        verdict,
        " ".join(review["tags"]),
        len(review["comments"]),
    ]


# -- Markdown ------------------------------------------------------------------------

def markdown_session(
    s: Session, review: dict[str, Any], messages: Iterator[Message]
) -> Iterator[str]:
    """A session as a Markdown document: fields, review, transcript."""
    title = s.context.get("title") or excerpt(s.request, 80) or s.id
    yield f"# {title}\n\n"
    facts = [
        ("Session", f"`{s.id}`"),
        ("Status", str(s.status)),
        ("Created", format_time(s.created_at)),
        ("Last activity", format_time(s.last_activity)),
        ("Messages", s.message_count),
        ("Parent", f"`{s.parent_id}`" if s.parent_id else None),
        ("Verdict", review["verdict"]["verdict"] if review["verdict"] else "unreviewed"),
        ("Tags", ", ".join(review["tags"]) or None),
    ]
    facts += [(k, v) for k, v in sorted(s.context.items()) if isinstance(v, str | int | float)]
    yield "".join(f"- **{k}**: {v}\n" for k, v in facts if v not in (None, ""))
    if s.request:
        yield f"\n## Request\n\n{s.request}\n"
    if s.error:
        yield f"\n## Error\n\n{fence(s.error)}\n"
    for comment in review["comments"]:
        yield f"\n> **{comment['author']}** ({comment['created_at']}): {comment['body']}\n"
    yield "\n## Transcript\n\n"
    yield from markdown_turns(messages)
    yield "---\n\n"


# -- one run -------------------------------------------------------------------------


def export_sessions(
    sessions: Iterator[Session],
    writer: Writer,
    write: Callable[[str], Any],
    now: datetime,
) -> int:
    """Write every session of ``sessions`` through ``writer``; return how many."""
    for piece in writer.begin(now):
        write(piece)
    for s in sessions:
        for piece in writer.session(s):
            write(piece)
    for piece in writer.end():
        write(piece)
    return writer.count
