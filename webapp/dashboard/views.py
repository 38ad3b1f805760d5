"""Dashboard pages and their htmx fragments.

Each view reads the request, checks who may act, calls the Manager or the read
queries, and renders. A URL answers a whole page, or only its fragment when htmx
asks (``HX-Request``, and not a history restore), so every pushed URL also works
when loaded directly. Changes answer with out-of-band swaps of what changed: the
session header, new transcript messages, the live poller and the nav counters.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from webapp import params
from webapp.accounts import audit
from webapp.accounts.auth import Role, can, current_actor, public, requires
from webapp.dashboard import charts, listing, queries, turns, usage
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
from webapp.extensions import get_database, get_manager, get_queries, page_reads
from webapp.htmx import html, wants_fragment
from webapp.params import BadParameter
from webapp.review import service as review
from webapp.sessions import Message, Session, Status
from webapp.sessions.search import MAX_QUERY_CHARS as MAX_SEARCH
from webapp.sessions.search import parse
from webapp.sessions.types import UNFINISHED_STATUSES, check_session_id, format_utc

bp = Blueprint("dashboard", __name__)


@bp.app_template_global("transcript_macros")
def _transcript_macros() -> Any:
    """The transcript's macros (``transcript/_macros.html``) as one module, made
    once: a ``{% from ... import %}`` in each turn's, prompt's and steps' template
    cost Jinja a comparison of every global name per include (15% of a
    120-message transcript page)."""
    return current_app.jinja_env.get_template("transcript/_macros.html").module


@bp.app_template_global("comment_control")
@pass_context
def _comment_control(context: Context, message: Any) -> Markup:
    """A transcript message's comment control (see :func:`turns.comment_control`)."""
    return turns.comment_control(context, message)

CLEAR_WORD = "CLEAR"


def _session_or_404(session_id: str) -> Session:
    session = get_manager().get(session_id)
    if session is None:
        abort(404, description="No session has this id; it may have been deleted or purged.")
    return session


def _is_live(session: Session) -> bool:
    return Status(session.status) in UNFINISHED_STATUSES


# -- the list -----------------------------------------------------------------------


@bp.get("/favicon.ico")
@public
def favicon() -> Response:
    """The icon, at the root where browsers ask for it and where the pages link it:
    answered from memory (a file response left open by a request the browser drops
    on leaving a page would hold its file until collected)."""
    response = Response(_icon(current_app.static_folder or "static"), mimetype="image/svg+xml")
    response.cache_control.max_age = 86400
    return response


@functools.cache
def _icon(folder: str) -> bytes:
    return (Path(folder) / "favicon.svg").read_bytes()


def brand_icon() -> Markup:
    """The icon drawn inline beside the name in the header (no request of its own)."""
    svg = _icon(current_app.static_folder or "static").decode()
    drawn = '<svg class="brand-icon" width="20" height="20" aria-hidden="true" '
    # The package's own file, not user input.
    return Markup(svg.replace("<svg ", drawn, 1))  # noqa: S704


@bp.get("/")
@requires(Role.VIEWER)
def index() -> Response:
    """The front page is the session list."""
    return redirect(url_for("dashboard.sessions"))


@bp.get("/sessions")
@requires(Role.VIEWER)
def sessions() -> Response:
    """The session list: filters and sort from the URL, keyset pages."""
    try:
        filters = parse_filters(request.args)
        older, newer = parse_cursor(request.args, "older"), parse_cursor(request.args, "newer")
        for name, cursor in (("older", older), ("newer", newer)):
            if cursor is not None and not filters.fits(cursor):
                raise BadParameter(name, "is not a page position of this sort")
    except BadParameter as refused:
        if not wants_fragment():
            raise
        template = "dashboard/_results_refused.html"
        return html(render_template(template, error=refused, status=refused.code), 400)
    with page_reads():
        page = queries.list_sessions(filters, older=older, newer=newer)
        reads = get_queries()
        ids = [r.id for r in page.rows]
        rows = listing.list_rows(
            page.rows,
            now=get_manager().clock(),
            annotations=review.list_annotations(ids),
            models=reads.main_models(ids),
            child_counts=reads.child_counts(ids),
        )
        context = {
            "model_choices": queries.model_choices(),
            **_search_context(filters.text, ids),
            "page": page,
            "rows": rows,
            "filters": filters,
            "args": filter_args(filters),
            "counts": reads.count_by_status(),
            "statuses": STATUS_VALUES,
            "filtered": any(k != "sort" for k in filter_args(filters)),
            "live_url": _live_url(filters, [(r.id, r.status) for r in page.rows]),
        }
    template = "dashboard/_results.html" if wants_fragment() else "dashboard/sessions.html"
    return html(render_template(template, **context))


#: How many rows of a list the live check watches (a page's worth).
LIVE_ROWS = 100


def _live_url(
    filters: Any, rows: list[tuple[str, str]], since: datetime | None = None, **state: Any
) -> str:
    """The list's live check for ``rows`` (id, status) as now shown: it knows the
    latest activity and creation it has seen (``at``, ``since``: new sessions are
    counted from there) and each row's status."""
    if not state:
        now = get_queries().list_state([])
        state = {"at": now.last_activity}
        since = now.last_created
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in filter_args(filters).items()}
    return _live_href(
        (request.script_root, request.host),
        tuple(args.items()),
        state["at"].isoformat() if state["at"] else None,
        since.isoformat() if since else None,
        tuple(f"{status}:{session_id}" for session_id, status in rows),
    )


@functools.lru_cache(maxsize=32)
def _live_href(
    mount: tuple[str, str],
    args: tuple[tuple[str, Any], ...],
    at: str | None,
    since: str | None,
    rows: tuple[str, ...],
) -> str:
    """The live check's URL, built once per list as shown (its rows' ``status:id``
    quoted one by one were a thirtieth of a list page), a few KB each: ``mount``,
    the request's mount point and host, is part of the key only."""
    del mount  # url_for reads it from the request
    return url_for("dashboard.sessions_live", **dict(args), at=at, since=since, row=rows)


def _live_rows(args: MultiDict[str, str]) -> list[tuple[str, str]]:
    """The rows a live check watches, ``row=status:id`` each; a 400 names a bad one."""
    rows = []
    for raw in args.getlist("row")[:LIVE_ROWS]:
        status, _, session_id = raw.partition(":")
        try:
            check_session_id(session_id)
        except ValueError:
            status = ""
        if status not in STATUS_VALUES:
            raise BadParameter("row", "must be status:session_id, like running:abc")
        rows.append((session_id, status))
    return rows


@bp.get("/sessions/live")
@requires(Role.VIEWER)
def sessions_live() -> Response:
    """The list's live check: 204 while nothing changed (the ends of two indexes and
    the shown rows' status by primary key, no rendering); otherwise how many new
    sessions match the filters, and the changed rows' status badges (out of band)."""
    filters = parse_filters(request.args)
    rows = _live_rows(request.args)
    seen_at, since = params.moment(request.args, "at"), params.moment(request.args, "since")
    reads = get_queries()
    state = reads.list_state([session_id for session_id, _ in rows])
    changed = {
        session_id: state.statuses[session_id]
        for session_id, status in rows
        if state.statuses.get(session_id, status) != status
    }
    if state.last_activity == seen_at and state.last_created == since and not changed:
        return html("", 204)
    new = 0
    if state.last_created is not None and state.last_created != since:
        new = reads.count_created_after(filters.to_filter(), since)
    shown = [(session_id, changed.get(session_id, status)) for session_id, status in rows]
    return html(
        render_template(
            "dashboard/_list_live.html",
            live_url=_live_url(filters, shown, since, at=state.last_activity),
            new_count=new,
            changed=changed,
            args=filter_args(filters),
        )
    )


# -- one session -------------------------------------------------------------------


def _search_context(text: str, session_ids: list[str]) -> dict[str, Any]:
    """A list's search: each row's first hits (``hits``), and what to say about
    the query (``search``: the query itself, its problem, whether it was bounded)."""
    if not text:
        return {"hits": {}, "search": None}
    query = parse(text)
    found = get_queries().search.session_hits(query, session_ids)
    return {"hits": found, "search": query}


@bp.get("/sessions/<session_id:session_id>")
@requires(Role.VIEWER)
def session_page(session_id: str) -> Response:
    """A session: header, its transcript as turns (a finished one from its first
    prompt, a running one at its end, or ``around`` a message), its actions; with a
    search (``q``), opened at hit ``hit`` with the next and previous ones. htmx
    asking for a fragment (a step to another hit) gets the transcript part only."""
    session = _session_or_404(session_id)
    live = _is_live(session)
    text = params.text(request.args, "q", MAX_SEARCH)
    hit = params.integer(request.args, "hit")
    args = request.args
    if hit is not None and "around" not in args:
        args = MultiDict(args)
        args["around"] = str(hit)
    hits = get_queries().search.transcript_hits(parse(text), session.id) if text else []
    context = {
        "session": session,
        "live": live,
        "can_review": can("review"),
        "comments": review.comments_by_message(session.id),
        "q": text,
        "hit": hit,
        "hits": hits,
        **turns.page_context(session, args, live=live),
    }
    if wants_fragment():
        # A step to another hit: the transcript around it and the hit navigation.
        return html(render_template("dashboard/_transcript_area.html", **context))
    return html(
        render_template(
            "dashboard/session.html",
            review=review.session_review(session.id),
            can_admin=can("admin"),
            extend_hours=EXTEND_HOURS,
            counts=get_queries().count_by_status(),
            retention=queries.retention_notice(session),
            usage=usage.session_usage(get_queries(), session.id),
            **context,
        )
    )


@bp.get("/sessions/<session_id:session_id>/turns")
@requires(Role.VIEWER)
def transcript_turns(session_id: str) -> Response:
    """The turns after message ``after`` or before ``before`` (a fragment with the
    control for more), or the start of a transcript (a subagent's, opened in place)."""
    session = _session_or_404(session_id)
    return html(
        render_template(
            "transcript/_window.html",
            session=session,
            comments=review.comments_by_message(session.id),
            can_review=can("review"),
            live=_is_live(session),
            **turns.more_context(session, request.args, live=_is_live(session)),
        )
    )


@bp.get("/sessions/<session_id:session_id>/outline")
@requires(Role.VIEWER)
def transcript_outline(session_id: str) -> Response:
    """A page of the outline: the prompts after ``after``, one line each."""
    session = _session_or_404(session_id)
    return html(
        render_template(
            "transcript/_outline.html",
            session=session,
            **turns.outline_context(session, request.args),
        )
    )


@bp.get(f"/sessions/<session_id:session_id>/messages/<int(max={params.MAX_ID}):message_id>")
@requires(Role.VIEWER)
def full_message(session_id: str, message_id: int) -> Response:
    """One message in full (the answer to "show all" on a truncated message), drawn
    as the transcript draws it: in place for htmx, else a page of its own."""
    message = get_queries().full_message(session_id, message_id)
    if message is None:
        abort(404, description="This message is gone; it may have been purged.")
    template = "transcript/_message.html" if wants_fragment() else "transcript/message.html"
    return html(
        render_template(
            template,
            session=_session_or_404(session_id),
            comments=review.comments_by_message(session_id),
            can_review=can("review"),
            **turns.message_context(message),
        )
    )


def _updates(session: Session, after: int, **extra: Any) -> str:
    """What changed on a session page since message ``after``: the header, new
    messages, the live poller (which stops once the session ends) and the counts,
    all as out-of-band swaps."""
    live_turns = turns.live_context(session, request.values, after)
    return render_template(
        "dashboard/_updates.html",
        session=session,
        comments=review.comments_by_message(session.id),
        live=_is_live(session),
        **live_turns,
        can_review=can("review"),
        can_admin=can("admin"),
        extend_hours=EXTEND_HOURS,
        counts=get_queries().count_by_status(),
        retention=queries.retention_notice(session),
        **extra,
    )


@bp.get("/sessions/<session_id:session_id>/poll")
@requires(Role.VIEWER)
def poll(session_id: str) -> Response:
    """The live check: 204 while the session's last activity and message count
    are those the page was drawn with (``at``, ``count``: one row by its key, no
    rendering); otherwise the updates since message ``after``."""
    stamp = get_queries().live_stamp(session_id)
    if stamp is None:
        abort(404, description="This session was deleted.")
    after = params.integer(request.args, "after") or 0
    seen = (params.moment(request.args, "at"), params.integer(request.args, "count"))
    if seen == stamp:
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
@requires(Role.REVIEWER)
def close_session(session_id: str) -> Response:
    """Close the session (it keeps its data, takes no more messages)."""
    _session_or_404(session_id)
    with get_database().write():  # the change and its audit entry commit together
        if not get_manager().close(session_id):
            return _action_result(
                session_id, "This session is closed or expired already.", ok=False
            )
        audit.record("session.close", session_id=session_id)
    return _action_result(session_id, "Session closed.")


@bp.post("/sessions/<session_id:session_id>/fail")
@requires(Role.REVIEWER)
def fail_session(session_id: str) -> Response:
    """Mark the session failed with a reason."""
    _session_or_404(session_id)
    reason = params.text(request.form, "reason", MAX_REASON)
    if not reason:
        return _action_result(session_id, "Give a reason for the failure.", ok=False)
    with get_database().write():
        if not get_manager().set_failed(session_id, reason):
            return _action_result(
                session_id, "This session takes no status change any more.", ok=False
            )
        audit.record("session.fail", session_id=session_id, detail={"reason": reason})
    return _action_result(session_id, "Session marked failed.")


@bp.post("/sessions/<session_id:session_id>/expiry")
@requires(Role.REVIEWER)
def set_expiry(session_id: str) -> Response:
    """Extend the expiry by some hours, or make the session never expire."""
    manager = get_manager()
    session = _session_or_404(session_id)
    expires_at = parse_expiry(request.form, manager.clock(), session.expires_at)
    if expires_at is ...:
        return _action_result(session_id, "Choose how long to extend by.", ok=False)
    with get_database().write():
        if not manager.set_expiry(session_id, expires_at):
            return _action_result(
                session_id, "A closed or expired session keeps its expiry.", ok=False
            )
        detail = {"expires_at": format_utc(expires_at) if expires_at else None}
        audit.record("session.expiry", session_id=session_id, detail=detail)
    return _action_result(
        session_id, "Session never expires now." if expires_at is None else "Expiry extended."
    )


@bp.post("/sessions/<session_id:session_id>/notes")
@requires(Role.REVIEWER)
def add_note(session_id: str) -> Response:
    """Append a note for the agent: a user message marked as a note."""
    _session_or_404(session_id)
    text = params.text(request.form, "note", MAX_NOTE)
    if not text:
        return _action_result(session_id, "Write the note first.", ok=False)
    author = current_actor()
    message = Message("user", text, meta={"kind": "note", "author": author})
    with get_database().write():
        if not get_manager().append_message(session_id, message):
            return _action_result(session_id, "This session takes no new messages.", ok=False)
        audit.record("session.note", session_id=session_id, detail={"length": len(text)})
    return _action_result(session_id, "Note added.")


@bp.get("/sessions/<session_id:session_id>/delete")
@requires(Role.ADMIN)
def confirm_delete(session_id: str) -> Response:
    """The confirmation step before deleting (a fragment, or a page without htmx)."""
    session = _session_or_404(session_id)
    template = "dashboard/_confirm_delete.html" if wants_fragment() else "dashboard/delete.html"
    return html(render_template(template, session=session))


@bp.post("/sessions/<session_id:session_id>/delete")
@requires(Role.ADMIN)
def delete_session(session_id: str) -> Response:
    """Delete the session and its messages, then go back to the list."""
    with get_database().write():
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


def _stats_charts(now: datetime) -> Markup:
    """The four charts of the last 30 days, as HTML: read from the rollups, then
    drawn by :func:`_drawn_charts`, which remembers what it drew for the same
    figures (the rollups change a few times a minute at most; a page reads them on
    every request)."""
    since = queries.chart_start(now)
    days = tuple((now - timedelta(days=29 - i)).date().isoformat() for i in range(30))
    reads = get_queries()
    per_day = reads.sessions_per_day(since)
    shown = tuple((d, tuple(sorted(per_day[d].items()))) for d in days if d in per_day)
    return _drawn_charts(
        days,
        shown,
        tuple(reads.histogram("duration", since)),
        tuple(reads.histogram("messages", since)),
    )


@functools.lru_cache(maxsize=8)
def _drawn_charts(
    days: tuple[str, ...],
    per_day: tuple[tuple[str, tuple[tuple[str, int], ...]], ...],
    durations: tuple[int, ...],
    message_counts: tuple[int, ...],
) -> Markup:
    """The stats page's charts (SVG and data tables) of these figures: a pure
    function of its arguments, so the same figures are drawn once per process."""
    by_day = {d: dict(counts) for d, counts in per_day}
    shown = [s for s in STATUS_VALUES if any(by_day.get(d, {}).get(s) for d in days)]
    series = {s: [by_day.get(d, {}).get(s, 0) for d in days] for s in shown}
    finished = [by_day.get(d, {}).get("completed", 0) + by_day.get(d, {}).get("failed", 0)
                for d in days]  # fmt: skip
    failed = [by_day.get(d, {}).get("failed", 0) for d in days]
    rates = [100.0 * f / n if n else 0.0 for f, n in zip(failed, finished, strict=True)]
    drawn = [
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
    template = current_app.jinja_env.get_template("dashboard/_chart.html")
    return Markup("".join(template.render(chart=chart) for chart in drawn))  # noqa: S704


@bp.get("/stats")
@requires(Role.VIEWER)
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
@requires(Role.VIEWER)
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
@requires(Role.VIEWER)
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
@requires(Role.ADMIN)
def admin() -> Response:
    """Purge now (after a dry run), clear all (typed confirmation), the purge log."""
    return html(
        render_template(
            "dashboard/admin.html", counts=get_queries().count_by_status(), **_admin_context()
        )
    )


@bp.post("/admin/purge/preview")
@requires(Role.ADMIN)
def purge_preview() -> Response:
    """The dry run: what a purge would do now, and the button that does it."""
    result = get_manager().sweep(dry_run=True)
    return html(render_template("dashboard/_purge.html", preview=result))


@bp.post("/admin/purge")
@requires(Role.ADMIN)
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
@requires(Role.ADMIN)
def clear() -> Response:
    """Remove every session and message, once the word is typed."""
    if request.form.get("confirm", "").strip() != CLEAR_WORD:
        return html(
            render_template("dashboard/_clear.html", error=f"Type {CLEAR_WORD} to confirm."),
            422,
        )
    with get_database().write():
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
