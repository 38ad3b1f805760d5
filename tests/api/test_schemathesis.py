"""Schemathesis against the WSGI app: generated requests (valid and invalid, ingest
and admin tokens, unknown ids and a live session's id) never get a 5xx, and every
answer matches the OpenAPI document (status, content type, headers, schema)."""

from __future__ import annotations

import os
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.api.conftest import Tokens
from webapp.api.payloads import encode_cursor
from webapp.sessions.search import parse

#: At least this many requests are sent.
MIN_REQUESTS = 500
IN_CI = os.environ.get("CI", "").lower() == "true"

_moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_ids = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=40)


def _recent_moment(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


#: Timestamps the API takes depend on the clock: a message's must lie between the
#: retention window's start and now + CLOCK_SKEW (its schema's description says so).
_recent = st.builds(
    _recent_moment,
    st.datetimes(
        min_value=datetime.now() - timedelta(days=1),  # noqa: DTZ005  (naive bounds)
        max_value=datetime.now() + timedelta(minutes=1),  # noqa: DTZ005
        timezones=st.just(UTC),
    ),
)


#: What a person types into a search: any text the query language takes (the
#: refused ones, too long, NUL, an unknown ``in:``, are tested in tests/search).
_search_queries = st.text(min_size=1, max_size=80).filter(lambda t: not parse(t).is_empty)


@pytest.fixture(scope="module", autouse=True)
def cursor_formats() -> Any:
    """Cursors are opaque: tell schemathesis how to make real ones; and make the
    date-times it sends recent ones (see ``_recent``)."""
    schemathesis.openapi.format(
        "sessions-cursor", st.builds(encode_cursor, st.just("sessions"), _moments, _ids)
    )
    schemathesis.openapi.format(
        "messages-cursor",
        st.builds(encode_cursor, st.just("messages"), _moments, st.integers(0, 2**62)),
    )
    schemathesis.openapi.format(
        "search-cursor",
        st.builds(encode_cursor, st.just("search"), _moments, st.integers(0, 2**62)),
    )
    schemathesis.openapi.format("search-query", _search_queries)
    schemathesis.openapi.format("date-time", _recent)
    yield
    from schemathesis.specs.openapi.formats import unregister_string_format

    unregister_string_format("sessions-cursor")
    unregister_string_format("messages-cursor")
    unregister_string_format("search-cursor")
    unregister_string_format("search-query")
    unregister_string_format("date-time")


def test_generated_requests_get_no_5xx_and_match_the_document(app: Any, tokens: Tokens) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    manager = app.extensions["sessionboard.manager"]
    live = "live-session"

    def ensure_live_session() -> None:
        session = manager.get(live)
        if session is None or not session.accepts_changes(manager.clock()):
            manager.delete(live)
            manager.create("a live session", {"k": "v"}, id=live)

    ensure_live_session()
    strategies = []
    # Three in four requests carry the ingest token; the rest the admin token.
    for token in [tokens.ingest] * 3 + [tokens.admin]:
        auth = {"Authorization": f"Bearer {token}"}
        for result in schema.get_all_operations():
            operation = result.ok()
            takes_id = any(p.name == "session_id" for p in operation.path_parameters)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategies.append(operation.as_strategy(generation_mode=mode, headers=auth))
                if takes_id:
                    strategies.append(
                        operation.as_strategy(
                            generation_mode=mode,
                            headers=auth,
                            path_parameters={"session_id": live},
                        )
                    )
    statuses: dict[int, int] = {}

    @settings(
        max_examples=MIN_REQUESTS + 300,  # 13 operations share the budget
        deadline=None,
        database=None,
        derandomize=IN_CI,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def exercise(case: Any) -> None:
        ensure_live_session()
        # The token is fixed at generation (never mutated); naming it here too tells
        # the ignored_auth check it is a real one, which it then removes and spoils.
        auth = {"Authorization": case.headers["Authorization"]}
        response = case.call_and_validate(headers=auth)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    exercise()
    sent = sum(statuses.values())
    print(f"schemathesis: {sent} requests, answers by status: {dict(sorted(statuses.items()))}")
    assert sent >= MIN_REQUESTS
    assert not any(status >= 500 for status in statuses)
    # The run reached the interesting answers, not only 401/404/422.
    assert {200, 201, 404, 409, 422} <= set(statuses)
