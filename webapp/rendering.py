"""Untrusted text to safe HTML: markdown-it-py, Pygments on the server, then nh3.

Everything an agent or a user wrote goes through :func:`render_markdown` before it
reaches a template unescaped. The order matters: markdown (raw HTML in the source
is *escaped*, never passed through) and highlighting first, then the sanitiser has
the last word over the whole result, so nothing the highlighter or the markdown
renderer produced can slip past it. Pygments writes classes, never inline styles
(``static/app.css`` colours the ``hl-`` classes), so the strict CSP holds.

A message's HTML is also stored (``message_html``, filled by ``webapp.prerender``)
under :data:`VERSION` and the text's digest; :func:`adopt` lets a page use it for
exactly that text, rendered by exactly this renderer.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import sys
import threading
from collections import OrderedDict
from importlib.metadata import version as _version
from typing import Any, Protocol

import markdown_it
import nh3
import pygments
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, guess_lexer
from pygments.util import ClassNotFound

#: Tags the sanitiser keeps: what markdown and the highlighter produce, nothing more.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong",
    "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
#: Attributes per tag; ``class`` only where Pygments or markdown put it.
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "div": {"class"},
    "pre": {"class"},
    "span": {"class"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
#: Links may leave the site (a person clicks them); images may not load anything:
#: a remote image is a request to another origin the moment the page opens.
#: ``data`` is let through here only for :func:`_filter_attribute` to narrow it.
URL_SCHEMES = {"http", "https", "mailto", "data"}
#: Highlighting is skipped for longer code blocks (their text is shown plain).
MAX_HIGHLIGHT_CHARS = 50_000

#: Raise it whenever this module's output changes (tags, attributes, highlighting,
#: markdown options): stored HTML of another :data:`VERSION` is never used, and
#: the background pass renders those messages again.
RENDERER = 1
#: The renderer's name as stored with its HTML: this module's number and the
#: libraries' versions (an upgrade of one of them may change the HTML too).
VERSION = (
    f"{RENDERER};markdown-it-py {markdown_it.__version__};"
    f"pygments {pygments.__version__};nh3 {_version('nh3')}"
)

_formatter = HtmlFormatter(nowrap=True, classprefix="hl-")


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """markdown-it's highlight hook: Pygments HTML with class names, or '' to
    let markdown-it escape the code itself."""
    if len(code) > MAX_HIGHLIGHT_CHARS:
        return ""
    try:
        lexer = get_lexer_by_name(lang.split()[0]) if lang else guess_lexer(code)
    except ClassNotFound:
        return ""
    if not lang and lexer.name == "Text only":
        return ""
    return f'<pre class="highlight"><code>{highlight(code, lexer, _formatter)}</code></pre>'


_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight})
_markdown.enable(["table", "strikethrough"])


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Images may only be inline raster data; links may not be ``data:`` URLs."""
    if tag == "img" and attribute == "src":
        return value if is_safe_image_url(value) else None
    if attribute == "href" and value.strip().lower().startswith("data:"):
        return None
    if attribute == "class":
        # Only classes the highlighter or markdown produce (``hl-*``, language-*).
        kept = [c for c in value.split() if c.startswith(("hl-", "language-", "highlight"))]
        return " ".join(kept) or None
    return value


SAFE_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def is_safe_image_url(url: str) -> bool:
    """True for ``data:`` URLs of raster images (never SVG, which can hold script)."""
    return any(url.startswith(f"data:{t};base64,") for t in SAFE_IMAGE_TYPES)


def sanitize(html: str) -> str:
    """The allow-list sanitiser (nh3): unknown tags and attributes, event handlers,
    ``javascript:`` URLs, ``hx-*``/``data-*`` attributes are all removed."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_filter_attribute,
        strip_comments=True,
    )


#: Bytes the per-process cache of rendered HTML may hold (the strings and keys as
#: Python stores them): a worker stays well under its memory bound.
CACHE_BYTES = 16 * 1024 * 1024
#: A text longer than this is rendered each time (one text may not flush the cache).
CACHE_TEXT_CHARS = 256 * 1024


class RenderCache:
    """Rendered markdown by the text's hash, least recently used out first, bounded
    in bytes (``sys.getsizeof`` of each string and key). The HTML is a pure
    function of the text (and of this process's renderer, which cannot change
    while it runs), so a hit is always right; a finished message's text never
    changes, so a transcript page read again renders nothing. Thread-safe
    (gunicorn threads, the test server)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._items: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str) -> bytes:
        """The text's digest."""
        data = text.encode("utf-8", "surrogatepass")  # never refuses: only a key
        return hashlib.blake2b(data, digest_size=16).digest()

    def get(self, key: bytes) -> str | None:
        """The HTML kept for ``key``, marked as just used; None when not kept."""
        with self._lock:
            html = self._items.get(key)
            if html is not None:
                self._items.move_to_end(key)
            return html

    def put(self, key: bytes, html: str) -> None:
        """Keep ``html`` for ``key``, dropping the least recently used past the limit."""
        cost = _bytes(key, html)
        if cost > self.limit:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= _bytes(key, old)
            self._items[key] = html
            self.size += cost
            while self.size > self.limit:
                dropped_key, dropped = self._items.popitem(last=False)
                self.size -= _bytes(dropped_key, dropped)

    def __len__(self) -> int:
        return len(self._items)


def _bytes(key: bytes, html: str) -> int:
    """What an entry holds in memory (a non-ASCII string takes 2 or 4 bytes a character)."""
    return sys.getsizeof(key) + sys.getsizeof(html)


_cache = RenderCache(CACHE_BYTES)


def _render(text: str) -> str:
    """``text`` as markdown, rendered and sanitised (no cache)."""
    return sanitize(_markdown.render(text))


def render_markdown(text: str | None) -> Markup:
    """Markdown to sanitised HTML, safe to put in a page as it is (kept in the
    process's :class:`RenderCache`, so a text is rendered once)."""
    if not text:
        return Markup("")
    if len(text) > CACHE_TEXT_CHARS:
        return Markup(_render(text))  # noqa: S704  (sanitised just now)
    key = RenderCache.key(text)
    html = _cache.get(key)
    if html is None:
        html = _render(text)
        _cache.put(key, html)
    return Markup(html)  # noqa: S704  (sanitised when it was rendered)


def render_to_store(text: str) -> tuple[bytes, str]:
    """The digest of ``text`` and its sanitised HTML, as :func:`render_markdown`
    makes it: what is stored for a message under :data:`VERSION`."""
    key = RenderCache.key(text)
    return key, _render(text) if text else ""


class StoredRender(Protocol):
    """HTML stored for a text: the renderer ``version`` and the text's ``digest``."""

    @property
    def version(self) -> str: ...

    @property
    def digest(self) -> bytes: ...

    @property
    def html(self) -> str: ...


def adopt(text: str, stored: StoredRender | None) -> bool:
    """Let :func:`render_markdown` answer ``text`` with ``stored`` HTML, if that HTML
    is this renderer's (:data:`VERSION`) render of exactly ``text`` (its digest):
    HTML made from another text (a message a shared page redacts, say) or by
    another renderer is ignored. True if it was taken."""
    if stored is None or stored.version != VERSION or not text or len(text) > CACHE_TEXT_CHARS:
        return False
    key = RenderCache.key(text)
    if stored.digest != key:
        return False
    if _cache.get(key) is None:
        _cache.put(key, stored.html)
    return True


def warm_up() -> None:
    """Load what the first render would load: every Pygments lexer (a code block
    without a language is guessed among all of them)."""
    _highlight("x = 1\n", "", "")


def highlight_code(code: str, language: str) -> Markup:
    """Highlighted ``code`` (``language`` a Pygments name) as sanitised HTML."""
    html = _highlight(code, language, "")
    if not html:
        return Markup('<pre class="highlight"><code>{}</code></pre>').format(code)
    return Markup(sanitize(html))  # noqa: S704  (sanitised just now)


def highlight_json(value: Any) -> Markup:
    """A JSON value pretty-printed and highlighted (tool inputs, unknown meta)."""
    return highlight_code(json.dumps(value, indent=2, ensure_ascii=False, default=str), "json")


def plain(text: str | None) -> Markup:
    """Escaped text, for places where markdown would be wrong (errors, requests)."""
    return escape(text or "")


#: How many previews a process keeps, and the longest text it keeps one of: a
#: session's request excerpt is at most 200 characters, so a few hundred KB.
PREVIEW_CACHE_ENTRIES = 4096
PREVIEW_CACHE_CHARS = 400


def plain_preview(text: str | None) -> str:
    """Markdown as one line of plain text, for previews (a list's request): the
    words as a reader sees them rendered, without ``**``, backticks, ``#`` or links'
    targets; whitespace folded. Returns plain text (the template escapes it).

    Short texts are remembered: a markdown parse and a sanitiser pass cost ~0.3 ms,
    the list and the inbox show 50 request excerpts a page, and an excerpt never
    changes."""
    if not text:
        return ""
    if len(text) <= PREVIEW_CACHE_CHARS:
        return _short_preview(text)
    return _preview(text)


def _preview(text: str) -> str:
    words = nh3.clean(_markdown.render(text), tags=set(), strip_comments=True)
    return " ".join(html.unescape(words).split())


_short_preview = functools.lru_cache(maxsize=PREVIEW_CACHE_ENTRIES)(_preview)
