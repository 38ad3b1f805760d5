"""Fixtures of the share link tests: the app's manager on a clock the test moves,
a session with a secret in it, and helpers to make links as a reviewer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from webapp.sessions import Manager, Message

#: A secret the redactor knows (an Anthropic key's shape).
SECRET = "sk-ant-api03-" + "Q" * 40


@pytest.fixture
def board(app: Any, clock: Any) -> Manager:
    """The app's Manager, driven by ``clock``."""
    manager: Manager = app.extensions["sessionboard.manager"]
    manager.clock = clock
    return manager


@pytest.fixture
def session_id(board: Manager) -> str:
    """A finished session whose prompt and answer carry :data:`SECRET`."""
    session = board.create(f"Deploy with {SECRET}", expires_at=None)
    board.set_running(session.id)
    board.append_message(session.id, Message("user", f"use the key {SECRET} to deploy"))
    board.append_message(session.id, Message("assistant", "Deployed **fine**."))
    board.set_completed(session.id, "done")
    return session.id


@dataclass
class Made:
    """A link made through the session page: its id, token and path."""

    id: int
    token: str
    path: str


def make_link(client: Any, session_id: str, **form: str) -> Made:
    """Make a link as the client's user from the session page's panel (htmx)."""
    data = {"expires_in": str(7 * 86400), **form}
    response = client.post(
        f"/shares/sessions/{session_id}", data=data, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    found = re.search(r'value="http://localhost(/s/([A-Za-z0-9_-]+))"', body)
    assert found, body
    share_id = int(re.findall(r"/shares/(\d+)/revoke", body)[0])
    return Made(share_id, found.group(2), found.group(1))
