"""Reading the dashboard's URLs and forms: list cursors and action fields (the list
filters are :mod:`webapp.filters`, re-exported here).

Filters live in the URL (a filtered view can be bookmarked); each parameter is
read by the rules of :mod:`webapp.params`, so a malformed one is a 400
that says what is wrong, not a database error and not a silently different list.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from werkzeug.datastructures import MultiDict

from webapp import params
from webapp.dashboard.queries import Cursor
from webapp.filters import STATUS_VALUES as STATUS_VALUES
from webapp.filters import filter_args as filter_args
from webapp.filters import parse_context as parse_context
from webapp.filters import parse_filters as parse_filters
from webapp.params import BadParameter
from webapp.review.service import MAX_REASON_LENGTH

#: The choices of the "extend expiry" control, in hours.
EXTEND_HOURS = (1, 24, 24 * 7)
MAX_REASON = MAX_REASON_LENGTH
MAX_NOTE = 20_000


def parse_cursor(args: MultiDict[str, str], name: str) -> Cursor | None:
    """A list page's cursor (``older`` or ``newer``); None when not given."""
    raw = params.text(args, name, 100)
    if not raw:
        return None
    cursor = Cursor.decode(raw)
    if cursor is None:
        raise BadParameter(name, "is not a page position this list gave out")
    return cursor


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
