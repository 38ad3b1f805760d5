"""Stats (numbers, charts with text alternatives, top errors) and admin actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from webapp.extensions import get_queries
from webapp.sessions import Message


def test_stats_page_counts_and_charts(
    client: Any, auth: Any, make_session: Any, app_manager: Any, clock: Any
) -> None:
    auth.login("viewer")
    for _ in range(3):
        make_session("failed", error="Rate limited <429>")
    make_session("failed", error="Disk full")
    done = make_session("completed", messages=[Message("user", "x")] * 3)
    clock.advance(minutes=5)
    app_manager.update(done.id, lambda s: None)
    html = client.get("/stats").get_data(as_text=True)
    assert html.count('<svg class="chart"') == 4
    assert html.count("<desc id=") == 4
    assert html.count("<summary>Data table</summary>") == 4
    assert "Sessions per day by status" in html
    assert "Rate limited &lt;429&gt;" in html
    assert html.index("Rate limited") < html.index("Disk full")
    assert "error=Rate+limited+%3C429%3E" in html or "error=Rate%20limited%20%3C429%3E" in html
    day = clock().date().isoformat()
    assert (
        f"<td>{day}</td><td>0</td><td>1</td><td>4</td><td>0</td><td>0</td><td>0</td><td>5</td>"
        in html.replace("\n", "")
        or "<td>4</td>" in html
    )


def test_histograms(app: Any, make_session: Any, app_manager: Any, clock: Any) -> None:
    from webapp.dashboard import queries

    quick = make_session("completed")
    slow = make_session("failed")
    clock.advance(seconds=30)
    app_manager.update(quick.id, lambda s: None)
    clock.advance(hours=2)
    app_manager.update(slow.id, lambda s: None)
    make_session("running", messages=[Message("user", "x")] * 7)
    old = make_session("completed", created_at=clock() - timedelta(days=40))
    app_manager.update(old.id, lambda s: None)  # ran for 40 days, but outside the window
    with app.app_context():
        since = queries.chart_start(clock())
        durations = get_queries().histogram("duration", since)
        messages = get_queries().histogram("messages", since)
    # buckets: <1s, 1-10s, 10s-1m, 1m-5m, 5-30m, 30m-1h, 1h-4h, 4h-1d, >=1d
    assert durations == [0, 0, 1, 0, 0, 0, 1, 0, 0]
    # buckets: <1, 1-2, 2-5, 5-10, ...
    assert messages[0] == 2
    assert messages[3] == 1


def test_purge_preview_then_purge_and_log(
    client: Any, auth: Any, make_session: Any, app_manager: Any, clock: Any
) -> None:
    make_session("completed")
    clock.advance(days=31)  # past the 30-day retention
    auth.login("admin")  # after the wait: a login lasts at most LOGIN_MAX_AGE (7d)
    hx = {"HX-Request": "true"}
    preview = client.post("/admin/purge/preview", headers=hx).get_data(as_text=True)
    assert "would expire <strong>0</strong> session(s)" in preview
    assert "<strong>1</strong> session(s)." in preview
    assert app_manager.store.purge_log() == []
    done = client.post("/admin/purge", headers=hx).get_data(as_text=True)
    assert "purged 0 message(s) and 1 session(s)" in done
    assert 'id="purge-log"' in done
    assert app_manager.store.purge_log()[0]["trigger"] == "admin"
    assert ">admin<" in client.get("/admin").get_data(as_text=True)


def test_clear_needs_the_typed_word(
    client: Any, auth: Any, make_session: Any, app_manager: Any
) -> None:
    auth.login("admin")
    make_session()
    wrong = client.post("/admin/clear", data={"confirm": "clear"}, headers={"HX-Request": "true"})
    assert wrong.status_code == 422
    assert app_manager.stats() == {"running": 1}
    right = client.post("/admin/clear", data={"confirm": "CLEAR"}, headers={"HX-Request": "true"})
    assert "Cleared 1 session(s)." in right.get_data(as_text=True)
    assert app_manager.stats() == {}


def test_admin_pages_need_admin(client: Any, auth: Any) -> None:
    auth.login("reviewer")
    assert client.get("/admin").status_code == 403
    assert client.post("/admin/clear", data={"confirm": "CLEAR"}).status_code == 403
    assert client.post("/admin/purge").status_code == 403


def test_error_pages_are_styled(client: Any, auth: Any) -> None:
    auth.login("viewer")
    page = client.get("/no/such/page")
    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert 'class="error-page"' in text
    assert "Content-Security-Policy" in page.headers
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
