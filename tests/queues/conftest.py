"""The navigation's counts are kept per process: each test starts without them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fresh_counts() -> Iterator[None]:
    from webapp.queues import service

    service._counts.clear()
    yield
    service._counts.clear()


@pytest.fixture
def manager_of(app: Any, clock: Any) -> Any:
    """The app's Manager, driven by the test clock."""
    manager = app.extensions["sessionboard.manager"]
    manager.clock = clock
    return manager
