"""The routes of /api/v1: read the request, call the Manager, answer JSON.

Checks run in this order, and the first that fails answers: the token (401),
its scope (403), the content type (415), the body's size (413), its JSON (400),
its fields (422), the session (404, 409). Nothing is written before the last.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Any, cast

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import (
    Conflict,
    NotFound,
    RequestEntityTooLarge,
    UnprocessableEntity,
    UnsupportedMediaType,
)
from werkzeug.routing import BaseConverter

from webapp.accounts import audit
from webapp.api import payloads, schemas, service
from webapp.api.auth import (
    admin_required,
    append_guard,
    authenticate_request,
    current_token,
    revoked,
)
from webapp.api.openapi import openapi_document
from webapp.config import parse_duration
from webapp.extensions import get_database, get_manager, get_queries
from webapp.sessions import DuplicateSessionError, UnknownSessionError
from webapp.sessions.manager import DEFAULT_EXPIRY
from webapp.sessions.queries import Keyset, SessionFilter, Sort
from webapp.sessions.search import SCAN_WINDOW, parse
from webapp.shares import links as shares

log = logging.getLogger(__name__)


class SessionIdConverter(BaseConverter):
    """A session id as the database can hold one: 1 to 64 characters, no slash, no
    NUL. Anything else cannot name a session: the route does not match (404)
    and the database is never asked (PostgreSQL refuses NUL in text)."""

    regex = r"[^/\x00]{1,64}"


bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_request)


@bp.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["session_id"] = SessionIdConverter


@bp.after_request
def _no_store(response: Response) -> Response:
    """Answers carry data behind a token: no cache may keep them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def json_body(limit: int | None = None, setting: str = "MAX_BODY_BYTES") -> Any:
    """The request's JSON body: 415 unless the content type is JSON, 413 over
    ``limit`` bytes (default ``MAX_BODY_BYTES``; ``setting`` names it), 400 unless
    it parses."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    ):
        raise UnsupportedMediaType("send a JSON body with Content-Type: application/json")
    if limit is None:
        limit = int(current_app.config["MAX_BODY_BYTES"])
    return payloads.parse_json_body(read_body(limit, setting))


def read_body(limit: int, setting: str) -> bytes:
    """The body, or 413 when it is over ``limit`` bytes: refused unread when its
    ``Content-Length`` says so; a chunked body (no length) is read up to one byte
    past the limit, and that byte refuses it."""
    too_large = RequestEntityTooLarge(
        f"the body is larger than {limit} bytes (SESSIONBOARD_{setting})"
    )
    if (request.content_length or 0) > limit:
        raise too_large
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise too_large from None
    if len(data) > limit:
        raise too_large
    return data


def batch_body() -> Any:
    """The JSON body of a POST of messages, bounded by ``MAX_BATCH_BYTES`` as well."""
    config = current_app.config
    body_limit, batch_limit = int(config["MAX_BODY_BYTES"]), int(config["MAX_BATCH_BYTES"])
    if batch_limit < body_limit:
        return json_body(batch_limit, "MAX_BATCH_BYTES")
    return json_body(body_limit)


@functools.lru_cache(maxsize=8)
def _duration(setting: Any) -> timedelta:
    """A duration setting's value, parsed once (a regular expression per append)."""
    return parse_duration(setting)


def message_rules(session_id: str) -> payloads.MessageRules:
    """What the messages of a POST must keep to: the batch size and the time window
    (no timestamp beyond now + ``CLOCK_SKEW``; none older than the retention window,
    which would be purged at once, unless the session is kept)."""
    config = current_app.config
    manager = get_manager()
    retention: timedelta | None = manager.config.message_retention
    return payloads.MessageRules(
        max_messages=int(config["MAX_BATCH_MESSAGES"]),
        now=manager.clock(),
        skew=_duration(config["CLOCK_SKEW"]),
        retention=retention or None,
        kept=lambda: _is_kept(session_id),
    )


def _is_kept(session_id: str) -> bool:
    session = get_manager().get(session_id)
    return session is not None and session.keep


def query_args(*allowed: str) -> MultiDict[str, str]:
    """The query string, 422 if it names a parameter the route does not take."""
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        names = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise UnprocessableEntity(f"unknown query parameter(s): {names}")
    return request.args


def _unknown(session_id: str) -> NotFound:
    return NotFound(f"no session {session_id!r}")


def _actor() -> str:
    return f"token:{current_token().name}"


@bp.post("/sessions")
def create_session() -> tuple[Response, int, dict[str, str]]:
    """Create a session (pending); 409 if the chosen id is taken."""
    body = json_body()
    query_args()
    new = payloads.parse_new_session(body)
    expires_at = DEFAULT_EXPIRY if new.expires_at is payloads.UNSET else new.expires_at
    try:
        session = get_manager().create(new.request, new.context, id=new.id, expires_at=expires_at)
    except DuplicateSessionError:
        raise Conflict(f"a session with id {new.id!r} exists already") from None
    location = url_for("api.get_session", session_id=session.id)
    return jsonify(schemas.Session.of(session).wire()), 201, {"Location": location}


@bp.get("/sessions")
def list_sessions() -> Response:
    """Sessions newest first (by creation), a page at a time."""
    args = query_args("limit", "status", "cursor")
    limit = payloads.parse_limit(args.get("limit"), current_app.config["API_PAGE_LIMIT"])
    status = payloads.parse_status_filter(args.get("status"))
    cursor = args.get("cursor")
    before = payloads.decode_cursor(cursor, "sessions", str) if cursor else None
    # By creation: a row never moves while a client pages (activity would move it).
    page = get_queries().session_records(
        SessionFilter(statuses=(status.value,) if status else ()),
        sort=Sort.CREATED,
        older=Keyset(*before) if before else None,
        limit=limit,
    )
    older = page.older
    next_cursor = (
        payloads.encode_cursor("sessions", older.at, older.id)
        if older is not None and isinstance(older.at, datetime)
        else None
    )
    sessions = [schemas.Session.of(s) for s in page.rows]
    return jsonify(schemas.SessionPage(sessions=sessions, next_cursor=next_cursor).wire())


@bp.get("/search")
def search() -> Response:
    """Texts that match ``q`` (the query language of the dashboard's search), newest
    first, a page at a time; ``status`` keeps to sessions of that status."""
    args = query_args("q", "limit", "status", "cursor")
    query = parse(args.get("q", ""))
    if query.problem or query.is_empty:
        raise UnprocessableEntity(query.problem or "q: give something to search for")
    limit = payloads.parse_limit(args.get("limit"), current_app.config["API_PAGE_LIMIT"])
    status = payloads.parse_status_filter(args.get("status"))
    cursor = args.get("cursor")
    after = payloads.decode_cursor(cursor, "search", int)[1] if cursor else None
    search = get_queries().search
    statuses = (status.value,) if status else ()
    page = search.hits(query, statuses=statuses, after=after, limit=limit)
    last = page.hits[-1] if page.hits and page.next_after is not None else None
    next_cursor = payloads.encode_cursor("search", last.timestamp, last.doc_id) if last else None
    results = [schemas.SearchHit.of(hit) for hit in page.hits]
    response = jsonify(schemas.SearchPage(results=results, next_cursor=next_cursor).wire())
    if page.bounded:
        response.headers["Search-Scope"] = f"latest {SCAN_WINDOW}"
    return response


@bp.get("/sessions/<session_id:session_id>")
def get_session(session_id: str) -> Response:
    """One session, without its messages."""
    query_args()
    session = get_manager().get(session_id)
    if session is None:
        raise _unknown(session_id)
    return jsonify(schemas.Session.of(session).wire())


@bp.patch("/sessions/<session_id:session_id>")
def update_session(session_id: str) -> Response:
    """Change status, response, error, request; merge context. All or nothing."""
    body = json_body()
    query_args()
    patch = payloads.parse_patch(body)
    try:
        session = service.patch_session(get_manager(), session_id, patch)
    except service.SessionRefused as exc:
        raise Conflict(str(exc)) from None
    if session is None:
        raise _unknown(session_id)
    return jsonify(schemas.Session.of(session).wire())


@bp.delete("/sessions/<session_id:session_id>")
@admin_required
def delete_session(session_id: str) -> Response:
    """Remove a session and its messages (admin)."""
    query_args()
    with get_database().write():  # the change and its audit entry commit together
        if not get_manager().delete(session_id):
            raise _unknown(session_id)
        audit.record("session.delete", session_id=session_id, actor=_actor())
    return Response(status=204)


@bp.delete("/sessions")
@admin_required
def clear_sessions() -> Response:
    """Remove every session and message (admin)."""
    query_args()
    with get_database().write():
        cleared = get_manager().clear()
        audit.record("sessions.clear", detail={"cleared": cleared}, actor=_actor())
    return jsonify({"cleared": cleared})


@bp.post("/sessions/<session_id:session_id>/messages")
def append_messages(session_id: str) -> tuple[Response, int, dict[str, str]]:
    """Append one message or a batch, as one transaction; a repeated
    ``Idempotency-Key`` gets the first answer and appends nothing."""
    body = batch_body()
    query_args()
    messages = payloads.parse_messages(body, message_rules(session_id))
    key = payloads.parse_idempotency_key(request.headers.get("Idempotency-Key"))
    try:
        outcome = service.append_messages(
            get_manager(),
            session_id,
            messages,
            key,
            runner=current_token().name,
            guard=append_guard(),
        )
    except ValueError as exc:  # a message the store refuses: parse_messages should have
        raise UnprocessableEntity(str(exc)) from None
    if outcome.status == "refused":  # the token was revoked since it was cached
        raise revoked()
    if outcome.status == "unknown":
        raise _unknown(session_id)
    if outcome.status == "closed":
        raise Conflict(f"session {session_id!r} is closed, expired or past its expiry")
    if outcome.status == "replayed":
        return jsonify(outcome.response), 201, {"Idempotent-Replayed": "true"}
    # schemas.Appended's one field as jsonify writes it, without building the
    # model or going through the JSON provider (the hot path)
    body = b'{"appended":%d}\n' % outcome.appended
    return Response(body, mimetype="application/json"), 201, {}


@bp.get("/sessions/<session_id:session_id>/messages")
def list_messages(session_id: str) -> Response:
    """A session's messages in order, a page at a time (``after`` a cursor)."""
    args = query_args("limit", "after")
    limit = payloads.parse_limit(args.get("limit"), current_app.config["API_PAGE_LIMIT"])
    cursor = args.get("after")
    after = payloads.decode_cursor(cursor, "messages", int) if cursor else None
    page = get_queries().message_page(session_id, after=after, limit=limit)
    if page is None:
        raise _unknown(session_id)
    rows, position = page
    next_cursor = payloads.encode_cursor("messages", *position) if position else None
    messages = [schemas.Message.of(m) for m in rows]
    return jsonify(schemas.MessagePage(messages=messages, next_cursor=next_cursor).wire())


@bp.get("/stats")
def stats() -> Response:
    """Sessions per status, the last 24 hours' per status, uptime."""
    query_args()
    return jsonify(get_manager().get_stats())


@bp.get("/usage")
def usage() -> Response:
    """Tokens and cost per day, model, project, token (runner) or user, and model,
    from the usage rollups, over ``since`` to ``until``."""
    args = query_args("group_by", "since", "until")
    group = payloads.parse_usage_group(args.get("group_by"))
    since = payloads.parse_instant(args.get("since"), "since")
    until = payloads.parse_instant(args.get("until"), "until")
    rows = get_queries().usage_by(group, since, until)
    report = schemas.UsageReport(
        group_by=cast(schemas.UsageGroupName, args.get("group_by", "day")),
        since=since,
        until=until,
        rows=[schemas.UsageFigures.of(row) for row in rows],
    )
    return jsonify(report.wire())


@bp.post("/sessions/<session_id:session_id>/shares")
@admin_required
def create_share(session_id: str) -> tuple[Response, int]:
    """Make a share link to the session (admin); the token is in the answer's url only."""
    new = payloads.read(schemas.NewShare, json_body(), "the new share link")
    query_args()
    try:
        seconds = new.expires_in
        age = shares.default_age() if seconds is None else shares.check_expiry(seconds)
        link, token = shares.create(session_id, expires_in=age, redact=new.redact, actor=_actor())
    except shares.ShareError as exc:
        raise UnprocessableEntity(str(exc)) from None
    except UnknownSessionError:
        raise _unknown(session_id) from None
    url = url_for("shared.page_view", token=token, _external=True)
    return jsonify(schemas.Share(id=link.id, url=url, expires_at=link.expires_at).wire()), 201


@bp.delete("/shares/<int(max=9223372036854775807):share_id>")
@admin_required
def revoke_share(share_id: int) -> Response:
    """Revoke a share link at once (admin)."""
    query_args()
    try:
        shares.revoke(share_id, actor=_actor(), admin=True)
    except shares.ShareNotFound:
        raise NotFound(f"no share link {share_id}") from None
    return Response(status=204)


@bp.get("/openapi.json")
def openapi() -> Response:
    """This API's OpenAPI 3.1 document (no token needed)."""
    return jsonify(openapi_document(current_app.config))
