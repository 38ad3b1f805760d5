"""The command line and the settings: each command works, has --help and is documented."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from webapp import config as settings
from webapp import create_app
from webapp.extensions import db, get_manager
from webapp.sessions import Message, Status

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _walk(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found.extend(_walk(command, f"{prefix}{name} "))
    return found


def test_every_setting_is_documented() -> None:
    missing = [n for n in settings.SETTINGS if f"SESSIONBOARD_{n}" not in README]
    assert missing == []


def test_every_command_has_help_and_is_documented(app, runner) -> None:
    from webapp.cli import main

    app_commands = _walk(app.cli)
    local_commands = _walk(main)  # need no app, e.g. claude-hook
    assert {"serve", "db upgrade", "sweep", "demo"} <= {name for name, _ in app_commands}
    assert "claude-hook" in {name for name, _ in local_commands}
    for name, command in app_commands + local_commands:
        if (name, command) in local_commands:
            result = CliRunner().invoke(main, [*name.split(), "--help"])
        else:
            result = runner.invoke(args=[*name.split(), "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output
        assert f"sessionboard {name}" in README, f"`sessionboard {name}` is not in the README"


def test_db_upgrade_and_current(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SESSIONBOARD_INSTANCE_PATH", str(tmp_path))
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": str(tmp_path / "new.db")})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at revision" in result.output
    current = runner.invoke(args=["db", "current"])
    revisions = re.findall(r"database: (\S+)\s+code: (\S+)", current.output)
    assert revisions and revisions[0][0] == revisions[0][1] != "None"
    with app.app_context():
        with get_manager().store.read() as conn:
            assert conn.execute(text("SELECT count(*) FROM sessions")).scalar() == 0
    stop(app)


def get_manager_of(app):
    return app.extensions["sessionboard.manager"]


def stop(app) -> None:
    """Stop an app made in a test and close its connections."""
    get_manager_of(app).stop()
    with app.app_context():
        db.engine.dispose()


def test_sweep_dry_run_then_real(app, runner) -> None:
    manager = get_manager_of(app)
    old = manager.clock() - timedelta(days=30)
    s = manager.create("old", created_at=old)
    manager.store.insert_message(s.id, Message("user", "x", timestamp=old))
    dry = runner.invoke(args=["sweep", "--dry-run"])
    assert dry.exit_code == 0
    assert "would: expire 1 session(s), purge 1 message(s) and 1 session(s)" in dry.output
    assert manager.get(s.id).status is Status.PENDING
    real = runner.invoke(args=["sweep"])
    assert "did: expire 1 session(s), purge 1 message(s) and 1 session(s)" in real.output
    assert manager.get(s.id) is None
    (entry,) = manager.store.purge_log()
    assert entry["trigger"] == "cli" and entry["purged_sessions"] == 1


def test_demo_writes_realistic_data(app, runner) -> None:
    result = runner.invoke(args=["demo", "--sessions", "400", "--seed", "7"])
    assert result.exit_code == 0, result.output
    manager = get_manager_of(app)
    sessions = manager.list()
    top = [s for s in sessions if s.parent_id is None]
    children = {s.id: s for s in sessions if s.parent_id is not None}
    assert len(top) == 400 and children
    assert f"added 400 sessions (and {len(children)} subagent sessions)" in result.output
    assert {s.status for s in top} == set(Status), "every status is present"
    now = manager.clock()
    ages = [(now - s.created_at).days for s in sessions]
    assert max(ages) >= 25 and min(ages) == 0, "spread over the last 30 days"
    assert all({"project_path", "git_branch", "model"} <= set(s.context) for s in sessions)
    assert all(s.error for s in sessions if s.status is Status.FAILED)
    kinds: set[str] = set()
    fenced = long_message = False
    for s in sessions:
        messages = manager.get_messages(s.id)
        assert len(messages) == s.message_count
        # One story a session: the request is the first prompt, every tool call has
        # its result, a failed session ends on its error, a completed one answers.
        assert messages[0].content == s.request
        calls = [m.meta["tool_use_id"] for m in messages if m.meta.get("kind") == "tool_use"]
        results = [m.meta["tool_use_id"] for m in messages if m.meta.get("kind") == "tool_result"]
        if s.status is not Status.PENDING:
            assert calls == results
        if s.status is Status.FAILED:
            assert messages[-1].meta["kind"] == "api_error" and messages[-1].content == s.error
        if s.status is Status.COMPLETED:
            assert messages[-1].meta["kind"] == "text" and messages[-1].content == s.response
        for m in messages:
            kinds.add(m.meta.get("kind", ""))
            fenced = fenced or "```" in m.content
            long_message = long_message or len(m.content) > 20_000
            child = m.meta.get("child_session_id")
            if child is not None:
                assert children[child].parent_id == s.id
                assert children[child].context["parent_tool_use_id"] == m.meta["tool_use_id"]
    assert {"tool_use", "tool_result", "thinking", "text", "api_error"} <= kinds
    assert fenced and long_message
    again = runner.invoke(args=["demo", "--if-empty"])
    assert "no demo data added" in again.output
    assert len(manager.list()) == len(sessions)


def test_settings_from_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SESSIONBOARD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("SESSIONBOARD_DATABASE_URL", str(tmp_path / "env.db"))
    monkeypatch.setenv("SESSIONBOARD_SESSION_TIMEOUT", "90s")
    monkeypatch.setenv("SESSIONBOARD_MESSAGE_RETENTION", "2d")
    monkeypatch.setenv("SESSIONBOARD_SLIDING_EXPIRY", "true")
    monkeypatch.setenv("SESSIONBOARD_MAX_BODY_BYTES", "1234")
    app = create_app()
    config = get_manager_of(app).config
    assert config.timeout == timedelta(seconds=90)
    assert config.message_retention == timedelta(days=2)
    assert config.sliding_expiry is True
    assert app.config["MAX_CONTENT_LENGTH"] == 1234
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'env.db'}"
    stop(app)


def test_secret_key_generated_once_and_kept(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SESSIONBOARD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("SESSIONBOARD_SECRET_KEY", raising=False)
    first = create_app()
    second = create_app()
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    for app in (first, second):
        stop(app)


@pytest.mark.parametrize("value", ["ten minutes", "-5m", ""])
def test_bad_duration_is_a_clear_error(value: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        settings.parse_duration(value)


def test_create_app_starts_no_sweeper(app) -> None:
    assert get_manager_of(app)._sweeper is None
