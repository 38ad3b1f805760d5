"""Saved views, review queues, rubrics and scores.

How sessions enter a queue: **on read**. Whenever a queue is looked at or worked
on (its page, a reviewer's "next", a claim) :func:`sync` runs first, in one write
transaction: it adds the sessions its view's filter matches that are not items yet
(read through the read model, newest first, at most ``SYNC_BATCH`` a pass), puts
back expired assignments, and in round-robin mode hands the open items out in turn.
Nothing runs in the background, every worker sees the same rows, and a queue
nobody opens costs nothing. A session stays an item once it is in, even if it
stops matching (a verdict given outside the queue does not take it out).

Every assignment goes through :func:`_assign` (one place, for the audit entry and
a "queue item assigned" event). Every change is one transaction with its audit
entry. Sessions are read only through ``get_queries()``; these tables through
``get_database()``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

from flask import current_app
from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from werkzeug.datastructures import MultiDict

from webapp import params
from webapp.accounts import audit
from webapp.accounts.auth import Role, can, current_actor, current_role
from webapp.accounts.service import list_users
from webapp.extensions import get_database, get_manager, get_queries
from webapp.filters import ListFilters, filter_args, parse_filters
from webapp.queues.agreement import Agreement, agreement
from webapp.queues.models import (
    KINDS,
    MODES,
    Criterion,
    Queue,
    QueueItem,
    QueueReviewer,
    SavedView,
    Score,
)
from webapp.queues.scores import MAX_ANSWER, number_of
from webapp.queues.scores import answers_of as answers_of
from webapp.sessions import UnknownSessionError
from webapp.sessions.events import record_event
from webapp.sessions.queries import IdSet, SessionFilter, SessionSummary, Sort
from webapp.sessions.transcripts import session_exists

views_t = cast(Table, SavedView.__table__)
queues_t = cast(Table, Queue.__table__)
reviewers_t = cast(Table, QueueReviewer.__table__)
criteria_t = cast(Table, Criterion.__table__)
items_t = cast(Table, QueueItem.__table__)
scores_t = cast(Table, Score.__table__)

MAX_NAME = 100
MAX_LABEL = 200
MAX_OPTION = MAX_ANSWER
MAX_OPTIONS = 9
MAX_CRITERIA = 20
MAX_TEXT_ANSWER = 5_000
MAX_QUERY = 4_000
#: The nav's counts stop here ("1,000+"): bounded work per view per page.
COUNT_CAP = 1_000
#: Sessions one sync adds at most (the rest come with the next look).
SYNC_BATCH = 500
#: An assignment lasts this long without work, unless the queue says otherwise.
DEFAULT_TTL = timedelta(hours=4)
#: The kinds agreement is computed for (free text is not categorical).
CATEGORICAL = ("passfail", "score", "choice")


class QueueError(ValueError):
    """A change the rules refuse; the message says why."""


class NotAllowed(QueueError):
    """A change this user may not make (a 403)."""


class NotFound(QueueError):
    """No such view, queue or criterion (a 404)."""


def _now() -> datetime:
    return get_manager().clock()


def _clean_name(name: str, what: str, limit: int = MAX_NAME) -> str:
    name = " ".join(name.split())
    if not name or len(name) > limit or not name.isprintable():
        raise QueueError(f"A {what} is 1 to {limit} printable characters.")
    return name


# -- saved views -----------------------------------------------------------------------


def normal_query(args: MultiDict[str, str]) -> str:
    """A list's query string as a view keeps it: parsed by the list's own rules
    (``BadParameter`` for a bad value), paging and unknown names dropped."""
    return urlencode(filter_args(parse_filters(args)), doseq=True)


def view_filters(query: str) -> ListFilters:
    """A stored view's filters (a rubric criterion removed since matches no score)."""
    return parse_filters(MultiDict(parse_qsl(query, keep_blank_values=False)), stored=True)


def _view_row(conn: Connection, view_id: int) -> Any:
    row = conn.execute(select(views_t).where(views_t.c.id == view_id)).first()
    if row is None or not (row.shared or row.owner == current_actor()):
        raise NotFound("No saved view has this id.")
    return row


def _may_change_view(row: Any) -> None:
    if row.owner == current_actor() or (row.shared and can("admin")):
        return
    raise NotAllowed("Only its owner (or an admin, when it is shared) changes a saved view.")


#: :func:`visible_views`' statement, built once (the nav reads it on every page).
_VISIBLE_VIEWS = (
    select(views_t)
    .where(or_(views_t.c.owner == bindparam("me"), views_t.c.shared))
    .order_by(views_t.c.name, views_t.c.id)
)


def visible_views() -> list[dict[str, Any]]:
    """The views this user sees: their own and the shared ones, by name."""
    me = current_actor()
    with get_database().read() as conn:
        rows = conn.execute(_VISIBLE_VIEWS, {"me": me})
        return [
            {**r._mapping, "mine": r.owner == me, "may_change": _changeable(r, me)} for r in rows
        ]


def _changeable(row: Any, me: str) -> bool:
    return bool(row.owner == me or (row.shared and can("admin")))


#: The navigation's counts are kept this long per process (a view's filter is the
#: same for every user, so one count serves them all).
COUNT_TTL = 30.0
_counts: dict[tuple[str, str], tuple[float, int]] = {}


def view_count(query: str, *, fresh: bool = False) -> int:
    """How many sessions a view shows, counted up to ``COUNT_CAP + 1``; the count
    made in the last ``COUNT_TTL`` seconds by this process unless ``fresh``."""
    now = time.monotonic()
    queries = get_queries()
    key = (str(queries.store.engine.url), query)
    kept = _counts.get(key)
    if kept is not None and kept[0] > now and not fresh:
        return kept[1]
    count = queries.count_sessions(view_filters(query).to_filter(), cap=COUNT_CAP)
    if len(_counts) > 10_000:
        _counts.clear()
    _counts[key] = (now + COUNT_TTL, count)
    return count


def count_label(count: int) -> str:
    """``1,000+`` past the cap, else the number."""
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"


def nav_views() -> list[dict[str, Any]]:
    """The views for the navigation, each with its live (bounded) count."""
    if current_role() is None:
        return []
    found = visible_views()
    for view in found:
        view["count"] = count_label(view_count(view["query"]))
    return found


def save_view(name: str, query: str, shared: bool) -> int:
    """Save a filter under a name (the user's own names are unique); its id."""
    name = _clean_name(name, "view name")
    if len(query) > MAX_QUERY:
        raise QueueError(f"A view's filter has at most {MAX_QUERY} characters.")
    query = normal_query(MultiDict(parse_qsl(query)))
    me = current_actor()
    with get_database().write() as conn:
        taken = conn.execute(
            select(views_t.c.id).where(views_t.c.owner == me, views_t.c.name == name)
        ).first()
        if taken is not None:
            raise QueueError(f"You have a view named “{name}” already.")
        view_id = int(
            conn.execute(
                insert(views_t)
                .values(name=name, owner=me, shared=shared, query=query, created_at=_now())
                .returning(views_t.c.id)
            ).scalar_one()
        )
        audit.record(
            "view.create", detail={"view": view_id, "name": name, "shared": shared, "query": query}
        )
    return view_id


def update_view(view_id: int, name: str, shared: bool) -> None:
    """Rename a view, or share it or not (its owner; an admin for a shared one)."""
    name = _clean_name(name, "view name")
    with get_database().write() as conn:
        row = _view_row(conn, view_id)
        _may_change_view(row)
        clash = conn.execute(
            select(views_t.c.id).where(
                views_t.c.owner == row.owner, views_t.c.name == name, views_t.c.id != view_id
            )
        ).first()
        if clash is not None:
            raise QueueError(f"There is a view named “{name}” already.")
        conn.execute(
            update(views_t).where(views_t.c.id == view_id).values(name=name, shared=shared)
        )
        audit.record("view.update", detail={"view": view_id, "name": name, "shared": shared})


def delete_view(view_id: int) -> None:
    """Delete a view no queue uses."""
    with get_database().write() as conn:
        row = _view_row(conn, view_id)
        _may_change_view(row)
        used = conn.execute(select(queues_t.c.name).where(queues_t.c.view_id == view_id)).first()
        if used is not None:
            raise QueueError(f"The queue “{used.name}” uses this view; delete the queue first.")
        conn.execute(delete(views_t).where(views_t.c.id == view_id))
        audit.record("view.delete", detail={"view": view_id, "name": row.name})


# -- queues ----------------------------------------------------------------------------


def reviewer_names() -> list[str]:
    """Users who may review (reviewers and admins, not disabled), by name."""
    ranked = (Role.REVIEWER.value, Role.ADMIN.value)
    return [u.name for u in list_users() if u.role in ranked and not u.disabled]


def _check_reviewers(names: list[str]) -> list[str]:
    wanted = sorted({n.strip() for n in names if n.strip()})
    allowed = set(reviewer_names())
    unknown = [n for n in wanted if n not in allowed]
    if unknown:
        raise QueueError(f"Not a reviewer: {', '.join(unknown[:5])}.")
    if not wanted:
        raise QueueError("A queue needs at least one reviewer.")
    return wanted


def assignment_ttl() -> timedelta:
    """The setting ``QUEUE_ASSIGNMENT_TTL`` (default 4h)."""
    from webapp.config import parse_duration

    return parse_duration(current_app.config.get("QUEUE_ASSIGNMENT_TTL", DEFAULT_TTL))


def create_queue(name: str, view_id: int, mode: str, reviewers: list[str]) -> int:
    """A queue over a saved view (admins); its id."""
    name = _clean_name(name, "queue name")
    if mode not in MODES:
        raise QueueError(f"A queue's mode is one of {', '.join(MODES)}.")
    names = _check_reviewers(reviewers)
    ttl = int(assignment_ttl().total_seconds())
    with get_database().write() as conn:
        _view_row(conn, view_id)
        if conn.execute(select(queues_t.c.id).where(queues_t.c.name == name)).first():
            raise QueueError(f"There is a queue named “{name}” already.")
        queue_id = int(
            conn.execute(
                insert(queues_t)
                .values(
                    name=name,
                    view_id=view_id,
                    mode=mode,
                    assignment_ttl=ttl,
                    turn=0,
                    created_by=current_actor(),
                    created_at=_now(),
                )
                .returning(queues_t.c.id)
            ).scalar_one()
        )
        conn.execute(insert(reviewers_t), [{"queue_id": queue_id, "reviewer": n} for n in names])
        audit.record(
            "queue.create",
            detail={"queue": queue_id, "name": name, "view": view_id, "mode": mode,
                    "reviewers": names},
        )  # fmt: skip
    return queue_id


def _queue_row(conn: Connection, queue_id: int) -> Any:
    row = conn.execute(select(queues_t).where(queues_t.c.id == queue_id)).first()
    if row is None:
        raise NotFound("No queue has this id.")
    return row


def _reviewers(conn: Connection, queue_id: int) -> list[str]:
    r = reviewers_t.c
    query = select(r.reviewer).where(r.queue_id == queue_id).order_by(r.reviewer)
    return list(conn.execute(query).scalars())


def set_reviewers(queue_id: int, reviewers: list[str]) -> None:
    """Change who works on a queue; items assigned to someone no longer in it go back."""
    names = _check_reviewers(reviewers)
    with get_database().write() as conn:
        _queue_row(conn, queue_id)
        conn.execute(delete(reviewers_t).where(reviewers_t.c.queue_id == queue_id))
        conn.execute(insert(reviewers_t), [{"queue_id": queue_id, "reviewer": n} for n in names])
        i = items_t.c
        conn.execute(
            update(items_t)
            .where(i.queue_id == queue_id, i.state == "assigned", i.assignee.not_in(names))
            .values(state="open", assignee=None, assigned_at=None)
        )
        audit.record("queue.reviewers", detail={"queue": queue_id, "reviewers": names})


def delete_queue(queue_id: int) -> None:
    """Delete a queue with its rubric, items and scores."""
    with get_database().write() as conn:
        row = _queue_row(conn, queue_id)
        conn.execute(delete(queues_t).where(queues_t.c.id == queue_id))
        audit.record("queue.delete", detail={"queue": queue_id, "name": row.name})


def list_queues() -> list[dict[str, Any]]:
    """Every queue with its progress."""
    with get_database().read() as conn:
        rows = list(conn.execute(select(queues_t).order_by(queues_t.c.name)))
        return [{**r._mapping, **_totals(conn, r.id)} for r in rows]


def _totals(conn: Connection, queue_id: int) -> dict[str, int]:
    i = items_t.c
    counts: dict[str, int] = dict(
        conn.execute(
            select(i.state, func.count()).where(i.queue_id == queue_id).group_by(i.state)
        ).all()
    )
    return {
        "total": sum(counts.values()),
        "done": int(counts.get("done", 0)),
        "assigned": int(counts.get("assigned", 0)),
        "open": int(counts.get("open", 0)),
    }


# -- rubric ----------------------------------------------------------------------------


def _check_options(kind: str, options: str) -> str:
    if kind != "choice":
        return ""
    labels = [" ".join(o.split()) for o in options.replace(",", "\n").splitlines()]
    labels = [o for o in labels if o]
    if not 2 <= len(labels) <= MAX_OPTIONS or len(set(labels)) != len(labels):
        raise QueueError(f"A choice has 2 to {MAX_OPTIONS} different labels.")
    for label in labels:
        _clean_name(label, "choice label", MAX_OPTION)
    return "\n".join(labels)


def add_criterion(queue_id: int, label: str, kind: str, options: str, required: bool) -> int:
    """Add a criterion at the end of a queue's rubric; its id."""
    label = _clean_name(label, "criterion label", MAX_LABEL)
    if kind not in KINDS:
        raise QueueError(f"A criterion's kind is one of {', '.join(KINDS)}.")
    options = _check_options(kind, options)
    c = criteria_t.c
    with get_database().write() as conn:
        _queue_row(conn, queue_id)
        have = conn.execute(
            select(func.count(), func.max(c.position)).where(c.queue_id == queue_id)
        ).one()
        if have[0] >= MAX_CRITERIA:
            raise QueueError(f"A rubric has at most {MAX_CRITERIA} criteria.")
        if conn.execute(select(c.id).where(c.queue_id == queue_id, c.label == label)).first():
            raise QueueError(f"This rubric has a criterion “{label}” already.")
        criterion_id = int(
            conn.execute(
                insert(criteria_t)
                .values(
                    queue_id=queue_id,
                    position=(have[1] or 0) + 1,
                    label=label,
                    kind=kind,
                    options=options,
                    required=required,
                )
                .returning(c.id)
            ).scalar_one()
        )
        audit.record(
            "rubric.add",
            detail={"queue": queue_id, "criterion": criterion_id, "label": label, "kind": kind,
                    "required": required},
        )  # fmt: skip
    return criterion_id


def remove_criterion(queue_id: int, criterion_id: int) -> None:
    """Take a criterion (and its answers) off a rubric."""
    c = criteria_t.c
    with get_database().write() as conn:
        row = conn.execute(
            select(criteria_t).where(c.id == criterion_id, c.queue_id == queue_id)
        ).first()
        if row is None:
            raise NotFound("This rubric has no such criterion.")
        conn.execute(delete(criteria_t).where(c.id == criterion_id))
        audit.record(
            "rubric.remove", detail={"queue": queue_id, "criterion": criterion_id,
                                     "label": row.label}
        )  # fmt: skip


def _criteria(conn: Connection, queue_id: int) -> list[dict[str, Any]]:
    c = criteria_t.c
    rows = conn.execute(select(criteria_t).where(c.queue_id == queue_id).order_by(c.position, c.id))
    return [_criterion(r) for r in rows]


def _criterion(row: Any) -> dict[str, Any]:
    m = dict(row._mapping)
    m["choices"] = answers_of(m["kind"], m["options"])
    return m


def check_answer(criterion: dict[str, Any], value: str) -> tuple[str, int | None]:
    """An answer as stored (text, number) or ``QueueError``."""
    kind = criterion["kind"]
    if kind == "text":
        value = value.strip()
        problem = params.text_problem(value, MAX_TEXT_ANSWER)
        if not value or problem:
            raise QueueError(f"An answer is 1 to {MAX_TEXT_ANSWER} characters of text.")
        return value, None
    choices = criterion["choices"]
    if value not in choices:
        raise QueueError(f"“{criterion['label']}” takes one of: {', '.join(choices)}.")
    return value, number_of(kind, choices, value)


# -- items and assignment --------------------------------------------------------------


def _assign(conn: Connection, queue_id: int, session_id: str, reviewer: str, *, how: str) -> None:
    """THE place an item is assigned (round-robin, a claim, a reassignment after
    expiry): the row, its audit entry and its "assigned" event (webhooks), in
    ``conn``'s transaction."""
    i = items_t.c
    conn.execute(
        update(items_t)
        .where(i.queue_id == queue_id, i.session_id == session_id)
        .values(state="assigned", assignee=reviewer, assigned_at=_now())
    )
    audit.record(
        "queue.assign",
        session_id=session_id,
        detail={"queue": queue_id, "reviewer": reviewer, "how": how},
        actor="system" if how == "round_robin" else None,
    )
    record_event(
        conn, "assigned", session_id, {"queue": queue_id, "reviewer": reviewer, "how": how}
    )


def _insert_missing(conn: Connection, queue: Any, now: datetime) -> int:
    """Add the sessions the queue's view matches that are not items yet."""
    mine = IdSet(select(items_t.c.session_id).where(items_t.c.queue_id == queue.id), negate=True)
    view = conn.execute(select(views_t.c.query).where(views_t.c.id == queue.view_id)).scalar_one()
    base = view_filters(view).to_filter()
    where = replace(base, within=(*base.within, mine))
    page = get_queries().list_sessions(where, sort=Sort.CREATED, limit=SYNC_BATCH)
    if not page.rows:
        return 0
    database = get_database()
    stmt = database._insert(items_t).on_conflict_do_nothing(
        index_elements=[items_t.c.queue_id, items_t.c.session_id]
    )
    conn.execute(
        stmt,
        [
            {"queue_id": queue.id, "session_id": row.id, "state": "open", "added_at": now}
            for row in reversed(page.rows)
        ],
    )
    return len(page.rows)


def sync(queue_id: int) -> None:
    """Bring a queue up to date: new matching sessions in, expired assignments
    back, open items handed out in turn (round-robin mode)."""
    now = _now()
    i = items_t.c
    with get_database().write() as conn:
        queue = _queue_row(conn, queue_id)
        _insert_missing(conn, queue, now)
        stale = now - timedelta(seconds=queue.assignment_ttl)
        expired = list(
            conn.execute(
                select(i.session_id, i.assignee).where(
                    i.queue_id == queue_id, i.state == "assigned", i.assigned_at < stale
                )
            )
        )
        for row in expired:
            conn.execute(
                update(items_t)
                .where(i.queue_id == queue_id, i.session_id == row.session_id)
                .values(state="open", assignee=None, assigned_at=None)
            )
            audit.record(
                "queue.expire",
                session_id=row.session_id,
                detail={"queue": queue_id, "reviewer": row.assignee},
                actor="system",
            )
        if queue.mode == "round_robin":
            _round_robin(conn, queue)


def _round_robin(conn: Connection, queue: Any) -> None:
    """Hand each open item to the next reviewer in turn (by name, cycling), never
    back to the one whose assignment just expired when another can take it."""
    names = _reviewers(conn, queue.id)
    if not names:
        return
    i = items_t.c
    open_ids = list(
        conn.execute(
            select(i.session_id)
            .where(i.queue_id == queue.id, i.state == "open")
            .order_by(i.added_at, i.session_id)
        ).scalars()
    )
    turn = queue.turn
    for session_id in open_ids:
        _assign(conn, queue.id, session_id, names[turn % len(names)], how="round_robin")
        turn += 1
    if open_ids:
        conn.execute(update(queues_t).where(queues_t.c.id == queue.id).values(turn=turn))


def _check_member(conn: Connection, queue_id: int) -> str:
    me = current_actor()
    if me not in _reviewers(conn, queue_id) and not can("admin"):
        raise NotAllowed("Only this queue's reviewers (and admins) work on it.")
    return me


def next_item(queue_id: int) -> str | None:
    """The session this reviewer should review next in the queue: their own
    oldest assigned one, else an open one they now claim; None when none is left."""
    sync(queue_id)
    i = items_t.c
    with get_database().write() as conn:
        me = _check_member(conn, queue_id)
        own = conn.execute(
            select(i.session_id)
            .where(i.queue_id == queue_id, i.state == "assigned", i.assignee == me)
            .order_by(i.assigned_at, i.added_at, i.session_id)
            .limit(1)
        ).scalar()
        if own is not None:
            return str(own)
        return _claim_open(conn, queue_id, me)


def _claim_open(conn: Connection, queue_id: int, me: str) -> str | None:
    i = items_t.c
    found = conn.execute(
        select(i.session_id)
        .where(i.queue_id == queue_id, i.state == "open")
        .order_by(i.added_at, i.session_id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).scalar()
    if found is None:
        return None
    _assign(conn, queue_id, str(found), me, how="claim")
    return str(found)


def claim(queue_id: int, session_id: str) -> None:
    """Take one open item of the queue."""
    i = items_t.c
    sync(queue_id)
    with get_database().write() as conn:
        me = _check_member(conn, queue_id)
        row = conn.execute(
            select(i.state, i.assignee).where(i.queue_id == queue_id, i.session_id == session_id)
        ).first()
        if row is None:
            raise NotFound("This session is not in the queue.")
        if row.state != "open":
            raise QueueError(f"This item is {row.state} already ({row.assignee or 'nobody'}).")
        _assign(conn, queue_id, session_id, me, how="claim")


@dataclass(frozen=True)
class ItemRow:
    """A queue item as the queue page lists it."""

    session: SessionSummary
    state: str
    assignee: str | None
    assigned_at: datetime | None
    scores: dict[int, list[str]]
    mean: float | None


#: How the queue page's item list may be ordered.
ITEM_SORTS = ("added", "score_desc", "score_asc")
ITEM_STATES = ("open", "assigned", "done")


@dataclass(frozen=True)
class ItemFilter:
    """What the queue's item list narrows to and how it is ordered."""

    state: str = ""
    assignee: str = ""
    criterion: int | None = None
    #: Keep items whose answers to ``criterion`` include this value.
    value: str = ""
    sort: str = "added"


def queue_page(queue_id: int, where: ItemFilter, limit: int = 100) -> dict[str, Any]:
    """Everything the queue page shows: the queue, rubric, progress per reviewer,
    agreement, and its items (filtered and sorted by score)."""
    sync(queue_id)
    i, s = items_t.c, scores_t.c
    with get_database().read() as conn:
        queue = _queue_row(conn, queue_id)
        view = conn.execute(select(views_t).where(views_t.c.id == queue.view_id)).first()
        criteria = _criteria(conn, queue_id)
        by_id = {c["id"]: c for c in criteria}
        query = select(i.session_id, i.state, i.assignee, i.assigned_at).where(
            i.queue_id == queue_id
        )
        if where.state:
            query = query.where(i.state == where.state)
        if where.assignee:
            query = query.where(i.assignee == where.assignee)
        if where.criterion is not None and where.criterion in by_id and where.value:
            query = query.where(
                i.session_id.in_(
                    select(s.session_id).where(
                        s.criterion_id == where.criterion, s.value == where.value
                    )
                )
            )
        mean = None
        if where.criterion is not None and where.criterion in by_id:
            mean = (
                select(func.avg(s.number))
                .where(s.criterion_id == where.criterion, s.session_id == i.session_id)
                .scalar_subquery()
            )
        if where.sort != "added" and mean is not None:
            order = mean.desc() if where.sort == "score_desc" else mean.asc()
            query = query.order_by(order.nulls_last(), i.added_at, i.session_id)
        else:
            query = query.order_by(i.added_at.desc(), i.session_id)
        if mean is not None:
            query = query.add_columns(mean.label("mean"))
        rows = list(conn.execute(query.limit(limit)))
        ids = [r.session_id for r in rows]
        answers: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
        if ids and by_id:
            for sid, cid, value in conn.execute(
                select(s.session_id, s.criterion_id, s.value)
                .where(s.session_id.in_(ids), s.criterion_id.in_(list(by_id)))
                .order_by(s.reviewer)
            ):
                answers[sid][cid].append(value)
        people = _people(conn, queue_id)
        totals = _totals(conn, queue_id)
        reviewers = _reviewers(conn, queue_id)
        agreements = _agreements(conn, criteria)
    summaries = {
        r.id: r
        for r in get_queries()
        .list_sessions(_exactly(queue_id, ids), sort=Sort.CREATED, limit=max(len(ids), 1))
        .rows
    }
    items = [
        ItemRow(
            session=summaries[r.session_id],
            state=r.state,
            assignee=r.assignee,
            assigned_at=r.assigned_at,
            scores={k: list(v) for k, v in answers[r.session_id].items()},
            mean=float(r.mean) if mean is not None and r.mean is not None else None,
        )
        for r in rows
        if r.session_id in summaries
    ]
    return {
        "queue": queue,
        "view": view,
        "criteria": criteria,
        "items": items,
        "people": people,
        "totals": totals,
        "reviewers": reviewers,
        "agreements": agreements,
    }


def _exactly(queue_id: int, ids: list[str]) -> SessionFilter:
    """A read-model filter of exactly these items of the queue."""
    i = items_t.c
    return SessionFilter(
        within=(IdSet(select(i.session_id).where(i.queue_id == queue_id, i.session_id.in_(ids))),)
    )


def _people(conn: Connection, queue_id: int) -> list[dict[str, Any]]:
    """Who has what: per assignee, items assigned now and done."""
    i = items_t.c
    per: dict[str, dict[str, Any]] = {
        name: {"reviewer": name, "assigned": 0, "done": 0} for name in _reviewers(conn, queue_id)
    }
    for who, state, n in conn.execute(
        select(i.assignee, i.state, func.count())
        .where(i.queue_id == queue_id, i.assignee.is_not(None))
        .group_by(i.assignee, i.state)
    ):
        entry = per.setdefault(who, {"reviewer": who, "assigned": 0, "done": 0})
        if state in ("assigned", "done"):
            entry[state] += int(n)
    return sorted(per.values(), key=lambda e: e["reviewer"])


def _agreements(conn: Connection, criteria: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per categorical criterion and pair of reviewers who both answered some
    session: percent agreement and Cohen's kappa over those sessions."""
    s = scores_t.c
    found = []
    for criterion in criteria:
        if criterion["kind"] not in CATEGORICAL:
            continue
        answers: dict[str, dict[str, str]] = defaultdict(dict)
        for sid, who, value in conn.execute(
            select(s.session_id, s.reviewer, s.value).where(s.criterion_id == criterion["id"])
        ):
            answers[sid][who] = value
        pairs: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for per_session in answers.values():
            for a, b in combinations(sorted(per_session), 2):
                pairs[(a, b)].append((per_session[a], per_session[b]))
        for (a, b), both in sorted(pairs.items()):
            result: Agreement = agreement(both)
            found.append({"criterion": criterion, "a": a, "b": b, "result": result})
    return found


# -- scoring ---------------------------------------------------------------------------


def session_queues(session_id: str) -> list[int]:
    """The queues this session is an item of."""
    i = items_t.c
    with get_database().read() as conn:
        return list(
            conn.execute(
                select(i.queue_id).where(i.session_id == session_id).order_by(i.queue_id)
            ).scalars()
        )


def session_panel(session_id: str, queue_id: int | None) -> list[dict[str, Any]]:
    """The rubric panels of a session page: one per queue the session is in (the
    one named by ``queue_id`` first), with the criteria, this user's answers and
    everyone's."""
    me = current_actor()
    s, i = scores_t.c, items_t.c
    panels = []
    with get_database().read() as conn:
        rows = list(
            conn.execute(
                select(queues_t, i.state, i.assignee)
                .join(items_t, i.queue_id == queues_t.c.id)
                .where(i.session_id == session_id)
                .order_by(queues_t.c.name)
            )
        )
        rows.sort(key=lambda r: r.id != queue_id)
        for row in rows:
            criteria = _criteria(conn, row.id)
            if not criteria:
                continue
            given: dict[int, dict[str, str]] = defaultdict(dict)
            for cid, who, value in conn.execute(
                select(s.criterion_id, s.reviewer, s.value)
                .where(s.session_id == session_id, s.criterion_id.in_([c["id"] for c in criteria]))
                .order_by(s.reviewer)
            ):
                given[cid][who] = value
            mine = {cid: v[me] for cid, v in given.items() if me in v}
            current = next((c["id"] for c in criteria if c["id"] not in mine), None)
            panels.append(
                {
                    "queue": row,
                    "state": row.state,
                    "assignee": row.assignee,
                    "criteria": criteria,
                    "mine": mine,
                    "everyone": dict(given),
                    "current": current,
                    "member": me in _reviewers(conn, row.id) or can("admin"),
                }
            )
    return panels


def score(session_id: str, queue_id: int, criterion_id: int, value: str) -> None:
    """This reviewer's answer to one criterion for a session of the queue (again:
    replaced). It counts as work on the assignment (its expiry starts over); once
    the assignee has answered every required criterion the item is done."""
    c, i, s = criteria_t.c, items_t.c, scores_t.c
    now = _now()
    with get_database().write() as conn:
        if not session_exists(conn, session_id):
            raise UnknownSessionError(session_id)
        me = _check_member(conn, queue_id)
        row = conn.execute(
            select(criteria_t).where(c.id == criterion_id, c.queue_id == queue_id)
        ).first()
        if row is None:
            raise NotFound("This rubric has no such criterion.")
        item = conn.execute(
            select(items_t).where(i.queue_id == queue_id, i.session_id == session_id)
        ).first()
        if item is None:
            raise NotFound("This session is not in the queue.")
        text, number = check_answer(_criterion(row), value)
        conn.execute(
            delete(scores_t).where(
                s.criterion_id == criterion_id, s.session_id == session_id, s.reviewer == me
            )
        )
        conn.execute(
            insert(scores_t).values(
                criterion_id=criterion_id,
                session_id=session_id,
                reviewer=me,
                value=text,
                number=number,
                at=now,
            )
        )
        if item.state == "open":
            _assign(conn, queue_id, session_id, me, how="score")
            item = conn.execute(
                select(items_t).where(i.queue_id == queue_id, i.session_id == session_id)
            ).one()
        if item.assignee == me:
            values: dict[str, Any] = {"assigned_at": now}
            if _complete(conn, queue_id, session_id, me):
                values.update(state="done", done_at=now)
            conn.execute(
                update(items_t)
                .where(i.queue_id == queue_id, i.session_id == session_id)
                .values(**values)
            )
        excerpt = text if row.kind != "text" else text[:80]
        audit.record(
            "rubric.score",
            session_id=session_id,
            detail={"queue": queue_id, "criterion": criterion_id, "value": excerpt},
        )


def _complete(conn: Connection, queue_id: int, session_id: str, reviewer: str) -> bool:
    c, s = criteria_t.c, scores_t.c
    missing = conn.execute(
        select(func.count())
        .select_from(criteria_t)
        .where(c.queue_id == queue_id, c.required)
        .where(
            ~c.id.in_(
                select(s.criterion_id).where(
                    and_(s.session_id == session_id, s.reviewer == reviewer)
                )
            )
        )
    ).scalar_one()
    return int(missing) == 0


# -- export and import -----------------------------------------------------------------


def scores_record(session_id: str) -> list[dict[str, Any]]:
    """A session's rubric answers as an export keeps them: ``queue`` and
    ``criterion`` by name, ``kind``, ``reviewer``, ``value``, ``at``."""
    c, s = criteria_t.c, scores_t.c
    with get_database().read() as conn:
        rows = conn.execute(
            select(queues_t.c.name.label("queue"), c.label, c.kind, s.reviewer, s.value, s.at)
            .join(criteria_t, c.id == s.criterion_id)
            .join(queues_t, queues_t.c.id == c.queue_id)
            .where(s.session_id == session_id)
            .order_by(queues_t.c.name, c.position, s.reviewer)
        )
        return [
            {
                "queue": r.queue,
                "criterion": r.label,
                "kind": r.kind,
                "reviewer": r.reviewer,
                "value": r.value,
                "at": r.at,
            }
            for r in rows
        ]


def import_scores(session_id: str, scores: list[dict[str, Any]]) -> None:
    """An imported session's rubric answers (``scores_record``'s shape, ``at`` a
    datetime), each into the queue and criterion of that name here. Checked by the
    rules of :func:`score` (``QueueError``: unknown queue or criterion, a kind that
    differs, an answer it does not take); written in one transaction with one
    ``rubric.import`` audit entry. The session joins each queue as an item."""
    if not scores:
        return
    c = criteria_t.c
    with get_database().write() as conn:
        if not session_exists(conn, session_id):
            raise UnknownSessionError(session_id)
        rows = []
        seen: set[tuple[int, str]] = set()
        for entry in scores:
            queue = conn.execute(
                select(queues_t.c.id).where(queues_t.c.name == str(entry.get("queue")))
            ).first()
            if queue is None:
                raise QueueError(f"No queue is named “{entry.get('queue')}”.")
            row = conn.execute(
                select(criteria_t).where(c.queue_id == queue.id, c.label == entry.get("criterion"))
            ).first()
            if row is None or row.kind != entry.get("kind"):
                raise QueueError(
                    f"The queue “{entry.get('queue')}” has no {entry.get('kind')} criterion"
                    f" “{entry.get('criterion')}”."
                )
            reviewer = entry.get("reviewer")
            if not isinstance(reviewer, str) or params.text_problem(reviewer, 64) or not reviewer:
                raise QueueError("A score's reviewer is 1 to 64 characters.")
            if not isinstance(entry.get("at"), datetime):
                raise QueueError("A score needs its time.")
            text, number = check_answer(_criterion(row), str(entry.get("value", "")))
            if (row.id, reviewer) in seen:
                raise QueueError("A reviewer answers a criterion once.")
            seen.add((row.id, reviewer))
            rows.append(
                {
                    "criterion_id": row.id,
                    "session_id": session_id,
                    "reviewer": reviewer,
                    "value": text,
                    "number": number,
                    "at": entry["at"],
                    "queue_id": queue.id,
                }
            )
        s = scores_t.c
        for values in rows:
            queue_id = values.pop("queue_id")
            conn.execute(
                delete(scores_t).where(
                    s.criterion_id == values["criterion_id"],
                    s.session_id == session_id,
                    s.reviewer == values["reviewer"],
                )
            )
            conn.execute(insert(scores_t).values(**values))
            conn.execute(
                get_database()
                ._insert(items_t)
                .values(queue_id=queue_id, session_id=session_id, state="open", added_at=_now())
                .on_conflict_do_nothing(index_elements=[items_t.c.queue_id, items_t.c.session_id])
            )
        audit.record("rubric.import", session_id=session_id, detail={"scores": len(rows)})
