"""The inbox's rows as the page shows them, written in Python and kept.

Through the template, 50 rows (a macro for each status badge, the request's
preview filter, the creation time) cost 0.64 ms of CPU, a tenth of an inbox
request. As for the session list (``webapp/dashboard/listing.py``), each row's
HTML is written once per row as shown (:func:`_written`, :data:`WRITTEN_ROWS`
kept: an inbox row is a frozen dataclass, so a changed session is another key)
and only the relative words of its creation time are added per request. Every
text goes through :func:`~markupsafe.escape`, as the template's autoescaping
would; the time's tag is :func:`webapp.times.time_open` and
:func:`webapp.times.relative`'s words, digits and this app's own words.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime

from markupsafe import Markup, escape

from webapp.badges import status_badge
from webapp.rendering import plain_preview
from webapp.sessions.queries import InboxRow
from webapp.times import relative, time_open

#: How many rows a process keeps written (a page shows 50).
WRITTEN_ROWS = 1024


@functools.lru_cache(maxsize=WRITTEN_ROWS)
def _written(row: InboxRow, href: str) -> str:
    """The row's HTML up to its creation time's relative words (all escaped)."""
    link = escape(href)
    preview = escape(plain_preview(row.request_excerpt) or row.id)
    return (
        f'<tr data-href="{link}" class="inbox-row">\n'
        f'  <td data-cell="status">{status_badge(row.status)}</td>\n'
        f'  <td data-cell="request"><a class="preview" href="{link}">{preview}</a></td>\n'
        f"  <td>{row.message_count}</td>\n"
        f'  <td data-cell="time">{time_open(row.created_at)}'
    )


def inbox_rows(rows: Sequence[InboxRow], hrefs: Mapping[str, str], now: datetime) -> list[Markup]:
    """Each of ``rows`` as its ``<tr>``, linking to ``hrefs[row.id]``, its time's
    words as of ``now``."""
    return [
        # Escaped when written; the relative words are this app's own.
        Markup(f"{_written(row, hrefs[row.id])}{relative(row.created_at, now)}</time></td>\n</tr>")  # noqa: S704
        for row in rows
    ]
