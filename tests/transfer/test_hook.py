"""``sessionboard claude-hook`` against a live server, with recorded hook payloads
(tests/data/claude/hooks) and a transcript that grows between calls."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from webapp.accounts.tokens import create_token
from webapp.claude.hook import claude_hook_command
from webapp.claude.transcript import parse_file

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "claude" / "hooks"
SESSION_ID = "7acd37a8-2745-4b58-a8a9-46164b22ad9e"


@pytest.fixture
def app(app: Any) -> Any:
    """The test app without retention: the corpus' transcripts are from 2025, and the
    API refuses messages that a sweep would purge at once."""
    manager = app.extensions["sessionboard.manager"]
    manager.config = replace(manager.config, message_retention=timedelta(0))
    return app


@pytest.fixture
def server(app: Any) -> Iterator[tuple[str, str]]:
    """The app served on a free local port in a thread: its URL and an API token."""
    with app.app_context():
        _info, token = create_token(app.extensions["sessionboard.manager"].store.engine, "hook")
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", token
    httpd.shutdown()
    thread.join()


def _dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _hook(event: str, transcript: Path, url: str, token: str, spool: Path) -> Any:
    payload = (PAYLOADS / f"{event}.json").read_text(encoding="utf-8")
    payload = payload.replace("TRANSCRIPT", str(transcript))
    args = ["--url", url, "--token", token, "--spool-dir", str(spool)]
    result = CliRunner().invoke(claude_hook_command, args, input=payload)
    assert result.exit_code == 0, result.output
    return result


def _grow(transcript: Path, data: bytes, fraction: float) -> None:
    end = len(data) if fraction >= 1 else data.index(b"\n", int(len(data) * fraction)) + 1
    transcript.write_bytes(data[:end])


def _remote(app: Any, session_id: str) -> tuple[Any, list[Any]]:
    manager = app.extensions["sessionboard.manager"]
    return manager.get(session_id), manager.store.get_messages(session_id)


def _assert_all_sent(app: Any, transcript: Path, spool: Path) -> None:
    """Nothing is left in the spool and the server has the whole, completed session."""
    assert not list((spool / "spool").iterdir())
    full = parse_file(transcript).sessions[0]
    session, messages = _remote(app, SESSION_ID)
    assert session.status == "completed"
    assert sorted(m.source_key for m in messages) == sorted(m.source_key for m in full.messages)


def test_hook_follows_a_growing_transcript(
    app: Any, server: tuple[str, str], corpus: Path, tmp_path: Path
) -> None:
    url, token = server
    data = next(corpus.glob(f"*{SESSION_ID}.jsonl")).read_bytes()
    transcript = tmp_path / "projects" / "demo" / f"{SESSION_ID}.jsonl"
    transcript.parent.mkdir(parents=True)
    spool = tmp_path / "spool"

    _grow(transcript, data, 0.3)
    _hook("session_start", transcript, url, token, spool)
    session, messages = _remote(app, SESSION_ID)
    assert session.status == "pending" and session.expires_at is None
    assert len(messages) == len(parse_file(transcript).sessions[0].messages)

    _grow(transcript, data, 0.6)
    _hook("user_prompt_submit", transcript, url, token, spool)
    assert _remote(app, SESSION_ID)[0].status == "running"

    _grow(transcript, data, 1)
    stop = _hook("stop", transcript, url, token, spool)
    assert stop.stderr == ""
    full = parse_file(transcript).sessions[0]
    session, messages = _remote(app, SESSION_ID)
    assert session.status == "completed"
    assert session.response == full.response
    assert session.context["output_tokens"] == full.context["output_tokens"]
    # every message once (the store orders them by timestamp, the file by line)
    assert {m.source_key: (m.role, m.content) for m in messages} == {
        m.source_key: (m.role, m.content) for m in full.messages
    }
    assert len(messages) == len(full.messages)

    _hook("session_end", transcript, url, token, spool)
    assert _remote(app, SESSION_ID)[0].status == "closed"
    # once more: nothing new is sent, the closed session stays as it is
    _hook("stop", transcript, url, token, spool)
    assert len(_remote(app, SESSION_ID)[1]) == len(full.messages)


def test_hook_spools_while_the_server_is_down(
    app: Any, server: tuple[str, str], corpus: Path, tmp_path: Path
) -> None:
    url, token = server
    data = next(corpus.glob(f"*{SESSION_ID}.jsonl")).read_bytes()
    transcript = tmp_path / f"{SESSION_ID}.jsonl"
    spool = tmp_path / "spool"

    _grow(transcript, data, 0.5)
    down = _hook("user_prompt_submit", transcript, _dead_url(), token, spool)
    assert "unreachable" in down.stderr
    assert list((spool / "spool").glob("*.json"))
    assert _remote(app, SESSION_ID)[0] is None

    _grow(transcript, data, 1)
    _hook("stop", transcript, url, token, spool)
    _assert_all_sent(app, transcript, spool)


def test_hook_never_fails_the_agent(tmp_path: Path) -> None:
    for args, stdin in (
        ([], "{}"),  # no URL or token
        (["--url", _dead_url(), "--token", "t"], "not json"),
    ):
        result = CliRunner().invoke(
            claude_hook_command, [*args, "--spool-dir", str(tmp_path)], input=stdin
        )
        assert result.exit_code == 0
        assert "sessionboard claude-hook:" in result.stderr
    payload = json.dumps({"session_id": "s1", "hook_event_name": "Stop"})
    result = CliRunner().invoke(
        claude_hook_command,
        ["--url", _dead_url(), "--token", "t", "--spool-dir", str(tmp_path)],
        input=payload,
    )
    assert result.exit_code == 0 and "unreachable" in result.stderr


@pytest.fixture
def busy_server(database_url: str, tmp_path: Path) -> Iterator[tuple[Any, str, str]]:
    """Like ``server``, but writes wait only 0.2 s for the write lock (then 503):
    the app, its URL and a token."""
    from webapp import create_app
    from webapp.extensions import db

    busy_app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "WRITE_LOCK_TIMEOUT": "0.2s",
            "MESSAGE_RETENTION": "0",
        }
    )
    with busy_app.app_context():
        token = create_token(busy_app.extensions["sessionboard.manager"].store.engine, "hook")[1]
    httpd = make_server("127.0.0.1", 0, busy_app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield busy_app, f"http://127.0.0.1:{httpd.server_port}", token
    httpd.shutdown()
    httpd.server_close()
    thread.join()
    busy_app.extensions["sessionboard.manager"].stop()
    with busy_app.app_context():
        db.engine.dispose()


def test_hook_spools_on_503_and_waits_as_retry_after_says(
    busy_server: tuple[Any, str, str], database_url: str, corpus: Path, tmp_path: Path
) -> None:
    from tests.api.conftest import write_lock_held

    app, url, token = busy_server
    data = next(corpus.glob(f"*{SESSION_ID}.jsonl")).read_bytes()
    transcript = tmp_path / f"{SESSION_ID}.jsonl"
    spool = tmp_path / "spool"
    _grow(transcript, data, 0.5)
    with write_lock_held(database_url):
        busy = _hook("user_prompt_submit", transcript, url, token, spool)
    assert "503 busy" in busy.stderr
    assert list((spool / "spool").glob("*.json"))
    assert _remote(app, SESSION_ID)[0] is None
    # The server asked for Retry-After seconds: until then the hook sends nothing.
    wait_until = spool / "retry-after"
    assert float(wait_until.read_text()) > 0
    wait_until.write_text(str(time.time() + 3600))
    _grow(transcript, data, 1)
    waiting = _hook("stop", transcript, url, token, spool)
    assert "Retry-After" in waiting.stderr
    assert _remote(app, SESSION_ID)[0] is None
    wait_until.write_text(str(time.time() - 1))
    _hook("stop", transcript, url, token, spool)
    _assert_all_sent(app, transcript, spool)
