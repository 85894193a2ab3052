"""LLM leaves end to end: decoding tables, re-asks, retries, timeouts, concurrency, router.

Providers are real litellm custom providers (tests/providers.py) or a real OpenAI-compatible HTTP
server (tests/openai_server.py); nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_server import OpenAIServer
from providers import (
    FAULTS,
    AuthFailProvider,
    FaultProvider,
    ScriptedProvider,
    SleepingProvider,
    priced_model,
    registered,
)

from lambda_rlm.core import types as t
from lambda_rlm.core.errors import BudgetExceeded, ConfigError, LeafError
from lambda_rlm.core.values import Record, Some
from lambda_rlm.models import decode
from lambda_rlm.models.budget import Budget
from lambda_rlm.models.llm import Oracle
from lambda_rlm.models.settings import ModelSettings

# litellm's own pydantic models warn when first built; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydantic.*")

PERSON = t.TRecord.of({"name": t.TEXT, "age": t.INT, "email": t.Option(t.TEXT)})
SECRET = "sk-test-SECRET0123456789abcdef"


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


async def gather(*coros: Awaitable[Any]) -> list[Any]:
    """asyncio.gather started inside the running loop (coroutine objects may be made outside)."""
    return list(await asyncio.gather(*coros))


@pytest.fixture(scope="module")
def _shared_servers() -> Iterator[tuple[OpenAIServer, OpenAIServer]]:
    # Shared: litellm builds a new HTTP client (~0.3 s) for every new api_base.
    with OpenAIServer() as a, OpenAIServer() as b:
        yield a, b


@pytest.fixture
def server(_shared_servers: tuple[OpenAIServer, OpenAIServer]) -> OpenAIServer:
    """An OpenAI-compatible server in a fresh state (echoing the last user message)."""
    _shared_servers[0].state.reset()
    return _shared_servers[0]


@pytest.fixture
def servers(_shared_servers: tuple[OpenAIServer, OpenAIServer]) -> list[OpenAIServer]:
    for each in _shared_servers:
        each.state.reset()
    return list(_shared_servers)


def oracle(
    model: str = "lrtest/m", events: list[dict[str, Any]] | None = None, **config: Any
) -> Oracle:
    config = {"retry_wait_s": 0.01, **config}
    return Oracle(ModelSettings(model, **config), on_event=None if events is None else events.append)


# --- decoding: a table of (reply, type, value) -------------------------------------------------

DECODES = [
    ("  Paris is the capital.\n", t.TEXT, "Paris is the capital."),
    ("42", t.INT, 42),
    ("**42**", t.INT, 42),
    ("The answer is 42.", t.INT, 42),
    ("1,234", t.INT, 1234),
    ("-7", t.INT, -7),
    ("3.0", t.INT, 3),
    ("2.5", t.FLOAT, 2.5),
    ("1e3", t.FLOAT, 1000.0),
    ("yes", t.BOOL, True),
    ("Yes.", t.BOOL, True),
    ("true", t.BOOL, True),
    ("no", t.BOOL, False),
    ("False", t.BOOL, False),
    ("No, it does not.", t.BOOL, False),
    ("NONE", t.Option(t.INT), None),
    ("none.", t.Option(t.TEXT), None),
    ("`NONE`", t.Option(t.BOOL), None),
    ("12", t.Option(t.INT), Some(12)),
    ("Alice", t.Option(t.TEXT), Some("Alice")),
    ("[1, 2, 3]", t.List(t.INT), (1, 2, 3)),
    ("```json\n[1, 2]\n```", t.List(t.INT), (1, 2)),
    ('Sure! Here it is: ["a", "b"] Hope that helps.', t.List(t.TEXT), ("a", "b")),
    ('["1", 2]', t.List(t.INT), (1, 2)),
    ("[]", t.List(t.FLOAT), ()),
    ('{"value": [4, 5]}', t.List(t.INT), (4, 5)),
    ('[3, "three"]', t.TTuple((t.INT, t.TEXT)), (3, "three")),
    (
        '{"name": "Ann", "age": 31, "email": null}',
        PERSON,
        Record({"name": "Ann", "age": 31, "email": None}),
    ),
    (
        '[{"name": "Bo", "age": "40", "email": "bo@x.org"}]',
        t.List(PERSON),
        (Record({"name": "Bo", "age": 40, "email": Some("bo@x.org")}),),
    ),
    ('{"name": "Cy", "age": 5}', PERSON, Record({"name": "Cy", "age": 5, "email": None})),
    ("NONE", t.Option(t.List(t.INT)), None),
    ("null", t.Option(t.List(t.INT)), None),
    ("[7]", t.Option(t.List(t.INT)), Some((7,))),
    ("[food, travel, 'food']", t.List(t.TEXT), ("food", "travel", "food")),  # a small model's list
    ("Labels: [sports, weather]", t.Option(t.List(t.TEXT)), Some(("sports", "weather"))),
]


@pytest.mark.parametrize(("reply", "type_", "expected"), DECODES)
def test_decode_table(reply: str, type_: t.Type, expected: Any) -> None:
    assert decode.decode(reply, type_) == expected


UNDECODABLE = [
    ("", t.TEXT, "empty"),
    ("   ", t.INT, "empty"),
    ("forty-two", t.INT, "no number"),
    ("3 or 4", t.INT, "2 numbers"),
    ("2.5", t.INT, "integer"),
    ("1e999", t.FLOAT, "finite"),
    ("maybe", t.BOOL, "yes or no"),
    ("the list is one, two", t.List(t.INT), "JSON"),
    ("[one, two]", t.List(t.INT), "JSON"),  # bare words are read only as a list of Text
    ('["a"]', t.List(t.INT), "0: Input should be a valid integer"),
    ("[1, 2, 3]", t.TTuple((t.INT, t.INT)), "Tuple should have at most 2 items"),
    ('{"name": "Ann"}', PERSON, "age: Field required"),
    ("[1.5, NaN]", t.List(t.FLOAT), "finite number"),
]


@pytest.mark.parametrize(("reply", "type_", "message"), UNDECODABLE)
def test_undecodable_replies_say_why(reply: str, type_: t.Type, message: str) -> None:
    with pytest.raises(decode.DecodeError, match=message):
        decode.decode(reply, type_)


def test_scalar_types_are_not_asked_for_json() -> None:
    assert "integer" in decode.instruction(t.INT) and "JSON" not in decode.instruction(t.INT)
    assert "NONE" in decode.instruction(t.Option(t.TEXT))
    assert '"age": <integer>' in decode.instruction(PERSON)
    assert decode.instruction(t.List(t.INT)) == decode.instruction(t.List(t.INT))


def test_the_provider_gets_the_format_rule_as_system_and_the_prompt_as_user() -> None:
    provider = ScriptedProvider(reply=lambda prompt: "7")
    with registered(lrtest=provider):
        result = run(oracle().leaf("How many moons?", t.INT))
    assert result.value == 7 and not result.cached and result.attempts == 1
    (sent,) = provider.sent
    assert sent.messages == [
        {"role": "system", "content": decode.instruction(t.INT)},
        {"role": "user", "content": "How many moons?"},
    ]
    assert sent.params["max_tokens"] == 512 and sent.params["temperature"] == 0.0
    assert "response_format" not in sent.params


@pytest.mark.parametrize(("reply", "type_", "expected"), DECODES[::4])
def test_decoding_through_a_provider(reply: str, type_: t.Type, expected: Any) -> None:
    with registered(lrtest=ScriptedProvider(reply=lambda prompt: reply)):
        assert run(oracle().leaf("q", type_)).value == expected


def test_structured_output_when_litellm_says_the_model_supports_it() -> None:
    replies = {"list": '{"value": [1, 2]}', "count": "3"}
    provider = ScriptedProvider(reply=replies.__getitem__)
    with registered(lrjson=provider), priced_model("lrjson/m", 0.0, supports_response_schema=True):
        o = oracle("lrjson/m")
        assert run(o.leaf("list", t.List(t.INT))).value == (1, 2)
        assert run(o.leaf("count", t.INT)).value == 3
    schema = provider.sent[0].params["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["value"] == {"items": {"type": "integer"}, "type": "array"}
    assert "response_format" not in provider.sent[1].params  # bare answers stay bare


# --- re-asks ----------------------------------------------------------------------------------


def test_a_bad_reply_is_reasked_with_the_validation_error() -> None:
    def script(messages: list[dict[str, Any]]) -> str:
        return "[1, 2]" if len(messages) > 2 else '["one", "two"]'

    provider = ScriptedProvider(script=script)
    events: list[dict[str, Any]] = []
    with registered(lrtest=provider):
        o = oracle(events=events)
        result = run(o.leaf("numbers please", t.List(t.INT)))
    assert result.value == (1, 2) and result.reasks == 1 and result.attempts == 2
    assert provider.calls == 2
    retry = provider.sent[1].messages
    assert retry[2] == {"role": "assistant", "content": '["one", "two"]'}
    assert (
        retry[3]["role"] == "user" and "0: Input should be a valid integer" in retry[3]["content"]
    )
    assert [e["event"] for e in events] == ["leaf_start", "reask", "leaf_end"]
    assert o.budget.snapshot().reasks == 1


def test_a_reply_that_never_decodes_fails_as_a_leaf_error_after_the_reasks() -> None:
    provider = ScriptedProvider(reply=lambda prompt: "I cannot count")
    with registered(lrtest=provider), pytest.raises(LeafError, match="after 4 re-asks") as info:
        run(oracle().leaf("how many", t.INT))
    assert provider.calls == 1 + ModelSettings("x").reasks
    assert "no number" in info.value.message


# --- retries, timeouts and failures -----------------------------------------------------------


def test_retries_honour_retry_after(server: OpenAIServer) -> None:
    server.state.reply = lambda messages: "5"
    server.state.rate_limit_first, server.state.retry_after = 2, "0.3"
    events: list[dict[str, Any]] = []
    o = oracle("openai/tiny", events=events, api_base=server.base_url)
    start = time.monotonic()
    result = run(o.leaf("five?", t.INT))
    elapsed = time.monotonic() - start
    assert result.value == 5 and result.attempts == 3 and server.state.requests == 3
    waits = [e["wait_s"] for e in events if e["event"] == "retry"]
    assert len(waits) == 2 and all(0.3 <= w <= 0.34 for w in waits), waits
    assert elapsed >= 0.6
    assert o.budget.snapshot().retries == 2


def test_the_prompt_tokens_a_provider_served_from_its_cache_are_reported(server: OpenAIServer) -> None:
    server.state.cached_tokens = 96
    events: list[dict[str, Any]] = []
    o = Oracle(ModelSettings("openai/tiny", api_base=server.base_url), on_event=events.append)
    result = run(o.leaf("a prompt long enough to be worth caching", t.TEXT))
    (end,) = [e for e in events if e["event"] == "leaf_end"]
    assert result.cached_tokens == end["cached_tokens"] == 96 and result.prompt_tokens > 0
    server.state.cached_tokens = 0
    again = run(o.leaf("another prompt", t.TEXT))
    assert again.cached_tokens == 0  # a provider that says nothing served nothing from its cache


def test_a_retry_after_beyond_the_deadline_fails_at_once(server: OpenAIServer) -> None:
    server.state.rate_limit_first, server.state.retry_after = 1, "5"
    events: list[dict[str, Any]] = []
    o = Oracle(
        ModelSettings("openai/tiny", api_base=server.base_url),
        budget=Budget.within(2.0),
        on_event=events.append,
    )
    start = time.monotonic()
    with pytest.raises(BudgetExceeded, match="deadline"):
        run(o.leaf("q", t.TEXT))
    assert time.monotonic() - start < 1.0 and server.state.requests == 1
    assert [e["limit"] for e in events if e["event"] == "budget"] == ["deadline"]


def test_faults_are_retried_or_reasked_and_every_leaf_is_answered() -> None:
    provider = FaultProvider(reply=lambda prompt: prompt.split()[-1], rate=0.4, seed=7)
    with registered(lrfault=provider):
        o = oracle("lrfault/m", max_attempts=8, reasks=4)
        results = run(gather(*(o.leaf(f"leaf {i}", t.INT) for i in range(40))))
    assert [r.value for r in results] == list(range(40))
    assert set(provider.injected) == set(FAULTS), provider.injected
    counters = o.budget.snapshot()
    # Empty and garbage replies are re-asked; every other fault is retried once.
    reasked = [f for f in provider.injected if f in ("empty", "garbage")]
    assert counters.reasks == len(reasked)
    assert counters.retries == len(provider.injected) - len(reasked)
    assert counters.requests == provider.calls == 40 + len(provider.injected)


def test_fault_choice_is_deterministic_by_seed() -> None:
    def injected(seed: int) -> list[str]:
        provider = FaultProvider(rate=0.5, seed=seed)
        with registered(lrfault=provider):
            o = oracle("lrfault/m", max_attempts=10, reasks=5)
            for i in range(8):
                run(o.leaf(f"p{i}", t.TEXT))
        return provider.injected

    assert injected(3) == injected(3)
    assert injected(3) != injected(4)


def test_per_call_timeout_retries_then_fails() -> None:
    provider = SleepingProvider(reply=lambda prompt: "late", latency_s=2.0)
    start = time.monotonic()
    with registered(lrslow=provider), pytest.raises(LeafError, match="after 2 attempts"):
        run(oracle("lrslow/m", timeout_s=0.1, max_attempts=2).leaf("q", t.TEXT))
    assert provider.calls == 2 and time.monotonic() - start < 1.0


def test_auth_error_fails_at_once_without_the_key() -> None:
    provider = AuthFailProvider()
    events: list[dict[str, Any]] = []
    with registered(lrtest=provider), pytest.raises(ConfigError) as info:
        run(oracle(events=events, api_key=SECRET, max_attempts=5).leaf("q", t.TEXT))
    assert provider.calls == 1 and provider.sent[0].api_key == SECRET  # the key was really used
    text = info.value.format()
    assert "refused the credentials" in text and "\n" not in info.value.message
    assert SECRET not in text and SECRET not in json.dumps(events)
    assert SECRET not in repr(ModelSettings("x", api_key=SECRET))


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (401, ConfigError, "refused the credentials"),
        (404, ConfigError, "was not found"),
        (400, LeafError, "rejected the request"),
    ],
)
def test_http_client_errors_fail_at_once(
    status: int, error: type[Exception], words: str, server: OpenAIServer
) -> None:
    server.state.error_status = status
    server.state.error_message = "Incorrect API key provided: {key}"
    o = oracle("openai/tiny", api_base=server.base_url, api_key=SECRET)
    with pytest.raises(error, match=words) as info:
        run(o.leaf("q", t.TEXT))
    assert server.state.requests == 1
    assert server.state.auth_headers == [f"Bearer {SECRET}"]
    assert SECRET not in str(info.value)


def test_openai_model_with_api_base_against_a_local_server(server: OpenAIServer) -> None:
    server.state.reply = lambda messages: '[{"name": "Ann", "age": 31}]'
    result = run(oracle("openai/tiny", api_base=server.base_url).leaf("who?", t.List(PERSON)))
    (body,) = server.state.bodies
    assert result.value == (Record({"name": "Ann", "age": 31, "email": None}),)
    assert body["model"] == "tiny" and body["messages"][1] == {"role": "user", "content": "who?"}
    assert result.prompt_tokens > 0 and result.completion_tokens > 0


def test_a_leaf_that_cannot_be_decoded_is_refused_before_any_request() -> None:
    with pytest.raises(LeafError, match="cannot return"):
        run(oracle().leaf("q", t.fun(t.INT, t.INT)))


# --- concurrency ------------------------------------------------------------------------------


def test_concurrency_limit_is_reached_and_never_exceeded(server: OpenAIServer) -> None:
    server.state.latency_s = 0.05
    o = oracle("openai/tiny", api_base=server.base_url, concurrency=4)
    run(gather(*(o.leaf(f"p{i}", t.TEXT) for i in range(24))))
    assert server.state.requests == 24
    assert server.state.max_in_flight == 4


def test_a_retry_sleeping_on_retry_after_does_not_hold_the_slot(server: OpenAIServer) -> None:
    server.state.rate_limit_first, server.state.retry_after = 1, "0.5"
    o = oracle("openai/tiny", api_base=server.base_url, concurrency=1)
    done: dict[str, float] = {}
    start = time.monotonic()

    async def timed(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await o.leaf(name, t.TEXT)
        done[name] = time.monotonic() - start

    run(gather(timed("first", 0), timed("second", 0.05)))
    assert done["second"] < 0.4 < done["first"], done


def _timed(coro_fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.monotonic()
    run(coro_fn())
    return time.monotonic() - start


def test_sleeping_provider_runs_leaves_in_parallel_up_to_the_limit() -> None:
    provider = SleepingProvider(latency_s=0.1)
    with registered(lrslow=provider):
        o = oracle("lrslow/m", concurrency=8)
        elapsed = _timed(lambda: gather(*(o.leaf(f"p{i}", t.TEXT) for i in range(16))))
    assert provider.max_in_flight == 8
    assert 0.2 <= elapsed < 0.6


# --- router -----------------------------------------------------------------------------------


def _router_config(path: Path, servers: list[OpenAIServer], group: str = "local") -> None:
    deployments: list[dict[str, Any]] = [
        {
            "model_name": group,
            "litellm_params": {"model": "openai/tiny", "api_base": s.base_url, "api_key": "x"},
        }
        for s in servers
    ]
    if path.suffix == ".json":
        path.write_text(json.dumps({"model_list": deployments}))
    else:
        lines = ["model_list:"]
        for d in deployments:
            params = d["litellm_params"]
            lines += [
                f"  - model_name: {d['model_name']}",
                "    litellm_params:",
                *(f"      {k}: {v}" for k, v in params.items()),
            ]
        path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_router_config_balances_two_deployments(
    tmp_path: Path, suffix: str, servers: list[OpenAIServer]
) -> None:
    a, b = servers
    config = tmp_path / f"router{suffix}"
    _router_config(config, [a, b])
    o = oracle(str(config))
    results = run(gather(*(o.leaf(f"p{i}", t.TEXT) for i in range(20))))
    counts = (a.state.served, b.state.served)
    assert [r.value for r in results] == [f"p{i}" for i in range(20)]
    assert sum(counts) == 20 and min(counts) >= 3, counts


def test_router_retries_a_rate_limited_deployment(
    tmp_path: Path, servers: list[OpenAIServer]
) -> None:
    a, b = servers
    a.state.rate_limit_first, a.state.retry_after = 2, "0.05"
    config = tmp_path / "router.yaml"
    _router_config(config, [a, b])
    o = oracle(str(config))
    results = run(gather(*(o.leaf(f"p{i}", t.TEXT) for i in range(10))))
    assert a.state.rate_limited == 2 and a.state.served + b.state.served == 10
    assert [r.value for r in results] == [f"p{i}" for i in range(10)]
    assert o.budget.snapshot().retries >= 2


def test_router_config_with_several_groups_needs_one_named(tmp_path: Path) -> None:
    config = tmp_path / "router.json"
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {"model_name": "big", "litellm_params": {"model": "lrtest/big"}},
                    {"model_name": "small", "litellm_params": {"model": "lrtest/small"}},
                ]
            }
        )
    )
    with pytest.raises(ConfigError, match="pick one"):
        run(oracle(str(config)).leaf("q", t.TEXT))
    provider = ScriptedProvider(reply=lambda prompt: "from small")
    with registered(lrtest=provider):
        assert run(oracle(f"{config}#small").leaf("q", t.TEXT)).value == "from small"
    assert provider.sent[0].model == "small"


def test_missing_router_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        run(oracle(str(tmp_path / "absent.yaml")).leaf("q", t.TEXT))


def test_test_providers_also_answer_litellms_sync_completion() -> None:
    import litellm

    provider = ScriptedProvider(reply=str.upper)
    with registered(lrtest=provider):
        response = litellm.completion(
            model="lrtest/m", messages=[{"role": "user", "content": "hi"}]
        )
    assert response.choices[0].message.content == "HI" and provider.calls == 1


# --- hygiene ----------------------------------------------------------------------------------


def test_importing_the_llm_modules_loads_no_litellm(repo_root: Path) -> None:
    code = (
        "import sys, lambda_rlm.models.llm, lambda_rlm.models.cache, lambda_rlm.models.budget, "
        "lambda_rlm.models.decode; "
        "print(sorted(m for m in ('litellm', 'openai', 'httpx', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
