"""Dashboard pages and their htmx fragments.

Each view reads the request, checks who may act, calls the Manager or the read
queries, and renders. A URL answers a whole page, or only its fragment when htmx
asks (``HX-Request``, and not a history restore), so every pushed URL also works
when loaded directly. Changes answer with out-of-band swaps of what changed: the
session header, new transcript messages, the live poller and the nav counters.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from webapp import params
from webapp.accounts import audit
from webapp.accounts.auth import Role, can, current_actor, login_required, role_required
from webapp.dashboard import charts, queries, usage
from webapp.dashboard.forms import (
    EXTEND_HOURS,
    MAX_NOTE,
    MAX_REASON,
    STATUS_VALUES,
    filter_args,
    parse_cursor,
    parse_expiry,
    parse_filters,
)
from webapp.extensions import get_manager, get_queries
from webapp.params import BadParameter
from webapp.review import service as review
from webapp.sessions import Message, Session, Status
from webapp.sessions.queries import Sort
from webapp.sessions.types import UNFINISHED_STATUSES
from webapp.sessions.usage import Dimension

bp = Blueprint("dashboard", __name__)

CLEAR_WORD = "CLEAR"


def wants_fragment() -> bool:
    """True when htmx asks for a part of the page (not a history restore)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
        and request.headers.get("HX-Request-Type") != "full"
    )


def html(body: str, status: int = 200) -> Response:
    """A response that varies on ``HX-Request`` (page or fragment)."""
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def _session_or_404(session_id: str) -> Session:
    session = get_manager().get(session_id)
    if session is None:
        abort(404, description="No session has this id; it may have been deleted or purged.")
    return session


def _is_live(session: Session) -> bool:
    return Status(session.status) in UNFINISHED_STATUSES


# -- the list -----------------------------------------------------------------------


@bp.get("/")
@login_required
def index() -> Response:
    """The front page is the session list."""
    return redirect(url_for("dashboard.sessions"))


@bp.get("/sessions")
@login_required
def sessions() -> Response:
    """The session list: filters and sort from the URL, keyset pages."""
    try:
        filters = parse_filters(request.args)
        older, newer = parse_cursor(request.args, "older"), parse_cursor(request.args, "newer")
        for name, cursor in (("older", older), ("newer", newer)):
            if cursor is not None and not cursor.fits(Sort(filters.sort)):
                raise BadParameter(name, "is not a page position of this sort")
    except BadParameter as refused:
        if not wants_fragment():
            raise
        template = "dashboard/_results_refused.html"
        return html(render_template(template, error=refused, status=refused.code), 400)
    page = queries.list_sessions(filters, older=older, newer=newer)
    annotations = review.list_annotations([r.id for r in page.rows])
    reads = get_queries()
    context = {
        "models": usage.main_models(reads, [r.id for r in page.rows]),
        "model_choices": reads.usage_keys(Dimension.MODEL),
        "page": page,
        "filters": filters,
        "args": filter_args(filters),
        "annotations": annotations,
        "counts": get_queries().count_by_status(),
        "statuses": STATUS_VALUES,
        "filtered": any(k != "sort" for k in filter_args(filters)),
    }
    template = "dashboard/_results.html" if wants_fragment() else "dashboard/sessions.html"
    return html(render_template(template, **context))


# -- one session -------------------------------------------------------------------


def _transcript_context(session: Session) -> dict[str, Any]:
    window = get_queries().transcript_window(session.id)
    return {
        "window": window,
        "comments": review.comments_by_message(session.id),
        "last_id": window.messages[-1].id if window.messages else 0,
    }


@bp.get("/sessions/<session_id:session_id>")
@login_required
def session_page(session_id: str) -> Response:
    """A session: header, the latest part of its transcript, its actions."""
    session = _session_or_404(session_id)
    return html(
        render_template(
            "dashboard/session.html",
            session=session,
            review=review.session_review(session.id),
            can_review=can("review"),
            can_admin=can("admin"),
            live=_is_live(session),
            extend_hours=EXTEND_HOURS,
            counts=get_queries().count_by_status(),
            retention=queries.retention_notice(session),
            usage=usage.session_usage(get_queries(), session.id),
            **_transcript_context(session),
        )
    )


@bp.get("/sessions/<session_id:session_id>/messages")
@login_required
def earlier_messages(session_id: str) -> Response:
    """The messages before message ``before``, and a control for more."""
    session = _session_or_404(session_id)
    before = params.integer(request.args, "before")
    if before is None:
        abort(400, description="Which message to load before is missing.")
    window = get_queries().transcript_window(session.id, before=before)
    return html(
        render_template(
            "dashboard/_earlier.html",
            session=session,
            window=window,
            comments=review.comments_by_message(session.id),
        )
    )


@bp.get(f"/sessions/<session_id:session_id>/messages/<int(max={params.MAX_ID}):message_id>")
@login_required
def full_message(session_id: str, message_id: int) -> Response:
    """One message in full (the answer to "show all" on a truncated message)."""
    message = get_queries().full_message(session_id, message_id)
    if message is None:
        abort(404, description="This message is gone; it may have been purged.")
    comments = review.comments_by_message(session_id).get(message_id, [])
    return html(
        render_template(
            "dashboard/_message.html",
            message=message,
            comments=comments,
            session_id=session_id,
        )
    )


def _updates(session: Session, after: int, **extra: Any) -> str:
    """What changed on a session page since message ``after``: the header, new
    messages, the live poller (which stops once the session ends) and the counts,
    all as out-of-band swaps."""
    new = get_queries().messages_after(session.id, after)
    return render_template(
        "dashboard/_updates.html",
        session=session,
        messages=new,
        comments=review.comments_by_message(session.id) if new else {},
        last_id=new[-1].id if new else after,
        live=_is_live(session),
        can_review=can("review"),
        can_admin=can("admin"),
        extend_hours=EXTEND_HOURS,
        counts=get_queries().count_by_status(),
        retention=queries.retention_notice(session),
        **extra,
    )


@bp.get("/sessions/<session_id:session_id>/poll")
@login_required
def poll(session_id: str) -> Response:
    """The live check: 204 while nothing changed since ``at``/``after`` (two
    indexed lookups, no rendering); otherwise the updates."""
    state = get_queries().live_state(session_id)
    if state is None:
        abort(404, description="This session was deleted.")
    after = params.integer(request.args, "after") or 0
    seen = params.moment(request.args, "at")
    if seen == state.last_activity and state.last_message_id <= after:
        return html("", 204)
    return html(_updates(_session_or_404(session_id), after))


def _after() -> int:
    """The last message id the page shows (the live poller's), sent by every action."""
    return params.integer(request.form, "after") or 0


@bp.before_request
def _check_actions() -> None:
    """A malformed action is refused before it changes anything."""
    if request.method == "POST":
        _after()


def _action_result(session_id: str, message: str, *, ok: bool = True) -> Response:
    """The answer to a change: the actions panel with a notice, plus the updates."""
    session = _session_or_404(session_id)
    return html(_updates(session, _after(), notice=message, notice_ok=ok, actions=True))


@bp.post("/sessions/<session_id:session_id>/close")
@login_required
@role_required(Role.REVIEWER)
def close_session(session_id: str) -> Response:
    """Close the session (it keeps its data, takes no more messages)."""
    _session_or_404(session_id)
    if not get_manager().close(session_id):
        return _action_result(session_id, "This session is closed or expired already.", ok=False)
    audit.record("session.close", session_id=session_id)
    return _action_result(session_id, "Session closed.")


@bp.post("/sessions/<session_id:session_id>/fail")
@login_required
@role_required(Role.REVIEWER)
def fail_session(session_id: str) -> Response:
    """Mark the session failed with a reason."""
    _session_or_404(session_id)
    reason = params.text(request.form, "reason", MAX_REASON)
    if not reason:
        return _action_result(session_id, "Give a reason for the failure.", ok=False)
    if not get_manager().set_failed(session_id, reason):
        return _action_result(session_id, "This session takes no status change any more.", ok=False)
    audit.record("session.fail", session_id=session_id, detail={"reason": reason})
    return _action_result(session_id, "Session marked failed.")


@bp.post("/sessions/<session_id:session_id>/expiry")
@login_required
@role_required(Role.REVIEWER)
def set_expiry(session_id: str) -> Response:
    """Extend the expiry by some hours, or make the session never expire."""
    manager = get_manager()
    session = _session_or_404(session_id)
    expires_at = parse_expiry(request.form, manager.clock(), session.expires_at)
    if expires_at is ...:
        return _action_result(session_id, "Choose how long to extend by.", ok=False)
    if not manager.set_expiry(session_id, expires_at):
        return _action_result(session_id, "A closed or expired session keeps its expiry.", ok=False)
    detail = {"expires_at": expires_at.isoformat() if expires_at else None}
    audit.record("session.expiry", session_id=session_id, detail=detail)
    return _action_result(
        session_id, "Session never expires now." if expires_at is None else "Expiry extended."
    )


@bp.post("/sessions/<session_id:session_id>/notes")
@login_required
@role_required(Role.REVIEWER)
def add_note(session_id: str) -> Response:
    """Append a note for the agent: a user message marked as a note."""
    _session_or_404(session_id)
    text = params.text(request.form, "note", MAX_NOTE)
    if not text:
        return _action_result(session_id, "Write the note first.", ok=False)
    author = current_actor()
    message = Message("user", text, meta={"kind": "note", "author": author})
    if not get_manager().append_message(session_id, message):
        return _action_result(session_id, "This session takes no new messages.", ok=False)
    audit.record("session.note", session_id=session_id, detail={"length": len(text)})
    return _action_result(session_id, "Note added.")


@bp.get("/sessions/<session_id:session_id>/delete")
@login_required
@role_required(Role.ADMIN)
def confirm_delete(session_id: str) -> Response:
    """The confirmation step before deleting (a fragment, or a page without htmx)."""
    session = _session_or_404(session_id)
    template = "dashboard/_confirm_delete.html" if wants_fragment() else "dashboard/delete.html"
    return html(render_template(template, session=session))


@bp.post("/sessions/<session_id:session_id>/delete")
@login_required
@role_required(Role.ADMIN)
def delete_session(session_id: str) -> Response:
    """Delete the session and its messages, then go back to the list."""
    if not get_manager().delete(session_id):
        abort(404, description="This session is gone already.")
    audit.record("session.delete", session_id=session_id)
    target = url_for("dashboard.sessions", deleted=session_id)
    if wants_fragment():
        response = html("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


# -- stats ----------------------------------------------------------------------------


def _stats_charts(now: datetime) -> list[charts.Chart]:
    days = [(now - timedelta(days=29 - i)).date().isoformat() for i in range(30)]
    per_day = get_queries().sessions_per_day(queries.chart_start(now))
    shown = [s for s in STATUS_VALUES if any(per_day.get(d, {}).get(s) for d in days)]
    series = {s: [per_day.get(d, {}).get(s, 0) for d in days] for s in shown}
    finished = [
        per_day.get(d, {}).get("completed", 0) + per_day.get(d, {}).get("failed", 0) for d in days
    ]
    failed = [per_day.get(d, {}).get("failed", 0) for d in days]
    rates = [100.0 * f / n if n else 0.0 for f, n in zip(failed, finished, strict=True)]
    since = queries.chart_start(now)
    durations = get_queries().histogram("duration", since)
    message_counts = get_queries().histogram("messages", since)
    return [
        charts.stacked_bars(
            "per-day",
            "Sessions per day by status",
            "Sessions created on each of the last 30 days (UTC), stacked by current status.",
            days,
            series,
        ),
        charts.bars(
            "durations",
            "Run duration",
            "How long completed and failed sessions of the last 30 days ran, from creation"
            " to last activity.",
            charts.bucket_labels(queries.DURATION_BUCKETS, "s"),
            durations,
            value_header="sessions",
        ),
        charts.bars(
            "failure-rate",
            "Failure rate per day",
            "Failed sessions as a share of completed and failed ones created each day.",
            days,
            rates,
            unit="%",
            css_class="s-failed",
            value_header="failed",
        ),
        charts.bars(
            "messages",
            "Messages per session",
            "How many sessions of the last 30 days have how many messages.",
            charts.bucket_labels(queries.MESSAGE_BUCKETS),
            message_counts,
            value_header="sessions",
        ),
    ]


@bp.get("/stats")
@login_required
def stats() -> Response:
    """Counts, the 24-hour breakdown, uptime, charts and the most frequent errors."""
    manager = get_manager()
    numbers = manager.get_stats()
    now = manager.clock()
    return html(
        render_template(
            "dashboard/stats.html",
            stats=numbers,
            counts={status: numbers[status] for status in STATUS_VALUES},
            statuses=STATUS_VALUES,
            charts=_stats_charts(now),
            errors=get_queries().top_errors(queries.chart_start(now)),
        )
    )


@bp.get("/stats/usage")
@login_required
def usage_stats() -> Response:
    """Tokens and cost over a range of days: per day by model, per project, runner
    and user, 5-hour blocks, the costliest sessions; each chart with its table."""
    days = usage.DayRange.of(request.args, get_manager().clock().date())
    reads = get_queries()
    return html(
        render_template(
            "dashboard/usage.html",
            days=days,
            charts=usage.usage_charts(reads, days),
            costly=usage.costly_sessions(reads, days),
            total=reads.usage_total(days.since, days.until),
        )
    )


@bp.get("/stats/usage.csv")
@login_required
def usage_csv() -> Response:
    """One usage chart's data table as CSV (``chart`` names it)."""
    days = usage.DayRange.of(request.args, get_manager().clock().date())
    found = {chart.id: chart for chart in usage.usage_charts(get_queries(), days)}
    chart_id = params.choice(request.args, "chart", sorted(found), "usage-cost-per-day")
    response = make_response(usage.chart_csv(found[chart_id]))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    name = f"{chart_id}_{days.first}_{days.last}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# -- admin ----------------------------------------------------------------------------


def _admin_context() -> dict[str, Any]:
    return {"purge_log": get_queries().purge_log(limit=50), "clear_word": CLEAR_WORD}


@bp.get("/admin")
@login_required
@role_required(Role.ADMIN)
def admin() -> Response:
    """Purge now (after a dry run), clear all (typed confirmation), the purge log."""
    return html(
        render_template(
            "dashboard/admin.html", counts=get_queries().count_by_status(), **_admin_context()
        )
    )


@bp.post("/admin/purge/preview")
@login_required
@role_required(Role.ADMIN)
def purge_preview() -> Response:
    """The dry run: what a purge would do now, and the button that does it."""
    result = get_manager().sweep(dry_run=True)
    return html(render_template("dashboard/_purge.html", preview=result))


@bp.post("/admin/purge")
@login_required
@role_required(Role.ADMIN)
def purge() -> Response:
    """Run one expiry and retention pass now and log it."""
    result = get_manager().sweep_and_record(trigger="admin")
    audit.record(
        "sweep.purge",
        detail={
            "expired_sessions": result.expired_sessions,
            "purged_messages": result.purged_messages,
            "purged_sessions": result.purged_sessions,
        },
    )
    return html(
        render_template(
            "dashboard/_purge.html",
            done=result,
            counts=get_queries().count_by_status(),
            oob=True,
            **_admin_context(),
        )  # fmt: skip
    )


@bp.post("/admin/clear")
@login_required
@role_required(Role.ADMIN)
def clear() -> Response:
    """Remove every session and message, once the word is typed."""
    if request.form.get("confirm", "").strip() != CLEAR_WORD:
        return html(
            render_template("dashboard/_clear.html", error=f"Type {CLEAR_WORD} to confirm."),
            422,
        )
    cleared = get_manager().clear()
    audit.record("sessions.clear", detail={"cleared": cleared})
    return html(
        render_template(
            "dashboard/_clear.html",
            cleared=cleared,
            counts=get_queries().count_by_status(),
            oob=True,
        )
    )
