"""Unified diffs of file edits, with the changed words of each changed line marked.

Edit, MultiEdit and Write calls carry the text before and after (``old_string``,
``new_string``, ``content``); Claude Code's ``toolUseResult.structuredPatch``
(kept by the importer as ``meta["structured_patch"]`` of the result) adds the
real line numbers. Both become a list of :class:`DiffRow`, which a template
draws and the Markdown export writes as a ``diff`` block.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DiffRow", "Segment", "diff_rows", "edit_rows", "patch_rows", "write_rows"]

#: Lines longer than this get no word-level highlight (the cost grows fast).
MAX_WORD_DIFF_CHARS = 2_000
#: Paired lines less alike than this are shown as whole-line changes.
MIN_WORD_DIFF_RATIO = 0.5
#: Lines of context around each change of an Edit's snippet.
CONTEXT_LINES = 3

_TOKEN_RE = re.compile(r"\w+|\s+|[^\w\s]")


@dataclass(frozen=True)
class Segment:
    """A piece of a line; ``changed`` marks the words that differ from the paired line."""

    text: str
    changed: bool = False


@dataclass(frozen=True)
class DiffRow:
    """One row of a unified diff: ``sign`` is ``" "``, ``"-"``, ``"+"``, or ``"@"``
    for a hunk header (``text`` then holds it)."""

    sign: str
    text: str
    old_no: int | None = None
    new_no: int | None = None
    segments: tuple[Segment, ...] = field(default=())

    @property
    def parts(self) -> tuple[Segment, ...]:
        """The segments to draw (the whole text when no word diff was made)."""
        return self.segments or (Segment(self.text),)


def _words(a: str, b: str) -> tuple[tuple[Segment, ...], tuple[Segment, ...]]:
    """The segments of a removed line ``a`` and its added counterpart ``b``."""
    if len(a) > MAX_WORD_DIFF_CHARS or len(b) > MAX_WORD_DIFF_CHARS:
        return (), ()
    ta, tb = _TOKEN_RE.findall(a), _TOKEN_RE.findall(b)
    matcher = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    if matcher.ratio() < MIN_WORD_DIFF_RATIO:
        return (), ()  # a rewritten line: marking every word says nothing
    sa: list[Segment] = []
    sb: list[Segment] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        changed = tag != "equal"
        if i2 > i1:
            sa.append(Segment("".join(ta[i1:i2]), changed))
        if j2 > j1:
            sb.append(Segment("".join(tb[j1:j2]), changed))
    return tuple(sa), tuple(sb)


def _paired(
    removed: Sequence[tuple[str, int | None]], added: Sequence[tuple[str, int | None]]
) -> Iterator[DiffRow]:
    """Rows of a block of removed lines followed by added ones, the i-th removed
    line word-diffed against the i-th added line."""
    pairs = min(len(removed), len(added))
    seg_a: list[tuple[Segment, ...]] = []
    seg_b: list[tuple[Segment, ...]] = []
    for i in range(pairs):
        a, b = _words(removed[i][0], added[i][0])
        seg_a.append(a)
        seg_b.append(b)
    for i, (text, no) in enumerate(removed):
        yield DiffRow("-", text, old_no=no, segments=seg_a[i] if i < pairs else ())
    for i, (text, no) in enumerate(added):
        yield DiffRow("+", text, new_no=no, segments=seg_b[i] if i < pairs else ())


def diff_rows(old: str, new: str, *, context: int = CONTEXT_LINES) -> list[DiffRow]:
    """The unified diff of two texts (line numbers relative to the texts)."""
    a, b = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    rows: list[DiffRow] = []
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        header = f"@@ -{first[1] + 1},{last[2] - first[1]} +{first[3] + 1},{last[4] - first[3]} @@"
        rows.append(DiffRow("@", header))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows.extend(
                    DiffRow(" ", a[i], old_no=i + 1, new_no=j1 + (i - i1) + 1)
                    for i in range(i1, i2)
                )
                continue
            removed = [(a[i], i + 1) for i in range(i1, i2)]
            added = [(b[j], j + 1) for j in range(j1, j2)]
            rows.extend(_paired(removed, added))
    return rows


def edit_rows(old: str, new: str) -> list[DiffRow]:
    """An Edit's snippet diff, the whole snippet shown; its line numbers are not
    the file's, so none are kept."""
    whole = max(len(old), len(new)) + 1
    return [
        DiffRow(r.sign, r.text, segments=r.segments)
        for r in diff_rows(old, new, context=whole)
        if r.sign != "@"
    ] or [DiffRow("@", "(no change)")]


def write_rows(content: str) -> list[DiffRow]:
    """A new file: every line added."""
    return [DiffRow("+", line, new_no=i) for i, line in enumerate(content.splitlines(), 1)]


def patch_rows(patch: Any) -> list[DiffRow] | None:
    """Rows of a ``structuredPatch`` (a list of hunks with ``oldStart``,
    ``newStart`` and ``lines``), or None when it is not one."""
    if not isinstance(patch, list) or not patch:
        return None
    rows: list[DiffRow] = []
    for hunk in patch:
        if not isinstance(hunk, dict) or not isinstance(hunk.get("lines"), list):
            return None
        old_no = _int(hunk.get("oldStart"))
        new_no = _int(hunk.get("newStart"))
        rows.append(
            DiffRow(
                "@",
                f"@@ -{old_no},{_int(hunk.get('oldLines'))}"
                f" +{new_no},{_int(hunk.get('newLines'))} @@",
            )
        )
        removed: list[tuple[str, int | None]] = []
        added: list[tuple[str, int | None]] = []
        for raw in hunk["lines"]:
            line = raw if isinstance(raw, str) else str(raw)
            sign, text = (line[:1], line[1:]) if line[:1] in ("-", "+", " ") else (" ", line)
            if sign == "-":
                removed.append((text, old_no))
                old_no += 1
                continue
            if sign == "+":
                added.append((text, new_no))
                new_no += 1
                continue
            rows.extend(_paired(removed, added))
            removed, added = [], []
            rows.append(DiffRow(" ", text, old_no=old_no, new_no=new_no))
            old_no += 1
            new_no += 1
        rows.extend(_paired(removed, added))
    return rows


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
