"""Reading a transcript's lines with their byte offsets, from a resume offset.

A line is kept when it decodes to a JSON object no deeper than
:data:`MAX_DEPTH`; any other line is skipped and counted (``malformed_json``,
``not_an_object``, ``blank_line``, ``truncated_last_line``). NUL characters and
lone surrogates in its strings (keys included) become U+FFFD, counted in
``ParseStats.replaced_characters``: the store refuses them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import cast

from webapp.claude.transcript.results import ParseStats
from webapp.claude.transcript.shapes import Entry, JSONObject, JSONValue, as_entry

#: Deepest nesting of arrays and objects a line may have (the corpus has 9).
MAX_DEPTH = 100
REPLACEMENT = "\ufffd"

_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")
# Raw bytes that may decode to an unstorable character: a \u0000 or \uD800-\uDFFF
# escape, or a UTF-8 encoded surrogate (json decodes bytes with surrogatepass).
_MAY_BE_UNSTORABLE_RE = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _may_be_unstorable(seg: bytes) -> bool:
    """Whether a raw line may decode to an unstorable character. The regex is
    searched only in a line holding an escape or the byte 0xED: the two byte
    searches cost a quarter of the regex's scan of every line."""
    return (b"\\u" in seg or b"\xed" in seg) and _MAY_BE_UNSTORABLE_RE.search(seg) is not None


@dataclass(slots=True)
class Line:
    """One decoded line: where it starts, what it holds, and whether it starts
    at or after the resume offset (only new lines give messages and counts)."""

    offset: int
    entry: Entry
    new: bool


def read_lines(data: bytes, start_offset: int, stats: ParseStats) -> tuple[list[Line], int]:
    """The JSON-object lines of ``data`` (every one, to rebuild state) and the
    offset after the last consumed line. Only lines starting at or after
    ``start_offset`` are counted in ``stats``."""
    lines: list[Line] = []
    end_offset = start_offset
    pos = 0
    size = len(data)
    while pos < size:
        nl = data.find(b"\n", pos)
        complete = nl != -1
        nxt = nl + 1 if complete else size
        seg = data[pos : nl if complete else size]
        new = pos >= start_offset
        if not seg.strip():
            if complete:
                if new:
                    stats.lines_read += 1
                    stats.skip("blank_line")
                end_offset = max(end_offset, nxt)
            pos = nxt
            continue
        if new:
            stats.lines_read += 1
        decoded = decode_line(seg)
        if not complete:
            # A final line without newline: consumed only if it is a whole object.
            if isinstance(decoded, dict):
                lines.append(_line(pos, seg, decoded, new, stats))
                end_offset = max(end_offset, nxt)
            elif new:
                stats.skip("truncated_last_line")
            break
        end_offset = max(end_offset, nxt)
        if isinstance(decoded, dict):
            lines.append(_line(pos, seg, decoded, new, stats))
        elif new:
            stats.skip("malformed_json" if decoded is _BAD else "not_an_object")
        pos = nxt
    return lines, end_offset


class _Bad:
    """The value of a line that does not decode."""


_BAD = _Bad()


def decode_line(seg: bytes) -> JSONValue | _Bad:
    """The JSON value of one line, or ``_BAD`` when it is not JSON for any
    reason: syntax, encoding, NaN/Infinity, or nesting deeper than MAX_DEPTH."""
    try:
        value: JSONValue = json.loads(seg, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _BAD
    if seg.count(b"[") + seg.count(b"{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        return _BAD
    return value


def _refuse_constant(name: str) -> JSONValue:
    raise ValueError(f"{name} is not JSON")


def _depth(value: JSONValue) -> int:
    """How deeply arrays and objects nest in ``value`` (iterative: any depth)."""
    deepest = 0
    stack: list[tuple[JSONValue, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _line(offset: int, seg: bytes, obj: JSONObject, new: bool, stats: ParseStats) -> Line:
    if _may_be_unstorable(seg):
        obj, replaced = _clean_object(obj)
        if new:
            stats.replaced_characters += replaced
    return Line(offset, as_entry(obj), new)


def clean_text(text: str) -> tuple[str, int]:
    """``text`` with NUL characters and lone surrogates replaced by U+FFFD, and
    how many were replaced."""
    return _UNSTORABLE_RE.subn(REPLACEMENT, text)


def _clean_object(obj: JSONObject) -> tuple[JSONObject, int]:
    cleaned, n = _clean(obj)
    return cast(JSONObject, cleaned), n


def _clean(value: JSONValue) -> tuple[JSONValue, int]:
    """``value`` with every string (keys included) cleaned (depth <= MAX_DEPTH)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        items = [_clean(v) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    if isinstance(value, dict):
        out: JSONObject = {}
        total = 0
        for k, v in value.items():
            key, nk = clean_text(k)
            out[key], nv = _clean(v)
            total += nk + nv
        return out, total
    return value, 0
