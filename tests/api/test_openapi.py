"""The OpenAPI document describes exactly the routes the app has, and is valid 3.1."""

from __future__ import annotations

import re
from typing import Any

import schemathesis

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) of every rule under /api/v1, and /healthz."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/v1/") or rule.rule == "/healthz"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - IGNORED_METHODS:
            routes.add((method, path))
    return routes


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in the document."""
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in methods
    }


def test_every_route_is_documented_and_every_documented_route_exists(app: Any, client: Any) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert app_routes(app) == documented_routes(document)
    assert len(app_routes(app)) == 15  # with GET /search, GET /usage and the two share routes


def test_the_document_is_valid_openapi_3_1(client: Any) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(document).validate()


def test_every_operation_has_an_id_summary_and_documents_its_errors(client: Any) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation["operationId"] and operation["summary"], (method, path)
            secured = operation.get("security", document["security"]) != []
            assert ("401" in operation["responses"]) == secured, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= set(operation["responses"]), (method, path)


def test_the_document_states_the_configured_limits(app: Any, client: Any) -> None:
    app.config["API_PAGE_LIMIT"] = 77
    document = client.get("/api/v1/openapi.json").get_json()
    text = str(document)
    assert "API_PAGE_LIMIT (77)" in text
    assert f"MAX_BODY_BYTES ({app.config['MAX_BODY_BYTES']})" in text
