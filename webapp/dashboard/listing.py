"""The session list's rows as the page shows them, made in one pass in Python.

A list page shows 50 rows of 13 cells. Written in the template with a macro per
time, a ``url_for`` per link and a method call per lookup, the rows were most of
a ``/sessions`` request (py-spy: Jinja 40%, a third of it the ``time`` macro and
``url_for``). Here each row's cells are worked out once, and written as the
row's HTML (:attr:`ListRow.cells`, :attr:`ListRow.marks`): every text goes
through :func:`~markupsafe.escape`, as the template's autoescaping would
(Jinja's escape and attribute lookups per cell were still a fifth of a request);
the times are :class:`~markupsafe.Markup` made by :func:`webapp.times.time_tag`,
which escapes every part. The template places the row around them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import url_for
from markupsafe import Markup, escape

from webapp.dashboard.usage import run_length
from webapp.params import session_hrefs
from webapp.rendering import plain_preview
from webapp.sessions.pricing import format_usd
from webapp.sessions.queries import SessionSummary
from webapp.sessions.types import UNFINISHED_STATUSES
from webapp.times import time_tag

_UNFINISHED = frozenset(status.value for status in UNFINISHED_STATUSES)


@dataclass(frozen=True, slots=True)
class ListRow:
    """One row of the list: the session, and each cell's text."""

    row: SessionSummary
    href: str
    preview: str
    created: Markup
    activity: Markup
    #: The expiry of a session that still changes; "" for a finished one.
    expires: Markup
    #: The project's last folder ("" without a project), its whole path in ``row.project``.
    project_name: str
    model: str
    duration: str
    tokens: str
    #: "" when the session has no usage; "no price" when none of it is priced.
    cost: str
    verdict: str
    tags: Sequence[str]
    children: int

    @property
    def cells(self) -> Markup:
        """The cells from the status to the message count, as the page writes them."""
        row, href = self.row, escape(self.href)
        parent = (
            f'<span class="chip" title="started by session {escape(row.parent_id)}">subagent'
            "</span> "
            if row.parent_id
            else ""
        )
        children = ""
        if self.children:
            plural = "s" if self.children != 1 else ""
            children = (
                f' <a class="chip subagent-count" '
                f'href="{escape(url_for("dashboard.sessions", parent=row.id))}">'
                f"{self.children} subagent{plural}</a>"
            )
        project = f' title="{escape(row.project)}"' if row.project else ""
        status = escape(row.status)
        # Every text is escaped above or here; the times are escaped Markup.
        return Markup(  # noqa: S704
            f'<td data-cell="status"><span id="badge-{escape(row.id)}" class="badge '
            f's-{status}">{status}</span></td>\n        '
            f'<td class="request" data-cell="request">{parent}<a class="preview" '
            f'href="{href}" title="{escape(self.preview)}">'
            f"{escape(self.preview or '(no request)')}</a>{children}</td>\n        "
            f"<td>{self.created}</td>\n        "
            f'<td data-cell="time">{self.activity}</td>\n        '
            f'<td class="col-project"{project}>{escape(self.project_name)}</td>\n        '
            f'<td class="col-model">{escape(self.model)}</td>\n        '
            f'<td class="num col-duration">{escape(self.duration)}</td>\n        '
            f'<td class="num col-tokens">{escape(self.tokens)}</td>\n        '
            f'<td class="num col-cost">{escape(self.cost)}</td>\n        '
            f'<td class="col-expires">{self.expires}</td>\n        '
            f'<td class="num col-messages">{row.message_count}</td>'
        )

    @property
    def marks(self) -> Markup:
        """The verdict and tags cells, as the page writes them."""
        verdict = escape(self.verdict)
        tags = "".join(f'<span class="tag">{escape(tag)}</span> ' for tag in self.tags)
        # Every text is escaped here.
        return Markup(  # noqa: S704
            (f'<td data-cell="extra"><span class="verdict v-{verdict}">{verdict}</span></td>'
             if verdict else "<td></td>")
            + "\n        "
            + (f'<td data-cell="extra">{tags}</td>' if self.tags else "<td></td>")
        )  # fmt: skip


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
    id); each request excerpt as one line of plain text (:func:`plain_preview`)."""
    hrefs = session_hrefs([row.id for row in rows])
    made = []
    for row in rows:
        note = annotations.get(row.id, {})
        project = row.project.rstrip("/").rsplit("/", 1)[-1] if row.project else ""
        cost = ""
        if row.id in models:
            cost = format_usd(row.cost_nanos) if row.cost_nanos else "no price"
        made.append(
            ListRow(
                row=row,
                href=hrefs[row.id],
                preview=plain_preview(row.request_excerpt),
                created=time_tag(row.created_at, now),
                activity=time_tag(row.last_activity, now),
                expires=time_tag(row.expires_at, now) if row.status in _UNFINISHED else Markup(),
                project_name=project,
                model=models.get(row.id, ""),
                duration=run_length(row.duration),
                tokens=f"{row.total_tokens:,}",
                cost=cost,
                verdict=note.get("verdict") or "",
                tags=note.get("tags") or (),
                children=child_counts.get(row.id, 0),
            )
        )
    return made
