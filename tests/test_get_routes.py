"""Every GET route of the app, on both engines, as a signed-in admin and anonymously.

- A bad query parameter or path value is a 4xx, never a 5xx: first each name a
  route reads with each kind of junk, one at a time; then hypothesis over random
  routes, path values and query strings (known names and junk ones).
- Every answer to a signed-in user carries ``Cache-Control: no-store``: pages,
  htmx fragments, downloads, the live poll's 204 and error pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.sessions import Message

#: The query-string names each GET route reads. A new GET route must be added
#: here (a test checks), so the fuzzing below knows what to send it.
READS: dict[str, tuple[str, ...]] = {
    "dashboard.index": (),
    "dashboard.sessions": (
        "status",
        "from",
        "to",
        "context",
        "q",
        "verdict",
        "reviewer",
        "tag",
        "error",
        "sort",
        "older",
        "newer",
        "deleted",
        "subagents",
        "parent",
        "model",
        "project",
        "score",
        "score_value",
        "score_min",
        "score_max",
        "scored",
    ),
    "dashboard.sessions_live": (
        "status", "from", "to", "context", "q", "verdict", "reviewer", "tag", "error",
        "sort", "subagents", "parent", "model", "project", "at", "since", "row",
        "score", "score_value", "score_min", "score_max", "scored",
    ),  # fmt: skip
    "dashboard.favicon": (),
    "dashboard.session_page": (
        "inbox", "tag", "status", "around", "at", "thinking", "tools", "hooks", "queue",
    ),  # fmt: skip
    "dashboard.transcript_turns": ("after", "before", "n", "thinking", "tools", "hooks"),
    "dashboard.transcript_outline": ("after", "n", "thinking", "tools", "hooks"),
    "dashboard.full_message": (),
    "dashboard.poll": ("after", "at", "count", "tail", "n", "follow"),
    "dashboard.confirm_delete": (),
    "dashboard.stats": (),
    "dashboard.usage_stats": ("since", "until"),
    "dashboard.usage_csv": ("since", "until", "chart"),
    "dashboard.admin": (),
    "review.inbox": ("status", "tag", "after", "done"),
    "review.next_session": ("status", "tag", "after"),
    "review.previous_session": ("status", "tag", "before"),
    "accounts.login": ("next",),
    "accounts.users": (),
    "accounts.your_logins": (),
    "accounts.audit_log": ("actor", "action", "session", "since", "until", "before"),
    "accounts.tokens": (),
    "webhooks.admin": ("webhook",),
    "transfer.upload": (),
    "transfer.session_markdown": ("redact",),
    "transfer.session_json": ("redact",),
    "shared.page_view": ("around", "at", "thinking", "tools", "hooks"),
    "shared.turns": ("after", "before", "n", "thinking", "tools", "hooks"),
    "shares.all_links": ("before",),
    "api.openapi": (),
    "api.list_sessions": ("limit", "status", "cursor"),
    "api.get_session": (),
    "api.list_messages": ("after", "limit"),
    "api.stats": (),
    "api.search": ("q", "limit", "status", "cursor"),
    "api.usage": ("group_by", "since", "until"),
    "health.healthz": (),
    "static": (),
    "queues.views": (),
    "queues.index": (),
    "queues.queue_page": ("state", "assignee", "criterion", "value", "sort", "done"),
}
ALL_NAMES = sorted({name for names in READS.values() for name in names})

#: Values that broke, or could break, a parser or a query: NUL (PostgreSQL refuses
#: it in text), a lone surrogate (percent-encoded as its UTF-8-like bytes), numbers
#: past 64 bits, dates at the calendar's edges, SQL and JSON-path metacharacters.
JUNK = [
    "\x00",
    "a\x00b",
    "model=\x00",
    "\x00=x",
    "\ud800",
    "k=\udfff",
    "9" * 20,
    "9" * 30,
    "9" * 40,
    "9" * 5_000,
    "-1",
    "-" + "9" * 40,
    "1e99",
    "x" * 10_000,
    "k" * 300 + "=v",
    "k=" + "v" * 1_000,
    "%",
    "%%00",
    '"=x',
    'a"b=c',
    "\\=x",
    "$.a[0]=1",
    "'; DROP TABLE sessions; --",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "2026-1-5",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00~x",
    "0001-01-01T00:00:00+05:00~x",
    "2026-01-15T12:00:00",
    "bogus",
    "",
]
#: Values a route accepts, so the fuzzing also gets past the parsers.
VALID = [
    "running", "failed", "completed", "created", "activity", "approved", "flagged",
    "2026-01-15", "model=opus", "1", "0", "2026-01-15T12:00:00+00:00",
    "2026-01-15T12:00:00+00:00~00000000-0000-0000-0000-000000000000",
    "score", "score_asc", "pass", "3.5", "yes", "no",
    "4500000~00000000-0000-0000-0000-000000000000",
]  # fmt: skip


def encode(value: str) -> str:
    """Percent-encode ``value`` as a browser would; a lone surrogate goes as the
    bytes a broken client would send (the server decodes them as U+FFFD)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@dataclass
class Site:
    """The app with data: a session with messages, clients signed in or not."""

    app: Any
    admin: Any
    anonymous: Any
    session_id: str
    message_id: int
    share_token: str

    def rules(self) -> list[Any]:
        """Every rule that answers GET."""
        return [r for r in self.app.url_map.iter_rules() if "GET" in (r.methods or ())]

    def url(self, rule: Any, values: dict[str, str], query: list[tuple[str, str]]) -> str:
        """``rule`` with its variables replaced by ``values`` (encoded) and ``query``."""
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: encode(values[m.group(1)]), rule.rule)
        if not query:
            return path
        return path + "?" + "&".join(f"{encode(k)}={encode(v)}" for k, v in query)

    def valid_values(self, rule: Any) -> dict[str, str]:
        """Path values that name what exists."""
        known = {
            "session_id": self.session_id,
            "message_id": str(self.message_id),
            "filename": "app.css",
            "queue_id": "1",
            "token": self.share_token,
        }
        return {name: known[name] for name in rule.arguments}


@pytest.fixture
def site(app: Any, auth: Any, client: Any) -> Iterator[Site]:
    """The app with one running session (three messages), an admin's client and
    an anonymous one."""
    manager = app.extensions["sessionboard.manager"]
    session = manager.create("Fix the build", {"model": "opus"}, expires_at=None)
    manager.set_running(session.id)
    for text in ("one", "two", "three"):
        manager.append_message(session.id, Message("user", text))
    message_id = manager.store.get_messages(session.id)[0].id
    auth.login("admin")
    with app.test_request_context():
        from webapp.shares import links

        token = links.create(session.id, expires_in=links.DEFAULT_AGE, actor="test")[1]
    _rubric(manager, session.id)
    yield Site(app, client, app.test_client(), session.id, message_id, token)


def _rubric(manager: Any, session_id: str) -> None:
    """Queue 1 with criteria 1 to 4 (pass/fail, score, choice, text), each answered
    for the session: ``score=1`` and the like get past the list's parsers."""
    from sqlalchemy import insert

    from webapp.queues import service

    now = manager.clock()
    with manager.store.write() as conn:
        conn.execute(insert(service.views_t).values(
            id=1, name="v", owner="admin", shared=True, query="", created_at=now))
        conn.execute(insert(service.queues_t).values(
            id=1, name="q", view_id=1, mode="claim", assignment_ttl=60, turn=0,
            created_by="admin", created_at=now))  # fmt: skip
        for n, (kind, options, value, number) in enumerate(
            [("passfail", "", "pass", 1), ("score", "", "3", 3),
             ("choice", "a\nb", "b", 2), ("text", "", "<b>x</b>", None)], start=1
        ):  # fmt: skip
            conn.execute(insert(service.criteria_t).values(
                id=n, queue_id=1, position=n, label=kind, kind=kind, options=options,
                required=False))
            conn.execute(insert(service.scores_t).values(
                criterion_id=n, session_id=session_id, reviewer="admin", value=value,
                number=number, at=now))  # fmt: skip


def test_every_get_route_is_listed(site: Site) -> None:
    assert {r.endpoint for r in site.rules()} == set(READS)


def _get(client: Any, url: str, htmx: bool = False) -> Any:
    """GET ``url`` (as htmx does when ``htmx``), the body read and the response closed."""
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get(url, headers=headers)
    response.get_data()
    response.close()
    return response


def _turned_away(response: Any) -> bool:
    """Whether ``response`` is the login gate's (a redirect to /login) or the API
    token's (401): an answer given before the view reads anything."""
    location = response.headers.get("Location", "")
    return response.status_code == 401 or (
        response.status_code == 302 and urlsplit(location).path == "/login"
    )


def test_each_name_each_junk_value_is_no_5xx(site: Site) -> None:
    """Each name the route reads, with each junk value, as the admin and
    anonymously. A route that turns the anonymous client away before reading
    anything gets each junk value in every name at once from it (the gate still
    sees every junk value in the URL it sends back), not once per name."""
    failures = []
    for rule in site.rules():
        values = site.valid_values(rule)
        names = READS[rule.endpoint]
        gated = _turned_away(_get(site.anonymous, site.url(rule, values, [])))
        for junk in JUNK:
            each = [site.url(rule, values, [(name, junk)]) for name in names]
            sent = [(site.admin, url) for url in each]
            if gated:
                sent.append((site.anonymous, site.url(rule, values, [(n, junk) for n in names])))
            else:
                sent += [(site.anonymous, url) for url in each]
            for client, url in sent:
                status = _get(client, url, htmx=junk == "bogus").status_code
                if status >= 500:
                    failures.append((status, url[:200]))
    assert failures == []


def test_junk_path_values_are_no_5xx(site: Site) -> None:
    failures = []
    for rule in site.rules():
        for name in rule.arguments:
            for junk in JUNK:
                values = {**site.valid_values(rule), name: junk or "x"}
                url = site.url(rule, values, [])
                status = _get(site.admin, url).status_code
                if status >= 500:
                    failures.append((status, url[:200]))
    assert failures == []


_texts = st.one_of(
    st.sampled_from(JUNK),
    st.sampled_from(VALID),
    st.text(max_size=40),
    st.integers(min_value=-(2**140), max_value=2**140).map(str),
)


def test_random_requests_to_every_get_route_get_no_5xx(site: Site) -> None:
    rules = site.rules()
    seen: dict[str, int] = {}

    @settings(
        max_examples=400,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        rule = data.draw(st.sampled_from(rules), label="rule")
        values = site.valid_values(rule)
        for name in rule.arguments:
            values[name] = data.draw(st.one_of(st.just(values[name]), _texts), label=name)
        names = st.one_of(
            st.sampled_from(READS[rule.endpoint] or ("q",)),
            st.sampled_from(ALL_NAMES),
            st.text(min_size=1, max_size=10),
        )
        query = data.draw(st.lists(st.tuples(names, _texts), max_size=5), label="query")
        client = data.draw(st.sampled_from([site.admin, site.anonymous]), label="client")
        url = site.url(rule, values, query)
        response = _get(client, url, htmx=data.draw(st.booleans(), label="htmx"))
        seen[rule.endpoint] = seen.get(rule.endpoint, 0) + 1
        assert response.status_code < 500, url

    check()
    assert len(seen) > len(READS) // 2  # the draws reached most routes


# -- Cache-Control ---------------------------------------------------------------------


def test_every_answer_to_a_signed_in_user_is_no_store(site: Site) -> None:
    for rule in site.rules():
        if rule.endpoint == "static":
            continue
        url = site.url(rule, site.valid_values(rule), [])
        for htmx in (False, True):
            response = _get(site.admin, url, htmx=htmx)
            assert response.headers.get("Cache-Control") == "no-store", (url, htmx)


def test_downloads_poll_errors_and_fragments_are_no_store(site: Site) -> None:
    session = site.app.extensions["sessionboard.manager"].get(site.session_id)
    at, count = encode(str(session.last_activity)), session.message_count
    poll = f"/sessions/{site.session_id}/poll?after={site.message_id + 2}&at={at}&count={count}"
    answers = [
        _get(site.admin, f"/sessions/{site.session_id}/export.md"),
        _get(site.admin, f"/sessions/{site.session_id}/export.json?redact=1"),
        _get(site.admin, poll, htmx=True),
        _get(site.admin, "/sessions/no-such-session"),
        _get(site.admin, "/sessions?from=bogus", htmx=True),
        _get(site.admin, f"/sessions/{site.session_id}/turns?before={site.message_id + 2}"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 204, 404, 400, 200]
    assert [a.headers.get("Cache-Control") for a in answers] == ["no-store"] * len(answers)


def test_static_files_and_the_login_page_keep_their_caching(site: Site) -> None:
    static = _get(site.anonymous, "/static/app.css")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("Cache-Control", "")
    signed_in_static = _get(site.admin, "/static/app.css")
    assert "no-store" not in signed_in_static.headers.get("Cache-Control", "")
    login = _get(site.anonymous, "/login")
    assert login.status_code == 200
    assert "no-store" not in login.headers.get("Cache-Control", "")
