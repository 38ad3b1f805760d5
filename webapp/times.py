"""Times as pages show them: relative ("5 min ago") with the exact moment beside it.

The server writes the relative text (right without JavaScript, as of the render);
``static/app.js`` keeps it fresh and puts the exact time in the reader's zone in
the title. Both are used through :func:`time_tag` (the ``time_tag`` template global,
and the ``time`` macro in ``_partials/macros.html`` that calls it).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

#: (seconds, name, plural) from the largest; a unit is used from 3/4 of it on.
_UNITS = (
    (31_536_000, "year", "years"),
    (2_592_000, "month", "months"),
    (86_400, "day", "days"),
    (3_600, "h", "h"),
    (60, "min", "min"),
)


def relative(value: datetime, now: datetime | None = None) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``2 days ago``, ``in 6 h``: the
    largest unit that fits, rounded (``static/app.js`` writes the same words)."""
    now = now or datetime.now(UTC)
    seconds = round((value - now).total_seconds())
    size = abs(seconds)
    if size < 45:
        return "just now" if seconds <= 0 else "in a moment"
    for length, name, plural in _UNITS:
        if size >= length * 0.75 or length == 60:
            count = max(1, round(size / length))
            text = f"{count} {name if count == 1 else plural}"
            break
    return f"{text} ago" if seconds < 0 else f"in {text}"


def time_tag(value: datetime | None, now: datetime, empty: str = "never") -> Markup:
    """A time as pages show it: ``<time>`` with the moment in ``datetime``, the
    exact time in ``title`` and the relative words as text (``empty``, muted, when
    there is no time). The ``time`` macro's HTML, made in one call: a list row
    shows three (a macro call each was ~15% of a list request). The moment, the
    exact time and the words are digits, signs and this module's own words, so
    only ``empty`` needs escaping."""
    if not value:
        return Markup(f'<span class="muted">{escape(empty)}</span>')  # noqa: S704  (escaped)
    # No text from outside: see above.
    return Markup(f"{time_open(value)}{relative(value, now)}</time>")  # noqa: S704


def time_open(value: datetime) -> str:
    """``<time>``'s opening tag for ``value`` (digits and signs only): what
    :func:`time_tag` writes before the relative words and ``</time>``."""
    return _time_open(value, value.utcoffset())


@functools.lru_cache(maxsize=4096)
def _time_open(value: datetime, offset: timedelta | None) -> str:
    """``<time>``'s opening tag for ``value``, made once per moment: a list shows
    the same rows' times on every request (their formatting was a tenth of a
    list's rows). ``offset`` is part of the key because equal moments in two zones
    are equal datetimes, and ``isoformat`` writes the zone's offset."""
    return f'<time datetime="{value.isoformat()}" title="{exact(value)}" data-relative>'


def exact(value: datetime) -> str:
    """The moment to the second with its zone: ``2026-01-15 12:00:05 UTC``."""
    at = value.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d UTC" % (  # noqa: UP031  (twice strftime's speed)
        at.year, at.month, at.day, at.hour, at.minute, at.second,
    )  # fmt: skip


def describe_duration(value: timedelta) -> str:
    """``30 days``, ``12 hours``, ``5 minutes``, ``90 seconds``: the largest whole unit
    (a setting as a person reads it: retention windows, clock skew)."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{value.total_seconds():g} seconds"
