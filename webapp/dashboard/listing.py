"""The session list's rows as the page shows them, made in Python and kept.

A list page shows 50 rows of 13 cells. Written in the template with a macro per
time, a ``url_for`` per link and a method call per lookup, the rows were most of
a ``/sessions`` request (py-spy: Jinja 40%, a third of it the ``time`` macro and
``url_for``). Here each row's cells are written as the row's HTML
(:attr:`ListRow.cells`, :attr:`ListRow.marks`): every text goes through
:func:`~markupsafe.escape`, as the template's autoescaping would; the times'
tags are :func:`webapp.times.time_open` and the relative words of
:func:`webapp.times.relative`, digits and this app's own words. A list shows the
same rows from request to request, so a row's HTML is written once per row as
shown (:func:`_write`, :data:`WRITTEN_ROWS` kept) and only the relative words of
its times are added per request. The template places the row around them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import url_for
from markupsafe import Markup, escape

from webapp.badges import status_badge
from webapp.dashboard.usage import run_length
from webapp.params import session_hrefs
from webapp.rendering import plain_preview
from webapp.sessions.pricing import format_usd
from webapp.sessions.queries import SessionSummary
from webapp.sessions.types import UNFINISHED_STATUSES
from webapp.times import relative, time_open, time_tag

_UNFINISHED = frozenset(status.value for status in UNFINISHED_STATUSES)

#: How many rows a process keeps written (about 2 KB each with their key): a
#: list shows the same rows from request to request; a row that changed is a
#: new key, and the least recently used go first.
WRITTEN_ROWS = 1024


@dataclass(frozen=True, slots=True)
class ListRow:
    """One row of the list: the session, its page's URL, and its cells' HTML."""

    row: SessionSummary
    href: str
    #: The cells from the status to the message count, as the page writes them.
    cells: Markup
    #: The verdict and tags cells.
    marks: Markup


@dataclass(frozen=True, slots=True)
class _Written:
    """A row's cells but for the relative words of its times: ``pieces`` are the
    HTML around ``moments`` (one piece more than moments), ``marks`` its verdict
    and tags cells. Every text in them is escaped (see :func:`_write`)."""

    pieces: tuple[str, ...]
    moments: tuple[datetime, ...]
    marks: Markup

    def cells(self, now: datetime) -> Markup:
        """The cells with each time's relative words as of ``now``."""
        parts = [self.pieces[0]]
        for moment, piece in zip(self.moments, self.pieces[1:], strict=True):
            parts.append(relative(moment, now))
            parts.append(piece)
        # Escaped when written; the relative words are this app's own.
        return Markup("".join(parts))  # noqa: S704


@functools.lru_cache(maxsize=WRITTEN_ROWS)
def _write(
    row: SessionSummary,
    href: str,
    model: str | None,
    children: int,
    children_href: str,
    verdict: str,
    tags: tuple[str, ...],
) -> _Written:
    """The HTML of a row's cells, made once per row as shown: everything it
    shows is in the key (the row is a frozen dataclass: a changed session is
    another key; the read model's times are all UTC, so equal moments write
    equal tags) but the relative words of its times, which
    :meth:`_Written.cells` adds per request. ``model`` is None for a session
    without usage. Every text goes through :func:`~markupsafe.escape`."""
    preview = plain_preview(row.request_excerpt)
    project_name = row.project.rstrip("/").rsplit("/", 1)[-1] if row.project else ""
    cost = ""
    if model is not None:
        cost = format_usd(row.cost_nanos) if row.cost_nanos else "no price"
    parent = (
        f'<span class="chip" title="started by session {escape(row.parent_id)}">subagent'
        "</span> "
        if row.parent_id
        else ""
    )
    child_link = ""
    if children:
        plural = "s" if children != 1 else ""
        child_link = (
            f' <a class="chip subagent-count" href="{escape(children_href)}">'
            f"{children} subagent{plural}</a>"
        )
    project = f' title="{escape(row.project)}"' if row.project else ""
    nl = "\n        "
    pieces = [
        f'<td data-cell="status">{status_badge(row.status, f"badge-{row.id}")}</td>{nl}'
        f'<td class="request" data-cell="request">{parent}<a class="preview" '
        f'href="{escape(href)}" title="{escape(preview)}">'
        f"{escape(preview or '(no request)')}</a>{child_link}</td>{nl}"
        f"<td>{time_open(row.created_at)}",
        f'</time></td>{nl}<td data-cell="time">{time_open(row.last_activity)}',
    ]
    moments = [row.created_at, row.last_activity]
    after_activity = (
        f'</time></td>{nl}<td class="col-project"{project}>{escape(project_name)}</td>{nl}'
        f'<td class="col-model">{escape(model or "")}</td>{nl}'
        f'<td class="num col-duration">{escape(run_length(row.duration))}</td>{nl}'
        f'<td class="num col-tokens">{row.total_tokens:,}</td>{nl}'
        f'<td class="num col-cost">{escape(cost)}</td>{nl}'
        '<td class="col-expires">'
    )
    last = f'</td>{nl}<td class="num col-messages">{row.message_count}</td>'
    if row.status in _UNFINISHED and row.expires_at:
        pieces.append(after_activity + time_open(row.expires_at))
        moments.append(row.expires_at)
        pieces.append("</time>" + last)
    elif row.status in _UNFINISHED:
        pieces.append(f"{after_activity}{time_tag(None, row.last_activity)}{last}")
    else:
        pieces.append(after_activity + last)
    escaped = escape(verdict)
    marks = "".join(f'<span class="tag">{escape(tag)}</span> ' for tag in tags)
    # Every text is escaped here.
    written_marks = Markup(  # noqa: S704
        (f'<td data-cell="extra"><span class="verdict v-{escaped}">{escaped}</span></td>'
         if verdict else "<td></td>")
        + "\n        "
        + (f'<td data-cell="extra">{marks}</td>' if tags else "<td></td>")
    )  # fmt: skip
    return _Written(tuple(pieces), tuple(moments), written_marks)


def list_rows(
    rows: Sequence[SessionSummary],
    *,
    now: datetime,
    annotations: Mapping[str, Mapping[str, Any]],
    models: Mapping[str, str],
    child_counts: Mapping[str, int],
) -> list[ListRow]:
    """The cells of ``rows``: ``annotations`` (verdict and tags per id), ``models``
    (the main model of each session with usage), ``child_counts`` (subagents per
    id); each request excerpt as one line of plain text (:func:`plain_preview`).
    A row's HTML is written once (:func:`_write`) and its times' words each time."""
    hrefs = session_hrefs([row.id for row in rows])
    made = []
    for row in rows:
        note = annotations.get(row.id, {})
        children = child_counts.get(row.id, 0)
        href = hrefs[row.id]
        written = _write(
            row,
            href,
            models.get(row.id),
            children,
            url_for("dashboard.sessions", parent=row.id) if children else "",
            note.get("verdict") or "",
            tuple(note.get("tags") or ()),
        )
        made.append(ListRow(row, href, written.cells(now), written.marks))
    return made
