"""Reading the dashboard's URLs and forms: list filters and action fields.

Filters live in the URL (a filtered view can be bookmarked); anything malformed
is dropped rather than answered with an error, so a hand-edited URL still shows
a list.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from werkzeug.datastructures import MultiDict

from webapp.dashboard.queries import SORTS, ListFilters
from webapp.review.service import MAX_REASON_LENGTH, VERDICTS
from webapp.sessions.types import Status

STATUS_VALUES = [s.value for s in Status]
#: The choices of the "extend expiry" control, in hours.
EXTEND_HOURS = (1, 24, 24 * 7)
MAX_REASON = MAX_REASON_LENGTH
MAX_NOTE = 20_000


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def parse_filters(args: MultiDict[str, str]) -> ListFilters:
    """The list filters in a query string (``status`` may repeat)."""
    context_key, _, context_value = (args.get("context") or "").partition("=")
    sort = args.get("sort", "activity")
    return ListFilters(
        statuses=[s for s in args.getlist("status") if s in STATUS_VALUES],
        created_from=_date(args.get("from")),
        created_to=_date(args.get("to")),
        context_key=context_key.strip()[:200],
        context_value=context_value.strip(),
        text=(args.get("q") or "").strip()[:500],
        verdicts=[v for v in args.getlist("verdict") if v in VERDICTS],
        reviewer=(args.get("reviewer") or "").strip(),
        tag=(args.get("tag") or "").strip(),
        error=(args.get("error") or "")[:5000],
        sort=sort if sort in SORTS else "activity",
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
        args["context"] = f"{filters.context_key}={filters.context_value}"
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
    if filters.sort != "activity":
        args["sort"] = filters.sort
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
