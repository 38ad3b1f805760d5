"""Share link views: the shared page (``/s/<token>``, no login) and its more-turns
fragment; making and revoking links from the session page; the admins' list.

The shared page answers an unknown, expired or revoked token with one and the
same 404 page, and every answer of ``/s/`` carries ``X-Robots-Tag: noindex``,
``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store`` (and the app's CSP).
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webapp import params
from webapp.accounts.auth import Role, can, current_actor, public, requires
from webapp.htmx import html, wants_fragment
from webapp.sessions import Session, UnknownSessionError
from webapp.shares import links, page

#: The page anyone may open with the token.
shared = Blueprint("shared", __name__, url_prefix="/s")
#: Making, revoking and listing links.
bp = Blueprint("shares", __name__, url_prefix="/shares")

SHARED_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@shared.after_request
def _shared_headers(response: Response) -> Response:
    response.headers.update(SHARED_HEADERS)
    return response


def _gone() -> Response:
    """The one answer to an unknown, expired or revoked token."""
    return html(render_template("shares/gone.html"), 404)


def _opened(token: str) -> tuple[links.ShareInfo, Session] | None:
    """The live link of ``token`` and its session, or None (unknown, expired,
    revoked, or its session gone): the one lookup both shared routes make."""
    link = links.open_link(token)
    session = page.session_of(link) if link is not None else None
    return None if link is None or session is None else (link, session)


@shared.get("/<token>")
@public
def page_view(token: str) -> Response:
    """The session, read-only: its transcript, and its comments if the link shows them."""
    found = _opened(token)
    if found is None:
        return _gone()
    link, session = found
    body = render_template(
        "shares/page.html", shared=token, **page.page_context(link, session, request.args)
    )
    links.record_view(link, request.remote_addr or "?")
    return html(body)


@shared.get("/<token>/turns")
@public
def turns(token: str) -> Response:
    """The turns after message ``after`` or before ``before`` of the shared session."""
    found = _opened(token)
    if found is None:
        return _gone()
    link, session = found
    context = page.more_context(link, session, request.args)
    return html(render_template("transcript/_window.html", shared=token, **context))


# -- making and revoking ---------------------------------------------------------------


def expiry_choices() -> list[tuple[int, str]]:
    """The lives the create dialog offers (seconds, label), up to SHARE_MAX_AGE."""
    limit = int(links.max_age().total_seconds())
    offered = [(3600, "1 hour"), (86400, "1 day"), (7 * 86400, "7 days"), (30 * 86400, "30 days")]
    found = [(s, label) for s, label in offered if s <= limit]
    if not found or found[-1][0] != limit:
        found.append((limit, f"{_duration(limit)} (the most)"))
    return found


def _duration(seconds: int) -> str:
    """``2 days``, ``36 hours``, ``90 minutes``, ``45 seconds``: the largest whole unit."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def panel_context(session_id: str, **extra: object) -> dict[str, object]:
    """What the session page's share panel needs."""
    return {
        "session_id": session_id,
        "share_links": links.for_session(session_id),
        "now": links.now(),
        "can_share": can("review"),
        "actor": current_actor(),
        "is_admin": can("admin"),
        "expiry_choices": expiry_choices(),
        "default_expiry": int(links.default_age().total_seconds()),
        **extra,
    }


def _panel(session_id: str, status: int = 200, **extra: object) -> Response:
    return html(
        render_template("shares/_session_panel.html", p=panel_context(session_id, **extra)),
        status,
    )


@bp.post("/sessions/<session_id:session_id>")
@requires(Role.REVIEWER)
def create(session_id: str) -> Response:
    """Make a link to the session (form: ``expires_in`` seconds, ``redact``, ``comments``)."""
    form = request.form
    raw = form.get("expires_in", "")
    try:
        seconds = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else raw
        expires_in = links.check_expiry(seconds)
        link, token = links.create(
            session_id,
            expires_in=expires_in,
            redact=form.get("redact") == "1",
            comments=form.get("comments") == "1",
        )
    except UnknownSessionError:
        abort(404, description="No session has this id; it may have been deleted or purged.")
    except links.ShareError as exc:
        if not wants_fragment():
            abort(400, description=str(exc))
        return _panel(session_id, 400, error=str(exc))
    url = url_for("shared.page_view", token=token, _external=True)
    if not wants_fragment():
        return html(render_template("shares/created.html", link=link, url=url))
    return _panel(session_id, created=link, created_url=url)


@bp.post("/<int(max=9223372036854775807):share_id>/revoke")
@requires(Role.REVIEWER)
def revoke(share_id: int) -> Response:
    """Revoke a link at once: its creator, or an admin (form: ``back``: admin or session)."""
    try:
        link = links.revoke(share_id, admin=can("admin"))
    except links.ShareNotFound:
        abort(404, description="No share link has this id.")
    except links.ShareForbidden:
        abort(403, description="Only the link's creator or an admin may revoke it.")
    if request.form.get("back") == "admin" and can("admin"):
        return redirect(url_for("shares.all_links"), 303)
    if wants_fragment():
        return _panel(link.session_id)
    target = url_for("dashboard.session_page", session_id=link.session_id, _anchor="share-panel")
    return redirect(target, 303)


@bp.get("")
@requires(Role.ADMIN)
def all_links() -> Response:
    """Every share link, newest first, with its state and views; revoke from here."""
    rows, before = links.all_links(before=params.integer(request.args, "before"))
    more_url = url_for("shares.all_links", before=before) if before else None
    return html(
        render_template("shares/links.html", links=rows, now=links.now(), more_url=more_url)
    )
