"""Pages and actions of saved views, queues and rubrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webapp import params
from webapp.accounts.auth import Role, can, requires
from webapp.htmx import html, wants_fragment
from webapp.queues import service
from webapp.queues.models import KINDS, MODES
from webapp.sessions import UnknownSessionError

bp = Blueprint("queues", __name__)

_STATUS = {service.NotAllowed: 403, service.NotFound: 404}


def _run(change: Callable[[], Any]) -> Any:
    """Run a change; a refusal is a 4xx page that says why (nothing changed)."""
    try:
        return change()
    except UnknownSessionError:
        abort(404, description="No session has this id; it may have been deleted or purged.")
    except service.QueueError as exc:
        abort(_STATUS.get(type(exc), 400), description=str(exc))


def _form_text(name: str, limit: int = params.MAX_TEXT) -> str:
    return params.checked_text(request.form.get(name, ""), name, limit)


def _back(default: str) -> Response:
    return redirect(default, 303)


# -- saved views -----------------------------------------------------------------------


@bp.get("/views")
@requires(Role.VIEWER)
def views() -> Response:
    """The saved views this user sees: their own and the shared ones."""
    found = service.visible_views()
    for view in found:  # this page counts afresh (and refreshes the navigation's)
        view["count"] = service.count_label(service.view_count(view["query"], fresh=True))
    return html(render_template("queues/views.html", views=found))


@bp.post("/views")
@requires(Role.VIEWER)
def create_view() -> Response:
    """Save a list's filter (form: ``name``, ``query``, ``shared``)."""
    query = _form_text("query", service.MAX_QUERY)
    name = _form_text("name", service.MAX_NAME * 2)
    shared = request.form.get("shared") == "1"
    _run(lambda: service.save_view(name, query, shared))
    return _back(url_for("dashboard.sessions") + ("?" + query if query else ""))


@bp.post("/views/<int(max=9223372036854775807):view_id>")
@requires(Role.VIEWER)
def update_view(view_id: int) -> Response:
    """Rename a view, share it or not (form: ``name``, ``shared``)."""
    name = _form_text("name", service.MAX_NAME * 2)
    shared = request.form.get("shared") == "1"
    _run(lambda: service.update_view(view_id, name, shared))
    return _back(url_for("queues.views"))


@bp.post("/views/<int(max=9223372036854775807):view_id>/delete")
@requires(Role.VIEWER)
def delete_view(view_id: int) -> Response:
    """Delete a view (its owner; an admin for a shared one)."""
    _run(lambda: service.delete_view(view_id))
    return _back(url_for("queues.views"))


# -- queues ----------------------------------------------------------------------------


@bp.get("/queues")
@requires(Role.VIEWER)
def index() -> Response:
    """Every queue with its progress; admins make new ones here."""
    return html(
        render_template(
            "queues/index.html",
            queues=service.list_queues(),
            views=service.visible_views() if can("admin") else [],
            reviewers=service.reviewer_names() if can("admin") else [],
            modes=MODES,
        )
    )


@bp.post("/queues")
@requires(Role.ADMIN)
def create_queue() -> Response:
    """Make a queue (form: ``name``, ``view_id``, ``mode``, ``reviewer`` repeated)."""
    name = _form_text("name", service.MAX_NAME * 2)
    view_id = params.integer(request.form, "view_id")
    if view_id is None:
        abort(400, description="Choose a saved view for the queue.")
    mode = _form_text("mode")
    reviewers = [params.checked_text(r, "reviewer", 64) for r in request.form.getlist("reviewer")]
    queue_id = _run(lambda: service.create_queue(name, view_id, mode, reviewers))
    return _back(url_for("queues.queue_page", queue_id=queue_id))


def _item_filter() -> service.ItemFilter:
    args = request.args
    return service.ItemFilter(
        state=params.choice(args, "state", service.ITEM_STATES, ""),
        assignee=params.text(args, "assignee", 64),
        criterion=params.integer(args, "criterion"),
        value=params.text(args, "value", 100),
        sort=params.choice(args, "sort", service.ITEM_SORTS, "added"),
    )


_QUEUE = "/queues/<int(max=9223372036854775807):queue_id>"


@bp.get(_QUEUE)
@requires(Role.VIEWER)
def queue_page(queue_id: int) -> Response:
    """A queue: progress, who has what, agreement, the rubric and the items."""
    where = _item_filter()
    page = _run(lambda: service.queue_page(queue_id, where))
    return html(
        render_template(
            "queues/queue.html",
            where=where,
            kinds=KINDS,
            all_reviewers=service.reviewer_names() if can("admin") else [],
            **page,
        )
    )


@bp.post(_QUEUE + "/delete")
@requires(Role.ADMIN)
def delete_queue(queue_id: int) -> Response:
    """Delete the queue with its rubric, items and scores."""
    _run(lambda: service.delete_queue(queue_id))
    return _back(url_for("queues.index"))


@bp.post(_QUEUE + "/reviewers")
@requires(Role.ADMIN)
def set_reviewers(queue_id: int) -> Response:
    """Set who works on the queue (form: ``reviewer`` repeated)."""
    reviewers = [params.checked_text(r, "reviewer", 64) for r in request.form.getlist("reviewer")]
    _run(lambda: service.set_reviewers(queue_id, reviewers))
    return _back(url_for("queues.queue_page", queue_id=queue_id))


@bp.post(_QUEUE + "/criteria")
@requires(Role.ADMIN)
def add_criterion(queue_id: int) -> Response:
    """Add a rubric criterion (form: ``label``, ``kind``, ``options``, ``required``)."""
    label = _form_text("label", service.MAX_LABEL * 2)
    kind = _form_text("kind")
    options = _form_text("options", 2_000)
    required = request.form.get("required") == "1"
    _run(lambda: service.add_criterion(queue_id, label, kind, options, required))
    return _back(url_for("queues.queue_page", queue_id=queue_id))


@bp.post(_QUEUE + "/criteria/<int(max=9223372036854775807):criterion_id>/delete")
@requires(Role.ADMIN)
def remove_criterion(queue_id: int, criterion_id: int) -> Response:
    """Take a criterion off the rubric (with its answers)."""
    _run(lambda: service.remove_criterion(queue_id, criterion_id))
    return _back(url_for("queues.queue_page", queue_id=queue_id))


@bp.post(_QUEUE + "/next")
@requires(Role.REVIEWER)
def next_item(queue_id: int) -> Response:
    """Open this reviewer's next session of the queue (claiming one if need be)."""
    found = _run(lambda: service.next_item(queue_id))
    if found is None:
        return _back(url_for("queues.queue_page", queue_id=queue_id, done=1))
    return _back(url_for("dashboard.session_page", session_id=found, queue=queue_id))


@bp.post(_QUEUE + "/claim")
@requires(Role.REVIEWER)
def claim(queue_id: int) -> Response:
    """Claim one open item (form: ``session_id``)."""
    session_id = params.session_id(request.form, "session_id")
    if not session_id:
        abort(400, description="Say which session to claim.")
    _run(lambda: service.claim(queue_id, session_id))
    return _back(url_for("dashboard.session_page", session_id=session_id, queue=queue_id))


@bp.post(_QUEUE + "/sessions/<session_id:session_id>/score")
@requires(Role.REVIEWER)
def score(queue_id: int, session_id: str) -> Response:
    """Answer one criterion (form: ``criterion``, ``value``); the rubric panel back."""
    criterion = params.integer(request.form, "criterion")
    value = _form_text("value", service.MAX_TEXT_ANSWER + 100)
    error = None
    status = 200
    if criterion is None:
        error, status = "Say which criterion.", 400
    else:
        try:
            service.score(session_id, queue_id, criterion, value)
        except UnknownSessionError:
            abort(404, description="No session has this id; it may have been deleted or purged.")
        except service.QueueError as exc:
            error, status = str(exc), _STATUS.get(type(exc), 400)
    if not wants_fragment():
        if error:
            abort(status, description=error)
        return _back(url_for("dashboard.session_page", session_id=session_id, queue=queue_id))
    body = render_template(
        "queues/_rubric.html",
        session_id=session_id,
        panels=service.session_panel(session_id, queue_id),
        active_queue=queue_id,
        error=error,
        error_queue=queue_id,
    )
    return html(body, status)


def panels_for(session_id: str) -> dict[str, Any]:
    """What the session page's rubric panel shows (a template global: the session
    page includes ``queues/_session_panel.html``, the dashboard imports nothing)."""
    queue_id = params.integer(request.args, "queue")
    return {
        "panels": service.session_panel(session_id, queue_id),
        "active_queue": queue_id,
    }
