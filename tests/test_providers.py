"""In-process providers: the built-in prefixes, and a plug-in found through its entry point by a real `lambda-rlm`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from lambda_rlm.bench.tasks import reference
from lambda_rlm.models import local, providers
from lambda_rlm.runtime.session import Config, fit_to_model

ROOT = Path(__file__).resolve().parent.parent

# A plug-in distribution as pip would install it: a module and a dist-info with its entry point.
PLUGIN = '''
import threading

from lambda_rlm.models.backend import import_litellm

litellm = import_litellm()  # with the local price table, before litellm's first import
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import ModelResponse

from lambda_rlm import Provider

class Shout(CustomLLM):
    """Replies with the chunk's first word in capitals; counts calls and calls in flight."""

    def __init__(self):
        super().__init__()
        self.lock, self.now, self.most, self.calls = threading.Lock(), 0, 0, 0

    async def acompletion(self, *args, **kwargs):
        import asyncio
        with self.lock:
            self.now += 1; self.most = max(self.most, self.now); self.calls += 1
        await asyncio.sleep(0.01)
        with self.lock:
            self.now -= 1
        prompt = next(m["content"] for m in kwargs["messages"] if m["role"] == "user")
        word = prompt.split("<document>")[1].split()[0].upper()
        with open(STATS, "w") as f:
            f.write(f"{self.calls} {self.most}")
        return ModelResponse(model=kwargs["model"], choices=[{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": word}}], usage={"prompt_tokens": 1, "completion_tokens": 1,
            "total_tokens": 2})

HANDLER = Shout()
STATS = __file__ + ".stats"

def register(model):
    if not any(p["provider"] == "shout" for p in litellm.custom_provider_map):
        litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": "shout", "custom_handler": HANDLER}]

PROVIDER = Provider("shout", register, lambda model: 2000, concurrency=2)
NOT_A_PROVIDER = "shout"
'''

# The same plug-in written the short way: one function, and `in_process` does litellm's plumbing.
ONE_FUNCTION = '''
from lambda_rlm import Reply, in_process

async def answer(request):
    prompt = next(m["content"] for m in request.messages if m["role"] == "user")
    word = prompt.split("<document>")[1].split()[0].upper()
    return Reply(word, prompt_tokens=len(prompt.split()), completion_tokens=1)

PROVIDER = in_process("shout", answer, window=lambda model: 2000, concurrency=2)
'''

PROGRAM = '''
def first_word (chunk : Text) : Text =
  llm """
    <document>
    {chunk}
    </document>
    Reply with the first word above, in capitals.
    """

def main (doc : Text) : List Text = map first_word (split doc tau)
'''


def test_built_in_prefixes_are_served_in_process_and_others_by_litellm() -> None:
    assert providers.find(local.SMALL_MODEL) is local.PROVIDER
    assert providers.find("reference/32k") is reference.PROVIDER
    for model in ("openai/gpt-4o-mini", "gpt-4o-mini", "configs/router.yaml", "nosuchprefix/x"):
        assert providers.find(model) is None


def test_an_in_process_model_bounds_the_window_and_the_concurrency() -> None:
    fitted = fit_to_model(Config(model=local.SMALL_MODEL, window=32_000, concurrency=8))
    assert (fitted.window, fitted.concurrency) == (local.context_window(local.SMALL_MODEL), 1)
    fitted = fit_to_model(Config(model="reference/2k", window=32_000, concurrency=8))
    assert (fitted.window, fitted.concurrency) == (2048, 8)
    remote = Config(model="openai/gpt-4o-mini", window=32_000, concurrency=8)
    assert fit_to_model(remote) is remote


def plugin(tmp_path: Path, target: str, source: str = PLUGIN) -> dict[str, str]:
    """A site directory holding the plug-in, and the environment that puts it on the path."""
    site = tmp_path / "site"
    (site / "shout_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "shout_plugin.py").write_text(textwrap.dedent(source))
    (site / "shout_plugin-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-plugin\n"
                                                                   "Version: 0.1\n")
    (site / "shout_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        f"[lambda_rlm.providers]\nshout = {target}\n")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "LAMBDA_RLM_CACHE_DIR": str(tmp_path / "cache")}


def command(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lambda_rlm", *args], input=stdin, env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_plug_in_provider_serves_its_prefix_with_its_window_and_concurrency(tmp_path: Path) -> None:
    env = plugin(tmp_path, "shout_plugin:PROVIDER")
    (tmp_path / "first.lam").write_text(PROGRAM)
    doc = " ".join(f"word{i} filler text that pads the chunk out." for i in range(1500))
    done = command(env, "run", str(tmp_path / "first.lam"), "--model", "shout/any", "--concurrency", "8",
                      "--json", stdin=doc)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    # Its window (2,000 tokens) sets the leaves' size, so the document is read in many small chunks,
    # each answered by the plug-in, never more than 2 at once whatever --concurrency says.
    calls, most = map(int, (tmp_path / "site" / "shout_plugin.py.stats").read_text().split())
    assert out["bound"]["tau"] < 2000 and out["calls"] == calls == len(out["value"]) > 10
    assert out["value"][0] == "WORD0" and most == 2


def test_a_plug_in_of_one_function_is_served_through_litellm(tmp_path: Path) -> None:
    env = plugin(tmp_path, "shout_plugin:PROVIDER", ONE_FUNCTION)
    (tmp_path / "first.lam").write_text(PROGRAM)
    doc = " ".join(f"word{i} filler text that pads the chunk out." for i in range(1500))
    done = command(env, "run", str(tmp_path / "first.lam"), "--model", "shout/any", "--json", stdin=doc)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["bound"]["tau"] < 2000 and out["calls"] == len(out["value"]) > 10
    assert out["value"][0] == "WORD0" and out["value"][1].startswith("WORD")
    # The usage the function reported reached the run's totals through litellm's response.
    assert out["completion_tokens"] == out["calls"] and out["prompt_tokens"] > 8 * out["calls"]
    assert out["cost_usd"] == 0


def test_a_plug_in_that_is_not_a_provider_is_a_clear_error(tmp_path: Path) -> None:
    env = plugin(tmp_path, "shout_plugin:NOT_A_PROVIDER")
    (tmp_path / "first.lam").write_text(PROGRAM)
    done = command(env, "run", str(tmp_path / "first.lam"), "--model", "shout/any", stdin="some text")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "shout_plugin:NOT_A_PROVIDER is not a lambda_rlm.Provider" in done.stderr


def test_a_plug_in_that_does_not_load_is_a_clear_error(tmp_path: Path) -> None:
    env = plugin(tmp_path, "no_such_module:PROVIDER")
    done = command(env, "ask", "What is it?", "-", "--model", "shout/any", "--dry-run", stdin="some text")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "the provider of 'shout/...' models (no_such_module:PROVIDER) cannot be loaded" in done.stderr
