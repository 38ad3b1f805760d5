"""What the dashboard asks of the read model (``webapp.sessions.queries``): the
list's filters as the URL gives them, in the read model's terms, and the few
things only a page needs (where its charts begin, what it says about retention).

Every read goes through :func:`webapp.extensions.get_queries`; nothing here
builds SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from webapp.dashboard.charts import duration_label
from webapp.extensions import get_manager, get_queries
from webapp.review import service as review
from webapp.sessions.queries import Keyset, Page, SessionFilter, SessionSummary, Sort, day_range
from webapp.sessions.stats import DURATION_BUCKETS as DURATION_BUCKETS
from webapp.sessions.stats import MESSAGE_BUCKETS as MESSAGE_BUCKETS
from webapp.sessions.types import Session

PAGE_SIZE = 50
SORTS = tuple(s.value for s in Sort)
#: A list page's position; the read model's keyset position.
Cursor = Keyset


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


def list_sessions(
    filters: ListFilters,
    *,
    older: Keyset | None = None,
    newer: Keyset | None = None,
    limit: int = PAGE_SIZE,
) -> Page[SessionSummary]:
    """A page of the list, newest first by the chosen sort."""
    return get_queries().list_sessions(
        filters.to_filter(), sort=Sort(filters.sort), older=older, newer=newer, limit=limit
    )


def chart_start(now: datetime, days: int = 30) -> datetime:
    """Midnight UTC starting the last ``days`` days: where every chart begins."""
    return datetime.combine((now - timedelta(days=days - 1)).date(), time(), UTC)


@dataclass(frozen=True)
class RetentionNotice:
    """When retention purges a session's messages: never (``kept``), or from
    ``oldest_goes`` on, when its oldest message falls out of the window (None
    without messages; ``overdue`` once that has passed and the next sweep takes it)."""

    window: str
    kept: bool = False
    oldest_goes: datetime | None = None
    overdue: bool = False


def retention_notice(session: Session) -> RetentionNotice | None:
    """What the session page says about retention; None when retention is off."""
    manager = get_manager()
    window = manager.config.message_retention
    if window <= timedelta(0):
        return None
    label = duration_label(int(window.total_seconds()))
    if session.keep:
        return RetentionNotice(label, kept=True)
    oldest = get_queries().oldest_message_time(session.id)
    if oldest is None:
        return RetentionNotice(label)
    goes = oldest + window
    return RetentionNotice(label, oldest_goes=goes, overdue=goes <= manager.clock())
