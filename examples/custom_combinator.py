"""A researcher's combinator in one decorated function: define it, check a program that uses it, run it.

Run: python examples/custom_combinator.py
"""

from __future__ import annotations

import asyncio
import sys
import types

import lambda_rlm
from lambda_rlm.core.registry import combinator, standard_library
from lambda_rlm.runtime.evaluator import Context, Evaluator
from lambda_rlm.text.tokens import cl100k


# `size` gives the combinator's meaning over sizes: the output is no longer than the input,
# so the static bound can still bound any prompt built from it.
@combinator("initials : Text -> Text", size=lambda text: text)
def initials(text: str) -> str:
    """The first letter of every word."""
    return "".join(word[0] for word in text.split())


def main() -> None:
    module = types.ModuleType("my_combinators")
    module.initials = initials  # type: ignore[attr-defined]
    library = standard_library(extra=[module])
    program = lambda_rlm.compile("def main (doc : Text) : Text = initials (peek doc 0 50)", library)
    print("main :", program.type)
    print("bound:", program.cost(input_tokens=1_000_000, window=8000).calls, "model calls")

    async def no_model(*_: object) -> object:
        raise RuntimeError("this program never calls the model")

    evaluator = Evaluator(program, no_model, Context(cl100k()))
    text = sys.stdin.read() if not sys.stdin.isatty() else "Typed recursive language model programs"
    print("value:", asyncio.run(evaluator.run_main([text])))


if __name__ == "__main__":
    main()
