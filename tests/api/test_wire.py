"""One wire format (Sessionboard issue 10, item 2): one function writes a UTC
timestamp, and the typed models in ``webapp.api.schemas`` write what the API sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.api.conftest import ApiClient
from webapp.api import schemas
from webapp.api.schemas import component_schemas
from webapp.sessions.types import format_utc


def test_format_utc_writes_utc_with_microseconds_and_z() -> None:
    plus_one = timezone(timedelta(hours=1))
    assert (
        format_utc(datetime(2026, 1, 15, 13, 0, tzinfo=plus_one)) == "2026-01-15T12:00:00.000000Z"
    )
    assert (
        format_utc(datetime(2026, 1, 15, 12, 0, 0, 5, tzinfo=UTC)) == "2026-01-15T12:00:00.000005Z"
    )
    with pytest.raises(ValueError, match="naive"):
        format_utc(datetime(2026, 1, 15, 12, 0))  # noqa: DTZ001  (naive on purpose)


def test_the_document_s_answer_schemas_are_generated_from_the_models(client: Any) -> None:
    served = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    generated = component_schemas()
    for name in ("Session", "Message", "SessionPage", "MessagePage", "Appended", "Error"):
        assert served[name] == generated[name], name


def test_answers_are_the_models_records(api: ApiClient) -> None:
    session = api.new_session(request="Fix it", context={"k": [1, None]})
    path = f"/sessions/{session['id']}/messages"
    assert api.post(path, json={"role": "user", "content": "hi"}).get_json() == {"appended": 1}
    page = api.get(path).get_json()
    for record, model in ((session, schemas.Session), (page, schemas.MessagePage)):
        assert model.model_validate(record).wire() == record
    assert page["messages"][0]["timestamp"].endswith("Z")
