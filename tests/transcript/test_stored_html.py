"""Stored HTML of messages (``message_html``, ``webapp.prerender``): what the pass
stores is what the renderer makes; a page uses it only for the very text, by the
very renderer version it was made by; it goes with its message."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.corpus import CORPUS
from webapp import rendering
from webapp.prerender import Prerenderer
from webapp.rendering import VERSION, RenderCache, render_markdown
from webapp.sessions import Manager, Message, MessageStore
from webapp.sessions.transcripts import TRUNCATE_CHARS
from webapp.sessions.types import utcnow
from webapp.transcript.model import markdown_text
from webapp.transfer.importer import Importer

LONG = "word " * (TRUNCATE_CHARS // 4)  # longer than a transcript reads


def agent_call(tool_use_id: str) -> Message:
    return Message(
        "assistant",
        "{}",
        meta={
            "kind": "tool_use",
            "tool_name": "Agent",
            "tool_use_id": tool_use_id,
            "tool_input": {"description": "look", "prompt": "look around"},
        },
    )


#: Each kind of message, and whether a transcript draws it as markdown.
MESSAGES: list[tuple[Message, bool]] = [
    (Message("user", "Please **fix** it:\n\n```\nmake test && echo ok\n```"), True),
    (Message("user", "a *note*", meta={"kind": "note", "author": "ann"}), True),
    (Message("assistant", "`x`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nx=1\n```"), True),
    (Message("assistant", "I think **so**", meta={"kind": "thinking"}), False),
    (agent_call("toolu_a"), False),
    (
        Message(
            "tool",
            "The **report**: \x1b[31mred\x1b[0m <tool_use_error>x</tool_use_error>\n\n",
            meta={"kind": "tool_result", "tool_use_id": "toolu_a", "child_session_id": "c-1"},
        ),
        True,
    ),
    (Message("tool", "plain *output*", meta={"kind": "tool_result", "tool_use_id": "t9"}), False),
    (Message("system", "The **summary**", meta={"kind": "compaction", "event": "summary"}), True),
    (Message("user", "$ ls", meta={"kind": "bash"}), False),
    (Message("assistant", LONG), True),
]  # fmt: skip


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> RenderCache:
    """An empty process cache: whatever the test renders is rendered now."""
    cache = RenderCache(rendering.CACHE_BYTES)
    monkeypatch.setattr(rendering, "_cache", cache)
    return cache


def ids_of(store: MessageStore, session_id: str) -> list[int]:
    return [m.id for m in store.get_messages(session_id) if m.id is not None]


def html_rows(store: MessageStore) -> int:
    with store.read() as conn:
        return int(conn.execute(text("SELECT count(*) FROM message_html")).scalar() or 0)


def test_the_pass_stores_what_the_renderer_makes_for_markdown_messages_only(
    manager: Manager, fresh_cache: RenderCache
) -> None:
    store = manager.store
    session = manager.create("x", expires_at=None)
    manager.append_messages(session.id, [m for m, _ in MESSAGES])
    assert html_rows(store) == 0  # an append renders nothing
    done = Prerenderer(store).run_pass()
    assert done.rendered == sum(drawn for _, drawn in MESSAGES)
    for message_id, (message, drawn) in zip(ids_of(store, session.id), MESSAGES, strict=True):
        row = store.stored_render(message_id)
        if not drawn:
            assert row is None, message
            continue
        assert row is not None, message
        shown = markdown_text(message.content[:TRUNCATE_CHARS], message.meta)
        assert row["version"] == VERSION
        assert bytes(row["digest"]) == RenderCache.key(shown)
        assert row["html"] == str(render_markdown(shown))
    report = store.stored_render(ids_of(store, session.id)[5])
    assert report is not None and "<strong>report</strong>" in report["html"]
    assert "\x1b" not in report["html"] and "tool_use_error" not in report["html"]
    assert Prerenderer(store).run_pass().rendered == 0  # all done: nothing again


def test_the_corpus_stored_html_equals_a_fresh_render(
    manager: Manager, fresh_cache: RenderCache
) -> None:
    importer = Importer(manager, keep=True, remember=False)
    importer.run(importer.plan([CORPUS]))
    store = manager.store
    done = Prerenderer(store, batch=500).run_pass()
    assert done.rendered > 50
    assert store.render_counts(VERSION) == (done.rendered, done.rendered)
    with store.read() as conn:
        rows = conn.execute(
            text(
                "SELECT m.content, m.meta, h.digest, h.html FROM message_html h"
                " JOIN messages m ON m.id = h.message_id"
            )
        ).all()
    assert len(rows) == done.rendered
    for content, meta, digest, html in rows:
        meta = meta if isinstance(meta, dict) else json.loads(meta or "null")
        shown = markdown_text(content[:TRUNCATE_CHARS], meta)
        assert bytes(digest) == RenderCache.key(shown)
        assert html == str(render_markdown(shown))


def _page(client: Any, session_id: str) -> str:
    response = client.get(f"/sessions/{session_id}")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_a_page_uses_stored_html_only_of_this_renderer_and_this_text(
    app: Any, client: Any, auth: Any, fresh_cache: RenderCache
) -> None:
    manager: Manager = app.extensions["sessionboard.manager"]
    store = manager.store
    session = manager.create("three answers", expires_at=None)
    texts = ["answer **alpha**", "answer **beta**", "answer **gamma**"]
    manager.append_messages(session.id, [Message("assistant", t) for t in texts])
    alpha, beta, gamma = ids_of(store, session.id)
    assert Prerenderer(store).run_pass().rendered == 3
    # Marked HTML, as if stored: right version and text; another version; another text.
    store.save_renders(VERSION, [(alpha, RenderCache.key(texts[0]), "<p>stored alpha</p>")])
    store.save_renders("0;old", [(beta, RenderCache.key(texts[1]), "<p>stored beta</p>")])
    store.save_renders(VERSION, [(gamma, RenderCache.key("other"), "<p>stored gamma</p>")])
    auth.login("viewer")
    body = _page(client, session.id)
    assert "stored alpha" in body and "answer <strong>alpha</strong>" not in body
    assert "stored beta" not in body and "answer <strong>beta</strong>" in body
    assert "stored gamma" not in body and "answer <strong>gamma</strong>" in body
    # The pass renders the other version's message again (not the wrong text's:
    # its version is current; a read renders that text itself).
    assert Prerenderer(store).run_pass().rendered == 1
    row = store.stored_render(beta)
    assert row is not None and row["version"] == VERSION
    assert row["html"] == str(render_markdown(texts[1]))


def test_the_render_command_fills_and_drops_other_versions(app: Any, runner: Any) -> None:
    manager: Manager = app.extensions["sessionboard.manager"]
    store = manager.store
    session = manager.create("x", expires_at=None)
    manager.append_messages(session.id, [Message("assistant", "one"), Message("user", "two")])
    first, second = ids_of(store, session.id)
    store.save_renders("0;old", [(first, RenderCache.key("one"), "<p>old</p>")])
    result = runner.invoke(args=["render"])
    assert result.exit_code == 0, result.output
    assert "rendered 2 messages" in result.output and "2 of 2 stored" in result.output
    assert store.render_counts(VERSION) == (2, 2)
    other = manager.create("y", expires_at=None)
    manager.append_message(other.id, Message("assistant", "three"))
    (third,) = ids_of(store, other.id)
    store.save_renders("0;old", [(third, RenderCache.key("three"), "<p>old</p>")])
    result = runner.invoke(args=["render", "--drop"])
    assert result.exit_code == 0, result.output
    assert "dropped 1 of other versions" in result.output and "3 of 3 stored" in result.output


def test_stored_html_goes_with_its_message_on_delete_purge_and_clear(
    manager: Manager, clock: Any
) -> None:
    store = manager.store
    old, kept, other = (manager.create(n, expires_at=None) for n in ("old", "kept", "other"))
    long_ago = clock() - timedelta(days=400)
    manager.append_messages(old.id, [Message("assistant", "old **news**", timestamp=long_ago)])
    manager.append_messages(kept.id, [Message("assistant", "kept"), Message("user", "too")])
    manager.append_messages(other.id, [Message("assistant", "other")])
    Prerenderer(store).run_pass()
    assert html_rows(store) == 4
    assert store.purge_older_than(clock() - timedelta(days=30), now=clock()) == 1
    assert html_rows(store) == 3
    assert manager.delete(other.id)
    assert html_rows(store) == 2
    assert manager.clear() == 2
    assert html_rows(store) == 0


def test_one_process_renders_per_interval_through_the_lease(manager: Manager) -> None:
    store = manager.store
    session = manager.create("x", expires_at=None)
    manager.append_message(session.id, Message("assistant", "hello"))
    first = Prerenderer(store).make_loop(holder="first")
    second = Prerenderer(store).make_loop(holder="second")
    done = first.tick()
    assert done is not None and done.rendered == 1
    assert second.tick() is None  # the first holds the lease, and no pass is due
    assert store.lease_holder(now=utcnow(), name="renderer") == "first"
