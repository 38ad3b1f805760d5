"""What a shared page shows: the session's header and transcript (the dashboard's
turns and the transcript templates), the comments if the link shows them, all
through the redactor when the link asks for it (applied here, at render time:
nothing is stored redacted).

No other session is reachable from the page: subagents show as cards without a
link or an in-place transcript, and the controls that load more turns go to the
link's own routes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from werkzeug.datastructures import MultiDict

from webapp.claude.redact import redact, redact_value
from webapp.dashboard import turns
from webapp.extensions import get_manager
from webapp.rendering import render_markdown
from webapp.review import service as review
from webapp.sessions import Session
from webapp.sessions.transcripts import TranscriptMessage
from webapp.shares.links import ShareInfo


def _redact_message(m: TranscriptMessage) -> TranscriptMessage:
    return replace(
        m, content=redact(m.content), summary=redact(m.summary), meta=redact_value(m.meta)
    )


def _redact_session(s: Session) -> Session:
    return replace(
        s,
        request=redact(s.request),
        response=redact(s.response),
        error=redact(s.error),
        context=redact_value(s.context),
    )


def _redact_comment(comment: dict[str, Any]) -> dict[str, Any]:
    body = redact(comment["body"])
    return {**comment, "body": body, "body_html": render_markdown(body)}


def session_of(link: ShareInfo) -> Session | None:
    """The link's session as the page shows it (redacted if the link says so)."""
    session = get_manager().get(link.session_id)
    if session is None or not link.redact:
        return session
    return _redact_session(session)


def _comments(link: ShareInfo) -> dict[str, Any]:
    """The comments the page shows: none unless the link shows them."""
    if not link.comments:
        return {"comments": {}, "session_comments": []}
    by_message = review.comments_by_message(link.session_id)
    general = review.session_review(link.session_id)["comments"]
    if link.redact:
        by_message = {k: [_redact_comment(c) for c in v] for k, v in by_message.items()}
        general = [_redact_comment(c) for c in general]
    return {"comments": by_message, "session_comments": general}


def _rewrite(link: ShareInfo) -> turns.Rewrite | None:
    return _redact_message if link.redact else None


def page_context(link: ShareInfo, session: Session, args: MultiDict[str, str]) -> dict[str, Any]:
    """The shared page: the session as finished (no live updates), its turns."""
    return {
        "session": session,
        "link": link,
        "live": False,
        "can_review": False,
        **_comments(link),
        **turns.page_context(session, args, live=False, rewrite=_rewrite(link)),
    }


def more_context(link: ShareInfo, session: Session, args: MultiDict[str, str]) -> dict[str, Any]:
    """More turns of the shared page (after or before a message)."""
    return {
        "session": session,
        "link": link,
        "can_review": False,
        **_comments(link),
        **turns.more_context(session, args, rewrite=_rewrite(link)),
    }
