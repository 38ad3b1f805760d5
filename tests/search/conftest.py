"""Fixtures of the search tests: a store whose database has the search index."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import api, tokens  # noqa: F401  (the API's fixtures, for test_api)
from webapp.sessions import Config, Manager, MessageStore
from webapp.sessions.search import Search
from webapp.sessions.search_index import install, keep_fts_current

from ..conftest import FakeClock


@pytest.fixture
def indexed_store(store: MessageStore) -> MessageStore:
    """``store`` with the search index installed (a no-op once the migration has)."""
    with store.write() as conn:
        install(conn)
    keep_fts_current(store.engine)
    return store


@pytest.fixture
def search(indexed_store: MessageStore) -> Search:
    """The searches over the test's store."""
    return Search(indexed_store)


@pytest.fixture
def board(indexed_store: MessageStore, clock: FakeClock) -> Iterator[Manager]:
    """A Manager over the indexed store, driven by ``clock``, that keeps messages
    for ever (no retention)."""
    m = Manager(
        Config(message_retention=Config().message_retention * 0), indexed_store, clock=clock
    )
    yield m
    m.stop()
