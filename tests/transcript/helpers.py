"""Helpers over the corpus as turns (no database): raw oracles and walkers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.corpus import CORPUS, CORPUS_2
from webapp.claude import ParsedSession
from webapp.transcript import ToolCall, ToolRun, Turn, build_turns

CORPUS_FILES = sorted([*CORPUS.glob("*.jsonl"), *CORPUS_2.glob("*.jsonl")])


def session_named(sessions: dict[str, ParsedSession], prefix: str) -> ParsedSession:
    """The main (not subagent) session whose id starts with ``prefix``."""
    found = [s for sid, s in sessions.items() if sid.startswith(prefix) and s.parent_id is None]
    assert len(found) == 1, prefix
    return found[0]


def all_calls(turns: list[Turn[Any]]) -> Iterator[ToolCall[Any]]:
    """Every tool call of ``turns``, in order."""
    for turn in turns:
        for step in turn.steps:
            if isinstance(step, ToolRun):
                yield from step.calls


def all_blocks(turns: list[Turn[Any]]) -> Iterator[Any]:
    """Every drawn block: steps, and the items inside tool runs."""
    for turn in turns:
        for step in turn.steps:
            yield step
            if isinstance(step, ToolRun):
                yield from step.items


@dataclass
class RawPairs:
    """Tool calls and results of one file, read with plain ``json``."""

    names: dict[str, str] = field(default_factory=dict)
    results: dict[str, int] = field(default_factory=dict)


def raw_pairs(path: Path) -> RawPairs:
    """The file's tool_use ids (with the tool name) and how many tool_results
    each got, from the raw lines."""
    pairs = RawPairs()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get("message") if isinstance(entry, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                pairs.names.setdefault(block["id"], block["name"])
            elif block.get("type") == "tool_result":
                tuid = block["tool_use_id"]
                pairs.results[tuid] = pairs.results.get(tuid, 0) + 1
    return pairs


def turns_of(session: ParsedSession) -> list[Turn[Any]]:
    """The turns of a parsed session."""
    return build_turns(session.messages)
