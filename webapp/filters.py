"""A session list's filters as a URL gives them: parsed (a malformed parameter is a
400 that names it, by the rules of :mod:`webapp.params`), written back as query
arguments, and turned into the read model's :class:`SessionFilter`.

The dashboard's list and search read them, and saved views and queues keep them;
this module is the one place that knows the names (``status``, ``from``, ``to``,
``context``, ``q``, ``verdict``, ``reviewer``, ``tag``, ``error``, ``model``,
``project``, ``sort``, ``subagents``, ``parent``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from werkzeug.datastructures import MultiDict

from webapp import params
from webapp.params import BadParameter
from webapp.review import service as review
from webapp.review.service import VERDICTS
from webapp.sessions.queries import SessionFilter, Sort, day_range
from webapp.sessions.search import MAX_QUERY_CHARS as MAX_SEARCH
from webapp.sessions.types import Status

SORTS = tuple(s.value for s in Sort)
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
            ),
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


def parse_filters(args: MultiDict[str, str]) -> ListFilters:
    """The list filters in a query string (``status`` and ``verdict`` may repeat)."""
    context_key, context_value = parse_context(args)
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
        sort=params.choice(args, "sort", SORTS, "activity"),
        subagents=params.choice(args, "subagents", ("0", "1"), "0") == "1",
        parent=params.session_id(args, "parent") or "",
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
    return args
