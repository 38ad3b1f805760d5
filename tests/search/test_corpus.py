"""Item 7 of issue 12 on the real transcripts: the Japanese session is found by a
Japanese word and by a two-character query; ``webkitAudioContext`` finds 7acd37a8
at the messages that hold it; ``tokenizer.css`` (a file name in a tool call) is found."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus import CORPUS
from webapp.sessions import Manager
from webapp.sessions.search import Search, parse
from webapp.transfer.importer import Importer

JAPANESE = CORPUS / "claude-code-viewer__5c0375b4-57a5-4f26-b12d-d022ee4e51b7.jsonl"
AUDIO = CORPUS / "claude-code-log__7acd37a8-2745-4b58-a8a9-46164b22ad9e.jsonl"
OTHERS = [
    CORPUS / "claude-code-log__ef958aa1-0e93-49f0-bb71-150f63befcd1.jsonl",
    CORPUS / "claude-code-log__03eb5929-52b3-4b13-ada3-b93ae35806b8.jsonl",
    CORPUS / "claude-code-log__4379d1bf-ccb1-414e-a856-9791b73f3af2.jsonl",
]


def import_files(board: Manager, *paths: Path) -> None:
    importer = Importer(board, keep=True, remember=False)
    importer.run(importer.plan(paths))


@pytest.fixture
def corpus_board(board: Manager) -> Manager:
    """``board`` with the Japanese session, 7acd37a8 and two others imported."""
    import_files(board, JAPANESE, AUDIO, *OTHERS)
    return board


def test_the_japanese_session_is_found_by_a_word_and_by_two_characters(
    corpus_board: Manager, search: Search
) -> None:
    word = search.hits(parse("最新の状態"), limit=100)
    assert not word.bounded
    assert {h.session_id for h in word.hits} == {"5c0375b4-57a5-4f26-b12d-d022ee4e51b7"}
    assert "<mark>最新の状態</mark>" in str(word.hits[0].snippet)
    two = search.hits(parse("修正"), limit=100)
    assert two.bounded
    assert "5c0375b4-57a5-4f26-b12d-d022ee4e51b7" in {h.session_id for h in two.hits}
    assert all("<mark>修正</mark>" in str(h.snippet) for h in two.hits)


def test_webkit_audio_context_finds_7acd37a8_at_its_messages(
    corpus_board: Manager, search: Search
) -> None:
    sid = "7acd37a8-2745-4b58-a8a9-46164b22ad9e"
    page = search.hits(parse("webkitAudioContext"), limit=100)
    assert {h.session_id for h in page.hits} == {sid}
    holding = {
        m.id for m in corpus_board.store.get_messages(sid) if "webkitAudioContext" in m.content
    }
    assert holding and {h.message_id for h in page.hits} == holding
    # the transcript's next/previous hit steps through exactly those, in order
    ordered = [m.id for m in corpus_board.store.get_messages(sid) if m.id in holding]
    assert search.transcript_hits(parse("webkitaudiocontext"), sid) == ordered


def test_a_file_name_in_tool_calls_is_found(corpus_board: Manager, search: Search) -> None:
    page = search.hits(parse("tokenizer.css"), limit=100)
    assert {h.session_id for h in page.hits} == {"4379d1bf-ccb1-414e-a856-9791b73f3af2"}
    assert {h.kind for h in page.hits} >= {"tool_use"}
    tool_calls = search.hits(parse("tokenizer.css kind:tool_use"), limit=100).hits
    assert tool_calls and all(h.tool for h in tool_calls)
