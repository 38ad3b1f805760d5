"""Reading the dashboard's URLs and forms: list filters and action fields.

Filters live in the URL (a filtered view can be bookmarked); each parameter is
read by the rules of :mod:`webapp.params`, so a malformed one is a 400
that says what is wrong, not a database error and not a silently different list.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from werkzeug.datastructures import MultiDict

from webapp import params
from webapp.dashboard.queries import SORTS, Cursor, ListFilters
from webapp.params import BadParameter
from webapp.review.service import MAX_REASON_LENGTH, VERDICTS
from webapp.sessions.search import MAX_QUERY_CHARS as MAX_SEARCH
from webapp.sessions.types import Status

STATUS_VALUES = [s.value for s in Status]
#: The choices of the "extend expiry" control, in hours.
EXTEND_HOURS = (1, 24, 24 * 7)
MAX_REASON = MAX_REASON_LENGTH
MAX_NOTE = 20_000
#: Limits of the list's text filters, in characters.
MAX_CONTEXT_KEY = 200
MAX_ERROR = 5_000


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


#: The longest model or project name a filter takes.
MAX_LABEL = 500


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


def parse_cursor(args: MultiDict[str, str], name: str) -> Cursor | None:
    """A list page's cursor (``older`` or ``newer``); None when not given."""
    raw = params.text(args, name, 100)
    if not raw:
        return None
    cursor = Cursor.decode(raw)
    if cursor is None:
        raise BadParameter(name, "is not a page position this list gave out")
    return cursor


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


def parse_expiry(form: MultiDict[str, str], now: datetime, current: datetime | None) -> Any:
    """The new ``expires_at`` an expiry form asks for: None for "never", a time
    ``hours`` later than the current expiry (or now, whichever is later), or
    ``...`` (Ellipsis) when the form is invalid."""
    if form.get("never"):
        return None
    try:
        hours = int(form.get("hours", ""))
    except ValueError:
        return ...
    if hours not in EXTEND_HOURS:
        return ...
    base = max(current, now) if current is not None else now
    return base + timedelta(hours=hours)
