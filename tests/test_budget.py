"""Budgets: reservations never let requests, tokens, dollars or time pass their limits."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from providers import ScriptedProvider, SleepingProvider, priced_model, registered

from lambda_rlm.core import types as t
from lambda_rlm.core.errors import BudgetExceeded
from lambda_rlm.models.budget import Budget, BudgetRefusal, Counters
from lambda_rlm.models.llm import Oracle
from lambda_rlm.models.settings import ModelSettings

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydantic.*")


def run_leaves(oracle: Oracle, n: int, type_: t.Type = t.TEXT) -> list[Any]:
    async def main() -> list[Any]:
        leaves = (oracle.leaf(f"prompt {i}", type_) for i in range(n))
        return list(await asyncio.gather(*leaves, return_exceptions=True))

    return asyncio.run(main())


def oracle(
    model: str, budget: Budget, events: list[dict[str, Any]] | None = None, **config: Any
) -> Oracle:
    return Oracle(
        ModelSettings(model, **config),
        budget=budget,
        on_event=None if events is None else events.append,
    )


# --- the Budget object ------------------------------------------------------------------------


def test_reserve_then_settle_replaces_the_worst_case_by_the_actual() -> None:
    budget = Budget(max_tokens=1000)
    held = budget.reserve(600, 0.0)
    with pytest.raises(BudgetRefusal, match="600 tokens used or reserved"):
        budget.reserve(500, 0.0)
    budget.settle(held, 100, 50, 0.0)
    budget.reserve(500, 0.0)  # now fits: 150 used + 500
    assert budget.snapshot() == Counters(requests=1, prompt_tokens=100, completion_tokens=50)


@pytest.mark.parametrize(
    ("limits", "tokens", "usd", "limit", "message"),
    [
        ({"max_calls": 0}, 1, 0.0, "max_calls", "max_calls = 0: 0 LLM requests"),
        ({"max_tokens": 10}, 11, 0.0, "max_tokens", "next request may need 11"),
        ({"max_usd": 0.01}, 1, 0.02, "max_usd", r"may cost up to \$0.0200"),
        ({"deadline": 0.0}, 1, 0.0, "deadline", "deadline passed"),
    ],
)
def test_refusals_name_the_limit_and_the_figures(
    limits: dict[str, Any], tokens: int, usd: float, limit: str, message: str
) -> None:
    budget = Budget(**limits)
    with pytest.raises(BudgetRefusal, match=message) as info:
        budget.reserve(tokens, usd)
    assert info.value.limit == limit and isinstance(info.value, BudgetExceeded)
    assert info.value.kind == "budget exceeded"


def test_a_reservation_settles_once() -> None:
    budget = Budget()
    held = budget.reserve(1, 0.0)
    budget.settle(held, 1, 0, 0.0)
    with pytest.raises(ValueError, match="already settled"):
        budget.settle(held, 1, 0, 0.0)


def test_deadline_uses_the_clock() -> None:
    now = [100.0]
    budget = Budget(deadline=105.0, clock=lambda: now[0])
    assert budget.remaining_s() == 5.0
    budget.settle(budget.reserve(1, 0.0), 1, 1, 0.0)
    now[0] = 105.0
    with pytest.raises(BudgetRefusal, match="deadline"):
        budget.reserve(1, 0.0)


def test_threads_reserving_at_once_never_pass_max_calls() -> None:
    budget = Budget(max_calls=50)
    granted = []

    def worker() -> None:
        for _ in range(20):
            with contextlib.suppress(BudgetRefusal):
                granted.append(budget.reserve(1, 0.0))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 50


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 300), st.integers(0, 100), st.floats(0, 0.05)),
        max_size=40,
    ),
    st.integers(0, 2000),
    st.floats(0, 0.5),
)
def test_totals_never_pass_the_limits_when_actuals_stay_within_reservations(
    requests: list[tuple[int, int, float]], max_tokens: int, max_usd: float
) -> None:
    budget = Budget(max_calls=25, max_tokens=max_tokens, max_usd=max_usd)
    open_ = []
    for tokens, used, usd in requests:
        with contextlib.suppress(BudgetRefusal):
            open_.append((budget.reserve(tokens, usd), min(used, tokens), usd / 2))
        if len(open_) > 3:  # settle out of order, a few in flight at a time
            held, used_tokens, used_usd = open_.pop(1)
            budget.settle(held, used_tokens, 0, used_usd)
    for held, used_tokens, used_usd in open_:
        budget.settle(held, used_tokens, 0, used_usd)
    c = budget.snapshot()
    assert c.requests <= 25 and c.tokens <= max_tokens and c.cost_usd <= max_usd + 1e-9


# --- budgets enforced by the oracle ----------------------------------------------------------


def test_max_calls_three_with_ten_leaves_makes_exactly_three_requests() -> None:
    provider = ScriptedProvider()
    events: list[dict[str, Any]] = []
    with registered(lrtest=provider):
        o = oracle("lrtest/m", Budget(max_calls=3), events, concurrency=8)
        results = run_leaves(o, 10)
    assert provider.calls == 3
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(refused) == 7 and "max_calls = 3" in refused[0].message
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 3
    budget_events = [e for e in events if e["event"] == "budget"]
    assert len(budget_events) == 7 and budget_events[0]["limit"] == "max_calls"
    assert o.budget.snapshot().requests == 3


def test_max_calls_counts_retries_and_reasks() -> None:
    def script(messages: list[dict[str, Any]]) -> str:
        return "not a number"

    provider = ScriptedProvider(script=script)
    with registered(lrtest=provider), pytest.raises(BudgetExceeded):
        asyncio.run(oracle("lrtest/m", Budget(max_calls=2), reasks=5).leaf("q", t.INT))
    assert provider.calls == 2


def test_max_tokens_is_never_exceeded() -> None:
    provider = ScriptedProvider(reply=lambda prompt: "word " * 30)
    with registered(lrtest=provider):
        o = oracle("lrtest/m", Budget(max_tokens=1500), output_tokens=200, concurrency=3)
        results = run_leaves(o, 20)
    used = o.budget.snapshot()
    assert 0 < provider.calls < 20 and used.tokens <= 1500
    assert any(isinstance(r, BudgetExceeded) and "max_tokens" in r.message for r in results)


def test_max_usd_uses_litellms_cost_table_and_is_never_exceeded() -> None:
    provider = ScriptedProvider(reply=lambda prompt: "ok")
    with registered(lrpaid=provider), priced_model("lrpaid/m", usd_per_token=1e-4):
        o = oracle("lrpaid/m", Budget(max_usd=0.05), output_tokens=100)
        results = run_leaves(o, 30)
    spent = o.budget.snapshot().cost_usd
    answered = [r for r in results if not isinstance(r, BaseException)]
    assert 0 < spent <= 0.05 and 0 < provider.calls < 30
    assert all(r.cost_usd > 0 for r in answered)
    assert any(isinstance(r, BudgetExceeded) and "max_usd" in r.message for r in results)


def test_local_and_unknown_models_cost_nothing() -> None:
    with registered(lrtest=ScriptedProvider()):
        o = oracle("lrtest/unpriced", Budget(max_usd=0.0))
        results = run_leaves(o, 3)
    assert all(r.cost_usd == 0.0 for r in results)


def test_deadline_stops_new_requests() -> None:
    provider = SleepingProvider(latency_s=0.1)
    with registered(lrslow=provider):
        run_leaves(oracle("lrslow/m", Budget(), concurrency=1), 1)  # litellm's first call loads lazily
        provider.sent.clear()
        start = time.monotonic()
        o = oracle("lrslow/m", Budget.within(0.35), concurrency=1)
        results = run_leaves(o, 10)
    elapsed = time.monotonic() - start
    assert 2 <= provider.calls <= 4 and elapsed < 1.0
    assert any(isinstance(r, BudgetExceeded) and "deadline" in r.message for r in results)


def test_a_deadline_that_cuts_a_slow_reply_says_so_and_blames_no_failure() -> None:
    provider = SleepingProvider(latency_s=5.0)
    with registered(lrslow=provider):
        run_leaves(oracle("lrslow/m", Budget(), timeout_s=0.01, max_attempts=1), 1)  # litellm's first call loads lazily
        results = run_leaves(oracle("lrslow/m", Budget.within(0.5), concurrency=1), 1)
    assert isinstance(results[0], BudgetExceeded), results
    assert "still answering" in results[0].message and "failed" not in results[0].message


@pytest.mark.parametrize("limits", [{"max_calls": -1}, {"max_tokens": -5}, {"max_usd": -0.01},
                                    {"max_usd": float("nan")}, {"deadline_s": 0}, {"deadline_s": float("nan")}])
def test_a_limit_that_could_not_be_meant_is_a_config_error(limits: dict[str, Any]) -> None:
    from lambda_rlm.core.errors import ConfigError
    from lambda_rlm.runtime.session import Config

    with pytest.raises(ConfigError, match=next(iter(limits))):
        Config(**limits)
