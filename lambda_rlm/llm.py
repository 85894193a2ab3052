"""LLM leaves: takes a prompt and a declared result type, gives a decoded value through litellm.

Each leaf is a frozen `LeafRequest` (system message = the type's format rule, user message = the
prompt) whose hash keys the on-disk cache. On a miss the `Oracle` sends it with litellm (any
model string, or a litellm Router config file), retrying transient failures with tenacity and
re-asking replies that do not decode. Only the provider request holds a concurrency slot (never
a backoff sleep), and it reserves its worst case in the `Budget` before it leaves. litellm is
imported on the first request, never at import, and none of its exceptions leaves this module.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import hashlib
import importlib
import json
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tenacity

from . import decode, local, values
from . import types as t
from .budget import Budget, BudgetRefusal
from .cache import Entry, LeafCache
from .errors import ConfigError, LambdaError, LeafError

PROMPT_VERSION = "1"  # bump when decode's instructions change, so old cache entries stop matching
MESSAGE_OVERHEAD_TOKENS = 4
ROUTER_SUFFIXES = (".yaml", ".yml", ".json")

Event = dict[str, Any]
Count = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """A cheap upper-leaning token estimate: one token per three bytes of UTF-8."""
    return len(text.encode()) // 3 + 1


@dataclass(frozen=True, slots=True)
class LLMConfig:
    """How leaves reach a model. `model` is a litellm model string or a Router config path.

    With `api_base` and no key, `openai/…` models get a placeholder key, since local
    OpenAI-compatible servers want none but the OpenAI client insists on one.
    """

    model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    temperature: float = 0.0
    max_output_tokens: int = 512
    timeout_s: float = 60.0
    max_attempts: int = 8
    reasks: int = 4
    concurrency: int = 8
    cache_dir: str | None = None
    use_cache: bool = True
    retry_wait_s: float = 0.5
    max_wait_s: float = 30.0  # cap on one wait, Retry-After included
    structured_output: bool | None = None  # None: ask litellm.supports_response_schema

    def __post_init__(self) -> None:
        positive = ("max_output_tokens", "timeout_s", "max_attempts", "concurrency")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"LLMConfig.{name} must be positive, not {getattr(self, name)}")
        if self.reasks < 0:
            raise ConfigError(f"LLMConfig.reasks must be 0 or more, not {self.reasks}")


Param = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class LeafRequest:
    """Exactly what is sent for one leaf; its canonical JSON, hashed, is the cache key."""

    model: str
    messages: tuple[tuple[str, str], ...]  # (role, content)
    params: tuple[tuple[str, Param], ...]  # sorted by name
    result_type: t.Type

    def canonical(self) -> str:
        return json.dumps(
            {
                "model": self.model,
                "messages": [list(m) for m in self.messages],
                "params": dict(self.params),
                "type": t.show(self.result_type),
                "version": PROMPT_VERSION,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    def key(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass(frozen=True, slots=True)
class LeafResult:
    """A decoded leaf; a cached result reports zero tokens, cost and attempts for this run."""

    value: Any
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cached: bool
    attempts: int
    reasks: int
    latency_s: float
    key: str


@dataclass(frozen=True, slots=True)
class _Reply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, later: _Reply) -> _Reply:
        """The later reply's text with both replies' usage."""
        return _Reply(
            later.text,
            self.prompt_tokens + later.prompt_tokens,
            self.completion_tokens + later.completion_tokens,
            self.cost_usd + later.cost_usd,
        )


class _LocalTimeout(Exception):
    """Our own per-call timeout fired (the provider ignored the one passed to it)."""


class Oracle:
    """Answers leaves for one run: cache, budget, retries, re-asks, concurrency and events."""

    def __init__(
        self,
        config: LLMConfig,
        budget: Budget | None = None,
        on_event: Callable[[Event], None] | None = None,
        count: Count = estimate_tokens,
        cache: LeafCache | None = None,
    ) -> None:
        self.config = config
        self.budget = budget if budget is not None else Budget()
        self._on_event = on_event
        # Each prompt is counted for the leaf_start event and again for the budget, and each
        # system message is one of a handful of constants: remember recent counts.
        self._count = functools.lru_cache(maxsize=256)(count)
        if cache is None and config.use_cache:
            cache = LeafCache(config.cache_dir)
        self._cache = cache if config.use_cache else None
        self._backend: _Backend | None = None
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    async def leaf(self, prompt: str, result_type: t.Type) -> LeafResult:
        """The value of type `result_type` that the model gives for `prompt`."""
        if not t.is_decodable(result_type):
            raise LeafError(f"a leaf cannot return {t.show(result_type)}")
        request = self.request(prompt, result_type)
        key = request.key()
        self._emit("leaf_start", key, prompt_chars=sum(len(text) for _, text in request.messages))
        start = time.monotonic()
        result = self._lookup(key, result_type, start)
        if result is None:
            try:
                result = await self._answer(request, key, start)
            except BudgetRefusal as err:
                self._emit("budget", key, **_fields(err, "limit used asked allowed message"))
                raise
            except LambdaError as err:
                self._emit("leaf_error", key, kind=err.kind, message=err.message)
                raise
            self._store(key, result_type, result)
        self.budget.count("calls")
        usage = "prompt_tokens completion_tokens latency_s cost_usd cached attempts reasks"
        self._emit("leaf_end", key, **_fields(result, usage))
        return result

    def request(self, prompt: str, result_type: t.Type) -> LeafRequest:
        """The frozen request a leaf sends (loads litellm to ask about structured output)."""
        backend = self._get_backend()
        params: dict[str, Param] = {
            "max_tokens": self.config.max_output_tokens,
            "temperature": self.config.temperature,
            "structured": decode.is_json_type(result_type) and backend.structured,
        }
        if self.config.api_base:
            params["api_base"] = self.config.api_base
        return LeafRequest(
            model=backend.identity,
            messages=(("system", decode.instruction(result_type)), ("user", prompt)),
            params=tuple(sorted(params.items())),
            result_type=result_type,
        )

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    # -- one leaf ------------------------------------------------------------------------------

    def _lookup(self, key: str, result_type: t.Type, start: float) -> LeafResult | None:
        entry = self._cache.get(key) if self._cache is not None else None
        if entry is None:
            return None
        try:
            value = values.from_json(entry.value, result_type)
        except ValueError:
            return None  # stored under a type printing the same but decoding differently: re-ask
        self.budget.count("cache_hits")
        return LeafResult(value, entry.text, 0, 0, 0.0, True, 0, 0, time.monotonic() - start, key)

    def _store(self, key: str, result_type: t.Type, r: LeafResult) -> None:
        if self._cache is not None:
            value = values.to_json(r.value)
            usage = (r.prompt_tokens, r.completion_tokens, r.cost_usd)
            self._cache.put(key, Entry(t.show(result_type), value, r.text, *usage))

    async def _answer(self, request: LeafRequest, key: str, start: float) -> LeafResult:
        messages = request.message_dicts()
        structured = bool(dict(request.params)["structured"])
        total, attempts = _Reply(""), 0
        for reask in range(self.config.reasks + 1):
            reply, tries = await self._request(messages, request.result_type, structured, key)
            total, attempts = total + reply, attempts + tries
            try:
                value = decode.decode(reply.text, request.result_type)
            except decode.DecodeError as err:
                if reask == self.config.reasks:
                    raise LeafError(
                        f"the reply to a {t.show(request.result_type)} leaf still did not decode "
                        f"after {reask} re-asks: {err}",
                        notes=[f"model: {self.config.model}"],
                    ) from None
                self.budget.count("reasks")
                self._emit("reask", key, error=str(err), reask=reask + 1)
                # Only the latest bad reply is shown again, so a re-ask's prompt is bounded by
                # the original, one reply and one correction (the static bound keeps that room).
                messages = [
                    *request.message_dicts(),
                    {"role": "assistant", "content": reply.text},
                    {"role": "user", "content": decode.reask(err, request.result_type)},
                ]
                continue
            usage = (total.prompt_tokens, total.completion_tokens, total.cost_usd)
            latency = time.monotonic() - start
            return LeafResult(value, reply.text, *usage, False, attempts, reask, latency, key)
        raise AssertionError("unreachable")

    async def _request(
        self, messages: list[dict[str, str]], result_type: t.Type, structured: bool, key: str
    ) -> tuple[_Reply, int]:
        """One reply, retrying transient failures; returns it with the number of attempts."""
        try:
            return await self._attempt(messages, result_type, structured), 1
        except Exception as err:
            if not _is_transient(err) or self.config.max_attempts <= 1:
                if not _from_provider(err):
                    raise  # our own errors, and our bugs, stay as they are
                raise self._translate(err, 1) from None
            first: BaseException | None = err
        # Most leaves succeed at once, so tenacity (and the reference cycles its state makes) is
        # only set up after a transient failure. Its first attempt replays that failure, so
        # attempt numbers, waits, events and the stop rule are the same as for a single loop.
        backoff = tenacity.wait_exponential_jitter(
            multiplier=self.config.retry_wait_s,
            max=self.config.max_wait_s,
            jitter=self.config.retry_wait_s,
        )

        def wait(state: tenacity.RetryCallState) -> float:
            err = state.outcome.exception() if state.outcome else None
            hinted = _retry_after(err)
            seconds = backoff(state) if hinted is None else hinted * random.uniform(1.0, 1.1)
            seconds = min(seconds, self.config.max_wait_s)
            left = self.budget.remaining_s()
            if left is not None and seconds >= left:
                cause = "no reply" if err is None else (
                    f"{type(err).__name__}: {_scrub(str(err), self.config.api_key)}"
                    if not isinstance(err, _LocalTimeout) else str(err))
                message = (f"the last attempt failed ({cause}) and the deadline leaves {max(left, 0):.2f} s, "
                           "less than the wait before the next retry")
                raise BudgetRefusal("deadline", seconds, seconds, left, message)
            return seconds

        def before_sleep(state: tenacity.RetryCallState) -> None:
            err = state.outcome.exception() if state.outcome else None
            self.budget.count("retries")
            wait_s = state.next_action.sleep if state.next_action else 0.0
            error, status, attempt = type(err).__name__, _status(err), state.attempt_number
            self._emit("retry", key, error=error, status=status, wait_s=wait_s, attempt=attempt)

        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.config.max_attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(_is_transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        attempt_number = 0
        try:
            async for attempt in retrying:
                attempt_number = attempt.retry_state.attempt_number
                with attempt:
                    if first is not None:
                        failed, first = first, None
                        raise failed
                    reply = await self._attempt(messages, result_type, structured)
        except Exception as err:
            if not _from_provider(err):
                raise  # our own errors, and our bugs, stay as they are
            raise self._translate(err, attempt_number) from None
        return reply, attempt_number

    async def _attempt(
        self, messages: list[dict[str, str]], result_type: t.Type, structured: bool
    ) -> _Reply:
        kwargs: dict[str, Any] = {
            "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_output_tokens,
        }
        if structured:
            kwargs["response_format"] = decode.response_format(result_type)
        # Reserve only once a slot is free, so the deadline is checked when the request leaves.
        async with self._semaphore():
            return await self._send(kwargs)

    async def _send(self, kwargs: dict[str, Any]) -> _Reply:
        backend = self._get_backend()
        # Counting tokens costs more than the rest of a leaf; only token and dollar limits need it.
        metered = self.budget.max_tokens is not None or self.budget.max_usd is not None
        estimate = sum(
            self._count(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in kwargs["messages"]
        ) if metered else 0
        cap = self.config.max_output_tokens
        reservation = self.budget.reserve(estimate + cap, backend.cost(estimate, cap))
        left = self.budget.remaining_s()
        timeout = (
            self.config.timeout_s if left is None else max(0.001, min(self.config.timeout_s, left))
        )
        try:
            async with asyncio.timeout(timeout):
                response = await backend.complete({**kwargs, "timeout": timeout})
        except BaseException as err:
            # A timed-out request may still be billed, so it keeps its worst case.
            timed_out = isinstance(err, TimeoutError) or _status(err) == 408
            held = (estimate, cap, backend.cost(estimate, cap)) if timed_out else (0, 0, 0.0)
            self.budget.settle(reservation, *held)
            if isinstance(err, TimeoutError):
                raise _LocalTimeout(f"no reply within {timeout:.1f} s") from None
            raise
        text, prompt_tokens, completion_tokens = _unpack(response)
        text = self._clip(text)
        prompt_tokens = estimate if prompt_tokens is None else prompt_tokens
        completion_tokens = self._count(text) if completion_tokens is None else completion_tokens
        cost = backend.actual_cost(response, prompt_tokens, completion_tokens)
        self.budget.settle(reservation, prompt_tokens, completion_tokens, cost)
        return _Reply(text, prompt_tokens, completion_tokens, cost)

    def _clip(self, text: str) -> str:
        """A reply cut to `max_output_tokens` of our tokenizer: the static bound counts on it, and a
        provider may ignore max_tokens or count with another tokenizer."""
        cap = self.config.max_output_tokens
        if len(text.encode()) <= cap or self._count(text) <= cap:  # tokens <= bytes
            return text
        lo, hi = 0, len(text)  # the longest prefix that fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._count(text[:mid]) <= cap:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo]

    # -- plumbing ------------------------------------------------------------------------------

    def _semaphore(self) -> asyncio.Semaphore:
        # One semaphore per event loop: a semaphore is bound to the loop it first waits in.
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.config.concurrency))
        return self._slots[1]

    def _get_backend(self) -> _Backend:
        if self._backend is None:
            self._backend = _Backend.make(self.config)
        return self._backend

    def _emit(self, event: str, key: str, **fields: Any) -> None:
        if self._on_event is not None:
            self._on_event({"event": event, "key": key, **fields})

    def _translate(self, err: BaseException, attempts: int) -> LambdaError:
        """Our error for a litellm failure, in one paragraph and without the API key."""
        name, status = type(err).__name__, _status(err)
        detail = _scrub(str(err), self.config.api_key).removeprefix(f"{name}: ")
        model = self.config.model
        if _is_transient(err):
            return LeafError(
                f"model '{model}' still failed after {attempts} attempts ({name}): {detail}"
            )
        if status in (401, 403) or _MISSING_KEY.search(detail):
            missing = self._missing_keys()
            if missing:  # litellm's own list of the variables this provider reads
                return ConfigError(f"model '{model}' needs an API key, and none was given",
                                   notes=[f"set {' or '.join(missing)} in the environment, or Config(api_key=...) "
                                          "from Python"])
            return ConfigError(f"model '{model}' refused the credentials: {_provider_words(detail)}",
                               notes=["check the key in the provider's variable (for example OPENAI_API_KEY) "
                                      "or Config(api_key=...)"])
        if status == 404 or "LLM Provider NOT provided" in detail:
            return ConfigError(
                f"model '{model}' was not found ({name}): {detail}. Check the "
                "model name, its provider prefix and api_base."
            )
        return LeafError(f"model '{model}' rejected the request ({name}): {detail}")


    def _missing_keys(self) -> list[str]:
        if self.config.api_key:
            return []
        try:
            found = _import_litellm().validate_environment(model=self.config.model)
        except Exception:  # noqa: BLE001 - a Router config or an unknown provider: no list to show
            return []
        return [str(k) for k in found.get("missing_keys") or []]


_MISSING_KEY = re.compile(r"missing credentials|missing (?:\w+ )?api[ _]?key|api[ _]?key (?:is )?(?:missing|not set"
                          r"|not provided|must be set)|no (?:api )?key is set", re.IGNORECASE)
_PROVIDER_PREFIX = re.compile(r"^(?:litellm\.)?\w+Error: (?:\w+Exception - )?")


def _provider_words(detail: str) -> str:
    """The provider's own message without litellm's class-name prefixes."""
    return _PROVIDER_PREFIX.sub("", detail).strip()


class _Backend:
    """The litellm boundary: a plain model string or a Router built from a config file."""

    def __init__(
        self,
        litellm: Any,
        config: LLMConfig,
        router: Any,
        group: str,
        models: list[str],
        identity: str,
    ) -> None:
        local.register(*models)  # local/... models: served by llama.cpp, their files checked now
        if any(m.startswith("reference/") for m in models):  # the benchmarks' reference model (tasks/reference.py)
            importlib.import_module("lambda_rlm.tasks.reference").register(*models)
        self._litellm = litellm
        self._config = config
        self._router = router
        self._group = group
        self._models = models
        self.identity = identity
        self._prices: dict[str, tuple[float, float]] = {}
        if config.structured_output is not None:
            self.structured = config.structured_output
        else:
            self.structured = all(_supports_schema(litellm, m) for m in models)

    @classmethod
    def make(cls, config: LLMConfig) -> _Backend:
        litellm = _import_litellm()
        path_text, _, group = config.model.partition("#")
        if not path_text.endswith(ROUTER_SUFFIXES):
            return cls(litellm, config, None, config.model, [config.model], config.model)
        path = Path(path_text).expanduser()
        model_list, settings = _read_router_config(path)
        groups = sorted({d["model_name"] for d in model_list})
        if not group:
            if len(groups) != 1:
                raise ConfigError(
                    f"{path} defines the model groups {groups}; pick one as '{path}#<group>'"
                )
            group = groups[0]
        if group not in groups:
            raise ConfigError(f"{path} has no model group '{group}' (it has {groups})")
        deployments = [d for d in model_list if d["model_name"] == group]
        models = [str(d["litellm_params"]["model"]) for d in deployments]
        shown = [
            [d["litellm_params"]["model"], d["litellm_params"].get("api_base")] for d in deployments
        ]
        identity = "router:" + json.dumps(sorted(shown, key=str), separators=(",", ":"))
        router = litellm.Router(model_list=model_list, **{**settings, "num_retries": 0})
        return cls(litellm, config, router, group, models, identity)

    async def complete(self, kwargs: dict[str, Any]) -> Any:
        kwargs = {**kwargs, "num_retries": 0, "max_retries": 0}  # tenacity owns the retries
        if self._router is not None:
            return await self._router.acompletion(model=self._group, **kwargs)
        api_key = self._config.api_key
        if self._config.api_base:
            kwargs["api_base"] = self._config.api_base
            if api_key is None and self._config.model.startswith("openai/"):
                api_key = os.environ.get("OPENAI_API_KEY") or "no-key-needed"
        if api_key is not None:
            kwargs["api_key"] = api_key
        return await self._litellm.acompletion(model=self._config.model, **kwargs)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The dearest deployment's price (0 for local and unpriced custom models)."""
        return max(self._price(m, prompt_tokens, completion_tokens) for m in self._models)

    def actual_cost(self, response: Any, prompt_tokens: int, completion_tokens: int) -> float:
        hidden = getattr(response, "_hidden_params", None) or {}
        reported = hidden.get("response_cost") if isinstance(hidden, dict) else None
        if isinstance(reported, int | float) and reported > 0:
            return float(reported)
        model = getattr(response, "model", None) if self._router is not None else None
        models = [m for m in self._models if model and m.endswith(str(model))] or self._models
        return max(self._price(m, prompt_tokens, completion_tokens) for m in models)

    def _price(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        per_prompt, per_completion = self._unit_price(model)
        return per_prompt * prompt_tokens + per_completion * completion_tokens

    def _unit_price(self, model: str) -> tuple[float, float]:
        """USD per prompt and per completion token, looked up once (litellm's lookup is slow)."""
        if model not in self._prices:
            try:
                per_prompt, _ = self._litellm.cost_per_token(model=model, prompt_tokens=1_000_000,
                                                             completion_tokens=0)
                _, per_completion = self._litellm.cost_per_token(model=model, prompt_tokens=0,
                                                                 completion_tokens=1_000_000)
                self._prices[model] = (float(per_prompt) / 1e6, float(per_completion) / 1e6)
            except Exception:  # noqa: BLE001 - litellm raises on any model it has no price for
                self._prices[model] = (0.0, 0.0)
        return self._prices[model]


def _import_litellm() -> Any:
    # The local cost map keeps the import off the network; set before litellm's first import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback" banners in our users' terminals
    return litellm


def _supports_schema(litellm: Any, model: str) -> bool:
    try:
        return bool(litellm.supports_response_schema(model=model))
    except Exception:  # noqa: BLE001 - unknown models: fall back to instructions
        return False


def _read_router_config(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The `model_list` and `router_settings` of a litellm proxy-style config file."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read the router config {path}: {err.strerror}") from None
    try:
        # PyYAML comes with litellm; imported by name because it ships no type stubs.
        loads = json.loads if path.suffix == ".json" else importlib.import_module("yaml").safe_load
        data = loads(text)
    except Exception as err:  # noqa: BLE001 - json and yaml errors alike
        raise ConfigError(f"the router config {path} is not valid: {err}") from None
    model_list = data.get("model_list") if isinstance(data, dict) else None
    ok = (
        isinstance(model_list, list)
        and model_list
        and all(
            isinstance(d, dict) and "model_name" in d and "model" in d.get("litellm_params", {})
            for d in model_list
        )
    )
    if not ok:
        raise ConfigError(
            f"the router config {path} needs a model_list of "
            "{model_name, litellm_params: {model, ...}} entries"
        )
    settings = data.get("router_settings") or {}
    return list(model_list), dict(settings) if isinstance(settings, dict) else {}  # type: ignore[arg-type]


def _fields(obj: object, names: str) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names.split()}


def _unpack(response: Any) -> tuple[str, int | None, int | None]:
    try:
        text = response.choices[0].message.content or ""
    except (AttributeError, IndexError):
        text = ""
    usage = getattr(response, "usage", None)
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    return (
        str(text),
        prompt if isinstance(prompt, int) else None,
        (completion if isinstance(completion, int) else None),
    )


def _from_provider(err: BaseException) -> bool:
    """Whether an error comes from litellm (or the clients under it), not from our code."""
    root = type(err).__module__.split(".")[0]
    return root in ("litellm", "openai", "httpx") or _is_transient(err)


def _status(err: BaseException | None) -> int | None:
    status = getattr(err, "status_code", None)
    return status if isinstance(status, int) else None


def _is_transient(err: BaseException) -> bool:
    """Rate limits, 5xx, timeouts and dropped connections; never auth, not-found or bad requests."""
    if isinstance(err, _LocalTimeout | TimeoutError | ConnectionError):
        return True
    if "Missing credentials" in str(err):
        return False  # litellm reports a missing key as a 500
    status = _status(err)
    return status is not None and (status in (408, 409, 425, 429) or status >= 500)


def _retry_after(err: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (Retry-After, retry-after-ms), if it said."""
    cooldown = getattr(err, "cooldown_time", None)  # litellm Router: all deployments cooling
    if isinstance(cooldown, int | float) and cooldown > 0:
        return float(cooldown)
    candidates = [
        getattr(err, "headers", None),
        getattr(getattr(err, "response", None), "headers", None),
    ]
    for headers in candidates:
        if not headers:
            continue
        lowered = {str(k).lower(): str(v) for k, v in dict(headers).items()}
        try:
            if "retry-after-ms" in lowered:
                return max(0.0, float(lowered["retry-after-ms"]) / 1000)
            if "retry-after" in lowered:
                raw = lowered["retry-after"]
                if re.fullmatch(r"\s*\d+(\.\d+)?\s*", raw):
                    return float(raw)
                when = email.utils.parsedate_to_datetime(raw)
                return max(0.0, when.timestamp() - time.time())
        except (ValueError, TypeError):
            continue
    return None


def _environment_secrets() -> list[str]:
    names = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)
    return [v for k, v in os.environ.items() if names.search(k) and len(v) >= 8]


def _scrub(text: str, api_key: str | None) -> str:
    """One line, at most 300 characters, with no API key or bearer token in it.

    Keys reach litellm from the environment too (OPENAI_API_KEY, GROQ_API_KEY …), whatever their
    shape, so the value of every variable named like a secret is scrubbed as well.
    """
    for secret in (api_key, *_environment_secrets()):
        if secret:
            text = text.replace(secret, "***")
    text = re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)
    text = re.sub(r"\b(sk|key|api)[-_][A-Za-z0-9_\-]{6,}", "***", text)
    text = text.split("Traceback (most recent call last)")[0].replace("litellm.", "")
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"
