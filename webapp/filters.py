"""A session list's filters as a URL gives them: parsed (a malformed parameter is a
400 that names it, by the rules of :mod:`webapp.params`), written back as query
arguments, and turned into the read model's :class:`SessionFilter`.

The dashboard's list and search read them, and saved views and queues keep them;
this module is the one place that knows the names (``status``, ``from``, ``to``,
``context``, ``q``, ``verdict``, ``reviewer``, ``tag``, ``error``, ``model``,
``project``, ``sort``, ``subagents``, ``parent``, and the rubric score's ``score``,
``score_value``, ``score_min``, ``score_max``, ``scored``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from werkzeug.datastructures import MultiDict

from webapp import params
from webapp.params import BadParameter
from webapp.queues import scores
from webapp.review import service as review
from webapp.review.service import VERDICTS
from webapp.sessions.queries import IdSet, Keyset, Ranking, SessionFilter, Sort, day_range
from webapp.sessions.search import MAX_QUERY_CHARS as MAX_SEARCH
from webapp.sessions.types import Status

#: The list's orders by the chosen rubric criterion's score (``score``).
SCORE_SORTS = ("score", "score_asc")
SORTS = (*(s.value for s in Sort), *SCORE_SORTS)
#: ``scored``: sessions with an answer to the criterion, or without one.
SCORED = ("yes", "no")
#: A bound of a mean score: 1 to 5, at most two decimals.
_BOUND = re.compile(r"[0-9](\.[0-9]{1,2})?")
STATUS_VALUES = [s.value for s in Status]
#: Limits of the list's text filters, in characters.
MAX_CONTEXT_KEY = 200
MAX_ERROR = 5_000
#: The longest model or project name a filter takes.
MAX_LABEL = 500


@dataclass
class ListFilters:
    """What the list shows, exactly as the URL says it (see ``forms.parse_filters``)."""

    statuses: list[str] = field(default_factory=list)
    created_from: date | None = None
    created_to: date | None = None
    context_key: str = ""
    #: None: sessions that have ``context_key``, whatever its value.
    context_value: str | None = None
    text: str = ""
    verdicts: list[str] = field(default_factory=list)
    reviewer: str = ""
    tag: str = ""
    error: str = ""
    model: str = ""
    project: str = ""
    sort: str = "activity"
    #: Subagent sessions listed too (by default they sit under their parent).
    subagents: bool = False
    #: Only the subagents of this session.
    parent: str = ""
    #: The rubric criterion whose scores the list shows, filters and sorts by.
    score: int | None = None
    #: Sessions some reviewer gave this answer to ``score``.
    score_value: str = ""
    #: Sessions whose mean score on ``score`` lies in these bounds (inclusive).
    score_min: Decimal | None = None
    score_max: Decimal | None = None
    #: "yes": sessions with an answer to ``score``; "no": without one.
    scored: str = ""
    #: ``score_value`` as the number it is stored with (not in the URL; None: unknown).
    score_number: int | None = None

    def ranking(self) -> Ranking | None:
        """The read model's order for a sort by score (None for the other sorts)."""
        if self.sort not in SCORE_SORTS or self.score is None:
            return None
        return scores.ranking(self.score, ascending=self.sort == "score_asc")

    def read_sort(self) -> Sort:
        """The read model's sort (a sort by score: its unscored rest's, by activity)."""
        return Sort.ACTIVITY if self.sort in SCORE_SORTS else Sort(self.sort)

    def fits(self, position: Keyset) -> bool:
        """Whether a page position belongs to this list's order (a sort by score
        has both kinds: a rank, then times)."""
        return self.sort in SCORE_SORTS or position.fits(Sort(self.sort))

    def to_filter(self) -> SessionFilter:
        """The read model's filter: days of creation as a time range, review filters
        as the review feature's sets of sessions."""
        first, last = (
            datetime.combine(d, time(), UTC) if d else None
            for d in (self.created_from, self.created_to)
        )
        created_from, created_before = day_range(first, last)
        return SessionFilter(
            statuses=tuple(self.statuses),
            created_from=created_from,
            created_before=created_before,
            context_key=self.context_key,
            context_value=self.context_value,
            text=self.text,
            error=self.error,
            top_level=not self.subagents and not self.parent,
            parent_id=self.parent,
            model=self.model,
            project=self.project,
            within=review.session_filter(
                self.verdicts or None, self.reviewer or None, self.tag or None
            )
            + self._score_filter(),
        )

    def _score_filter(self) -> tuple[IdSet, ...]:
        if self.score is None:
            return ()
        return scores.picked(
            self.score,
            value=self.score_value,
            number=self.score_number,
            low=self.score_min,
            high=self.score_max,
            scored=self.scored,
        )


def parse_context(args: MultiDict[str, str]) -> tuple[str, str | None]:
    """The ``context`` filter: ``key=value`` (a key and its wanted text value) or
    ``key`` alone (sessions that have the key: value None); ``("", None)`` when not given."""
    raw = params.text(args, "context", MAX_CONTEXT_KEY + 1 + params.MAX_TEXT)
    if not raw:
        return "", None
    key, equals, value = raw.partition("=")
    key, value = key.strip(), value.strip()
    if not key:
        raise BadParameter("context", "must be key=value or a key alone, like model=opus or model")
    if len(key) > MAX_CONTEXT_KEY or len(value) > params.MAX_TEXT:
        raise BadParameter(
            "context", f"takes a key of at most {MAX_CONTEXT_KEY} characters and a value of"
            f" at most {params.MAX_TEXT}"
        )  # fmt: skip
    return key, (value if equals and value else None)


def _bound(args: MultiDict[str, str], name: str) -> Decimal | None:
    raw = params.text(args, name, 10)
    if not raw:
        return None
    if not _BOUND.fullmatch(raw) or not scores.LOWEST <= Decimal(raw) <= scores.HIGHEST:
        raise BadParameter(
            name, f"must be a mean score from {scores.LOWEST} to {scores.HIGHEST}, like 3 or 3.5"
        )
    return Decimal(raw)


def parse_score(args: MultiDict[str, str], sort: str, *, stored: bool = False) -> dict[str, Any]:
    """The score filters (``score``, ``score_value``, ``score_min``, ``score_max``,
    ``scored``) checked against the criterion: it must exist (unless ``stored``: a
    saved view keeps a criterion removed since, and then matches no score), and
    take the answer, the range or the sort asked of it."""
    found: dict[str, Any] = {
        "score": params.integer(args, "score"),
        "score_value": params.text(args, "score_value", scores.MAX_ANSWER),
        "score_min": _bound(args, "score_min"),
        "score_max": _bound(args, "score_max"),
        "scored": params.choice(args, "scored", SCORED, ""),
    }
    criterion_id = found["score"]
    wanted = [k for k in ("score_value", "score_min", "score_max", "scored") if found[k]]
    if sort in SCORE_SORTS:
        wanted.append("sort")
    if criterion_id is None:
        if wanted:
            raise BadParameter(wanted[0], "needs a rubric criterion to go by (score=<its id>)")
        return found
    criterion = scores.find(criterion_id)
    if criterion is None:
        if stored:
            return found
        raise BadParameter("score", "is no rubric criterion's id")
    if found["score_value"] and found["score_value"] not in criterion.answers:
        raise BadParameter(
            "score_value",
            f"must be an answer “{criterion.label}” takes: {', '.join(criterion.answers)}"
            if criterion.answers else f"cannot filter “{criterion.label}” (free text)",
        )  # fmt: skip
    ranged = found["score_min"] is not None or found["score_max"] is not None
    if ranged and criterion.kind != scores.RANGED:
        raise BadParameter("score_min" if found["score_min"] else "score_max",
                           f"bounds a 1-5 score, and “{criterion.label}” is not one")  # fmt: skip
    low, high = found["score_min"], found["score_max"]
    if low is not None and high is not None and low > high:
        raise BadParameter("score_min", "is more than score_max")
    if sort in SCORE_SORTS and criterion.kind not in scores.NUMBERED:
        raise BadParameter("sort", f"cannot order by “{criterion.label}” (free text)")
    if found["score_value"]:
        found["score_number"] = scores.number_of(
            criterion.kind, criterion.answers, found["score_value"]
        )
    return found


def parse_filters(args: MultiDict[str, str], *, stored: bool = False) -> ListFilters:
    """The list filters in a query string (``status`` and ``verdict`` may repeat);
    ``stored``: a saved view's (see :func:`parse_score`)."""
    context_key, context_value = parse_context(args)
    sort = params.choice(args, "sort", SORTS, "activity")
    return ListFilters(
        statuses=params.choices(args, "status", STATUS_VALUES),
        created_from=params.day(args, "from"),
        created_to=params.day(args, "to"),
        context_key=context_key,
        context_value=context_value,
        text=params.text(args, "q", MAX_SEARCH),
        verdicts=params.choices(args, "verdict", VERDICTS),
        reviewer=params.text(args, "reviewer"),
        tag=params.text(args, "tag"),
        error=params.checked_text(args.get("error", ""), "error", MAX_ERROR),
        model=params.text(args, "model", MAX_LABEL),
        project=params.text(args, "project", MAX_LABEL),
        sort=sort,
        subagents=params.choice(args, "subagents", ("0", "1"), "0") == "1",
        parent=params.session_id(args, "parent") or "",
        **parse_score(args, sort, stored=stored),
    )


def filter_args(filters: ListFilters) -> dict[str, Any]:
    """The query-string arguments that reproduce ``filters`` (for links)."""
    args: dict[str, Any] = {}
    if filters.statuses:
        args["status"] = filters.statuses
    if filters.created_from:
        args["from"] = filters.created_from.isoformat()
    if filters.created_to:
        args["to"] = filters.created_to.isoformat()
    if filters.context_key:
        args["context"] = filters.context_key + (
            "" if filters.context_value is None else f"={filters.context_value}"
        )
    if filters.text:
        args["q"] = filters.text
    if filters.verdicts:
        args["verdict"] = filters.verdicts
    if filters.reviewer:
        args["reviewer"] = filters.reviewer
    if filters.tag:
        args["tag"] = filters.tag
    if filters.error:
        args["error"] = filters.error
    if filters.model:
        args["model"] = filters.model
    if filters.project:
        args["project"] = filters.project
    if filters.sort != "activity":
        args["sort"] = filters.sort
    if filters.subagents:
        args["subagents"] = "1"
    if filters.parent:
        args["parent"] = filters.parent
    if filters.score is not None:
        args["score"] = str(filters.score)
    if filters.score_value:
        args["score_value"] = filters.score_value
    for name, bound in (("score_min", filters.score_min), ("score_max", filters.score_max)):
        if bound is not None:
            args[name] = str(bound)
    if filters.scored:
        args["scored"] = filters.scored
    return args
