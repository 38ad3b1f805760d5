"""The query language: what each kind of term means, that nothing typed breaks a
query (FTS5 syntax is text), and that snippets are escaped with our own marks."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.sessions.search import (
    MAX_QUERY_CHARS,
    MAX_TERMS,
    Facet,
    SearchQuery,
    indexable,
    literal_runs,
    parse,
    snippet,
)


def test_words_phrases_exclusions_and_fields() -> None:
    q = parse(
        'webkit "exact phrase" -noise -"bad phrase" role:assistant tool:Bash '
        'kind:tool_use in:comments -role:user tool:"mcp x"'
    )
    assert q.terms == ("webkit", "exact phrase")
    assert q.excluded == ("noise", "bad phrase")
    assert q.role == Facet(("assistant",), ("user",))
    assert q.tool == Facet(("Bash", "mcp x"))
    assert q.kind == Facet(("tool_use",))
    assert q.source == Facet(("comment",))
    assert not q.problem and not q.is_empty


def test_fts5_and_like_syntax_is_text() -> None:
    q = parse('NEAR(a b) x* ^start col:value (unbalanced AND OR NOT 100%_ "half')
    assert q.terms == (
        "NEAR(a",
        "b)",
        "x*",
        "^start",
        "col:value",
        "(unbalanced",
        "AND",
        "OR",
        "NOT",
        "100%_",
        "half",
    )
    assert q.indexed_terms == (
        "NEAR(a",
        "^start",
        "col:value",
        "(unbalanced",
        "AND",
        "NOT",
        "100%_",
        "half",
    )
    assert not indexable("a%b_c") and indexable("ab%cde")
    assert literal_runs("100%_done") == ["100", "done"]


def test_quotes_split_terms() -> None:
    assert parse('say"hi"there').terms == ("say", "hi", "there")
    assert parse('ab"c').terms == ("ab", "c")


def test_urls_and_unknown_prefixes_are_text() -> None:
    assert parse("http://example.com/x").terms == ("http://example.com/x",)
    assert parse("-http://x").excluded == ("http://x",)
    assert parse("role:").terms == ("role:",)
    assert parse("- -").terms == ("-", "-")


def test_short_terms_take_the_bounded_scan() -> None:
    assert parse("日本").bounded
    assert parse("ab cd").bounded
    assert not parse("ab cde").bounded
    assert parse("tool:Bash").bounded
    assert not parse("日本語").bounded


def test_in_names_its_places() -> None:
    assert parse("in:request in:response in:error in:messages").source.include == (
        "request",
        "response",
        "error",
        "message",
    )
    assert "in: takes" in parse("in:nowhere x").problem


def test_unsearchable_input_is_a_problem_not_an_error() -> None:
    assert parse("x" * (MAX_QUERY_CHARS + 1)).problem
    assert parse("a\x00b").problem
    assert parse("a\ud800b").problem
    assert parse(" ".join(f"w{i}" for i in range(MAX_TERMS + 1))).problem
    assert all(parse(t).is_empty for t in ("", "   ", '""', "a\x00b"))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_and_is_found_by_its_own_words(text: str) -> None:
    q = parse(text)
    assert isinstance(q, SearchQuery)
    if q.problem or q.bounded or '"' in text or ":" in text:
        return
    # The index's own LIKE (FTS5 trigram, detail=none) finds the text by each word.
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='trigram', detail='none')")
        db.execute("INSERT INTO t VALUES (?)", (text,))
        for term in q.indexed_terms:
            for run in literal_runs(term):
                found = db.execute("SELECT count(*) FROM t WHERE body LIKE ?", (f"%{run}%",))
                assert found.fetchone() == (1,), run


def test_snippet_escapes_the_text_and_marks_the_matches() -> None:
    body = "<script>alert(1)</script> then the WebkitAudioContext & more"
    html = str(snippet(body, ["audiocontext", "<script>"]))
    assert html == (
        "<mark>&lt;script&gt;</mark>alert(1)&lt;/script&gt; then the "
        "Webkit<mark>AudioContext</mark> &amp; more"
    )


def test_snippet_is_a_window_around_the_first_match() -> None:
    body = "a " * 200 + "needle" + " b" * 200
    html = str(snippet(body, ["needle"], width=60))
    assert html.startswith("…") and html.endswith("…")
    assert "<mark>needle</mark>" in html
    assert len(html) <= 60 + len("<mark></mark>") + 2
    assert str(snippet("no match here", ["zzz"])) == "no match here"
