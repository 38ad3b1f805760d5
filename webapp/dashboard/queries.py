"""What the dashboard asks of the read model (``webapp.sessions.queries``): the
list's filters as the URL gives them, in the read model's terms, and the few
things only a page needs (where its charts begin, what it says about retention).

Every read goes through :func:`webapp.extensions.get_queries`; nothing here
builds SQL.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flask import current_app

from webapp.dashboard.charts import duration_label
from webapp.extensions import get_manager, get_queries
from webapp.filters import SORTS as SORTS
from webapp.filters import ListFilters as ListFilters
from webapp.sessions.queries import Keyset, Page, SessionSummary
from webapp.sessions.stats import DURATION_BUCKETS as DURATION_BUCKETS
from webapp.sessions.stats import MESSAGE_BUCKETS as MESSAGE_BUCKETS
from webapp.sessions.types import Session
from webapp.sessions.usage import Dimension

PAGE_SIZE = 50
#: A list page's position; the read model's keyset position.
Cursor = Keyset


def list_sessions(
    filters: ListFilters,
    *,
    older: Keyset | None = None,
    newer: Keyset | None = None,
    limit: int = PAGE_SIZE,
) -> Page[SessionSummary]:
    """A page of the list, newest first by the chosen sort (or by a rubric score)."""
    return get_queries().list_sessions(
        filters.to_filter(),
        sort=filters.read_sort(),
        older=older,
        newer=newer,
        limit=limit,
        ranking=filters.ranking(),
    )


#: How long a process shows the same models in the list's filter form (seconds).
MODEL_CHOICES_SECONDS = 10.0


def model_choices() -> list[str]:
    """The models the list's filter form offers: every model the usage ledger has
    counted, read at most once per :data:`MODEL_CHOICES_SECONDS` per process (a
    ``DISTINCT`` over the usage rollups was a tenth of a list page's CPU, and the
    choices change when a new model is first used). A model first used since
    shows in the form up to that long after; the filter itself takes any model
    from the URL meanwhile."""
    kept: dict[str, tuple[float, list[str]]] = current_app.extensions.setdefault(
        "sessionboard.model_choices", {}
    )
    now = clock.monotonic()
    read_at, models = kept.get("models", (-MODEL_CHOICES_SECONDS, []))
    if now - read_at >= MODEL_CHOICES_SECONDS:
        models = get_queries().usage_keys(Dimension.MODEL)
        kept["models"] = (now, models)
    return models


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
