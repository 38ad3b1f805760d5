"""Retention: 30 days by default, and the session page says when its messages go."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from webapp import config
from webapp.sessions import Message

README = Path(__file__).resolve().parents[2] / "README.md"


def retention_line(html: str) -> str | None:
    """The text of the header's retention line, tags stripped, or None."""
    found = re.search(r'<dd id="retention">(.*?)</dd>', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else None


def test_the_default_retention_is_30_days_everywhere(app: Any, runner: Any) -> None:
    assert config.SETTINGS["MESSAGE_RETENTION"][0] == "30d"
    assert app.extensions["sessionboard.manager"].config.message_retention == timedelta(days=30)
    listed = runner.invoke(args=["settings"]).output
    assert "SESSIONBOARD_MESSAGE_RETENTION (default: 30d)" in listed
    assert "| `SESSIONBOARD_MESSAGE_RETENTION` | `30d` |" in README.read_text()


def test_the_session_page_says_when_the_oldest_message_goes(
    client: Any, auth: Any, make_session: Any, app_manager: Any, clock: Any
) -> None:
    auth.login("viewer")
    oldest = clock() - timedelta(days=2)
    session = make_session(
        messages=[
            Message("user", "first", timestamp=oldest),
            Message("assistant", "second", timestamp=clock() - timedelta(days=1)),
        ]
    )
    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    goes = oldest + timedelta(days=30)
    assert retention_line(html) == (
        f"Messages older than 30d are purged; the oldest goes on {goes:%Y-%m-%d %H:%M} UTC."
    )
    assert f'datetime="{goes.isoformat()}"' in html
    # The date is the retention rule's: a sweep just before it keeps the message,
    # one just after purges it.
    assert app_manager.sweep(goes - timedelta(seconds=1), dry_run=True).purged_messages == 0
    assert app_manager.sweep(goes + timedelta(seconds=1), dry_run=True).purged_messages == 1


def test_overdue_messages_go_at_the_next_sweep(
    client: Any, auth: Any, make_session: Any, clock: Any
) -> None:
    auth.login("viewer")
    old = clock() - timedelta(days=31)
    session = make_session(messages=[Message("user", "old", timestamp=old)])
    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert retention_line(html) == (
        "Messages older than 30d are purged; the oldest goes at the next sweep."
    )


def test_kept_sessions_and_sessions_without_messages(
    client: Any, auth: Any, make_session: Any, app_manager: Any
) -> None:
    auth.login("viewer")
    kept = make_session(messages=[Message("user", "keep me")])
    app_manager.set_keep(kept.id, True)
    assert retention_line(client.get(f"/sessions/{kept.id}").get_data(as_text=True)) == (
        "kept: never purged"
    )
    empty = make_session()
    assert retention_line(client.get(f"/sessions/{empty.id}").get_data(as_text=True)) == (
        "Messages older than 30d are purged."
    )


def test_no_retention_line_when_retention_is_off(
    client: Any, auth: Any, make_session: Any, app_manager: Any
) -> None:
    auth.login("viewer")
    app_manager.config = dataclasses.replace(app_manager.config, message_retention=timedelta(0))
    session = make_session(messages=[Message("user", "forever")])
    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert retention_line(html) is None
    assert "purged" not in html.split('id="session-header"')[1].split("</header>")[0]


def test_the_first_sweep_of_a_fresh_demo_purges_nothing(app_manager: Any, runner: Any) -> None:
    # With a 7-day window one demo session in ten older than it went at once
    # (131 of the default 2,000 in the issue): with 30 days none is that old yet.
    result = runner.invoke(args=["demo", "--sessions", "500", "--seed", "3"])
    assert result.exit_code == 0, result.output
    first = app_manager.sweep(dry_run=True)
    assert (first.purged_messages, first.purged_sessions) == (0, 0)
    assert "(0 older than the retention window marked keep)" in result.output
