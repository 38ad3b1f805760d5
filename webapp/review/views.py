"""Review views: htmx widgets on the session page, and the inbox (/review)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webapp import params
from webapp.accounts.auth import Role, can, requires
from webapp.extensions import get_manager, page_reads
from webapp.htmx import html, wants_fragment
from webapp.params import session_hrefs
from webapp.review import service
from webapp.review.inbox_rows import inbox_rows
from webapp.sessions import Session, UnknownSessionError

bp = Blueprint("review", __name__, url_prefix="/review")


def _session(session_id: str) -> Session:
    session = get_manager().get(session_id)
    if session is None:
        abort(404, description="No session has this id; it may have been deleted or purged.")
    return session


def _session_url(session_id: str, anchor: str | None = None) -> str:
    return url_for("dashboard.session_page", session_id=session_id, _anchor=anchor)


def _widget(template: str, session_id: str, status: int = 200, **extra: Any) -> Response:
    """A review widget of the session page, whole (htmx), or back to the page."""
    if not wants_fragment():
        if status >= 400:
            abort(status, description=extra.get("error"))
        return redirect(_session_url(session_id, extra.pop("anchor", None)), 303)
    extra.pop("anchor", None)
    context = {
        "session": _session(session_id),
        "review": service.session_review(session_id),
        "can_review": can("review"),
        **extra,
    }
    return html(render_template(template, **context), status)


def _change(template: str, session_id: str, change: Any, **extra: Any) -> Response:
    """Run a review change; answer with the widget, or it with the refusal."""
    try:
        change()
    except UnknownSessionError:
        abort(404, description="No session has this id; it may have been deleted or purged.")
    except service.ReviewError as exc:
        return _widget(template, session_id, 400, error=str(exc), **extra)
    return _widget(template, session_id, **extra)


@bp.post("/sessions/<session_id>/verdict")
@requires(Role.REVIEWER)
def set_verdict(session_id: str) -> Response:
    """Approve, flag or reset the session (form: ``verdict``, ``reason``)."""
    form = request.form
    return _change(
        "review/_verdict.html",
        session_id,
        lambda: service.set_verdict(session_id, form.get("verdict", ""), form.get("reason", "")),
    )


@bp.post("/sessions/<session_id>/comments")
@requires(Role.REVIEWER)
def add_comment(session_id: str) -> Response:
    """Comment on the session, or on one message (form: ``body``, ``message_id``)."""
    message_id = request.form.get("message_id", type=int)
    body = request.form.get("body", "")
    if message_id is None:
        return _change(
            "review/_comments.html", session_id, lambda: service.add_comment(session_id, body)
        )
    return _change(
        "review/_message_comments.html",
        session_id,
        lambda: service.add_comment(session_id, body, message_id),
        anchor=f"m-{message_id}",
        message={"id": message_id},
        comments=service.message_comments(session_id, message_id),
    )


@bp.post("/sessions/<session_id>/tags")
@requires(Role.REVIEWER)
def add_tag(session_id: str) -> Response:
    """Tag the session (form: ``tag``)."""
    tag = request.form.get("tag", "")
    return _change("review/_tags.html", session_id, lambda: service.add_tag(session_id, tag))


@bp.post("/sessions/<session_id>/tags/remove")
@requires(Role.REVIEWER)
def remove_tag(session_id: str) -> Response:
    """Take a tag off the session (form: ``tag``)."""
    tag = request.form.get("tag", "")
    return _change("review/_tags.html", session_id, lambda: service.remove_tag(session_id, tag))


@bp.post("/sessions/<session_id>/keep")
@requires(Role.REVIEWER)
def set_keep(session_id: str) -> Response:
    """Exempt the session from retention purging (form: ``keep`` 1 or 0)."""
    keep = request.form.get("keep") == "1"
    return _change("review/_keep.html", session_id, lambda: service.set_keep(session_id, keep))


def _inbox_filter() -> service.InboxFilter:
    args = request.args
    return service.InboxFilter(
        tag=params.text(args, "tag"),
        status=params.choice(args, "status", service.INBOX_STATUSES, ""),
    )


@bp.get("")
@requires(Role.VIEWER)
def inbox() -> Response:
    """Sessions awaiting review: failed and expired first, then oldest."""
    with page_reads():
        where = _inbox_filter()
        rows, next_after, total = service.inbox(
            where, after=params.session_id(request.args, "after")
        )
        tags = service.all_tags()
    more_url = url_for("review.inbox", **where.args(), after=next_after) if next_after else None
    template = "review/_inbox_rows.html" if wants_fragment() else "review/inbox.html"
    body = render_template(
        template,
        rows=rows,
        written=inbox_rows(
            rows,
            session_hrefs([row.id for row in rows], inbox=1, **where.args()),
            get_manager().clock(),
        ),
        total=total,
        where=where,
        more_url=more_url,
        statuses=service.INBOX_STATUSES,
        tags=tags,
    )
    return html(body)


def _step(forward: bool) -> Response:
    where = _inbox_filter()
    current = params.session_id(request.args, "after" if forward else "before") or ""
    found = service.neighbour(current, where, forward=forward)
    if found is None:
        return redirect(url_for("review.inbox", **where.args(), done=1), 303)
    target = url_for("dashboard.session_page", session_id=found, inbox=1, **where.args())
    return redirect(target, 303)


@bp.get("/next")
@requires(Role.VIEWER)
def next_session() -> Response:
    """Open the inbox session after ``after`` (the whole filtered inbox, not a page)."""
    return _step(True)


@bp.get("/previous")
@requires(Role.VIEWER)
def previous_session() -> Response:
    """Open the inbox session before ``before``."""
    return _step(False)
