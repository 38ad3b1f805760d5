r"""Review data and review changes: verdicts, comments, tags, keep, the inbox.

CONTRACT (read side, used by other features' pages):
- ``session_review(session_id) -> dict``: ``verdict`` ("unreviewed" | "approved" |
  "flagged"), ``verdict_by``, ``verdict_at``, ``reason``, ``tags`` (list[str]),
  ``comments`` (session-level, list of dicts with author, created_at, body_html).
- ``list_annotations(session_ids) -> dict[str, dict]``: per session id
  ``{"verdict": str, "tags": list[str]}`` for the session list's columns.
- ``comments_by_message(session_id) -> dict[int, list[dict]]``: comments on single
  messages, keyed by message id, shown beside that message.
- ``session_filter(verdicts, reviewer, tag)``: the sessions these review filters
  keep, as :class:`~webapp.sessions.queries.IdSet`\ s for the read model (none when
  no review filter is given).

Write side: ``set_verdict``, ``add_comment``, ``add_tag``, ``remove_tag`` and
``set_keep`` each change one session in one transaction together with its audit
entry, and raise ``UnknownSessionError`` for an unknown id and ``ReviewError``
for input the rules refuse.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    delete,
    insert,
    literal,
    select,
    union_all,
)

from webapp.accounts import audit
from webapp.accounts.auth import current_actor
from webapp.extensions import get_database, get_manager, get_queries
from webapp.rendering import render_markdown
from webapp.review.models import VERDICTS as VERDICTS  # the contract names it here
from webapp.review.models import Comment, Tag, Verdict
from webapp.sessions import UnknownSessionError
from webapp.sessions.engine import InList
from webapp.sessions.events import record_event
from webapp.sessions.queries import FINISHED_STATUSES, IdSet, InboxRow
from webapp.sessions.search_index import index_comment
from webapp.sessions.transcripts import message_exists, session_exists

verdicts_t = cast(Table, Verdict.__table__)
comments_t = cast(Table, Comment.__table__)
tags_t = cast(Table, Tag.__table__)

MAX_TAG_LENGTH = 64
MAX_COMMENT_LENGTH = 20_000
MAX_REASON_LENGTH = 2_000
#: The statuses the inbox offers to narrow to: finished ones.
INBOX_STATUSES = tuple(str(s) for s in FINISHED_STATUSES)


class ReviewError(ValueError):
    """A review change the rules refuse; the message says why."""


# -- read side -------------------------------------------------------------------------


def _comment(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "message_id": m["message_id"],
        "author": m["author"],
        "created_at": m["created_at"],
        "body": m["body"],
        "body_html": render_markdown(m["body"]),
    }


def _tags(conn: Connection, session_id: str) -> list[str]:
    query = select(tags_t.c.name).where(tags_t.c.session_id == session_id).order_by(tags_t.c.name)
    return list(conn.execute(query).scalars())


def session_review(session_id: str) -> dict[str, Any]:
    """The review state of one session."""
    c = comments_t.c
    with get_database().read() as conn:
        verdict = conn.execute(
            select(verdicts_t).where(verdicts_t.c.session_id == session_id)
        ).first()
        tags = _tags(conn, session_id)
        comments = [
            _comment(r)
            for r in conn.execute(
                select(comments_t)
                .where(c.session_id == session_id, c.message_id.is_(None))
                .order_by(c.created_at, c.id)
            )
        ]
    v = verdict._mapping if verdict is not None else None
    return {
        "verdict": v["verdict"] if v else "unreviewed",
        "verdict_by": v["by"] if v else None,
        "verdict_at": v["at"] if v else None,
        "reason": v["reason"] if v else "",
        "tags": tags,
        "comments": comments,
    }


def review_record(session_id: str) -> dict[str, Any]:
    """A session's review data as an export keeps it: the verdict (``verdict``,
    ``by``, ``at``, ``reason``) or None, the tags, and every comment (``message_id``,
    ``author``, ``created_at``, ``body``), oldest first."""
    c = comments_t.c
    with get_database().read() as conn:
        verdict = conn.execute(
            select(verdicts_t).where(verdicts_t.c.session_id == session_id)
        ).first()
        tags = _tags(conn, session_id)
        comments = conn.execute(
            select(c.message_id, c.author, c.created_at, c.body)
            .where(c.session_id == session_id)
            .order_by(c.created_at, c.id)
        )
        return {
            "verdict": None
            if verdict is None
            else {
                "verdict": verdict.verdict,
                "by": verdict.by,
                "at": verdict.at,
                "reason": verdict.reason,
            },
            "tags": tags,
            "comments": [dict(r._mapping) for r in comments],
        }


def list_annotations(session_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Verdict and tags per session, for list rows: one statement (built once) for both."""
    ids = list(session_ids)
    result: dict[str, dict[str, Any]] = {sid: {"verdict": "unreviewed", "tags": []} for sid in ids}
    if not ids:
        return result
    with get_database().read() as conn:
        for sid, is_tag, value in conn.execute(_ANNOTATIONS, {"ids": ids}):
            if is_tag:
                result[sid]["tags"].append(value)
            else:
                result[sid]["verdict"] = value
    return result


def _annotations() -> Any:
    """Verdicts and tags of the sessions ``ids`` as (session, is a tag, value) rows,
    the tags by name (a list page ran two statements, each built anew)."""
    verdict_rows = select(
        verdicts_t.c.session_id, literal(0).label("is_tag"), verdicts_t.c.verdict.label("value")
    ).where(InList(verdicts_t.c.session_id, "ids"))
    tag_rows = select(tags_t.c.session_id, literal(1), tags_t.c.name).where(
        InList(tags_t.c.session_id, "ids")
    )
    return union_all(verdict_rows, tag_rows).order_by("is_tag", "value")


_ANNOTATIONS = _annotations()


def comments_by_message(session_id: str) -> dict[int, list[dict[str, Any]]]:
    """Comments on single messages, keyed by message id."""
    c = comments_t.c
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    with get_database().read() as conn:
        for row in conn.execute(
            select(comments_t)
            .where(c.session_id == session_id, c.message_id.is_not(None))
            .order_by(c.created_at, c.id)
        ):
            found[row._mapping["message_id"]].append(_comment(row))
    return dict(found)


def message_comments(session_id: str, message_id: int) -> list[dict[str, Any]]:
    """The comments on one message."""
    return comments_by_message(session_id).get(message_id, [])


def session_filter(
    verdicts: Sequence[str] | None = None, reviewer: str | None = None, tag: str | None = None
) -> tuple[IdSet, ...]:
    """The sessions that review filters keep, for the read model (empty: no filter)."""
    v = verdicts_t.c
    picked: list[IdSet] = []
    wanted = {w for w in (verdicts or []) if w in VERDICTS}
    if "unreviewed" in wanted:
        # No verdict, or one of those wanted: no verdict among the others.
        others = [w for w in VERDICTS if w not in wanted]
        if others:
            picked.append(IdSet(select(v.session_id).where(v.verdict.in_(others)), negate=True))
    elif wanted:
        picked.append(IdSet(select(v.session_id).where(v.verdict.in_(sorted(wanted)))))
    if reviewer:
        picked.append(IdSet(select(v.session_id).where(v.by == reviewer)))
    if tag:
        picked.append(IdSet(select(tags_t.c.session_id).where(tags_t.c.name == _normal_tag(tag))))
    return tuple(picked)


def all_tags() -> list[str]:
    """Every tag in use, for filter menus."""
    with get_database().read() as conn:
        query = select(tags_t.c.name).distinct().order_by(tags_t.c.name)
        return list(conn.execute(query).scalars())


# -- the inbox -------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxFilter:
    """What the inbox narrows to besides "unreviewed": a tag, a status."""

    tag: str = ""
    status: str = ""

    def args(self) -> dict[str, Any]:
        """As query-string arguments (empty ones left out)."""
        return {k: v for k, v in (("tag", self.tag), ("status", self.status)) if v}


def _inbox_within(where: InboxFilter) -> list[IdSet]:
    """Sessions without a verdict, narrowed by the inbox's tag."""
    return [IdSet(select(verdicts_t.c.session_id), negate=True), *session_filter(tag=where.tag)]


def inbox(
    where: InboxFilter, *, after: str | None = None, limit: int = 50
) -> tuple[list[InboxRow], str | None, int]:
    """Unreviewed finished sessions, failed and expired first, then oldest; a page
    after session ``after``, the id to page on from (or None) and the total."""
    return get_queries().inbox(_inbox_within(where), status=where.status, after=after, limit=limit)


def neighbour(session_id: str, where: InboxFilter, *, forward: bool = True) -> str | None:
    """The inbox session after (or before) ``session_id`` in inbox order, whether or
    not ``session_id`` itself still awaits review; None at the end. An unknown id
    gives the first (or last) one."""
    return get_queries().inbox_neighbour(
        session_id, _inbox_within(where), status=where.status, forward=forward
    )


# -- write side ------------------------------------------------------------------------


def _check_session(conn: Connection, session_id: str) -> None:
    if not session_exists(conn, session_id):
        raise UnknownSessionError(session_id)


def set_verdict(session_id: str, verdict: str, reason: str = "") -> dict[str, Any]:
    """Set the session's verdict (``unreviewed`` clears it); returns the review."""
    if verdict not in VERDICTS:
        raise ReviewError(f"A verdict is one of {', '.join(VERDICTS)}.")
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ReviewError(f"A reason has at most {MAX_REASON_LENGTH} characters.")
    actor = current_actor()
    with get_database().write() as conn:
        _check_session(conn, session_id)
        before = conn.execute(
            select(verdicts_t.c.verdict).where(verdicts_t.c.session_id == session_id)
        ).scalar()
        conn.execute(delete(verdicts_t).where(verdicts_t.c.session_id == session_id))
        at = get_manager().clock()
        if verdict != "unreviewed":
            conn.execute(
                insert(verdicts_t).values(
                    session_id=session_id, verdict=verdict, by=actor, at=at, reason=reason
                )
            )
        if verdict == "flagged" and before != "flagged":
            # The outbox (webhooks) hears of a new flag, in the same transaction.
            record_event(conn, "flagged", session_id, {"by": actor, "reason": reason}, at=at)
        detail = {"verdict": verdict, "reason": reason} if reason else {"verdict": verdict}
        audit.record("verdict", session_id=session_id, detail=detail)
    return session_review(session_id)


def add_comment(session_id: str, body: str, message_id: int | None = None) -> dict[str, Any]:
    """Add a markdown comment on the session, or on one of its messages."""
    body = body.strip()
    if not body:
        raise ReviewError("A comment needs some text.")
    if len(body) > MAX_COMMENT_LENGTH:
        raise ReviewError(f"A comment has at most {MAX_COMMENT_LENGTH} characters.")
    with get_database().write() as conn:
        _check_session(conn, session_id)
        if message_id is not None and not message_exists(conn, session_id, message_id):
            raise ReviewError("That message is not in this session.")
        row = _store_comment(
            conn,
            session_id=session_id,
            message_id=message_id,
            author=current_actor(),
            created_at=get_manager().clock(),
            body=body,
        )
        detail: dict[str, Any] = {"comment": row._mapping["id"], "excerpt": body[:80]}
        if message_id is not None:
            detail["message"] = message_id
        audit.record("comment", session_id=session_id, detail=detail)
    return _comment(row)


def _store_comment(conn: Connection, **values: Any) -> Any:
    """Insert a comment and put it in the search index, in ``conn``'s transaction."""
    row = conn.execute(insert(comments_t).values(**values).returning(*comments_t.c)).one()
    m = row._mapping
    index_comment(
        conn, comment_id=m["id"], session_id=m["session_id"], body=m["body"], at=m["created_at"]
    )
    return row


def _normal_tag(name: str) -> str:
    return " ".join(name.split()).lower()


def clean_tag(name: str) -> str:
    """A tag as stored: trimmed, inner whitespace as one space, lower case."""
    tag = _normal_tag(name)
    if not tag or len(tag) > MAX_TAG_LENGTH or not tag.isprintable():
        raise ReviewError(f"A tag is 1 to {MAX_TAG_LENGTH} printable characters.")
    return tag


def add_tag(session_id: str, name: str) -> list[str]:
    """Tag the session (a tag it has already is no change); returns its tags."""
    tag = clean_tag(name)
    with get_database().write() as conn:
        _check_session(conn, session_id)
        if tag not in _tags(conn, session_id):
            conn.execute(insert(tags_t).values(session_id=session_id, name=tag))
            audit.record("tag.add", session_id=session_id, detail={"tag": tag})
        return _tags(conn, session_id)


def remove_tag(session_id: str, name: str) -> list[str]:
    """Take a tag off the session; returns its tags."""
    tag = _normal_tag(name)
    with get_database().write() as conn:
        _check_session(conn, session_id)
        t = tags_t.c
        removed = conn.execute(delete(tags_t).where(t.session_id == session_id, t.name == tag))
        if removed.rowcount:
            audit.record("tag.remove", session_id=session_id, detail={"tag": tag})
        return _tags(conn, session_id)


def set_keep(session_id: str, keep: bool) -> bool:
    """Exempt the session from retention purging (or return it to it)."""
    with get_database().write():
        if not get_manager().set_keep(session_id, keep):
            raise UnknownSessionError(session_id)
        audit.record("keep", session_id=session_id, detail={"keep": keep})
    return keep


def import_review(session_id: str, review: dict[str, Any], message_ids: dict[Any, int]) -> None:
    """The review data of an imported session: its verdict (by its own reviewer and
    time), tags and comments (on the messages ``message_ids`` maps the exported ids
    to). Checked by the same rules as a reviewer's changes (``ReviewError``), written
    in one transaction with one ``review.import`` audit entry."""
    verdict = review.get("verdict")
    if verdict and verdict.get("verdict") not in VERDICTS[1:]:
        raise ReviewError(f"A verdict is one of {', '.join(VERDICTS[1:])}.")
    reason = (verdict or {}).get("reason") or ""
    if len(reason) > MAX_REASON_LENGTH:
        raise ReviewError(f"A reason has at most {MAX_REASON_LENGTH} characters.")
    tags = sorted({clean_tag(name) for name in review.get("tags", [])})
    comments = review.get("comments", [])
    for comment in comments:
        body = comment.get("body") or ""
        if not body.strip() or len(body) > MAX_COMMENT_LENGTH:
            raise ReviewError(f"A comment has 1 to {MAX_COMMENT_LENGTH} characters.")
    with get_database().write() as conn:
        _check_session(conn, session_id)
        if verdict:
            conn.execute(
                insert(verdicts_t).values(
                    session_id=session_id,
                    verdict=verdict["verdict"],
                    by=verdict["by"],
                    at=verdict["at"],
                    reason=reason,
                )
            )
        for tag in tags:
            conn.execute(insert(tags_t).values(session_id=session_id, name=tag))
        for comment in comments:
            _store_comment(
                conn,
                session_id=session_id,
                message_id=message_ids.get(comment.get("message_id")),
                author=comment["author"],
                created_at=comment["created_at"],
                body=comment["body"],
            )
        detail = {"verdict": bool(verdict), "tags": len(tags), "comments": len(comments)}
        audit.record("review.import", session_id=session_id, detail=detail)
