"""The usage ledger's write path: each response priced when written, session totals
and rollups kept in step in the same transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import FakeClock
from tests.usage.conftest import (
    assert_in_step,
    entries,
    stored_rollups,
    stored_session_totals,
    usage_message,
)
from webapp.sessions import Manager, Message, usage
from webapp.sessions.pricing import Usage, format_usd
from webapp.sessions.queries import ReadModel
from webapp.sessions.rows import messages_t
from webapp.sessions.usage import UsageTotals


def _running(manager: Manager, *, expires: bool = False, **context: Any) -> str:
    """A running session; it never expires unless ``expires``."""
    if expires:
        session = manager.create("ship it", context or None)
    else:
        session = manager.create("ship it", context or None, expires_at=None)
    manager.set_running(session.id)
    return session.id


def test_a_response_is_priced_when_written(manager: Manager) -> None:
    sid = _running(manager)
    assert manager.append_message(sid, usage_message("claude-haiku-4-5-20251001"))
    # Haiku 4.5 per token: input 1,000, output 5,000, cache read 100, 5-min write 1,250 nanos.
    cost = 10 * 1_000 + 100 * 5_000 + 1_000 * 100 + 200 * 1_250
    [entry] = entries(manager.store)
    assert (entry.cost_nanos, entry.cost_source) == (cost, "table")
    assert ReadModel(manager.store).session_usage(sid) == {
        "claude-haiku-4-5-20251001": UsageTotals(Usage(10, 100, 1_000, 200, 0), cost, 1, 1)
    }
    assert_in_step(manager.store)


def test_totals_follow_single_batch_and_plain_inserts(manager: Manager, clock: FakeClock) -> None:
    sid = _running(manager, project_path="/src/app", runner="slack-bot", user="ana")
    other = _running(manager, project_path="/src/lib")
    manager.append_message(sid, usage_message("claude-opus-4-5", output=7))
    clock.advance(hours=3)
    outcome = manager.append_messages(
        sid,
        [
            Message("user", "and the docs"),
            usage_message("claude-opus-4-5", input=3, output=40),
            usage_message("claude-sonnet-4-5", cache_read=250_000),  # long-context tier
            usage_message("claude-fable-5"),
        ],
    )
    assert outcome.appended == 4
    clock.advance(days=1)
    manager.store.insert_message(other, usage_message("claude-haiku-4-5"), now=clock())
    manager.append_message(other, Message("assistant", "no usage here", meta={"model": "x"}))
    assert len(entries(manager.store)) == 5
    assert_in_step(manager.store)
    totals = ReadModel(manager.store).session_usage(sid)
    assert set(totals) == {"claude-opus-4-5", "claude-sonnet-4-5", "claude-fable-5"}
    assert totals["claude-opus-4-5"].usage.output == 47
    assert totals["claude-opus-4-5"].responses == 2


def test_an_unknown_model_counts_tokens_and_has_no_price(manager: Manager) -> None:
    sid = _running(manager)
    manager.append_messages(sid, [usage_message("claude-fable-5"), usage_message(None)])
    totals = ReadModel(manager.store).session_usage(sid)
    assert set(totals) == {"claude-fable-5", ""}
    for model_totals in totals.values():
        assert model_totals.usage.total == 10 + 100 + 1_000 + 200
        assert model_totals.cost is None  # "no price", never 0
        assert format_usd(model_totals.cost) == "no price"
    assert [e.cost_nanos for e in entries(manager.store)] == [None, None]
    assert all(r.cost is None for r in stored_rollups(manager.store).values())
    assert_in_step(manager.store)


def test_a_runner_cost_is_taken_instead_of_the_table(manager: Manager) -> None:
    sid = _running(manager)
    manager.append_messages(
        sid,
        [
            usage_message("claude-haiku-4-5", cost_usd=0.25),
            usage_message("claude-fable-5", cost_usd=1.5),
            usage_message("claude-fable-5"),
        ],
    )
    assert [(e.cost_nanos, e.cost_source) for e in entries(manager.store)] == [
        (250_000_000, "runner"),
        (1_500_000_000, "runner"),
        (None, "table"),
    ]
    fable = ReadModel(manager.store).session_usage(sid)["claude-fable-5"]
    assert (fable.cost, fable.priced, fable.responses, fable.partly_priced) == (
        1_500_000_000,
        1,
        2,
        True,
    )
    assert_in_step(manager.store)


BAD_META: list[Any] = [
    {"usage": "lots"},
    {"usage": ["input_tokens", 1]},
    {"usage": {"input_tokens": -1}},
    {"usage": {"output_tokens": True}},
    {"usage": {"output_tokens": 1.5}},
    {"usage": {"output_tokens": "12"}},
    {"usage": {"cache_read_input_tokens": 10**13}},
    {"usage": {"input_tokens": 1, "cache_creation": 5}},
    {"usage": {"input_tokens": 1}, "model": 5},
    {"usage": {"input_tokens": 1}, "model": "m" * 201},
    {"usage": {"input_tokens": 1}, "cost_usd": -0.01},
    {"usage": {"input_tokens": 1}, "cost_usd": "0.01"},
    {"usage": {"input_tokens": 1}, "cost_usd": 10**7},
    {"usage": {"input_tokens": 1}, "cost_usd": True},
]


@pytest.mark.parametrize("meta", BAD_META, ids=lambda m: str(m)[:60])
def test_malformed_usage_is_refused_and_nothing_is_written(manager: Manager, meta: Any) -> None:
    sid = _running(manager)
    with pytest.raises(ValueError, match="meta"):
        manager.append_messages(sid, [usage_message(), Message("assistant", "x", meta=meta)])
    with manager.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(messages_t)).scalar() == 0
    assert entries(manager.store) == []
    assert stored_session_totals(manager.store) == {}
    assert stored_rollups(manager.store) == {}


def test_replays_and_known_source_keys_are_counted_once(manager: Manager) -> None:
    sid = _running(manager)
    first = usage_message()
    first.source_key = "resp-1"
    manager.append_messages(sid, [first], idempotency_key="k1")
    assert manager.append_messages(sid, [first], idempotency_key="k1").status == "replayed"
    again = usage_message()
    again.source_key = "resp-1"
    assert manager.append_messages(sid, [again]).appended == 0
    assert len(entries(manager.store)) == 1
    assert ReadModel(manager.store).session_usage(sid)["claude-haiku-4-5"].responses == 1
    assert_in_step(manager.store)


def test_a_refused_append_writes_no_usage(manager: Manager) -> None:
    sid = _running(manager)
    manager.close(sid)
    assert not manager.append_message(sid, usage_message())
    assert not manager.append_message("no-such-session", usage_message())
    assert entries(manager.store) == []
    assert stored_rollups(manager.store) == {}


def test_purging_old_messages_keeps_the_totals(manager: Manager, clock: FakeClock) -> None:
    sid = _running(manager)
    manager.append_messages(sid, [usage_message(), usage_message("claude-opus-4-5")])
    before = (stored_session_totals(manager.store), stored_rollups(manager.store))
    clock.advance(days=10)
    assert manager.store.purge_older_than(clock() - timedelta(days=7)) == 2
    assert manager.get_messages(sid) == []
    assert (stored_session_totals(manager.store), stored_rollups(manager.store)) == before
    assert len(entries(manager.store)) == 2
    assert_in_step(manager.store)


def test_deleting_a_session_removes_its_totals_not_the_ledger_rollups(
    manager: Manager, clock: FakeClock
) -> None:
    gone = _running(manager)
    kept = _running(manager, expires=True)
    for sid in (gone, kept):
        manager.append_message(sid, usage_message())
    rollups = stored_rollups(manager.store)
    assert manager.delete(gone)
    assert {sid for sid, _model in stored_session_totals(manager.store)} == {kept}
    assert {e.session_id for e in entries(manager.store)} == {kept}
    assert stored_rollups(manager.store) == rollups  # what was used stays used
    # a retention purge of whole sessions does the same
    manager.set_completed(kept, "done")
    clock.advance(days=30)
    assert manager.store.purge_sessions_older_than(clock() - timedelta(days=7)) == 1
    assert stored_session_totals(manager.store) == {}
    assert entries(manager.store) == []
    assert stored_rollups(manager.store) == rollups


def test_subagents_have_their_own_totals_and_count_with_their_parent(manager: Manager) -> None:
    parent = _running(manager)
    child = manager.create("look it up")
    grandchild = manager.create("look deeper")
    for sid, parent_id in ((child.id, parent), (grandchild.id, child.id)):
        manager.update(sid, lambda s, p=parent_id: setattr(s, "parent_id", p))
        manager.set_running(sid)
    manager.append_message(parent, usage_message(output=1))
    manager.append_message(child.id, usage_message(output=20))
    manager.append_message(grandchild.id, usage_message(output=300))
    manager.append_message(child.id, usage_message("claude-opus-4-5", output=4000))
    reads = ReadModel(manager.store)
    assert reads.session_usage(parent)["claude-haiku-4-5"].usage.output == 1
    with_subagents = reads.session_usage(parent, with_subagents=True)
    assert with_subagents["claude-haiku-4-5"].usage.output == 321
    assert with_subagents["claude-opus-4-5"].usage.output == 4000
    assert (
        reads.session_usage(child.id, with_subagents=True)["claude-haiku-4-5"].usage.output == 320
    )
    assert reads.session_usage(grandchild.id)["claude-haiku-4-5"].usage.output == 300


def test_usage_is_counted_for_project_runner_and_user(manager: Manager) -> None:
    sid = _running(manager, project_path="/src/app", runner="slack-bot", user="ana")
    manager.append_message(sid, usage_message())
    manager.append_messages(sid, [usage_message()], runner="ci-token")
    keys = {(d, k) for d, _at, k, _m in stored_rollups(manager.store)}
    assert keys == {
        ("model", ""),
        ("project", "/src/app"),
        ("runner", "slack-bot"),
        ("runner", "ci-token"),
        ("user", "ana"),
    }
    assert_in_step(manager.store)


def test_a_response_of_zero_tokens_is_not_counted(manager: Manager) -> None:
    """Claude Code logs its own error messages as model ``<synthetic>`` with zero usage:
    no response to count, and no unpriced model to make a session "partly priced"."""
    sid = _running(manager)
    zero = usage_message("<synthetic>", input=0, output=0, cache_read=0, cache_write=0)
    manager.append_messages(sid, [usage_message(), zero])
    assert list(ReadModel(manager.store).session_usage(sid)) == ["claude-haiku-4-5"]
    assert_in_step(manager.store)


def test_usage_is_written_in_the_append_transaction(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger write that fails takes the messages with it: all or nothing."""
    sid = _running(manager)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(usage, "add_to_totals", broken)
    with pytest.raises(RuntimeError):
        manager.append_messages(sid, [Message("user", "go"), usage_message()])
    monkeypatch.undo()
    assert manager.get_messages(sid) == []
    assert manager.get(sid).message_count == 0  # type: ignore[union-attr]
    assert entries(manager.store) == []
