"""Rubric scores in the session list: one criterion's answers as a column, a
filter and an order.

The list's filters (:mod:`webapp.filters`) read the criterion here and hand the
read model what it picks as :class:`IdSet` and :class:`Ranking` queries over
``rubric_scores``, so the domain never names this table. This module imports
neither the filters nor the queue service (which imports the filters): no cycle.

A session's score for a criterion is the mean of its reviewers' numbers (pass 1,
fail 0, a score 1-5, a choice its label's place); it is ranked as that mean in
millionths, a whole number, computed alike on both engines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import BigInteger, ColumnElement, Table, func, select
from sqlalchemy import cast as sa_cast

from webapp.extensions import get_database
from webapp.queues.models import Criterion, Queue, Score
from webapp.sessions.queries import IdSet, Ranking

criteria_t = cast(Table, Criterion.__table__)
queues_t = cast(Table, Queue.__table__)
scores_t = cast(Table, Score.__table__)

#: A mean is ranked in millionths (a whole number on both engines).
RANK_SCALE = 1_000_000
#: The longest answer the list filters by (a choice's label is at most this long).
MAX_ANSWER = 100
#: The kinds a session's answers have a mean for (free text has no number).
NUMBERED = ("passfail", "score", "choice")
#: The kind whose mean the list filters by a range, and that range.
RANGED = "score"
LOWEST, HIGHEST = Decimal(1), Decimal(5)


@dataclass(frozen=True)
class ListCriterion:
    """A rubric criterion as the list offers it."""

    id: int
    queue: str
    label: str
    kind: str
    #: The answers it takes (none for free text).
    answers: tuple[str, ...]


#: The answers of a pass/fail criterion and of a 1-5 score, in key order.
PASS_FAIL = ("pass", "fail")
SCORES = ("1", "2", "3", "4", "5")


def answers_of(kind: str, options: str) -> list[str]:
    """The answers a criterion offers, in key order (none for free text)."""
    if kind == "passfail":
        return list(PASS_FAIL)
    if kind == "score":
        return list(SCORES)
    if kind == "choice":
        return options.split("\n") if options else []
    return []


#: Every criterion with its queue's name (the filter form reads them on every list
#: page: built once).
_CRITERIA = (
    select(
        criteria_t.c.id,
        queues_t.c.name,
        criteria_t.c.label,
        criteria_t.c.kind,
        criteria_t.c.options,
    )
    .join(queues_t, queues_t.c.id == criteria_t.c.queue_id)
    .order_by(queues_t.c.name, criteria_t.c.position, criteria_t.c.id)
)


def _criteria(criterion_id: int | None = None) -> list[ListCriterion]:
    c = criteria_t.c
    query = _CRITERIA if criterion_id is None else _CRITERIA.where(c.id == criterion_id)
    with get_database().read() as conn:
        return [
            ListCriterion(r.id, r.name, r.label, r.kind, tuple(answers_of(r.kind, r.options)))
            for r in conn.execute(query)
        ]


def find(criterion_id: int) -> ListCriterion | None:
    """The criterion with this id; None when there is none."""
    found = _criteria(criterion_id)
    return found[0] if found else None


def by_queue() -> list[tuple[str, list[ListCriterion]]]:
    """Every criterion, grouped by queue (both by name): the filter form's choices."""
    groups: dict[str, list[ListCriterion]] = defaultdict(list)
    for criterion in _criteria():
        groups[criterion.queue].append(criterion)
    return list(groups.items())


def _rank() -> ColumnElement[int]:
    """The mean of a session's numbers in millionths, rounded down: whole-number
    division on both engines (SQLite's ``/`` of integers, PostgreSQL's of bigints)."""
    s = scores_t.c
    total = sa_cast(func.sum(s.number), BigInteger) * RANK_SCALE
    return sa_cast(total // sa_cast(func.count(s.number), BigInteger), BigInteger)


def ranking(criterion_id: int, *, ascending: bool) -> Ranking:
    """The list's order by this criterion's mean score (sessions without one last),
    read from ``rubric_scores`` on its index (criterion_id, session_id, number)."""
    s = scores_t.c
    numbered = (s.criterion_id == criterion_id, s.number.is_not(None))
    query = select(s.session_id, _rank().label("rank")).where(*numbered).group_by(s.session_id)
    return Ranking(query, ascending=ascending, ids=select(s.session_id).where(*numbered))


def number_of(kind: str, answers: Sequence[str], value: str) -> int | None:
    """The number an answer (one of ``answers``) is stored with: pass 1, fail 0, a
    score its own, a choice its place from 1; None for free text. Sorts and filters
    read it on the index."""
    if kind == "passfail":
        return 1 if value == "pass" else 0
    if kind == "score":
        return int(value)
    if kind == "choice":
        return list(answers).index(value) + 1
    return None


def picked(
    criterion_id: int,
    *,
    value: str = "",
    number: int | None = None,
    low: Decimal | None = None,
    high: Decimal | None = None,
    scored: str = "",
) -> tuple[IdSet, ...]:
    """The sessions the list's score filters keep (empty: no filter): some reviewer
    answered ``value`` (given its ``number`` too, read on the index alone); the
    mean lies in ``[low, high]`` (exactly: compared as sum × 100 against bound ×
    100 × count); answered at all (``scored`` "yes") or not ("no")."""
    s = scores_t.c
    of_it = s.criterion_id == criterion_id
    found: list[IdSet] = []
    if value:
        answered = s.value == value if number is None else s.number == number
        found.append(IdSet(select(s.session_id).where(of_it, answered)))
    if low is not None or high is not None:
        having = []
        total, count = func.sum(s.number) * 100, func.count(s.number)
        if low is not None:
            having.append(total >= int(low * 100) * count)
        if high is not None:
            having.append(total <= int(high * 100) * count)
        query = (
            select(s.session_id)
            .where(of_it, s.number.is_not(None))
            .group_by(s.session_id)
            .having(*having)
        )
        found.append(IdSet(query))
    if scored:
        found.append(IdSet(select(s.session_id).where(of_it), negate=scored == "no"))
    return tuple(found)


@dataclass(frozen=True)
class Cell:
    """What the list's score column shows for one session: the score (a mean, a
    pass share, labels), how many reviewers gave it, and who said what."""

    text: str
    reviewers: int
    detail: str


def _mean(numbers: Sequence[int]) -> str:
    mean = sum(numbers) / len(numbers)
    return f"{mean:.1f}".removesuffix(".0")


def _cell(kind: str, answers: list[tuple[str, str, int | None]]) -> Cell:
    values = [value for _, value, _ in answers]
    detail = "; ".join(f"{who}: {value[:80]}" for who, value, _ in answers)
    if kind == "score":
        text = _mean([n for _, _, n in answers if n is not None])
    elif kind == "passfail":
        passes = values.count("pass")
        text = values[0] if len(set(values)) == 1 else f"{round(100 * passes / len(values))}% pass"
    elif kind == "choice":
        counts: dict[str, int] = {}
        for value in values:
            counts[value] = counts.get(value, 0) + 1
        text = ", ".join(f"{v} ×{n}" if n > 1 else v for v, n in counts.items())
    else:
        text = values[0][:60] + ("…" if len(values[0]) > 60 else "")
    return Cell(text, len(answers), detail)


def cells(criterion: ListCriterion | None, session_ids: Sequence[str]) -> dict[str, Cell]:
    """The score column of a list page: per session with an answer to the
    criterion, its cell (one read on (session_id, criterion_id))."""
    if criterion is None or not session_ids:
        return {}
    s = scores_t.c
    per: dict[str, list[tuple[str, str, int | None]]] = defaultdict(list)
    with get_database().read() as conn:
        for sid, who, value, number in conn.execute(
            select(s.session_id, s.reviewer, s.value, s.number)
            .where(s.session_id.in_(list(session_ids)), s.criterion_id == criterion.id)
            .order_by(s.session_id, s.reviewer)
        ):
            per[sid].append((who, value, number))
    return {sid: _cell(criterion.kind, answers) for sid, answers in per.items()}


def list_context(criterion_id: int | None, session_ids: Sequence[str]) -> dict[str, Any]:
    """What the list's template shows of scores (a template global: the dashboard
    imports nothing of queues): the chosen criterion, its cells and the form's
    choices of criteria, grouped by queue."""
    criterion = find(criterion_id) if criterion_id is not None else None
    return {"criterion": criterion, "cells": cells(criterion, session_ids), "groups": by_queue()}
