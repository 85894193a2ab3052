"""The litellm boundary: imports litellm offline, sends requests, prices them and reads their failures.

Everything here speaks litellm's language (its exceptions, response objects and price tables) so
that `llm.Oracle` does not: `translate` turns a failure into our one-paragraph error with no
secret in it, `is_transient` and `retry_after` decide the retries, and `unpack` reads a reply.
In-process providers (the embedded model, the reference model, plug-ins) are registered with
litellm here, through `providers`, when a backend is made for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import importlib
import json
import os
import re
import sys
import time
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

from lambda_rlm.core.errors import ConfigError, LambdaError, LeafError

from . import providers
from .providers import import_litellm as import_litellm
from .settings import ModelSettings

ROUTER_SUFFIXES = (".yaml", ".yml", ".json")
T = TypeVar("T")


class CallTimeout(Exception):
    """Our own per-call timeout fired (the provider ignored the one passed to it)."""


def model_window(model: str) -> int | None:
    """The model's context window in tokens when known: its in-process provider's (for the embedded
    model, what llama.cpp is loaded with, ~4k, not the model's 32k), or litellm's table."""
    found = providers.find(model)
    if found is not None:
        return found.window(model)
    if model.endswith(ROUTER_SUFFIXES):
        return None  # a Router config: its deployments may differ
    try:
        info = import_litellm().get_model_info(model)
    except Exception:  # noqa: BLE001 - litellm raises on any model its table lacks
        return None
    window = info.get("max_input_tokens") or info.get("max_tokens")
    return int(window) if isinstance(window, int) and window > 0 else None


async def settle() -> None:
    """Let litellm finish the logging callbacks it queued during this event loop (at most 5 s).

    litellm keeps one queue of callbacks for the process; those left when a loop ends are carried
    to the next one with a warning, so every synchronous entry point settles before it returns.
    """
    worker = getattr(sys.modules.get("litellm.litellm_core_utils.logging_worker"), "GLOBAL_LOGGING_WORKER", None)
    if worker is None:
        return
    with contextlib.suppress(Exception):  # logging is litellm's concern; never fail a finished run
        await asyncio.wait_for(worker.flush(), timeout=5)


def run_sync(work: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(work)`, then settle litellm's logging before the loop closes. Called from inside
    a running event loop (a notebook cell), it runs `work` on a loop of its own in another thread and
    waits for it, since a loop cannot be entered twice."""

    async def settled() -> T:
        try:
            return await work
        finally:
            await settle()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(settled())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda-rlm-run") as worker:
        return worker.submit(asyncio.run, settled()).result()


def translate(err: BaseException, attempts: int, model: str, api_key: str | None,
              secrets: Iterable[str] = ()) -> LambdaError:
    """Our error for a litellm failure, in one paragraph and without the API key (nor any other
    of the `secrets` the run knows)."""
    name, code = type(err).__name__, status(err)
    detail = scrub(str(err), (api_key, *secrets)).removeprefix(f"{name}: ")
    if is_transient(err):
        return LeafError(f"model '{model}' still failed after {attempts} attempts ({name}): {detail}")
    if code in (401, 403) or _MISSING_KEY.search(detail):
        missing = [] if api_key else _missing_keys(model)
        if missing:  # litellm's own list of the variables this provider reads
            return ConfigError(f"model '{model}' needs an API key, and none was given",
                               notes=[f"set {' or '.join(missing)} in the environment, or Config(api_key=...) "
                                      "from Python"])
        return ConfigError(f"model '{model}' refused the credentials: {_provider_words(detail)}",
                           notes=["check the key in the provider's variable (for example OPENAI_API_KEY) "
                                  "or Config(api_key=...)"])
    if code == 404 or "LLM Provider NOT provided" in detail:
        return ConfigError(
            f"model '{model}' was not found ({name}): {detail}. Check the "
            "model name, its provider prefix and api_base."
        )
    if "ContextWindowExceeded" in name or _OVERFLOW.search(detail):
        return ConfigError(f"model '{model}' says the prompt is longer than its context ({name}): "
                           f"{_provider_words(detail)}",
                           notes=["the window the bound used is larger than the server's: set --window "
                                  "(Config(window=...)) to the context the server really serves"])
    return LeafError(f"model '{model}' rejected the request ({name}): {detail}")


_OVERFLOW = re.compile(r"maximum context length|context[_ ]length[_ ]exceeded|context window|too many tokens"
                       r"|exceeds? the (?:model's )?(?:context|maximum)", re.IGNORECASE)


def _missing_keys(model: str) -> list[str]:
    try:
        found = import_litellm().validate_environment(model=model)
    except Exception:  # noqa: BLE001 - a Router config or an unknown provider: no list to show
        return []
    return [str(k) for k in found.get("missing_keys") or []]


_MISSING_KEY = re.compile(r"missing credentials|missing (?:\w+ )?api[ _]?key|api[ _]?key (?:is )?(?:missing|not set"
                          r"|not provided|must be set)|no (?:api )?key is set", re.IGNORECASE)
_PROVIDER_PREFIX = re.compile(r"^(?:litellm\.)?\w+Error: (?:\w+Exception - )?")


def _provider_words(detail: str) -> str:
    """The provider's own message without litellm's class-name prefixes."""
    return _PROVIDER_PREFIX.sub("", detail).strip()


class Backend:
    """The litellm boundary: a plain model string or a Router built from a config file."""

    def __init__(
        self,
        litellm: Any,
        config: ModelSettings,
        router: Any,
        group: str,
        models: list[str],
        identity: str,
        secrets: Iterable[str] = (),
    ) -> None:
        revisions = []
        for model in models:  # in-process models (local/..., reference/...): served, their files checked now
            found = providers.find(model)
            if found is not None:
                found.register(model)
                revisions += [found.revision] if found.revision else []
        self._litellm = litellm
        self._config = config
        self._router = router
        self._group = group
        self._models = models
        self.identity = identity + "".join(f"@{r}" for r in revisions)  # the cache keys' model
        self.secrets = tuple(dict.fromkeys(x for x in (config.api_key, *secrets) if x))  # what scrub must hide
        self._prices: dict[str, tuple[float, float]] = {}
        if config.structured_output is not None:
            self.structured = config.structured_output
        else:
            self.structured = all(_supports_schema(litellm, m) for m in models)

    @classmethod
    def make(cls, config: ModelSettings) -> Backend:
        litellm = import_litellm()
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
        return cls(litellm, config, router, group, models, identity, config_secrets([model_list, settings]))

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
        # Where, not what: the parsers quote the offending line, which may hold a key.
        mark = getattr(err, "problem_mark", None)
        line = getattr(err, "lineno", None) or (mark.line + 1 if mark is not None else None)
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise ConfigError(f"the router config {path} is not valid {kind}" + (f" (line {line})" if line else "")) \
            from None
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


def unpack(response: Any) -> tuple[str, int | None, int | None]:
    """The reply text and the usage the provider reported (None where it did not); `cached_tokens`
    tells how much of the prompt the provider served from its own prompt cache."""
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


def cached_tokens(response: Any) -> int:
    """The prompt tokens the provider read from its prompt cache, as litellm reports them
    (`usage.prompt_tokens_details.cached_tokens`, OpenAI's field); 0 when it says nothing."""
    details = getattr(getattr(response, "usage", None), "prompt_tokens_details", None)
    found = getattr(details, "cached_tokens", None) if details is not None else None
    if found is None and isinstance(details, dict):
        found = details.get("cached_tokens")
    return found if isinstance(found, int) and found > 0 else 0


def from_provider(err: BaseException) -> bool:
    """Whether an error comes from litellm (or the clients under it), not from our code."""
    root = type(err).__module__.split(".")[0]
    return root in ("litellm", "openai", "httpx") or is_transient(err)


def status(err: BaseException | None) -> int | None:
    """The HTTP status a provider error carries, if any."""
    code = getattr(err, "status_code", None)
    return code if isinstance(code, int) else None


def is_transient(err: BaseException) -> bool:
    """Rate limits, 5xx, timeouts and dropped connections; never auth, not-found or bad requests."""
    if isinstance(err, CallTimeout | TimeoutError | ConnectionError):
        return True
    if "Missing credentials" in str(err):
        return False  # litellm reports a missing key as a 500
    code = status(err)
    return code is not None and (code in (408, 409, 425, 429) or code >= 500)


def retry_after(err: BaseException | None) -> float | None:
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


_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)
_SHORTEST_SECRET = 8  # shorter values named like secrets are placeholders ("none", "x"), not keys


def _environment_secrets() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= _SHORTEST_SECRET]


def config_secrets(settings: Any, name: str = "") -> list[str]:
    """Every value named like a secret (api_key, aws_secret_access_key, …) anywhere in a router
    config's model list or settings; `os.environ/…` references name a variable, not a key."""
    if isinstance(settings, dict):
        return [found for k, v in settings.items() for found in config_secrets(v, str(k))]
    if isinstance(settings, list):
        return [found for v in settings for found in config_secrets(v, name)]
    if isinstance(settings, str) and _SECRET_NAME.search(name) and len(settings) >= _SHORTEST_SECRET:
        return [] if settings.startswith("os.environ/") else [settings]
    return []


def _known(secrets: str | Iterable[str | None] | None) -> list[str]:
    given = [secrets] if isinstance(secrets, str) or secrets is None else list(secrets)
    return [s for s in (*given, *_environment_secrets()) if s]


def redact(text: str, secrets: str | Iterable[str | None] | None) -> str:
    """`text` with every secret the run knows (given, or named like one in the environment) as ***:
    for a model's reply, which a provider may echo a key into, before it is cached or shown."""
    for secret in sorted(_known(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def scrub(text: str, secrets: str | Iterable[str | None] | None) -> str:
    """One line, at most 300 characters, with no API key or bearer token in it.

    Keys reach litellm from the environment too (OPENAI_API_KEY, GROQ_API_KEY …), whatever their
    shape, so the value of every variable named like a secret is scrubbed as well, besides the
    keys given (`--api-key`, and those written in a router config file).
    """
    text = redact(text, secrets)
    text = re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)
    text = re.sub(r"\b(sk|key|api)[-_][A-Za-z0-9_\-]{6,}", "***", text)
    text = text.split("Traceback (most recent call last)")[0]
    text = re.sub(r"(?<![\w/.])litellm\.", "", text)  # class paths (litellm.BadRequestError), not docs.litellm.ai
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"
