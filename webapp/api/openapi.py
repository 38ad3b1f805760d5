"""The OpenAPI 3.1 document of /api/v1 (and /healthz), served at /api/v1/openapi.json.

A test compares its paths with the app's URL map, and schemathesis checks the
API against it. The bodies' schemas are generated from the models in
``webapp.api.schemas``, which also read the requests and write the answers; this
module writes the paths, parameters and responses around them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from typing import Any

from webapp.api.payloads import DEFAULT_PAGE_LIMIT, MAX_IDEMPOTENCY_KEY_LENGTH
from webapp.api.schemas import component_schemas
from webapp.sessions import Status
from webapp.sessions.search import MAX_QUERY_CHARS
from webapp.version import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    400: "The body is not valid JSON.",
    401: "No token, or an unknown or revoked one.",
    403: "The token's scope does not allow this (admin only).",
    404: "No such session.",
    409: "The session is closed or expired, or past its expiry; or the id is taken.",
    413: "The body is larger than MAX_BODY_BYTES (a POST of messages: MAX_BATCH_BYTES), "
    "or a batch has more than MAX_BATCH_MESSAGES messages.",
    415: "The body is not sent as application/json.",
    422: "A field has the wrong type or value; the text says which.",
    503: "The database does not answer.",
}


#: A write that could not get the database's write lock in WRITE_LOCK_TIMEOUT.
BUSY = {
    **_json(
        {"$ref": "#/components/schemas/Error"},
        "`busy`: the database's write lock could not be had in time; nothing was "
        "written. Send the same request again (same Idempotency-Key) after Retry-After.",
    ),
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}
WRITE_METHODS = ("post", "patch", "delete")


def _responses(ok: Mapping[str, Any], *errors: int) -> dict[str, Any]:
    responses = dict(ok)
    for status in errors:
        responses[str(status)] = _json(_ref("Error"), ERRORS[status])
    return responses


SESSION_ID_PARAMETER = {
    "name": "session_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    "description": "The session's id (an id that no session can have gets 404).",
}


#: A list's ``status`` filter.
STATUS_PARAMETER: dict[str, Any] = {
    "name": "status",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": [s.value for s in Status]},
}


def _cursor_parameter(cursor_format: str) -> dict[str, Any]:
    """A page's ``cursor``: the ``next_cursor`` of the one before."""
    return {
        "name": "cursor",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": cursor_format},
        "description": "`next_cursor` of the previous page (opaque).",
    }


def _limit_parameter(cap: Any) -> dict[str, Any]:
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1},
        "description": f"Rows per page: default {min(DEFAULT_PAGE_LIMIT, int(cap))}; "
        f"a larger value is capped at API_PAGE_LIMIT ({cap}).",
    }


def _schemas() -> dict[str, Any]:
    statuses = [s.value for s in Status]
    return {
        **component_schemas(),
        "Stats": {
            "type": "object",
            "required": ["total", "active", *statuses, "recent_actions", "uptime"],
            "properties": {
                "total": {"type": "integer"},
                "active": {"type": "integer", "description": "= running"},
                **{s: {"type": "integer"} for s in statuses},
                "recent_actions": {
                    "type": "object",
                    "description": "Sessions created in the last 24 hours, per status.",
                    "additionalProperties": {"type": "integer"},
                },
                "uptime": {"type": "string", "examples": ["1d 2h 3m 4s"]},
            },
        },
    }


def _document(page_limit: int, max_body_bytes: int, batch: tuple[int, int]) -> dict[str, Any]:
    document = _operations(page_limit, max_body_bytes, batch)
    for item in document["paths"].values():
        for method in WRITE_METHODS:
            if method in item:
                item[method]["responses"]["503"] = BUSY
    return document


def _operations(page_limit: int, max_body_bytes: int, batch: tuple[int, int]) -> dict[str, Any]:
    limit = _limit_parameter(page_limit)
    body = f"JSON, at most MAX_BODY_BYTES ({max_body_bytes}) bytes."
    batch_messages, batch_bytes = batch
    batch_body = (
        f"JSON, at most MAX_BATCH_BYTES ({min(batch_bytes, max_body_bytes)}) bytes and "
        f"MAX_BATCH_MESSAGES ({batch_messages}) messages."
    )
    no_auth: list[Any] = []
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sessionboard API",
            "version": __version__,
            "description": (
                "Agent runners report sessions and messages; scripts read them. "
                "Every route but /healthz and this document needs "
                "`Authorization: Bearer <token>` (`sessionboard create-token`). "
                "`ingest` tokens create, update, append and read; `admin` tokens may "
                'also delete and clear. Errors are `{"error": {"code", "message"}}`; '
                "a refused request writes nothing."
            ),
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
        "security": [{"bearerAuth": []}],
        "paths": {
            "/api/v1/sessions": {
                "post": {
                    "operationId": "createSession",
                    "summary": "Create a session (pending).",
                    "requestBody": {
                        "required": True,
                        "description": body,
                        "content": {"application/json": {"schema": _ref("NewSession")}},
                    },
                    "responses": _responses(
                        {
                            "201": {
                                **_json(_ref("Session"), "The new session."),
                                "headers": {
                                    "Location": {
                                        "description": "The session's URL.",
                                        "schema": {"type": "string"},
                                    }
                                },
                            }
                        },
                        400,
                        401,
                        409,
                        413,
                        415,
                        422,
                    ),
                },
                "get": {
                    "operationId": "listSessions",
                    "summary": "Sessions, newest first by creation, a page at a time.",
                    "description": (
                        "Keyset paging on (created_at, id), which never change: a session "
                        "that existed when paging began is listed exactly once, however "
                        "its activity changes meanwhile. Sessions created after the first "
                        "page come before it: start again to see them."
                    ),
                    "parameters": [
                        STATUS_PARAMETER,
                        limit,
                        _cursor_parameter("sessions-cursor"),
                    ],
                    "responses": _responses(
                        {"200": _json(_ref("SessionPage"), "A page of sessions.")}, 401, 422
                    ),
                },
                "delete": {
                    "operationId": "clearSessions",
                    "summary": "Remove every session and message (admin token).",
                    "responses": _responses(
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "required": ["cleared"],
                                    "properties": {"cleared": {"type": "integer"}},
                                },
                                "How many sessions were removed.",
                            )
                        },
                        401,
                        403,
                    ),
                },
            },
            "/api/v1/sessions/{session_id}": {
                "parameters": [SESSION_ID_PARAMETER],
                "get": {
                    "operationId": "getSession",
                    "summary": "One session, without its messages.",
                    "responses": _responses(
                        {"200": _json(_ref("Session"), "The session.")}, 401, 404
                    ),
                },
                "patch": {
                    "operationId": "updateSession",
                    "summary": "Change status, response, error, request; merge context.",
                    "description": (
                        "All or nothing. `closed` needs a session that is not closed or "
                        "expired; any other change also needs one not past expires_at "
                        "(else 409). Fields left out keep their value."
                    ),
                    "requestBody": {
                        "required": True,
                        "description": body,
                        "content": {"application/json": {"schema": _ref("SessionPatch")}},
                    },
                    "responses": _responses(
                        {"200": _json(_ref("Session"), "The session as saved.")},
                        400,
                        401,
                        404,
                        409,
                        413,
                        415,
                        422,
                    ),
                },
                "delete": {
                    "operationId": "deleteSession",
                    "summary": "Remove a session and its messages (admin token).",
                    "responses": _responses({"204": {"description": "Removed."}}, 401, 403, 404),
                },
            },
            "/api/v1/sessions/{session_id}/messages": {
                "parameters": [SESSION_ID_PARAMETER],
                "post": {
                    "operationId": "appendMessages",
                    "summary": "Append one message, or a batch as one transaction.",
                    "description": (
                        "With an `Idempotency-Key` seen before for this session, the "
                        "first answer comes back (with `Idempotent-Replayed: true`) and "
                        "nothing is appended. Messages whose `source_key` is stored "
                        "already are skipped."
                    ),
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
                                "pattern": "^[!-~]+$",
                            },
                            "description": "A key of yours, the same on every retry.",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "description": batch_body,
                        "content": {
                            "application/json": {
                                "schema": {"oneOf": [_ref("NewMessage"), _ref("MessageBatch")]}
                            }
                        },
                    },
                    "responses": _responses(
                        {
                            "201": {
                                **_json(_ref("Appended"), "How many messages were appended."),
                                "headers": {
                                    "Idempotent-Replayed": {
                                        "description": "`true` when this is the first "
                                        "answer to an earlier request with this key.",
                                        "schema": {"type": "string", "enum": ["true"]},
                                    }
                                },
                            }
                        },
                        400,
                        401,
                        404,
                        409,
                        413,
                        415,
                        422,
                    ),
                },
                "get": {
                    "operationId": "listMessages",
                    "summary": "The session's messages in order (timestamp, id).",
                    "parameters": [
                        {
                            "name": "after",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "format": "messages-cursor"},
                            "description": "`next_cursor` of the previous page (opaque).",
                        },
                        limit,
                    ],
                    "responses": _responses(
                        {"200": _json(_ref("MessagePage"), "A page of messages.")},
                        401,
                        404,
                        422,
                    ),
                },
            },
            "/api/v1/sessions/{session_id}/shares": {
                "parameters": [SESSION_ID_PARAMETER],
                "post": {
                    "operationId": "createShare",
                    "summary": "Make a read-only share link to the session (admin token).",
                    "description": (
                        "The link opens the session without login until `expires_at`, "
                        "unless revoked; its token is in `url` and is not stored (shown "
                        "once). The session is kept from retention until then."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewShare")}},
                    },
                    "responses": _responses(
                        {"201": _json(_ref("Share"), "The link, with its absolute URL.")},
                        400,
                        401,
                        403,
                        404,
                        413,
                        415,
                        422,
                    ),
                },
            },
            "/api/v1/shares/{share_id}": {
                "parameters": [
                    {
                        "name": "share_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                        "description": "The link's id (from createShare).",
                    }
                ],
                "delete": {
                    "operationId": "revokeShare",
                    "summary": "Revoke a share link at once (admin token).",
                    "responses": _responses(
                        {"204": {"description": "Revoked (or was already)."}}, 401, 403, 404
                    ),
                },
            },
            "/api/v1/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Texts that match a search, newest first, a page at a time.",
                    "description": (
                        "Messages (content, tool names, inputs and outputs, thinking), "
                        "sessions' requests, responses and errors, and review comments. "
                        "`q` is the dashboard's query language: words (all must match), "
                        '"exact phrases", -exclusions, role:, tool:, kind:, in:request, '
                        "in:response, in:error, in:messages, in:comments. Terms shorter "
                        "than three characters only search the latest texts: the answer "
                        "then has a `Search-Scope` header."
                    ),
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "required": True,
                            "schema": {
                                "type": "string",
                                "format": "search-query",
                                "minLength": 1,
                                "maxLength": MAX_QUERY_CHARS,
                            },
                            "description": "The search (422 if nothing in it is searchable).",
                        },
                        STATUS_PARAMETER,
                        limit,
                        _cursor_parameter("search-cursor"),
                    ],
                    "responses": _responses(
                        {"200": _json(_ref("SearchPage"), "A page of hits.")}, 401, 422
                    ),
                }
            },
            "/api/v1/stats": {
                "get": {
                    "operationId": "getStats",
                    "summary": "Sessions per status; created in the last 24 h; uptime.",
                    "responses": _responses({"200": _json(_ref("Stats"), "The numbers.")}, 401),
                }
            },
            "/api/v1/usage": {
                "get": {
                    "operationId": "getUsage",
                    "summary": "Tokens and cost per day, model, project, token or user, and "
                    "model, from the usage rollups (see docs/usage.md).",
                    "parameters": [
                        {
                            "name": "group_by",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "string",
                                "enum": ["day", "model", "project", "token", "user"],
                                "default": "day",
                            },
                            "description": "token: the API token that reported the usage "
                            "(else the session context's runner).",
                        },
                        *[
                            {
                                "name": name,
                                "in": "query",
                                "required": False,
                                "schema": {"type": "string", "format": "date-time"},
                                "description": f"{what}: an RFC 3339 time with a zone, "
                                "or a UTC day (YYYY-MM-DD: its midnight). Projects, "
                                "tokens and users count whole days, days and models "
                                "whole hours; a range that ends before it starts is "
                                "empty.",
                            }
                            for name, what in (
                                ("since", "From"),
                                ("until", "Until (exclusive)"),
                            )
                        ],
                    ],
                    "responses": _responses(
                        {"200": _json(_ref("UsageReport"), "A row per group and model.")},
                        401,
                        422,
                    ),
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenAPI",
                    "summary": "This document.",
                    "security": no_auth,
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Is the database reachable? (no token)",
                    "security": no_auth,
                    "responses": _responses(
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "required": ["status"],
                                    "properties": {"status": {"const": "ok"}},
                                },
                                "The database answers.",
                            )
                        },
                        503,
                    ),
                }
            },
        },
    }


@cache
def _cached_document(
    page_limit: int, max_body_bytes: int, batch: tuple[int, int]
) -> dict[str, Any]:
    return _document(page_limit, max_body_bytes, batch)


def openapi_document(config: Mapping[str, Any]) -> dict[str, Any]:
    """The document, with this app's limits written into it (a copy: callers may edit)."""
    batch = (int(config["MAX_BATCH_MESSAGES"]), int(config["MAX_BATCH_BYTES"]))
    document = _cached_document(int(config["API_PAGE_LIMIT"]), int(config["MAX_BODY_BYTES"]), batch)
    return copy.deepcopy(document)
