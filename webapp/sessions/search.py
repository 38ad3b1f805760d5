"""Search: the query language, the reads over the search index, and snippets.

What a person types is parsed into a :class:`SearchQuery`; nothing typed breaks
it. The language:

- ``word`` and ``"exact phrase"``: every one must be in the same text (a message,
  a request, a response, an error or a comment), as a case-insensitive substring;
- ``-word``, ``-"phrase"``: no such text;
- ``role:assistant``, ``tool:Bash``, ``kind:tool_use`` (``tool_result``,
  ``thinking``, ...), ``in:request`` (``response``, ``error``, ``messages``,
  ``comments``): only those texts; ``-role:user`` excludes. A prefix may repeat
  (any of its values), and takes a quoted value (``tool:"mcp__x y"``);
- everything else is text: FTS5 syntax (``*``, ``^``, ``NEAR(...)``, ``col:x``,
  ``AND``, parentheses, an unbalanced quote) is searched for as typed.

Terms of three characters or more go through the trigram index (FTS5 on SQLite,
``pg_trgm`` on PostgreSQL). A query whose terms are all shorter (one or two
characters, common in Japanese) cannot use it: it scans the latest
:data:`SCAN_WINDOW` documents only, and its page says so (``bounded``).

Snippets are made here, not by the engine, so they are the same on both: the
text around the first match, HTML-escaped, with every match wrapped in
``<mark>`` by us.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    column,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    table,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.exc import OperationalError

from . import search_index
from .engine import Database
from .rows import sessions_t
from .search_index import (
    FTS_STATE,
    FTS_TABLE,
    document_text,
    search_doc_status_t,
    search_docs_t,
    trgm_block,
    waiting_floor,
)
from .types import check_text

#: Shortest term the trigram index answers.
MIN_INDEXED = 3
#: Documents a query without an indexable term looks through (the latest ones).
SCAN_WINDOW = 50_000
#: Longest query accepted, in characters, and most terms and filters in one.
MAX_QUERY_CHARS = 500
MAX_TERMS = 20
#: Snippet length around the first match, in characters.
SNIPPET_CHARS = 180
#: How much of a long text is read to make its snippet.
SNIPPET_SOURCE_CHARS = 100_000
#: Matching documents a session-level search collects before it switches from
#: "these sessions" to "sessions with a matching text" (see :meth:`Search.session_ids`).
SESSION_PROBE = 2000
#: PostgreSQL: the newest documents a search checks one by one before it asks
#: the trigram index, and the most it walks on when they matched densely.
RECENT_WALK = 1000
WALK_MAX = 10_000
#: PostgreSQL: blocks of the trigram index (``search_index.TRGM_BLOCK`` ids each)
#: one statement asks, one by one; the blocks a page of hits asks first, below
#: the walk, before the whole index; and those a session list asks first.
BLOCKS_PER_PROBE = 8
FIRST_BLOCKS = 8
SESSION_BLOCKS = 32
#: PostgreSQL: a session of more texts than this, within this many blocks of the
#: trigram index, is checked for a match through the index, block by block (see
#: :meth:`Search._has_match_on_postgresql`); a smaller one text by text.
BIG_SESSION_TEXTS = 2000
BIG_SESSION_BLOCKS = 64
#: PostgreSQL: matches a probe of the whole trigram index reads before it takes
#: the term as common (see :meth:`Search._older_on_postgresql`).
INDEX_PROBE = 1000
#: PostgreSQL: the time a probe of the whole trigram index may take before it
#: is cancelled (ms): a rare term's takes under 1 ms at 300,000 sessions, a
#: common word's 73 ms (round 11 cut it from 50: a probe out of time is time lost).
INDEX_BUDGET_MS = 20
#: PostgreSQL's SQLSTATE of a statement cancelled by ``statement_timeout``.
_QUERY_CANCELED = "57014"
#: PostgreSQL: matches among the newest :data:`RECENT_WALK` documents that make a
#: term common for a session list (see :meth:`Search.session_ids`).
COMMON_MATCHES = 10
#: SQLite, with a status filter: FTS5's newest matches (of any status) a search
#: reads first; fewer, and they are all (see :meth:`Search._newest_of_statuses_on_sqlite`).
STATUS_PROBE = 50
#: How many matching documents a thinly spread term reads for its sessions' ids.
SESSION_PROBE_MAX = 20_000
#: The share of the index the first probe must reach back over to count as thin.
SPARSE_SPAN = 0.1
#: SQLite: the newest matches a session-level search reads first, the share of
#: the index they may span at most for the term to count as common at once (as
#: dense among the newest texts as :data:`SESSION_PROBE` matches within
#: :data:`SPARSE_SPAN`, for a tenth of the reading), and the sessions they must
#: come from at least (a burst in a few sessions is not a common term; the
#: demo's common word has 38 sessions in its newest 201 matches).
DENSE_PROBE = 200
DENSE_SPAN = SPARSE_SPAN * DENSE_PROBE / SESSION_PROBE
DENSE_SESSIONS = 20

#: ``in:`` values and the document sources they pick.
SOURCES_BY_NAME = {
    "message": "message",
    "messages": "message",
    "request": "request",
    "response": "response",
    "error": "error",
    "comment": "comment",
    "comments": "comment",
}
FACETS = ("role", "tool", "kind", "in")

_TOKEN = re.compile(
    r"""(?P<neg>-)?(?:(?P<prefix>[A-Za-z]+):)?(?:"(?P<quoted>[^"]*)(?:"|\Z)|(?P<word>[^\s"]+))"""
)

d = search_docs_t.c
#: PostgreSQL: a document's text (a waiting one's read from its message).
_PG_TEXT = document_text("postgresql")
st = search_doc_status_t.c
fts = table(FTS_TABLE, column("rowid", Integer), column("body"))
fts_state = table(FTS_STATE, column("indexed_upto", Integer))


@dataclass(frozen=True)
class Facet:
    """Values a field must have (any of ``include``) and must not have."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query. ``problem`` is set (and nothing is searched) when the text
    cannot be searched: too long, too many terms, NUL or a lone surrogate."""

    text: str = ""
    terms: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    role: Facet = Facet()
    tool: Facet = Facet()
    kind: Facet = Facet()
    source: Facet = Facet()
    problem: str = ""

    @property
    def is_empty(self) -> bool:
        """Nothing to search for (or nothing searchable)."""
        return bool(self.problem) or not (
            self.terms or self.excluded or self.role or self.tool or self.kind or self.source
        )

    @property
    def indexed_terms(self) -> tuple[str, ...]:
        """The terms the trigram index answers: those with three characters in a
        row that are not LIKE wildcards."""
        return tuple(t for t in self.terms if indexable(t))

    @property
    def bounded(self) -> bool:
        """No term the index answers: only the latest :data:`SCAN_WINDOW` documents
        are looked through."""
        return not self.indexed_terms


def literal_runs(term: str) -> list[str]:
    """The parts of ``term`` between LIKE wildcards (``%``, ``_``) that the trigram
    index answers: :data:`MIN_INDEXED` characters or more."""
    return [run for run in re.split("[%_]", term) if len(run) >= MIN_INDEXED]


def indexable(term: str) -> bool:
    """Whether the trigram index can answer ``term``."""
    return bool(literal_runs(term))


def _problem(text: str) -> str:
    if len(text) > MAX_QUERY_CHARS:
        return f"A search has at most {MAX_QUERY_CHARS} characters."
    try:
        check_text(text, "A search")
    except ValueError as refused:
        return f"{refused}."
    return ""


def parse(text: str) -> SearchQuery:
    """Parse what was typed; never raises (see the module's docstring)."""
    problem = _problem(text)
    if problem:
        return SearchQuery(text=text, problem=problem)
    terms: list[str] = []
    excluded: list[str] = []
    facets: dict[str, tuple[list[str], list[str]]] = {f: ([], []) for f in FACETS}
    for match in _TOKEN.finditer(text):
        negated = match["neg"] is not None
        prefix = match["prefix"] or ""
        value = match["quoted"] if match["quoted"] is not None else match["word"]
        if prefix.lower() in facets and value:
            include, exclude = facets[prefix.lower()]
            (exclude if negated else include).append(value)
            continue
        # A word, a phrase, or an unknown prefix (a URL's scheme): text as typed.
        phrase = f"{prefix}:{value}" if prefix else value
        if phrase:
            (excluded if negated else terms).append(phrase)
    sources = facets["in"]
    unknown = [v for v in sources[0] + sources[1] if v.lower() not in SOURCES_BY_NAME]
    if unknown:
        return SearchQuery(
            text=text,
            problem=f"in:{unknown[0]} is not a place to search: "
            "in: takes request, response, error, messages or comments.",
        )
    count = len(terms) + len(excluded) + sum(len(a) + len(b) for a, b in facets.values())
    if count > MAX_TERMS:
        return SearchQuery(text=text, problem=f"A search has at most {MAX_TERMS} terms.")
    return SearchQuery(
        text=text,
        terms=tuple(terms),
        excluded=tuple(excluded),
        role=Facet(tuple(facets["role"][0]), tuple(facets["role"][1])),
        tool=Facet(tuple(facets["tool"][0]), tuple(facets["tool"][1])),
        kind=Facet(tuple(facets["kind"][0]), tuple(facets["kind"][1])),
        source=Facet(
            tuple(SOURCES_BY_NAME[v.lower()] for v in sources[0]),
            tuple(SOURCES_BY_NAME[v.lower()] for v in sources[1]),
        ),
    )


def like_pattern(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere (``escape="\\"``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- snippets -----------------------------------------------------------------------


def _term_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alternatives = sorted({re.escape(t) for t in terms}, key=len, reverse=True)
    return re.compile("|".join(alternatives), re.IGNORECASE)


def snippet(body: str, terms: Sequence[str], width: int = SNIPPET_CHARS) -> Markup:
    """``body`` around its first match of ``terms``, HTML-escaped, each match in
    ``<mark>``; the start of ``body`` when none matches. ``…`` marks a cut."""
    pattern = _term_pattern(terms)
    first = pattern.search(body) if pattern is not None else None
    start = 0
    if first is not None:
        start = max(0, first.start() - width // 3)
        # Begin at a word's start when one is near.
        space = body.rfind(" ", max(0, start - 15), start + 1)
        if space >= 0 and start > 0:
            start = space + 1
    end = min(len(body), start + width)
    window = body[start:end]
    parts: list[str] = ["…" if start > 0 else ""]
    position = 0
    for hit in pattern.finditer(window) if pattern is not None else ():
        parts.append(str(escape(window[position : hit.start()])))
        parts.append(f"<mark>{escape(hit.group(0))}</mark>")
        position = hit.end()
    parts.append(str(escape(window[position:])))
    parts.append("…" if end < len(body) else "")
    return Markup("".join(parts))  # noqa: S704  (every part is escaped above)


# -- reads --------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One matching text."""

    doc_id: int
    session_id: str
    message_id: int | None
    source: str
    role: str | None
    kind: str | None
    tool: str | None
    timestamp: datetime
    snippet: Markup


@dataclass(frozen=True)
class HitPage:
    """Matching texts newest first; ``next_after`` goes on (None: no more).
    ``bounded``: only the latest :data:`SCAN_WINDOW` documents were looked through."""

    hits: list[Hit]
    next_after: int | None
    bounded: bool = False


@dataclass(frozen=True)
class SessionHits:
    """The first few matches in one session, and how many there are in all."""

    hits: list[Hit] = field(default_factory=list)
    total: int = 0

    @property
    def more(self) -> int:
        """Matches not shown."""
        return self.total - len(self.hits)


_HIT_COLUMNS = (
    d.id,
    d.session_id,
    d.message_id,
    d.source,
    d.role,
    d.kind,
    d.tool,
    d.at,
)


def _lowered(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    return func.lower(column).in_([v.lower() for v in values])


def _facet(column: Any, facet: Facet) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if facet.include:
        where.append(_lowered(column, facet.include))
    if facet.exclude:
        where.append(or_(column.is_(None), not_(_lowered(column, facet.exclude))))
    return where


def _settings(conn: Connection, **values: str) -> None:
    """PostgreSQL: set ``values`` for the rest of this transaction (or savepoint),
    in one round trip."""
    calls = ", ".join(f"set_config('{name}', :{name}, true)" for name in values)
    conn.execute(text(f"SELECT {calls}"), values)


def _serial() -> dict[str, str]:
    """PostgreSQL: no parallel workers, as settings for :func:`_settings`. A walk
    that stops after a page of rows is costed as if it read the table (the
    planner cannot know where the matches are), which buys workers it never
    needs (and JIT compilation, off for every connection:
    ``engine.POSTGRES_OPTIONS``)."""
    return {"max_parallel_workers_per_gather": "0"}


_PLANNER_SWITCHES = ("enable_seqscan", "enable_indexscan", "enable_bitmapscan")


def _plan(*off: str) -> dict[str, str]:
    """PostgreSQL: the planner's ``off`` ways of reading a table turned off (the
    others on), as settings for :func:`_settings`."""
    return {switch: "off" if switch in off else "on" for switch in _PLANNER_SWITCHES}


#: The two ways a search reads ``search_docs`` on PostgreSQL.
_WALK = _plan("enable_bitmapscan", "enable_seqscan")
_INDEX = _plan("enable_seqscan", "enable_indexscan")


def _indexed_or_waiting(
    probe: Callable[[ColumnElement[str]], Select[Any]], limit: int
) -> Select[Any]:
    """PostgreSQL: up to ``limit`` rows of ``probe(text)`` (a select over the
    documents matching on ``text``), in no order: through the trigram index,
    which holds the texts the background pass moved in (``unindexed`` NULL), on
    ``body``, and the texts waiting for it (at most ``SEARCH_TAIL_LIMIT``, on
    their own index, from the pass's floor up: ``waiting_floor``), each read
    (from its message, see ``document_text``) and checked. One statement, so
    one snapshot: a text the pass moves meanwhile is found on one side or the
    other, never neither."""
    held = probe(d.body).where(d.unindexed.is_(None)).limit(limit)
    waiting = probe(_PG_TEXT).where(d.unindexed, d.id >= waiting_floor()).limit(limit)
    both = union_all(held, waiting).subquery("probed")
    return select(both).limit(limit)


def _within_budget(conn: Connection, probe: Select[Any]) -> list[int] | None:
    """PostgreSQL: the ids ``probe`` selects through the trigram index, or None
    when it takes more than :data:`INDEX_BUDGET_MS` (it is cancelled; the rest of
    the transaction goes on)."""
    try:
        with conn.begin_nested():
            _settings(conn, **_INDEX, statement_timeout=str(INDEX_BUDGET_MS))
            found = [int(i) for i in conn.execute(probe).scalars()]
            _settings(conn, **_WALK, statement_timeout="0")
            return found
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) != _QUERY_CANCELED:
            raise
        return None


def _session_status() -> ColumnElement[str]:
    """A document's session's status, looked up by the session's id: what a
    text without its status row yet (waiting for the index) is filtered on."""
    owner = sessions_t.alias("owner")
    return select(owner.c.status).where(owner.c.id == d.session_id).scalar_subquery()


def _status_in(statuses: Sequence[str]) -> list[ColumnElement[bool]]:
    return [st.status.in_(list(statuses))] if statuses else []


def _docs(columns: Sequence[Any], statuses: Sequence[str]) -> Select[Any]:
    """A select of ``columns`` over the documents, only those of sessions in
    ``statuses`` when given (joined to their status rows)."""
    if not statuses:
        return select(*columns)
    joined = search_docs_t.join(search_doc_status_t, st.doc_id == d.id)
    return select(*columns).select_from(joined).where(*_status_in(statuses))


def _status_walk(
    columns: Sequence[Any],
    statuses: Sequence[str],
    where: Sequence[ColumnElement[bool]],
    low: int,
    high: int,
    limit: int,
) -> Select[Any]:
    """PostgreSQL: ``columns`` of the newest ``limit`` documents with ids in
    [``low``, ``high``) of sessions in ``statuses`` that meet ``where``, read
    newest first on the status index and checked one by one.

    Each status's range is bounded above as a row, (status, doc_id), which
    only the status index answers (:func:`_status_range`): bounded on doc_id
    alone, the planner walked the primary key
    of ``search_doc_status`` and filtered on the status (230,000 entries, 355
    ms, for 1,000 failed texts at 300,000 sessions; 87 ms on the status
    index). The document is a
    LATERAL subquery with a LIMIT, which the planner cannot pull up: joined
    plainly, it walked the documents' primary key and checked the text of every
    one, the other sessions' too (0.8 s for a phrase at 20,000 sessions).
    Several statuses: the newest of each, merged."""
    pages = []
    for status in dict.fromkeys(statuses):
        walked = (
            select(st.doc_id).where(st.status == status, *_status_range(status, low, high))
        ).subquery("walked")
        doc = select(*columns).where(d.id == walked.c.doc_id, *where).limit(1).lateral("doc")
        pages.append(
            select(doc)
            .select_from(walked.join(doc, true()))
            .order_by(walked.c.doc_id.desc())
            .limit(limit)
        )
    if len(pages) == 1:
        return pages[0]
    merged = union_all(*pages).subquery("merged")
    return select(merged).order_by(merged.c.id.desc()).limit(limit)


def _status_range(status: str, low: int, high: int) -> list[ColumnElement[bool]]:
    """Ids in [``low``, ``high``) of one status: the upper bound on the row
    (status, doc_id), which only the status index answers (see
    :func:`_status_walk`), the lower on ``doc_id`` itself. A lower bound on the
    row does not end a backward scan on PostgreSQL 15: the walk read on through
    every entry of that status below the window (1,416 pages, 11 ms of each
    window's 15 at 300,000 sessions; 0.3 ms bounded on ``doc_id``, round 8)."""
    return [
        tuple_(st.status, st.doc_id) < tuple_(literal(status), literal(high)),
        st.doc_id >= literal(low),
    ]


def _trigrams(query: SearchQuery) -> int:
    """SQLite: the trigrams FTS5 intersects for ``query``, what one of its matches
    costs in documents walked and checked one by one. Measured at 20,000 and
    200,000 sessions: a match of ``refund`` (4 trigrams) about 15 µs, of the
    phrase "Run the billing tests" (19) about 60 µs, a walked document 3 to 6 µs
    (FTS5 reads each trigram's list of texts over the range, and each
    candidate's text to check the LIKE)."""
    return max(1, sum(len(run) - 2 for t in query.terms for run in literal_runs(t)))


def _count_of_statuses(
    conn: Connection, statuses: Sequence[str], low: int, high: int, cap: float
) -> int:
    """SQLite: how many documents with ids in [``low``, ``high``) are of sessions in
    ``statuses``, counted on the status index up to ``cap`` (more: ``cap``).
    Bounded on ``doc_id`` itself: SQLite bounds the index's range by a
    (status, doc_id) row only on its status, and counted every failed text
    (50 ms a window at 200,000 sessions)."""
    total = 0
    for status in statuses:
        inside = (
            select(literal(1))
            .where(st.status == status, st.doc_id >= low, st.doc_id < high)
            .limit(max(1, math.ceil(cap - total)))
            .subquery()
        )
        total += int(conn.execute(select(func.count()).select_from(inside)).scalar_one())
        if total >= cap:
            break
    return total


def _walk_statuses_on_sqlite(
    conn: Connection,
    columns: Sequence[Any],
    statuses: Sequence[str],
    matches: Sequence[ColumnElement[bool]],
    low: int,
    high: int,
    limit: int,
) -> list[Any]:
    """SQLite: ``columns`` of the newest ``limit`` documents with ids in [``low``,
    ``high``) of sessions in ``statuses`` that meet ``matches``, read newest first
    on the status index and each text checked (its row by primary key). Several
    statuses: the newest of each, merged."""
    rows: list[Any] = []
    for status in statuses:
        walked = (
            select(*columns)
            .select_from(search_doc_status_t.join(search_docs_t, d.id == st.doc_id))
            .where(st.status == status, st.doc_id >= low, st.doc_id < high, *matches)
            .order_by(st.doc_id.desc())
            .limit(limit)
        )
        rows += conn.execute(walked)
    if len(statuses) > 1:
        rows.sort(key=lambda r: -int(r.id))
    return rows[:limit]


def _floor(conn: Connection, top: int, n: int, statuses: Sequence[str]) -> int:
    """PostgreSQL: a document id below ``top`` such that the ids from it up to
    ``top`` hold about ``n`` documents (at most ``n`` of each of ``statuses`` when
    given, read on their index; 0: fewer are left)."""
    if not statuses:
        return max(0, top - n)
    row = tuple_(st.status, st.doc_id)
    nth = (
        select(st.doc_id)
        .where(st.status == bindparam("status"), row < tuple_(bindparam("status"), literal(top)))
        .order_by(st.doc_id.desc())
        .offset(n - 1)
        .limit(1)
        .scalar_subquery()
    )
    floors = [conn.execute(select(nth), {"status": s}).scalar() for s in dict.fromkeys(statuses)]
    return max((int(f) for f in floors if f is not None), default=0)


@dataclass(frozen=True)
class _Wanted:
    """What a read of the newest matches asks for: ``limit`` rows of ``columns``
    of the documents matching ``query`` and ``where`` (of sessions in
    ``statuses``, when given), newest first below document ``after``."""

    query: SearchQuery
    columns: Sequence[Any]
    where: Sequence[ColumnElement[bool]]
    limit: int
    after: int | None = None
    statuses: Sequence[str] = ()

    def rest(self, found: int, after: int | None = None) -> _Wanted:
        """The same read for what ``found`` rows leave, below ``after`` when given."""
        return replace(self, limit=self.limit - found, after=self.after if after is None else after)


class Search:
    """Searches over one store's index. Read-only."""

    def __init__(self, store: Database) -> None:
        self.store = store
        self.uses_fts = store.dialect == "sqlite"
        #: A document's text (on SQLite a message's is read from the message).
        self.text = document_text(store.dialect)

    # -- building blocks -------------------------------------------------------------

    def _conditions(
        self,
        query: SearchQuery,
        *,
        in_fts: bool = False,
        text_by_text: bool = False,
        body: ColumnElement[str] | None = None,
    ) -> list[ColumnElement[bool]]:
        """The query as conditions on ``search_docs``: ``in_fts``, on the FTS5 table
        too, which answers a LIKE through its trigrams; ``text_by_text``, on the
        text as an expression no index serves (for a session's few texts, which
        PostgreSQL would otherwise look up in the whole trigram index, once per
        session); ``body``, on that expression of the text instead of
        ``document_text``'s (the trigram index's own column)."""
        where: list[ColumnElement[bool]] = []
        if body is None:
            body = self.text.concat("") if text_by_text else self.text
        for term in query.terms:
            exact = body.ilike(like_pattern(term), escape="\\")
            runs = literal_runs(term) if in_fts else []
            # FTS5 answers a LIKE without ESCAPE through its trigrams. It is only
            # ever given a term's parts between wildcards (SQLite 3.40's FTS5
            # crashes on some patterns with a wildcard inside); a term holding a
            # wildcard is then checked exactly as well.
            where += [fts.c.body.like(f"%{run}%") for run in runs]
            if runs != [term]:
                where.append(exact)
        for term in query.excluded:
            where.append(not_(body.ilike(like_pattern(term), escape="\\")))
        where += _facet(d.role, query.role)
        where += _facet(d.tool, query.tool)
        where += _facet(d.kind, query.kind)
        where += _facet(d.source, query.source)
        return where

    def _matching(
        self,
        query: SearchQuery,
        columns: Sequence[Any],
        where: Sequence[ColumnElement[bool]],
        statuses: Sequence[str] = (),
    ) -> list[tuple[Select[Any], Any]]:
        """Selects of ``columns`` over the documents matching ``query`` and ``where``
        (of sessions in ``statuses``, when given), each with the id column to order
        and page by, newest part first.

        On SQLite with an indexed term: the documents FTS5 does not hold yet (those
        written since the last flush, above its watermark: a scan of a few), then
        those it holds (through FTS5). Elsewhere one select.
        """
        plain = _docs(columns, statuses).where(*self._conditions(query), *where)
        if self.uses_fts and statuses:
            # SQLite: a document above the watermark has no status row yet (the
            # pass writes it with its FTS entry): its session's status, looked up
            # by the session's id text by text (at most SEARCH_TAIL_LIMIT texts;
            # a short term's bounded scan, the latest SCAN_WINDOW). Joined,
            # SQLite walked every session of those statuses and their texts
            # (220 ms for a page of hits at a million sessions).
            plain = select(*columns).where(
                _session_status().in_(list(statuses)), *self._conditions(query), *where
            )
        if not self.uses_fts or query.bounded:
            return [(plain, d.id)]
        upto = select(fts_state.c.indexed_upto).scalar_subquery()
        indexed = self._in_fts(query, columns, where)
        if statuses:
            # Each candidate's status, looked up by its id: joined, SQLite would
            # walk the status index and run the FTS5 query once per text.
            status = select(st.status).where(st.doc_id == d.id).scalar_subquery()
            indexed = indexed.where(status.in_(list(statuses)))
        return [(plain.where(d.id > upto), d.id), (indexed, fts.c.rowid)]

    def _in_fts(
        self, query: SearchQuery, columns: Sequence[Any], where: Sequence[ColumnElement[bool]]
    ) -> Select[Any]:
        """SQLite: ``columns`` of the documents FTS5 holds that match ``query`` and
        ``where``, through FTS5 (order and page by ``fts.c.rowid``)."""
        upto = select(fts_state.c.indexed_upto).scalar_subquery()
        return (
            select(*columns)
            .select_from(fts.join(search_docs_t, d.id == fts.c.rowid))
            .where(fts.c.rowid <= upto, *self._conditions(query, in_fts=True), *where)
        )

    def _newest_of_statuses_on_sqlite(self, conn: Connection, want: _Wanted) -> list[Any]:
        """SQLite: the newest ``limit`` matches FTS5 holds (below ``after``) of
        sessions in ``statuses``.

        Two ways to find them, each stopping at a full page: FTS5's matches newest
        first, each one's status looked up by id (a cost per *match*, about 15 µs:
        FTS5 reads each candidate's text to check the LIKE); or the status index
        (status, doc_id) newest first, each text read and checked (a cost per
        *document of those sessions*, a few µs). Which one reads fewer depends on
        the term and on where in the index: a common word among sessions that
        are mostly running (the newest texts) has thousands of matches per
        failed text.

        1. A probe: FTS5's newest :data:`STATUS_PROBE` matches, of any status.
           Fewer, and those are all of them (a rare word, a no-match query):
           their texts of ``statuses`` are the answer.
        2. Otherwise, below the probe, in windows of ids growing fourfold (the
           first one sized from the probe's rate of matches of ``statuses``):
           the status index's count of the window's documents of ``statuses``
           (up to what would cost more) against the matches the probe's rate
           predicts there, and the cheaper way, one FTS5 match costing as much as
           a walked document per trigram of the query (:func:`_trigrams`).

        The probe and the windows cover disjoint ranges of ids, newest first: the
        answer is the one a plain "matches of these statuses, newest first" gives.
        """
        query, columns, where, limit, after = (
            want.query, want.columns, want.where, want.limit, want.after
        )  # fmt: skip
        wanted = list(dict.fromkeys(want.statuses))
        status = select(st.status).where(st.doc_id == d.id).scalar_subquery()
        probe = self._in_fts(query, [fts.c.rowid.label("id"), status.label("status")], where)
        if after is not None:
            probe = probe.where(fts.c.rowid < after)
        found = list(conn.execute(probe.order_by(fts.c.rowid.desc()).limit(STATUS_PROBE)))
        ids = [int(r.id) for r in found if r.status in wanted][:limit]
        these = select(*columns).where(d.id.in_(ids)).order_by(d.id.desc())
        rows = list(conn.execute(these)) if ids else []
        if len(found) < STATUS_PROBE or len(rows) >= limit:
            return rows
        high = int(found[-1].id)
        top = after if after is not None else int(found[0].id) + 1
        rate = len(found) / max(1, top - high)  # matches per id
        # The probe's matches of these statuses per id (one at least: none yet).
        rate_of_these = max(len(ids), 1) / max(1, top - high)
        window = max(1, math.ceil((limit - len(rows)) / rate_of_these))
        fts_window = self._in_fts(query, columns, where).where(status.in_(wanted))
        matches = [*self._conditions(query), *where]
        cost = _trigrams(query)
        while len(rows) < limit and high > 1:
            need = limit - len(rows)
            low = max(1, high - window)
            predicted = rate * (high - low)
            walked = _count_of_statuses(conn, wanted, low, high, cost * predicted + 1)
            if walked <= cost * predicted:
                rows += _walk_statuses_on_sqlite(conn, columns, wanted, matches, low, high, need)
            else:
                bounded = fts_window.where(fts.c.rowid >= low, fts.c.rowid < high)
                rows += conn.execute(bounded.order_by(fts.c.rowid.desc()).limit(need))
            high = low
            window *= 4
        return rows

    def _newest(self, want: _Wanted) -> list[Any]:
        """What ``want`` asks for, on one connection. On PostgreSQL with a status
        filter, the texts waiting for the trigram index have no status row yet
        (the pass writes it as it moves them in, as on SQLite): they are read
        first, each one's status from its session, then the others through their
        status rows, and the two merged newest first (a text the pass moves
        between the two reads is read twice, never missed)."""
        postgresql = self.store.dialect == "postgresql"
        stepped = postgresql and not want.query.bounded
        with self._tuned() if stepped else self.store.read() as conn:
            waiting = self._waiting_of_statuses(conn, want) if postgresql and want.statuses else []
            if stepped:
                rows = self._newest_on_postgresql(conn, want)
            else:
                rows = self._matching_rows(conn, want)
        if not waiting:
            return rows
        by_id = {r.id: r for r in [*waiting, *rows]}
        return sorted(by_id.values(), key=lambda r: -int(r.id))[: want.limit]

    def _waiting_of_statuses(self, conn: Connection, want: _Wanted) -> list[Any]:
        """PostgreSQL: the newest ``limit`` matches among the texts waiting for the
        trigram index (from the pass's floor up) of sessions in ``statuses``."""
        waiting = select(*want.columns).where(
            d.unindexed,
            d.id >= waiting_floor(),
            _session_status().in_(list(want.statuses)),
            *self._conditions(want.query),
            *want.where,
        )
        if want.after is not None:
            waiting = waiting.where(d.id < want.after)
        return list(conn.execute(waiting.order_by(d.id.desc()).limit(want.limit)))

    def _matching_rows(self, conn: Connection, want: _Wanted) -> list[Any]:
        """What ``want`` asks for through :meth:`_matching`'s selects, newest part
        first (on PostgreSQL with a status filter, of the texts with a status row)."""
        rows: list[Any] = []
        for stmt, key in self._matching(want.query, want.columns, want.where, want.statuses):
            if want.statuses and key is fts.c.rowid:
                rows += self._newest_of_statuses_on_sqlite(conn, want.rest(len(rows)))
                break
            if want.after is not None:
                stmt = stmt.where(key < want.after)
            rows += conn.execute(stmt.order_by(key.desc()).limit(want.limit - len(rows)))
            if len(rows) >= want.limit:
                break
        return rows

    def _newest_on_postgresql(self, conn: Connection, want: _Wanted) -> list[Any]:
        """The newest matches, below ``after``, in bounded steps.

        Walking the texts newest first (the primary key) and checking each is
        quick while matches are dense there, slow across a long stretch without
        one. A GIN trigram index probed whole gives every match at once (a bitmap,
        in no order) after reading the whole posting list of each of the term's
        trigrams: quick for rare trigrams, slow for common ones (hundreds of ms
        at a million texts, whatever range of ids the probe is bounded to). The
        index is by block of ids (``search_index.TRGM_BLOCK``), so a block asked
        on its own costs what it holds of each posting list. So:

        1. the newest :data:`RECENT_WALK` texts are checked one by one; when
           they matched often enough that the rest of the page is expected
           within :data:`WALK_MAX` more, those are walked too;
        2. below that, the index: a few blocks, newest first, then the whole
           index for a rare term, or the blocks on down for a common one
           (:meth:`_older_on_postgresql`).

        With ``statuses``, the newest :data:`RECENT_WALK` texts of any status are
        checked first (:meth:`_newest_texts_of_statuses`): fewer than
        :data:`COMMON_MATCHES` matches there, and the whole index is asked at
        once, within its budget (a rare word's few matches are all of them).
        Then "texts" are those of sessions in ``statuses``: the walk reads them
        newest first through ``search_doc_status`` (status, doc_id), so a filter
        that keeps few sessions does not check text after text of the others;
        below it the whole index, and no blocks (each block's candidates of
        every status would be looked up for their status).

        Every step reads a disjoint range of ids, newest first: the answer is the
        one a plain "matches, newest first" gives.
        """
        want = want.rest(0, self._top(conn) + 1 if want.after is None else want.after)
        _settings(conn, **_serial(), **_WALK)
        first: list[Any] = []
        if want.statuses:
            first, top, common = self._newest_texts_of_statuses(conn, want)
            want = want.rest(len(first), top)
            if want.limit <= 0 or top <= 0:
                return first
            if not common:
                # Few matches among the newest texts (a rare word, a no-match
                # query): the whole index first, not the walk through the texts
                # of these statuses, spread over the whole table.
                found = self._whole_index(conn, want, budget=True)
                if found is not None and len(found) <= INDEX_PROBE:
                    return first + self._these(conn, want, found)
        return first + self._stepped_on_postgresql(conn, want)

    def _newest_texts_of_statuses(
        self, conn: Connection, want: _Wanted
    ) -> tuple[list[Any], int, bool]:
        """PostgreSQL, with a status filter: the newest :data:`RECENT_WALK` texts
        below ``after`` of any status (the primary key's range), each checked: the
        newest ``limit`` matches of sessions in ``statuses`` among them, the bottom
        of the range, and whether the term is common there (at least
        :data:`COMMON_MATCHES` matches of any status). A common term goes on with
        the walk through the texts of these statuses; a rare one (a rare word,
        a no-match query) asks the trigram index first: their walk read 1,000
        texts of failed sessions spread over the table before the index answered
        (307 ms p50 for a rare word at 300,000 sessions)."""
        top = int(want.after or 0)
        low = max(0, top - RECENT_WALK)
        status = st.status.label("status")
        recent = (
            select(d.id, status)
            .select_from(search_docs_t.join(search_doc_status_t, st.doc_id == d.id))
            .where(*self._conditions(want.query), *want.where, d.id >= low, d.id < top)
            .order_by(d.id.desc())
        )
        found = list(conn.execute(recent))
        ids = [int(r.id) for r in found if r.status in want.statuses][: want.limit]
        these = select(*want.columns).where(d.id.in_(ids)).order_by(d.id.desc())
        rows = list(conn.execute(these)) if ids else []
        return rows, low, len(found) >= COMMON_MATCHES

    def _stepped_on_postgresql(self, conn: Connection, want: _Wanted) -> list[Any]:
        """The steps of :meth:`_newest_on_postgresql` below ``after``."""
        columns, limit, statuses = want.columns, want.limit, want.statuses
        top = int(want.after or 0)
        matches = [*self._conditions(want.query), *want.where]

        def walk(n: int, low: int, high: int) -> list[Any]:
            """The newest ``n`` matches with ids in [``low``, ``high``)."""
            if statuses:
                return list(conn.execute(_status_walk(columns, statuses, matches, low, high, n)))
            bounded = select(*columns).where(*matches, d.id >= low, d.id < high)
            return list(conn.execute(bounded.order_by(d.id.desc()).limit(n)))

        floor = _floor(conn, top, RECENT_WALK, statuses)
        rows = walk(limit, floor, top)
        if len(rows) >= limit or floor <= 0:
            return rows
        if rows and (limit - len(rows)) * RECENT_WALK <= len(rows) * WALK_MAX:
            # At the rate the newest texts matched, the page is full within
            # WALK_MAX more: walk on.
            low = _floor(conn, floor, WALK_MAX, statuses)
            rows += walk(limit - len(rows), low, floor)
            floor = low
            if len(rows) >= limit or floor <= 0:
                return rows
        want = want.rest(len(rows), floor)
        if not statuses:
            return rows + self._older_on_postgresql(conn, want)
        # With a status filter the index's candidates of every status would each
        # be looked up for their status (40 ms for 8 blocks of a common word,
        # 19 failed texts of 6,521): the walk through the texts of these
        # statuses instead, below the whole index's probe.
        found = self._whole_index(conn, want, budget=True)
        if found is None:
            # Common trigrams: walk on as far as a page of a phrase needs, at most.
            low = _floor(conn, floor, WALK_MAX, statuses)
            more = walk(want.limit, low, floor)
            rows, want, floor = rows + more, want.rest(len(more), low), low
            if want.limit <= 0 or floor <= 0:
                return rows
            found = self._whole_index(conn, want, budget=False)
        if found is not None and len(found) <= INDEX_PROBE:
            return rows + self._these(conn, want, found)
        return rows + walk(want.limit, 0, floor)

    def _older_on_postgresql(self, conn: Connection, want: _Wanted) -> list[Any]:
        """PostgreSQL, without a status filter: the newest matches below
        ``after``, where the walk of the newest texts stopped. The trigram
        index, asked:

        1. for :data:`FIRST_BLOCKS` blocks, newest first, one by one
           (:meth:`_blocks`): a common term past a long stretch of texts
           without it (a big session's) is there, at the cost of what those
           blocks hold of each trigram's posting list;
        2. whole (:meth:`_whole_index`), within :data:`INDEX_BUDGET_MS`:
           :data:`INDEX_PROBE` matches at most, and those are all of them (a
           rare term's: the whole index reads its short posting lists once,
           where block by block it would ask every block);
        3. out of time (common trigrams), whole again without a budget: as few
           matches are all of them (a phrase of common words few texts hold);
        4. more (a common term): block by block on down.
        """
        rows, floor = self._blocks(conn, want, FIRST_BLOCKS)
        want = want.rest(len(rows), floor)
        if want.limit <= 0 or floor <= 0:
            return rows
        found = self._whole_index(conn, want, budget=True)
        if found is None:
            found = self._whole_index(conn, want, budget=False)
        if found is not None and len(found) <= INDEX_PROBE:
            return rows + self._these(conn, want, found)
        return rows + self._blocks(conn, want)[0]

    def _whole_index(self, conn: Connection, want: _Wanted, *, budget: bool) -> list[int] | None:
        """PostgreSQL: the ids of up to ``INDEX_PROBE + 1`` of ``want``'s matches
        below ``after``, in no order, from the whole trigram index and the texts
        waiting for it (:func:`_indexed_or_waiting`); with ``budget``, None when
        that takes more than :data:`INDEX_BUDGET_MS`."""
        below = int(want.after or 0)

        def probe(text: ColumnElement[str]) -> Select[Any]:
            matching = self._conditions(want.query, body=text)
            return _docs([d.id], want.statuses).where(*matching, d.id < below)

        whole = _indexed_or_waiting(probe, INDEX_PROBE + 1)
        if budget:
            return _within_budget(conn, whole)
        _settings(conn, **_INDEX)
        found = [int(i) for i in conn.execute(whole).scalars()]
        _settings(conn, **_WALK)
        return found

    @staticmethod
    def _these(conn: Connection, want: _Wanted, ids: list[int]) -> list[Any]:
        """``want``'s rows of the documents ``ids``, newest first."""
        these = select(*want.columns).where(d.id.in_(ids), *want.where)
        return list(conn.execute(these.order_by(d.id.desc()).limit(want.limit)))

    def _blocks(
        self, conn: Connection, want: _Wanted, count: int | None = None, *, ordered: bool = True
    ) -> tuple[list[Any], int]:
        """PostgreSQL: ``want``'s matches below ``after`` in up to ``count`` blocks
        of the trigram index (all below: None), newest block first, and the
        lowest id the blocks asked cover (0: all of them). Each statement asks
        :data:`BLOCKS_PER_PROBE` blocks one by one (:meth:`_blocks_probe`)."""
        size = search_index.TRGM_BLOCK
        rows: list[Any] = []
        high = int(want.after or 0)
        left = count
        _settings(conn, **_INDEX)
        while high > 0 and len(rows) < want.limit and (left is None or left > 0):
            last = (high - 1) // size
            step = BLOCKS_PER_PROBE if left is None else min(BLOCKS_PER_PROBE, left)
            first = max(0, last - step + 1)
            probe = self._blocks_probe(want.rest(len(rows), high), first, last, ordered)
            rows += conn.execute(probe)
            if left is not None:
                left -= last - first + 1
            high = first * size
        _settings(conn, **_WALK)
        return rows, high

    def _blocks_probe(self, want: _Wanted, first: int, last: int, ordered: bool) -> Select[Any]:
        """PostgreSQL: a statement of ``want``'s matches below ``after`` in blocks
        ``last`` down to ``first`` of the trigram index, each block asked on its
        own (a ``LATERAL`` subquery per block): an equal block is an entry of the
        index's first column, which GIN intersects with the trigrams' posting
        lists by skipping to it, so a block costs what it holds of them (a range
        of blocks would gather every entry of the range first). Newest first when
        ``ordered`` (else the first found, the blocks in order); the texts of
        those blocks still waiting outside the index (at most
        ``SEARCH_TAIL_LIMIT``, on their own index) are checked one by one.
        ``columns`` must hold ``d.id``."""
        n, high = want.limit, int(want.after or 0)
        numbers = func.generate_series(
            literal(last, BigInteger), literal(first, BigInteger), literal(-1, BigInteger)
        )
        blocks = numbers.table_valued("k").render_derived("blocks")

        def matching(text: ColumnElement[str], *bounds: ColumnElement[bool]) -> Select[Any]:
            conditions = self._conditions(want.query, body=text)
            picked = _docs(want.columns, want.statuses).where(*conditions, *want.where, *bounds)
            return (picked.order_by(d.id.desc()) if ordered else picked).limit(n)

        block = trgm_block(d.id) == blocks.c.k
        held = matching(d.body, d.unindexed.is_(None), block, d.id < high).lateral("held")
        low = first * search_index.TRGM_BLOCK
        waiting = matching(_PG_TEXT, d.unindexed, d.id >= waiting_floor(), d.id >= low, d.id < high)
        in_blocks = select(*held.c).select_from(blocks.join(held, true()))
        both = union_all(in_blocks, waiting).subquery("probed")
        found = select(both)
        return (found.order_by(both.c.id.desc()) if ordered else found).limit(n)

    @contextmanager
    def _tuned(self) -> Iterator[Connection]:
        """PostgreSQL: a read whose planner settings (:func:`_settings`) end with
        it, also inside an open write or a request's shared reads (one transaction
        on PostgreSQL): it runs in a savepoint rolled back at its end."""
        with self.store.read() as conn:
            nested = conn.begin_nested()
            try:
                yield conn
            finally:
                nested.rollback()

    def _top(self, conn: Connection) -> int:
        """The newest document's id (0: none)."""
        return int(conn.execute(select(func.coalesce(func.max(d.id), 0))).scalar_one())

    def _any_on_postgresql(self, query: SearchQuery, limit: int) -> list[str]:
        """PostgreSQL: the sessions of up to ``limit`` matching texts, in no order:
        :data:`SESSION_BLOCKS` blocks of the trigram index, newest first, then
        the whole index below them."""
        with self._tuned() as conn:
            _settings(conn, **_serial())
            want = _Wanted(query, (d.session_id, d.id), (), limit, self._top(conn) + 1)
            rows, floor = self._blocks(conn, want, SESSION_BLOCKS, ordered=False)
            found = [r.session_id for r in rows]
            if len(found) >= limit or floor <= 0:
                return found

            def probe(text: ColumnElement[str]) -> Select[Any]:
                matching = self._conditions(query, body=text)
                return select(d.session_id).where(*matching, d.id < floor)

            _settings(conn, **_INDEX)
            rest = _indexed_or_waiting(probe, limit - len(found))
            return found + list(conn.execute(rest).scalars())

    def _common_on_postgresql(self, query: SearchQuery) -> bool:
        """PostgreSQL: whether at least :data:`COMMON_MATCHES` of the newest
        :data:`RECENT_WALK` texts match (checked one by one, newest first)."""
        with self._tuned() as conn:
            top = self._top(conn)
            _settings(conn, **_serial(), **_WALK)
            recent = (
                select(d.id)
                .where(*self._conditions(query), d.id > top - RECENT_WALK)
                .order_by(d.id.desc())
                .limit(COMMON_MATCHES)
            )
            return len(conn.execute(recent).all()) >= COMMON_MATCHES

    def _window(self, query: SearchQuery) -> list[ColumnElement[bool]]:
        """For a query the index cannot answer: only the latest :data:`SCAN_WINDOW`."""
        if not query.bounded:
            return []
        newest = select(func.coalesce(func.max(d.id), 0)).scalar_subquery()
        return [d.id > newest - SCAN_WINDOW]

    def _hits(self, rows: Sequence[Any], query: SearchQuery) -> list[Hit]:
        """Rows of ``_HIT_COLUMNS`` as hits, with their snippets."""
        if not rows:
            return []
        ids = [r.id for r in rows]
        body = func.substr(self.text, 1, SNIPPET_SOURCE_CHARS)
        with self.store.read() as conn:
            bodies = {
                r.id: r.body
                for r in conn.execute(select(d.id, body.label("body")).where(d.id.in_(ids)))
            }
        return [
            Hit(
                doc_id=r.id,
                session_id=r.session_id,
                message_id=r.message_id,
                source=r.source,
                role=r.role,
                kind=r.kind,
                tool=r.tool,
                timestamp=r.at,
                snippet=snippet(bodies.get(r.id, ""), query.terms),
            )
            for r in rows
        ]

    # -- the reads -------------------------------------------------------------------

    def hits(
        self,
        query: SearchQuery,
        session_where: Sequence[ColumnElement[bool]] = (),
        *,
        statuses: Sequence[str] = (),
        after: int | None = None,
        limit: int = 50,
    ) -> HitPage:
        """Matching texts newest first, below document ``after``, of the sessions
        ``session_where`` keeps (conditions on the ``sessions`` table, e.g. a
        list filter's) and, when given, of sessions in ``statuses`` (read on the
        status beside each text, :class:`~.search_index.SearchDocStatus`)."""
        if query.is_empty:
            return HitPage([], None, query.bounded)
        where = self._window(query)
        if session_where:
            # Checked hit by hit (a primary-key lookup), so a filter that keeps
            # most sessions costs nothing up front.
            s = sessions_t.c
            where.append(select(s.id).where(s.id == d.session_id, *session_where).exists())
        rows = self._newest(_Wanted(query, _HIT_COLUMNS, where, limit + 1, after, statuses))
        more = len(rows) > limit
        rows = rows[:limit]
        next_after = rows[-1].id if more and rows else None
        return HitPage(self._hits(rows, query), next_after, query.bounded)

    def session_ids(self, query: SearchQuery) -> Select[Any]:
        """A query of the ids of the sessions with a matching text, to narrow a
        session list (an ``IdSet`` of the read model).

        On PostgreSQL: a term with :data:`COMMON_MATCHES` matches among the newest
        :data:`RECENT_WALK` texts is common (the correlated condition below); else
        the trigram index's matches up to :data:`SESSION_PROBE`: their sessions'
        ids, or, more, the correlated condition.

        On SQLite: few matches (at most :data:`SESSION_PROBE` texts, found through
        the index, newest first): their sessions' ids. More, spread thin (the newest
        :data:`SESSION_PROBE` reach back over more than :data:`SPARSE_SPAN` of the
        index): up to :data:`SESSION_PROBE_MAX` are read for their ids. Otherwise
        the term is common: a correlated condition, "this session has a matching
        text" (its texts read through the session's index), which a list in time
        order checks session by session and finds in most of them. The first
        :data:`DENSE_PROBE` matches decide that at once when they lie within
        :data:`DENSE_SPAN` of the index (the same density, a tenth of the reading)
        and come from at least :data:`DENSE_SESSIONS` sessions.
        """
        s = sessions_t.c
        if query.is_empty:
            return select(s.id).where(false())
        # Correlated with the list's own ``sessions`` row: evaluated per session.
        correlated = select(d.session_id).where(
            d.session_id == s.id,
            *self._conditions(query, text_by_text=True),
            *self._window(query),
        )
        if self.store.dialect == "postgresql" and not query.bounded:
            # The trigram index is slow for a common term whatever the limit: a
            # term common among the newest texts goes straight to "this session
            # has a matching text", which a list finds at once. Otherwise the
            # index's matches, in no order, up to the probe's size.
            if self._common_on_postgresql(query):
                return self._has_match_on_postgresql(query, correlated)
            found_ids = self._any_on_postgresql(query, SESSION_PROBE + 1)
            if len(found_ids) > SESSION_PROBE:
                return self._has_match_on_postgresql(query, correlated)
            return select(s.id).where(s.id.in_(sorted(set(found_ids))))
        cap = DENSE_PROBE
        want = _Wanted(query, (d.session_id, d.id), self._window(query), cap + 1)
        found = self._newest(want)
        stages = ((DENSE_SPAN, DENSE_SESSIONS, SESSION_PROBE), (SPARSE_SPAN, 0, SESSION_PROBE_MAX))
        for thin, sessions, more in stages:
            if len(found) <= cap:
                break
            if self._span(found[-1].id) <= thin and len({r.session_id for r in found}) >= sessions:
                return correlated
            found += self._newest(replace(want, limit=more + 1 - len(found), after=found[-1].id))
            cap = more
        if len(found) <= cap:
            return select(s.id).where(s.id.in_(sorted({r.session_id for r in found})))
        return correlated

    def _has_match_on_postgresql(self, query: SearchQuery, one_by_one: Select[Any]) -> Select[Any]:
        """PostgreSQL: "this session has a matching text", for a list to check
        session by session. A session of few texts checks them one by one
        (``one_by_one``, on the session's index: a few µs a text). One of more
        than :data:`BIG_SESSION_TEXTS` whose texts lie within
        :data:`BIG_SESSION_BLOCKS` blocks of the trigram index asks those blocks
        one by one (each costs what it holds of the term's posting lists: a
        50,000-message session's 7 blocks in a few ms, where checking its texts
        took 122 ms) and checks its texts still waiting outside the index one by
        one. (The session is matched on ``session_id || ''``, which no index
        serves: on the session's index the planner would walk its texts.)"""
        s = sessions_t.c
        mine = search_docs_t.alias("mine")

        def of_session(*columns: Any) -> Select[Any]:
            """A select correlated with the list's ``sessions`` row."""
            return select(*columns).correlate(sessions_t)

        lowest = of_session(func.min(mine.c.id)).where(mine.c.session_id == s.id).scalar_subquery()
        highest = of_session(func.max(mine.c.id)).where(mine.c.session_id == s.id).scalar_subquery()
        span = func.generate_series(trgm_block(lowest), trgm_block(highest))
        blocks = span.table_valued("k").render_derived("blocks")
        own = d.session_id.concat("") == s.id
        in_block = (
            of_session(literal(1))
            .correlate(blocks)
            .where(
                d.unindexed.is_(None),
                trgm_block(d.id) == blocks.c.k,
                own,
                *self._conditions(query, body=d.body),
            )
            .limit(1)
            .lateral("hit")
        )
        indexed = of_session(literal(1)).select_from(blocks.join(in_block, true())).exists()
        waiting_text = self._conditions(query, body=_PG_TEXT)
        waiting = (
            of_session(literal(1)).where(d.unindexed, d.id >= waiting_floor(), own, *waiting_text)
        ).exists()
        big = and_(
            s.message_count > BIG_SESSION_TEXTS,
            highest - lowest < BIG_SESSION_BLOCKS * search_index.TRGM_BLOCK,
        )
        small = one_by_one.correlate(sessions_t).exists()
        return of_session(s.id).where(case((big, or_(indexed, waiting)), else_=small))

    def _span(self, oldest_id: int) -> float:
        """The share of the index that matches down to document ``oldest_id`` span."""
        with self.store.read() as conn:
            newest = conn.execute(select(func.max(d.id))).scalar() or 0
        return (newest - oldest_id) / newest if newest > 0 else 0.0

    def session_hits(
        self, query: SearchQuery, session_ids: Sequence[str], *, per_session: int = 3
    ) -> dict[str, SessionHits]:
        """For each of ``session_ids`` with a match (a page of a list): its first
        ``per_session`` matching texts, in the order they were written, and how many
        match in all. The sessions' texts are read through the session index and
        checked text by text: a page's sessions hold few texts next to the index."""
        if query.is_empty or not session_ids:
            return {}
        matches = (
            select(d.session_id, d.id)
            .where(
                d.session_id.in_(list(dict.fromkeys(session_ids))),
                *self._conditions(query, text_by_text=True),
                *self._window(query),
            )
            .order_by(d.id)
        )
        per: dict[str, list[int]] = {}
        with self.store.read() as conn:
            for session_id, doc_id in conn.execute(matches):
                per.setdefault(session_id, []).append(doc_id)
            shown = [i for ids in per.values() for i in ids[:per_session]]
            rows = list(conn.execute(select(*_HIT_COLUMNS).where(d.id.in_(shown)).order_by(d.id)))
        hits: dict[str, list[Hit]] = {}
        for hit in self._hits(rows, query):
            hits.setdefault(hit.session_id, []).append(hit)
        return {sid: SessionHits(hits[sid], len(ids)) for sid, ids in per.items()}

    def transcript_hits(self, query: SearchQuery, session_id: str) -> list[int]:
        """The ids of a session's matching messages in transcript order (timestamp,
        id): what "next hit" and "previous hit" step through. Read through the
        session index and checked text by text."""
        if query.is_empty:
            return []
        stmt = (
            select(d.message_id)
            .where(
                d.session_id == session_id,
                d.message_id.is_not(None),
                *self._conditions(query, text_by_text=True),
                *self._window(query),
            )
            .order_by(d.at, d.message_id)
        )
        with self.store.read() as conn:
            return [int(i) for i in conn.execute(stmt).scalars()]
