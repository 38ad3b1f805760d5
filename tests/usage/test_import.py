"""Usage of imported Claude Code transcripts (``sessionboard import``) against
ccusage's figures for the same files (tests/data/ccusage)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.corpus import CORPUS, CORPUS_2, DATA
from tests.usage.conftest import assert_in_step
from webapp.claude.transcript import parse_paths
from webapp.sessions.pricing import NANOS_PER_USD, PriceTable, Usage
from webapp.sessions.queries import ReadModel
from webapp.sessions.usage import UsageTotals
from webapp.sessions.usage_reads import UsageGroup

CCUSAGE = json.loads((DATA.parent / "ccusage" / "sessions.json").read_text())
EF958AA1 = "ef958aa1-0e93-49f0-bb71-150f63befcd1"


def _import(runner: Any, *paths: Path) -> None:
    result = runner.invoke(args=["import", "--keep", *map(str, paths)])
    assert result.exit_code == 0, result.output


def test_ef958aa1_alone_and_with_its_subagent_as_ccusage_counts(app: Any, runner: Any) -> None:
    _import(
        runner,
        CORPUS / f"claude-code-log__{EF958AA1}.jsonl",
        CORPUS / "claude-code-log__agent-a52886dc180afb356.jsonl",
    )
    with app.app_context():
        reads = ReadModel(app.extensions["sessionboard.manager"].store)
        own = reads.session_usage(EF958AA1)
        with_subagent = reads.session_usage(EF958AA1, with_subagents=True)
    [(model, totals)] = own.items()
    usage = totals.usage
    assert model == "claude-opus-4-7"
    assert (usage.input, usage.output, usage.cache_read, usage.cache_write) == (
        1_308,
        22_901,
        728_660,
        102_189,
    )
    # ccusage: $1.58207625 for the file; stored to the nano-dollar.
    reference = CCUSAGE[f"claude-code-log__{EF958AA1}.jsonl"]["cost"]
    assert totals.cost == round(reference * NANOS_PER_USD)
    assert with_subagent[model].usage.output == 29_376


def test_the_corpus_totals_agree_with_ccusage(app: Any, runner: Any) -> None:
    """Per model over every file: input, cache read and cache write tokens equal
    ccusage's; output is at least theirs (Sessionboard keeps a response's final
    count); the cost agrees within 1% where ccusage counts the same output, and a
    model without a price has none."""
    _import(runner, CORPUS, CORPUS_2)
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for figures in CCUSAGE.values():
        for model, theirs in figures["models"].items():
            for kind, value in theirs.items():
                expected[model][kind] += value
    with app.app_context():
        store = app.extensions["sessionboard.manager"].store
        rows = ReadModel(store).usage_by(UsageGroup.MODEL)
        assert_in_step(store)
    ours: dict[str, UsageTotals] = defaultdict(UsageTotals)
    for row in rows:
        ours[row.model] += row.totals
    assert set(ours) == set(expected)
    prices = PriceTable.load()
    for model, theirs in expected.items():
        usage = ours[model].usage
        assert (usage.input, usage.cache_read, usage.cache_write) == (
            theirs["input"],
            theirs["cache_read"],
            theirs["cache_creation"],
        ), model
        assert usage.output >= theirs["output"], model
        price = prices.price(model)
        if price is None:
            assert ours[model].cost is None, model
            continue
        extra_output = (usage.output - theirs["output"]) * price.rates.output
        assert ours[model].cost is not None
        cost = ours[model].cost - extra_output
        assert abs(cost - theirs["cost"] * NANOS_PER_USD) <= 0.01 * theirs["cost"] * NANOS_PER_USD


def _straddle(lines: list[str]) -> int:
    """The first line that continues the previous line's response with a larger usage."""
    previous: dict[str, Any] = {}
    for i, line in enumerate(lines):
        message = json.loads(line).get("message") or {}
        usage = message.get("usage") if isinstance(message, dict) else None
        if usage and previous.get("id") == message.get("id") and usage != previous.get("usage"):
            return i
        previous = message if isinstance(message, dict) else {}
    raise AssertionError("no response grows over its lines")


def test_a_response_completed_by_a_later_import_is_restated(
    app: Any, runner: Any, tmp_path: Path
) -> None:
    """A file imported as it grows: a response whose usage grows after the first
    import is restated, so the totals are those of the whole file read at once."""
    source = CORPUS / "claude-code-log__agent-c8d9b115.jsonl"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = _straddle(lines)
    growing = tmp_path / source.name
    growing.write_text("".join(lines[:cut]), encoding="utf-8")
    _import(runner, growing)
    with growing.open("a", encoding="utf-8") as f:
        f.write("".join(lines[cut:]))
    _import(runner, growing)
    whole: dict[str, Usage] = defaultdict(Usage)
    for session in parse_paths(source).sessions:
        for message in session.messages:
            if (message.meta or {}).get("usage"):
                whole[message.meta["model"]] += Usage.from_api(message.meta["usage"])
    with app.app_context():
        store = app.extensions["sessionboard.manager"].store
        rows = ReadModel(store).usage_by(UsageGroup.MODEL)
        assert_in_step(store)
    assert {r.model: r.totals.usage for r in rows} == dict(whole)
    assert {r.model: r.totals.responses for r in rows} == {"claude-haiku-4-5-20251001": 6}
