"""Saved views, queues, assignment, rubrics and scores: services and pages, with
their audit entries, on both engines."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.accounts.test_login import audit_actions
from tests.accounts.test_role_matrix import snapshot
from tests.review.test_review import make_session

HX = {"HX-Request": "true"}
QUEUE_TABLES = (
    "saved_views",
    "queues",
    "queue_reviewers",
    "rubric_criteria",
    "queue_items",
    "rubric_scores",
)


def save_view(client: Any, name: str, query: str, shared: bool = True) -> int:
    data = {"name": name, "query": query}
    if shared:
        data["shared"] = "1"
    response = client.post("/views", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get("/views").get_data(as_text=True)
    ids = re.findall(r'action="/views/(\d+)"', page)
    assert ids
    return max(int(i) for i in ids)


def make_queue(
    client: Any, view_id: int, reviewers: list[str], mode: str = "round_robin", name: str = "Q"
) -> int:
    response = client.post(
        "/queues", data={"name": name, "view_id": view_id, "mode": mode, "reviewer": reviewers}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def add_criterion(
    client: Any, queue_id: int, label: str, kind: str, options: str = "", required: bool = True
) -> int:
    data = {"label": label, "kind": kind, "options": options}
    if required:
        data["required"] = "1"
    response = client.post(f"/queues/{queue_id}/criteria", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    with client.application.app_context():
        from webapp.queues import service

        with service.get_database().read() as conn:
            c = service.criteria_t.c
            wanted = c.label == " ".join(label.split())
            found = conn.execute(
                service.select(c.id).where(c.queue_id == queue_id, wanted)
            ).scalar_one()
    return int(found)


def items(app: Any, queue_id: int) -> dict[str, tuple[str, str | None]]:
    from webapp.queues import service

    with app.app_context(), service.get_database().read() as conn:
        i = service.items_t.c
        rows = conn.execute(
            service.select(i.session_id, i.state, i.assignee).where(i.queue_id == queue_id)
        )
        return {r.session_id: (r.state, r.assignee) for r in rows}


# -- saved views -----------------------------------------------------------------------


def test_a_view_is_saved_normalised_and_counted_in_the_nav(
    app: Any, client: Any, auth: Any, manager_of: Any
) -> None:
    for _ in range(3):
        make_session(manager_of, "failed")
    make_session(manager_of, "completed")
    auth.login("viewer", "vera")
    view_id = save_view(client, "My failures", "status=failed&older=junk~x&bogus=1", shared=False)
    page = client.get("/sessions").get_data(as_text=True)
    nav = page[page.index('class="views-menu"') :]
    assert "My failures" in nav
    assert re.search(r'href="/sessions\?status=failed"><span class="view-name">My failures</span>'
                     r'.*?<span class="view-count">3</span>', nav, re.S)  # fmt: skip
    assert ("vera", "view.create") in audit_actions(app)
    # personal: another user does not see it, cannot change it
    auth.login("viewer", "other")
    assert "My failures" not in client.get("/views").get_data(as_text=True)
    assert client.post(f"/views/{view_id}", data={"name": "x"}).status_code == 404
    assert client.post(f"/views/{view_id}/delete").status_code == 404


def test_the_nav_count_stops_at_the_cap(
    app: Any, client: Any, auth: Any, manager_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.queues import service

    monkeypatch.setattr(service, "COUNT_CAP", 2)
    for _ in range(3):
        make_session(manager_of, "failed")
    auth.login("viewer")
    save_view(client, "Failing", "status=failed")
    assert '<span class="view-count">2+</span>' in client.get("/views").get_data(as_text=True)


def test_nav_counts_are_kept_briefly_and_the_views_page_counts_afresh(
    app: Any, client: Any, auth: Any, manager_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.queues import service

    make_session(manager_of, "failed")
    auth.login("viewer")
    save_view(client, "Failing", "status=failed")
    nav = '<span class="view-count">{}</span>'
    assert nav.format(1) in client.get("/sessions").get_data(as_text=True)
    make_session(manager_of, "failed")
    assert nav.format(1) in client.get("/sessions").get_data(as_text=True)  # kept
    assert nav.format(2) in client.get("/views").get_data(as_text=True)  # afresh
    make_session(manager_of, "failed")
    monkeypatch.setattr(service.time, "monotonic", lambda: 10.0**9)  # past COUNT_TTL
    assert nav.format(3) in client.get("/sessions").get_data(as_text=True)


def test_shared_views_are_changed_by_their_owner_or_an_admin(
    app: Any, client: Any, auth: Any
) -> None:
    auth.login("reviewer", "rita")
    view_id = save_view(client, "Team view", "status=completed", shared=True)
    auth.login("viewer", "vera")
    page = client.get("/views").get_data(as_text=True)
    assert "Team view" in page and "shared by rita" in page
    assert client.post(f"/views/{view_id}", data={"name": "Mine now"}).status_code == 403
    assert client.post(f"/views/{view_id}/delete").status_code == 403
    auth.login("admin", "ada")
    renamed = client.post(f"/views/{view_id}", data={"name": "Renamed", "shared": "1"})
    assert renamed.status_code == 303
    assert "Renamed" in client.get("/views").get_data(as_text=True)
    assert client.post(f"/views/{view_id}/delete").status_code == 303
    assert "Renamed" not in client.get("/views").get_data(as_text=True)
    actions = audit_actions(app)
    assert ("ada", "view.update") in actions and ("ada", "view.delete") in actions


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("bad status", "status=bogus"),
        ("bad day", "from=2026-02-30"),
        ("", "status=failed"),
        ("nul\x00", "status=failed"),
        ("x" * 150, "status=failed"),
        ("bad context", "context==novalue"),
        ("nul in query", "q=a%00b"),
        ("huge", "q=" + "a" * 5000),
    ],
)
def test_a_bad_view_is_refused_and_changes_nothing(
    app: Any, client: Any, auth: Any, name: str, query: str
) -> None:
    auth.login("viewer")
    before = snapshot(app)
    response = client.post("/views", data={"name": name, "query": query})
    assert response.status_code == 400
    assert snapshot(app) == before


# -- queues ----------------------------------------------------------------------------


def test_round_robin_picks_up_new_sessions_and_shows_progress(
    app: Any, client: Any, auth: Any, manager_of: Any
) -> None:
    auth.user("reviewer", "rita")
    auth.user("reviewer", "sam")
    auth.login("admin", "ada")
    view_id = save_view(client, "Failed", "status=failed")
    queue_id = make_queue(client, view_id, ["rita", "sam"])
    add_criterion(client, queue_id, "Correct", "passfail")
    assert items(app, queue_id) == {}
    first = [make_session(manager_of, "failed") for _ in range(4)]
    make_session(manager_of, "completed")  # not in the view
    page = client.get(f"/queues/{queue_id}").get_data(as_text=True)
    found = items(app, queue_id)
    assert set(found) == set(first)
    assert sorted(a for _, a in found.values()) == ["rita", "rita", "sam", "sam"]
    assert "0 / 4" in page
    # a session made later joins by itself when the queue is next looked at
    later = make_session(manager_of, "failed")
    client.get(f"/queues/{queue_id}")
    assert items(app, queue_id)[later] == ("assigned", "rita")
    assert ("system", "queue.assign") in audit_actions(app)
    # "next" walks the reviewer's own items, oldest assignment first
    auth.login("reviewer", "rita")
    response = client.post(f"/queues/{queue_id}/next")
    assert response.status_code == 303
    target = response.headers["Location"]
    sid = target.split("/sessions/")[1].split("?")[0]
    assert items(app, queue_id)[sid][1] == "rita"
    assert f"queue={queue_id}" in target
    # the session page shows the rubric with the key hints and n for the queue
    session_page = client.get(target).get_data(as_text=True)
    assert 'id="rubric-panel"' in session_page
    assert session_page.index('data-review-key="n"') < session_page.index('id="review-panel"')
    # scoring the required criterion finishes the item
    criterion = add_criterion_id(app, queue_id, "Correct")
    answer = client.post(
        f"/queues/{queue_id}/sessions/{sid}/score",
        data={"criterion": criterion, "value": "pass"},
        headers=HX,
    )
    assert answer.status_code == 200
    assert 'id="rubric-panel"' in answer.get_data(as_text=True)
    assert items(app, queue_id)[sid] == ("done", "rita")
    assert ("rita", "rubric.score") in audit_actions(app)
    page = client.get(f"/queues/{queue_id}").get_data(as_text=True)
    assert "1 / 5" in page
    people = page[page.index('class="people"') :]
    assert re.search(r">rita</a></td><td class=\"num\">2</td><td class=\"num\">1</td>", people)


def add_criterion_id(app: Any, queue_id: int, label: str) -> int:
    from webapp.queues import service

    with app.app_context(), service.get_database().read() as conn:
        c = service.criteria_t.c
        query = service.select(c.id).where(c.queue_id == queue_id, c.label == label)
        return int(conn.execute(query).scalar_one())


def test_claim_mode_and_expiry(
    app: Any, client: Any, auth: Any, manager_of: Any, clock: Any
) -> None:
    auth.user("reviewer", "rita")
    auth.user("reviewer", "sam")
    auth.login("admin", "ada")
    view_id = save_view(client, "Done", "status=completed")
    queue_id = make_queue(client, view_id, ["rita", "sam"], mode="claim")
    a, b = make_session(manager_of), make_session(manager_of)
    client.get(f"/queues/{queue_id}")
    assert items(app, queue_id) == {a: ("open", None), b: ("open", None)}
    auth.login("reviewer", "rita")
    response = client.post(f"/queues/{queue_id}/next")
    claimed = response.headers["Location"].split("/sessions/")[1].split("?")[0]
    assert items(app, queue_id)[claimed] == ("assigned", "rita")
    assert ("rita", "queue.assign") in audit_actions(app)
    # next again gives the same one: it is still hers
    again = client.post(f"/queues/{queue_id}/next").headers["Location"]
    assert claimed in again
    other = b if claimed == a else a
    auth.login("reviewer", "sam")
    assert client.post(f"/queues/{queue_id}/claim", data={"session_id": claimed}).status_code == 400
    assert client.post(f"/queues/{queue_id}/claim", data={"session_id": other}).status_code == 303
    assert items(app, queue_id)[other] == ("assigned", "sam")
    # not worked on for longer than the setting: back in the queue
    clock.advance(timedelta(hours=4, seconds=1))
    client.get(f"/queues/{queue_id}")
    assert items(app, queue_id) == {a: ("open", None), b: ("open", None)}
    assert audit_actions(app).count(("system", "queue.expire")) == 2
    # a viewer cannot claim; someone not in the queue cannot work on it
    auth.login("viewer", "vera")
    assert client.post(f"/queues/{queue_id}/claim", data={"session_id": a}).status_code == 403
    auth.login("reviewer", "outsider")
    assert client.post(f"/queues/{queue_id}/next").status_code == 403


def test_scores_agreement_filter_and_sort(
    app: Any, client: Any, auth: Any, manager_of: Any
) -> None:
    auth.user("reviewer", "rita")
    auth.user("reviewer", "sam")
    auth.login("admin", "ada")
    view_id = save_view(client, "Done", "status=completed")
    queue_id = make_queue(client, view_id, ["rita", "sam"], mode="claim")
    ok = add_criterion(client, queue_id, "Correct", "passfail")
    quality = add_criterion(client, queue_id, "Quality", "score")
    kind = add_criterion(client, queue_id, "Kind", "choice", "bug, feature, chore", required=False)
    note = add_criterion(client, queue_id, "Notes", "text", required=False)
    sessions = [make_session(manager_of, request=f"task {n}") for n in range(4)]
    client.get(f"/queues/{queue_id}")
    # Rita and Sam agree on 3 of 4 pass/fail answers.
    answers = {"rita": ["pass", "pass", "fail", "fail"], "sam": ["pass", "fail", "fail", "fail"]}
    for who, given in answers.items():
        auth.login("reviewer", who)
        for sid, value in zip(sessions, given, strict=True):
            url = f"/queues/{queue_id}/sessions/{sid}/score"
            answer = client.post(url, data={"criterion": ok, "value": value}, headers=HX)
            assert answer.status_code == 200
    auth.login("reviewer", "rita")
    for sid, score in zip(sessions, ["5", "1", "3", "4"], strict=True):
        url = f"/queues/{queue_id}/sessions/{sid}/score"
        assert client.post(url, data={"criterion": quality, "value": score}).status_code == 303
    url = f"/queues/{queue_id}/sessions/{sessions[0]}/score"
    assert client.post(url, data={"criterion": kind, "value": "feature"}).status_code == 303
    assert client.post(url, data={"criterion": note, "value": "fine **work**"}).status_code == 303
    before = snapshot(app)
    for bad in ({"criterion": quality, "value": "6"}, {"criterion": kind, "value": "nope"},
                {"criterion": note, "value": "  "}, {"criterion": ok, "value": "a\x00"},
                {"criterion": 999999, "value": "pass"}, {"value": "pass"}):  # fmt: skip
        assert client.post(url, data=bad, headers=HX).status_code in (400, 404)
    assert snapshot(app) == before
    page = client.get(f"/queues/{queue_id}").get_data(as_text=True)
    agreement = page[page.index('class="agreement"') :]
    # 4 sessions, 75% alike; rita 2 pass/2 fail, sam 1/3: p_e = .5*.25+.5*.75 = .5, kappa .5
    row = (
        r"Correct</td><td>rita · sam</td><td class=\"num\">4</td>\s*"
        r"<td class=\"num\">75%</td>\s*<td class=\"num\">0.50</td>"
    )
    assert re.search(row, agreement)
    # sorted by quality, high first; filtered to those Sam failed
    ordered = client.get(f"/queues/{queue_id}?criterion={quality}&sort=score_desc").get_data(
        as_text=True
    )
    positions = [ordered.index(f"task {n}<") for n in (0, 3, 2, 1)]
    assert positions == sorted(positions)
    passed = client.get(f"/queues/{queue_id}?criterion={ok}&value=pass").get_data(as_text=True)
    assert "task 0<" in passed and "task 1<" in passed and "task 2<" not in passed
    # the session page shows both reviewers' answers
    session_page = client.get(f"/sessions/{sessions[1]}?queue={queue_id}").get_data(as_text=True)
    assert "rita:</span> pass" in session_page and "sam:</span> fail" in session_page
    # verdicts still work on a session in a queue
    verdict = client.post(f"/review/sessions/{sessions[1]}/verdict", data={"verdict": "approved"})
    assert verdict.status_code == 303


def test_queue_admin_is_checked_and_audited(app: Any, client: Any, auth: Any) -> None:
    auth.user("reviewer", "rita")
    auth.login("admin", "ada")
    view_id = save_view(client, "All", "")
    before = snapshot(app)
    for data in (
        {"name": "Q", "view_id": view_id, "mode": "round_robin", "reviewer": ["nobody"]},
        {"name": "Q", "view_id": view_id, "mode": "sideways", "reviewer": ["rita"]},
        {"name": "", "view_id": view_id, "mode": "claim", "reviewer": ["rita"]},
        {"name": "Q", "view_id": 424242, "mode": "claim", "reviewer": ["rita"]},
        {"name": "Q", "view_id": "x", "mode": "claim", "reviewer": ["rita"]},
        {"name": "Q", "view_id": view_id, "mode": "claim"},
    ):
        assert client.post("/queues", data=data).status_code in (400, 404)
    assert snapshot(app) == before
    queue_id = make_queue(client, view_id, ["rita"])
    one_choice = {"label": "c", "kind": "choice", "options": "only"}
    assert client.post(f"/queues/{queue_id}/criteria", data=one_choice).status_code == 400
    criterion = add_criterion(client, queue_id, "Works", "passfail")
    assert client.post(f"/views/{view_id}/delete").status_code == 400  # used by the queue
    reviewers = client.post(f"/queues/{queue_id}/reviewers", data={"reviewer": ["ada"]})
    assert reviewers.status_code == 303
    assert client.post(f"/queues/{queue_id}/criteria/{criterion}/delete").status_code == 303
    assert client.post(f"/queues/{queue_id}/delete").status_code == 303
    actions = [a for who, a in audit_actions(app) if who == "ada"]
    wanted = ("queue.create", "rubric.add", "queue.reviewers", "rubric.remove", "queue.delete")
    assert set(wanted) <= set(actions)
    # reviewers cannot manage
    auth.login("reviewer", "rita")
    assert client.post("/queues", data={"name": "Mine", "view_id": view_id}).status_code == 403


def test_the_migration_makes_the_tables_as_declared(app: Any) -> None:
    from webapp.sessions.models import Base

    engine = app.extensions["sessionboard.manager"].store.engine
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in differences if any(t in repr(d) for t in QUEUE_TABLES)] == []
