"""Every model of the app, imported in one place so ``Base.metadata`` is whole
(for Alembic's autogenerate and for tests)."""

import webapp.accounts.models
import webapp.accounts.tokens
import webapp.queues.models
import webapp.review.models
import webapp.sessions.events
import webapp.sessions.search_index
import webapp.shares.models
import webapp.transfer.models
import webapp.webhooks.models  # noqa: F401
from webapp.sessions.models import (
    Base,
    IdempotencyKey,
    MessageRow,
    PurgeLogEntry,
    SessionRow,
    SweeperLease,
)

__all__ = ["Base", "IdempotencyKey", "MessageRow", "PurgeLogEntry", "SessionRow", "SweeperLease"]
