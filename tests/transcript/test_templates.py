"""The turn templates over the whole corpus: structure, escaping, no empty card.

The templates are rendered by the real app (its filters and sanitiser); the page
that includes them is tested in the browser (tests/browser).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template

from tests.transcript.helpers import CORPUS_FILES, raw_pairs, turns_of
from webapp.claude import ParsedSession
from webapp.sessions import Message
from webapp.transcript import build_turns
from webapp.transcript.options import NoiseToggles

VOID = {"br", "hr", "img", "input", "meta", "link", "wbr", "col", "source"}


class Node:
    """An element of a parsed page."""

    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.content: list[Node | str] = []

    def walk(self) -> Iterator[Node]:
        """This node and every node under it."""
        yield self
        for child in self.content:
            if isinstance(child, Node):
                yield from child.walk()

    def all_text(self) -> str:
        """The text under this node, in document order."""
        return "".join(c if isinstance(c, str) else c.all_text() for c in self.content)


class Tree(HTMLParser):
    """A small DOM of a fragment, as a browser would nest it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.current = self.root
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.content.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.content.append(data)


@pytest.fixture(scope="module")
def page_app(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Flask]:
    """The app, for rendering templates (nothing here reads the database)."""
    from webapp import create_app

    folder = tmp_path_factory.mktemp("render")
    shutil.copyfile(sqlite_template, folder / "db.sqlite")
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite'}",
            "INSTANCE_PATH": str(folder),
        }
    )
    yield app
    app.extensions["sessionboard.manager"].stop()


def render(app: Flask, turns: Any, toggles: NoiseToggles | None = None) -> str:
    """The turns as the page draws them."""
    with app.test_request_context():
        return render_template(
            "transcript/_turns.html", turns=turns, toggles=toggles or NoiseToggles()
        )


@pytest.fixture(scope="module")
def corpus_pages(page_app: Flask, corpus_sessions: dict[str, ParsedSession]) -> dict[str, Tree]:
    """Every corpus session rendered, by id."""
    return {sid: Tree(render(page_app, turns_of(s))) for sid, s in corpus_sessions.items()}


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name[:40])
def test_every_result_is_drawn_inside_its_call(
    path: Path, corpus_sessions: dict[str, ParsedSession], corpus_pages: dict[str, Tree]
) -> None:
    raw = raw_pairs(path)
    elements: dict[str, Node] = {}
    for sid, session in corpus_sessions.items():
        if session.source_path == str(path):
            for node in corpus_pages[sid].root.walk():
                if "data-call" in node.attrs and node.attrs["data-call"] in raw.names:
                    elements[node.attrs["data-call"]] = node
    for tuid in raw.names:
        node = elements[tuid]
        inside = [n for n in node.walk() if "data-result" in n.attrs]
        missing = [n for n in node.walk() if "data-result-missing" in n.attrs]
        if tuid in raw.results:
            assert inside and not missing, tuid
        else:
            assert missing and not inside, tuid


def test_no_card_is_empty(corpus_pages: dict[str, Tree]) -> None:
    for sid, page in corpus_pages.items():
        for node in page.root.walk():
            if "data-block" in node.attrs or "data-call" in node.attrs:
                assert node.all_text().strip() or any(n.tag == "img" for n in node.walk()), sid


def test_first_screen_order_of_7acd37a8(
    corpus_sessions: dict[str, ParsedSession], corpus_pages: dict[str, Tree]
) -> None:
    sid = next(s for s in corpus_sessions if s.startswith("7acd37a8"))
    first = next(n for n in corpus_pages[sid].root.walk() if n.attrs.get("data-turn") == "1")
    text = first.all_text()
    assert "/init" in text
    answer = next(n for n in first.walk() if "answer" in n.attrs.get("class", "").split())
    assert "CLAUDE.md" in answer.all_text()
    runs = [n for n in first.walk() if "data-run" in n.attrs]
    assert runs and "open" not in runs[0].attrs, "tool runs fold by default"


def test_edit_diff_draws_removed_and_added_lines(page_app: Flask) -> None:
    messages = [
        Message("user", "Rename", meta={"kind": "text"}),
        Message(
            "assistant",
            "{}",
            meta={
                "kind": "tool_use",
                "tool_name": "Edit",
                "tool_use_id": "e1",
                "tool_input": {
                    "file_path": "/a.py",
                    "old_string": "a = 1\nb = 2",
                    "new_string": "a = 1\nb = 3",
                },
            },
        ),
        Message("tool", "ok", meta={"kind": "tool_result", "tool_use_id": "e1", "is_error": False}),
    ]
    page = Tree(render(page_app, build_turns(messages)))
    rows = {n.attrs["class"]: n.all_text() for n in page.root.walk() if n.tag == "tr"}
    assert rows["ddel"] == "-b = 2" and rows["dadd"] == "+b = 3"
    marks = [n.all_text() for n in page.root.walk() if n.tag == "mark"]
    assert marks == ["2", "3"]
    assert "\\n" not in page.root.all_text()


def test_toggles_open_what_they_name(
    page_app: Flask, corpus_sessions: dict[str, ParsedSession]
) -> None:
    session = next(s for sid, s in corpus_sessions.items() if sid.startswith("7acd37a8"))
    turns = turns_of(session)

    def opened(toggles: NoiseToggles, css: str) -> list[bool]:
        page = Tree(render(page_app, turns, toggles))
        return [
            "open" in n.attrs
            for n in page.root.walk()
            if n.tag == "details" and css in n.attrs.get("class", "").split()
        ]

    assert opened(NoiseToggles(), "thinking") and not any(opened(NoiseToggles(), "thinking"))
    assert all(opened(NoiseToggles(thinking=True), "thinking"))
    assert not any(opened(NoiseToggles(), "run")) and all(opened(NoiseToggles(tools=True), "run"))


PAYLOAD = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def test_agent_text_in_every_renderer_is_escaped(page_app: Flask) -> None:
    def tool(name: str, tuid: str, tool_input: Any, output: str) -> list[Message]:
        return [
            Message(
                "assistant",
                "{}",
                meta={
                    "kind": "tool_use",
                    "tool_name": name,
                    "tool_use_id": tuid,
                    "tool_input": tool_input,
                },
            ),
            Message(
                "tool", output, meta={"kind": "tool_result", "tool_use_id": tuid, "is_error": False}
            ),
        ]

    messages = [
        Message("user", PAYLOAD, meta={"kind": "text"}),
        *tool(
            "Edit",
            "a",
            {"file_path": PAYLOAD, "old_string": PAYLOAD, "new_string": PAYLOAD + "x"},
            PAYLOAD,
        ),
        *tool("Bash", "b", {"command": PAYLOAD, "description": PAYLOAD}, PAYLOAD),
        *tool("TodoWrite", "c", {"todos": [{"content": PAYLOAD, "status": PAYLOAD}]}, PAYLOAD),
        *tool("Read", "d", {"file_path": PAYLOAD}, PAYLOAD),
        *tool("WebFetch", "e", {"url": "javascript:alert(1)", "prompt": PAYLOAD}, PAYLOAD),
        *tool(PAYLOAD, "f", {"x": PAYLOAD}, PAYLOAD),
        *tool("Agent", "g", {"description": PAYLOAD, "prompt": PAYLOAD}, PAYLOAD),
        Message("system", PAYLOAD, meta={"kind": "hook"}),
        Message("assistant", PAYLOAD, meta={"kind": "thinking"}),
        Message("assistant", PAYLOAD, meta={"kind": "text"}),
    ]
    html = render(
        page_app, build_turns(messages), NoiseToggles(thinking=True, tools=True, hooks=True)
    )
    page = Tree(html)
    for node in page.root.walk():
        assert node.tag not in ("script", "iframe", "svg"), node.tag
        assert not any(k.startswith("on") for k in node.attrs), node.attrs
        assert not node.attrs.get("href", "").lower().startswith("javascript:")
        if node.tag == "img":
            assert node.attrs.get("src", "").startswith("data:image/"), node.attrs
    assert html.count("&lt;script&gt;") >= 10


def test_long_bash_mode_and_command_output_fold_with_their_line_count(page_app: Flask) -> None:
    long = "\n".join(f"\x1b[31mline {i}\x1b[0m" for i in range(100))
    messages = [
        Message("user", "ls -R", meta={"kind": "bash"}),
        Message("system", long, meta={"kind": "bash"}),
        Message("assistant", "Here is the listing."),
        Message("system", long, meta={"kind": "command"}),
    ]
    html = render(page_app, build_turns(messages))
    page = Tree(html)
    outputs = [n for n in page.root.walk() if "data-output" in n.attrs]
    assert len(outputs) == 2  # the bash-mode output of the prompt, the command's output
    for out in outputs:
        pres = [n for n in out.walk() if n.tag == "pre"]
        assert pres[0].all_text().split("\n")[-1] == "line 11"  # the head, line breaks kept
        assert "Show all 100 lines of output" in out.all_text()
        assert "line 99" in pres[1].all_text()  # the rest, inside the fold
    assert "\x1b" not in html  # ANSI escapes stripped
