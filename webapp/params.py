"""What a request to the pages may name: query parameters (and action form
fields) and session ids in paths, by one set of rules for every route.

A value no route can use is a 400 that says which parameter is wrong and why,
never a guess and never a database error: text holds no NUL and no lone
surrogate and has a length limit, integers fit a 64-bit id, days and moments
are ISO 8601 within the calendar the engines store, choices come from their
list. An empty value means "not given" (a form's empty field sends one), and a
name no route reads is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime
from typing import Any

from flask import current_app, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest
from werkzeug.routing import BaseConverter

#: The largest id either engine stores (a signed 64-bit integer).
MAX_ID = 2**63 - 1
#: The default length limit of a text parameter, in characters.
MAX_TEXT = 500
#: Session ids are at most this long (the sessions.id column, String(64)).
MAX_SESSION_ID = 64
#: Days and moments the pages accept: far enough from the calendar's ends that a
#: day later, or a time zone away, is still a date.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9999, 12, 30)

_DIGITS = re.compile(r"[0-9]{1,19}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class SessionIdConverter(BaseConverter):
    """``<session_id:...>`` in a route: 1 to :data:`MAX_SESSION_ID` characters, no
    slash, no NUL. Anything else cannot name a session: the route does not match
    (404) and the database is never asked (PostgreSQL refuses NUL in text)."""

    regex = rf"[^/\x00]{{1,{MAX_SESSION_ID}}}"


def session_hrefs(session_ids: Sequence[str], **args: Any) -> dict[str, str]:
    """Each session's page URL (with the query ``args``), as ``url_for`` writes it:
    one ``url_for``, then each id quoted by the route's own converter. The id's
    place is found by a NUL (``%00``), which no parameter holds (they refuse it)
    and which a ``%00`` in a parameter's text would not give (``%2500``)."""
    url = url_for("dashboard.session_page", session_id="\x00", **args)
    prefix, _, suffix = url.partition("%00")
    quote = SessionIdConverter(current_app.url_map).to_url
    return {session_id: prefix + quote(session_id) + suffix for session_id in session_ids}


class BadParameter(BadRequest):
    """A request parameter whose value no route accepts; the description says why."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"The “{name}” parameter {why}.")
        self.parameter = name


def text_problem(value: str, max_chars: int = MAX_TEXT) -> str | None:
    """Why ``value`` is no text the database can hold, or None when it is."""
    if len(value) > max_chars:
        return f"is longer than {max_chars} characters"
    if "\x00" in value:
        return "contains a NUL character"
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        return "is not valid Unicode text"
    return None


def checked_text(value: str, name: str, max_chars: int = MAX_TEXT) -> str:
    """``value`` if it is text the database can hold, else :class:`BadParameter`."""
    problem = text_problem(value, max_chars)
    if problem is not None:
        raise BadParameter(name, problem)
    return value


def text(args: MultiDict[str, str], name: str, max_chars: int = MAX_TEXT) -> str:
    """The text of ``name`` without surrounding space; ``""`` when not given."""
    return checked_text(args.get(name, ""), name, max_chars).strip()


def session_id(args: MultiDict[str, str], name: str) -> str | None:
    """A session id (not checked to exist); None when not given."""
    return text(args, name, MAX_SESSION_ID) or None


def integer(args: MultiDict[str, str], name: str) -> int | None:
    """A whole number from 0 to :data:`MAX_ID` (an id or a position); None when not given."""
    raw = args.get(name, "")
    if raw == "":
        return None
    if not _DIGITS.fullmatch(raw) or int(raw) > MAX_ID:
        raise BadParameter(name, f"must be a whole number from 0 to {MAX_ID}")
    return int(raw)


def day(args: MultiDict[str, str], name: str) -> date | None:
    """A calendar day written ``YYYY-MM-DD``; None when not given."""
    raw = args.get(name, "")
    if raw == "":
        return None
    try:
        parsed = date.fromisoformat(raw) if _DAY.fullmatch(raw) else None
    except ValueError:
        parsed = None
    if parsed is None or not FIRST_DAY <= parsed <= LAST_DAY:
        raise BadParameter(name, f"must be a day like 2026-01-31, from {FIRST_DAY} to {LAST_DAY}")
    return parsed


def parse_moment(raw: str) -> datetime | None:
    """An ISO 8601 time with its zone, in UTC; None unless it is one within the
    days the pages accept."""
    try:
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None or not FIRST_DAY <= parsed.date() <= LAST_DAY:
            return None
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def moment(args: MultiDict[str, str], name: str) -> datetime | None:
    """An ISO 8601 time with its zone (``2026-01-31T12:00:00+00:00``), in UTC;
    None when not given."""
    raw = args.get(name, "")
    if raw == "":
        return None
    parsed = parse_moment(raw)
    if parsed is None:
        raise BadParameter(name, "must be a time with its zone, like 2026-01-31T12:00:00+00:00")
    return parsed


def choice(args: MultiDict[str, str], name: str, choices: Collection[str], default: str) -> str:
    """One of ``choices``; ``default`` when not given."""
    raw = args.get(name, "")
    if raw == "":
        return default
    if raw not in choices:
        raise BadParameter(name, f"must be one of {', '.join(choices)}")
    return raw


def choices(args: MultiDict[str, str], name: str, allowed: Collection[str]) -> list[str]:
    """Every value of a repeated ``name``, each one of ``allowed`` (empty ones skipped)."""
    values = [v for v in args.getlist(name) if v != ""]
    for value in values:
        if value not in allowed:
            raise BadParameter(name, f"must be one of {', '.join(allowed)}")
    return values
