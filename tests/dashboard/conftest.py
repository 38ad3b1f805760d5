"""Helpers for the dashboard's HTTP tests: a Manager bound to the app, a factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from webapp.sessions import Manager, Message, Session, Status


@pytest.fixture
def app_manager(app: Any, clock: Any) -> Manager:
    """The Manager of ``app`` (its store is the app's database), driven by ``clock``."""
    manager: Manager = app.extensions["sessionboard.manager"]
    manager.clock = clock
    return manager


@pytest.fixture
def make_session(app_manager: Manager) -> Callable[..., Session]:
    """``make_session(status="running", request=..., messages=[...], **create_kw)``."""

    def make(
        status: str = "running",
        request: str = "Fix the build",
        *,
        messages: list[Message] | None = None,
        error: str = "failed",
        created_at: datetime | None = None,
        **kwargs: Any,
    ) -> Session:
        if created_at is not None:
            kwargs.setdefault("expires_at", None)  # else it may be past its expiry already
        session = app_manager.create(request, created_at=created_at, **kwargs)
        if messages:
            app_manager.store.append_messages(
                session.id, messages, now=app_manager.clock(), require_open=False
            )
        if status != "pending":
            app_manager.set_running(session.id)
        if status == Status.COMPLETED:
            app_manager.set_completed(session.id, "done")
        elif status == Status.FAILED:
            app_manager.set_failed(session.id, error)
        elif status == Status.CLOSED:
            app_manager.close(session.id)
        got = app_manager.get(session.id)
        assert got is not None
        return got

    return make
