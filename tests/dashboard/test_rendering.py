"""The markdown sanitiser: what untrusted text may and may not become."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from webapp.rendering import highlight_json, is_safe_image_url, render_markdown

DANGEROUS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "![x](javascript:alert(1))",
    "![x](https://evil.example/pixel.png)",
    '<svg onload="alert(1)"></svg>',
    '<div hx-get="/sessions" hx-trigger="load">x</div>',
    '<div hx-on:click="alert(1)">x</div>',
    "<iframe src='https://evil.example'></iframe>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="#" data-hx-get="/x">x</a>',
]


class Elements(HTMLParser):
    """Every (tag, attributes) of a piece of HTML, as a browser would see them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


@pytest.mark.parametrize("text", DANGEROUS)
def test_dangerous_markup_is_inert(text: str) -> None:
    for tag, attrs in Elements(str(render_markdown(text))).found:
        assert tag not in ("script", "svg", "iframe", "object", "embed", "style"), text
        for name, value in attrs.items():
            assert not name.startswith(("on", "hx-", "data-")), (text, name)
            assert not value.lower().startswith(("javascript:", "data:text", "https://evil")), text


def test_markdown_renders_and_code_is_highlighted_with_classes() -> None:
    html = str(render_markdown("# Title\n\n**bold** `x`\n\n```python\nprint(1)\n```"))
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert '<span class="hl-nb">print</span>' in html
    assert "style=" not in html


def test_links_get_rel_and_raster_data_images_stay() -> None:
    html = str(render_markdown("[a](https://example.org) ![p](data:image/png;base64,iVBORw0KGgo=)"))
    assert 'href="https://example.org"' in html
    assert "noopener" in html
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in html


def test_image_urls() -> None:
    assert is_safe_image_url("data:image/webp;base64,AAAA")
    assert not is_safe_image_url("data:image/svg+xml;base64,AAAA")
    assert not is_safe_image_url("https://example.org/a.png")


def test_json_is_escaped_and_highlighted() -> None:
    html = str(highlight_json({"cmd": "<script>alert(1)</script>"}))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_rendered_markdown_is_kept_and_the_cache_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from webapp import rendering

    calls: list[str] = []
    real = rendering._markdown.render

    def counting(text: str) -> str:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(rendering._markdown, "render", counting)
    monkeypatch.setattr(rendering, "_cache", rendering.RenderCache(1000))
    first = rendering.render_markdown("**kept** \u00e9 once")
    assert rendering.render_markdown("**kept** \u00e9 once") == first
    assert len(calls) == 1  # rendered once, then read from the cache
    # least recently used goes first, and the size never passes the limit
    for i in range(40):
        rendering.render_markdown(f"text number {i} with `code`")
        assert rendering._cache.size <= 1000
    assert len(rendering._cache) < 40
    calls.clear()
    rendering.render_markdown("**kept** \u00e9 once")
    assert calls == ["**kept** \u00e9 once"]  # pushed out by the newer texts
    # a text too big for the cache is rendered each time, never kept
    big = rendering.RenderCache(10)
    big.put(b"k", "x" * 20)
    assert len(big) == 0 and big.size == 0
