"""The list's rows made in Python (webapp/dashboard/listing.py): the same links as
``url_for``, the same time tags as before, and every cell escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import url_for

from webapp.params import session_hrefs
from webapp.times import time_tag

ODD_IDS = ["plain-id", "a b", "é~x", "a?b#c", "50%", "a&b=c;d", "<x>\"'", "x" * 64]


def test_row_links_are_what_url_for_writes(app: Any) -> None:
    for base in ("http://localhost/", "http://localhost/board/"):
        with app.test_request_context("/", base_url=base):
            hrefs = session_hrefs(ODD_IDS)
            assert hrefs == {
                sid: url_for("dashboard.session_page", session_id=sid) for sid in ODD_IDS
            }
    assert hrefs["a?b#c"] == "/board/sessions/a%3Fb%23c"
    args = {"inbox": 1, "status": "failed", "tag": "a&b %00 é"}
    with app.test_request_context("/"):
        assert session_hrefs(ODD_IDS, **args) == {
            sid: url_for("dashboard.session_page", session_id=sid, **args) for sid in ODD_IDS
        }


def test_time_tag() -> None:
    now = datetime(2026, 1, 15, 12, 0, 5, tzinfo=UTC)
    then = now - timedelta(minutes=5)
    assert time_tag(then, now) == (
        '<time datetime="2026-01-15T11:55:05+00:00" title="2026-01-15 11:55:05 UTC" '
        "data-relative>5 min ago</time>"
    )
    assert time_tag(None, now) == '<span class="muted">never</span>'
    assert (
        time_tag(None, now, "<b>none</b>") == '<span class="muted">&lt;b&gt;none&lt;/b&gt;</span>'
    )


def test_every_cell_is_escaped(client: Any, auth: Any, make_session: Any) -> None:
    auth.login("viewer")
    session = make_session(
        "running",
        "<img src=x onerror=alert(1)> *do* it",
        context={"project_path": '/src/<script>alert("p")</script>/'},
    )
    html = client.get("/sessions").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; do it" in html  # the preview: no markdown
    assert "&lt;script&gt;alert(&#34;p&#34;)&lt;/script&gt;" in html  # the project's folder
    assert f'href="/sessions/{session.id}"' in html
    assert f'data-href="/sessions/{session.id}"' in html


def test_a_row_written_once_still_shows_what_changed(
    client: Any, auth: Any, make_session: Any, app_manager: Any, clock: Any
) -> None:
    """Rows are kept written (listing._write): the relative words follow the clock,
    and a session that changed is written again."""
    auth.login("admin")
    session = make_session("running", "Keep me written")
    make_session("running", "Never expires", expires_at=None)
    first = client.get("/sessions").get_data(as_text=True)
    assert (
        '<td class="col-expires"><span class="muted">never</span></td>\n'
        '        <td class="num col-messages">0</td>'
    ) in first
    badge = f'id="badge-{session.id}" class="badge'
    assert "just now</time>" in first and f'{badge} s-running"' in first
    clock.advance(minutes=5)
    later = client.get("/sessions").get_data(as_text=True)
    assert "5 min ago</time>" in later and "just now</time>" not in later
    app_manager.set_completed(session.id, "done")
    verdict = client.post(f"/review/sessions/{session.id}/verdict", data={"verdict": "approved"})
    assert verdict.status_code == 303
    done = client.get("/sessions").get_data(as_text=True)
    assert f'{badge} s-completed"' in done and f'{badge} s-running"' not in done
    assert 'class="verdict v-approved"' in done


def test_the_model_choices_are_read_again_after_a_while(
    client: Any, auth: Any, make_session: Any, app_manager: Any, monkeypatch: Any
) -> None:
    """The filter form's models are remembered per process for a few seconds."""
    from tests.usage.conftest import usage_message
    from webapp.dashboard import queries

    auth.login("viewer")
    first = make_session("running", "One model", messages=[usage_message("claude-haiku-4-5")])
    assert '<option value="claude-haiku-4-5"' in client.get("/sessions").get_data(as_text=True)
    app_manager.store.append_messages(
        first.id, [usage_message("claude-opus-4-1")], now=app_manager.clock()
    )
    remembered = client.get("/sessions").get_data(as_text=True)
    assert '<option value="claude-opus-4-1"' not in remembered  # within the few seconds
    monkeypatch.setattr(queries, "MODEL_CHOICES_SECONDS", 0.0)
    client.get("/sessions")  # the remembered choices lapse; this read renews them
    again = client.get("/sessions").get_data(as_text=True)
    assert '<option value="claude-opus-4-1"' in again
