"""``sessionboard search``: prints hits, keeps to --status, rebuilds, refuses
what cannot be searched."""

from __future__ import annotations

from typing import Any

from webapp.extensions import get_manager
from webapp.sessions import Message


def make(app: Any) -> tuple[str, str]:
    with app.app_context():
        manager = get_manager()
        done = manager.create("needle in a completed session", expires_at=None)
        manager.set_running(done.id)
        manager.append_message(done.id, Message("user", "the needle message"))
        manager.set_completed(done.id, "ok")
        failed = manager.create("another needle", expires_at=None)
        manager.set_running(failed.id)
        manager.set_failed(failed.id, "no")
        return done.id, failed.id


def test_search_prints_hits_newest_first(app: Any, runner: Any) -> None:
    done, failed = make(app)
    result = runner.invoke(args=["search", "needle"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3
    assert failed in lines[0] and "request" in lines[0] and "another needle" in lines[0]
    assert done in lines[1] and "message " in lines[1] and "the needle message" in lines[1]
    only = runner.invoke(args=["search", "needle", "--status", "failed"])
    assert only.output.splitlines() == lines[:1]
    limited = runner.invoke(args=["search", "needle", "--limit", "1"])
    assert limited.output.splitlines() == lines[:1]


def test_search_rebuild(app: Any, runner: Any) -> None:
    make(app)
    result = runner.invoke(args=["search", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert "search index rebuilt: 5 texts" in result.output
    assert len(runner.invoke(args=["search", "needle"]).output.splitlines()) == 3


def test_search_refuses_what_cannot_be_searched(app: Any, runner: Any) -> None:
    make(app)
    for query in ["a\x00b", "in:nowhere x", ""]:
        result = runner.invoke(args=["search", query])
        assert result.exit_code == 2, query
    nothing = runner.invoke(args=["search", "haystack"])
    assert nothing.exit_code == 0 and "no match" in nothing.output
    short = runner.invoke(args=["search", "ne"])
    assert "only the latest texts" in short.output and "needle" in short.output
