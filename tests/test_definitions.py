"""`definitions`: the source of what a code question names, found symbolically, in several languages and bundles."""

from __future__ import annotations

import pytest

from lambda_rlm import compile
from lambda_rlm.combinators.code import definitions

BUNDLE = '''# ===== file: pkg/text.py =====
import re


class FoldedCase(str):
    """A case-insensitive string."""

    def lower(self):
        return super().lower()

    def split(self, splitter=" ", maxsplit=0):
        pattern = re.compile(re.escape(splitter), re.I)
        return pattern.split(self, maxsplit)


def helper(x):
    return x
# ===== file: pkg/other.py =====
def helper(y, z):
    total = y + z

    return total


@cache
def fixup_indent(suite):
    kids = suite.children[::-1]
    kids.extend([])
'''

JS = """import x from 'y';

export function parseArgs(argv) {
  const out = {};
  if (argv.length) {
    out.first = argv[0];
  }
  return out;
}

function other() { return 1; }
"""

GO = """package main

func Sum(xs []int) int {
\ttotal := 0
\tfor _, x := range xs {
\t\ttotal += x
\t}
\treturn total
}
"""

CASES = [
    ("What does the method `FoldedCase.lower` defined in `pkg/text.py` return?", BUNDLE,
     "# ===== file: pkg/text.py =====\nclass FoldedCase(str):\n    def lower(self):\n        return super().lower()"),
    ("Which parameter does `helper` defined in `pkg/other.py` take?", BUNDLE,
     "# ===== file: pkg/other.py =====\ndef helper(y, z):\n    total = y + z\n\n    return total"),
    ("Which parameter does `helper` defined in `pkg/text.py` take?", BUNDLE,
     "# ===== file: pkg/text.py =====\ndef helper(x):\n    return x"),
    ("What does `parseArgs` return?", JS,
     "export function parseArgs(argv) {\n  const out = {};\n  if (argv.length) {\n    out.first = argv[0];\n  }\n"
     "  return out;\n}"),
    ("What does `Sum` return?", GO,
     "func Sum(xs []int) int {\n\ttotal := 0\n\tfor _, x := range xs {\n\t\ttotal += x\n\t}\n\treturn total\n}"),
    ("What is the access code for the north gate?", BUNDLE, ""),
    ("What does `no_such_function` return?", BUNDLE, ""),
]


@pytest.mark.parametrize(("question", "source", "expected"), CASES, ids=[q[:40] for q, _, _ in CASES])
def test_the_named_definitions_are_found_whole(question: str, source: str, expected: str) -> None:
    assert definitions(source, question) == expected


def test_the_choices_of_a_question_name_definitions_too() -> None:
    question = ("Which function's body calls `kids.extend(`?\nA) FoldedCase.split\nB) helper\nC) fixup_indent\n"
                "D) 42\nAnswer with the letter of the correct choice.")
    found = definitions(BUNDLE, question)
    assert "def split(self" in found and "def fixup_indent(suite):\n    kids = suite.children[::-1]" in found
    assert "def helper(x)" in found  # the first `helper`: no file was named
    assert found.index("split") < found.index("fixup_indent")


def test_it_is_a_checked_combinator_whose_result_a_plan_bounds_with_peek() -> None:
    program = compile('def main (doc : Text) (q : Text) : Text = peek (definitions doc q) 0 100')
    assert program.type == "Text -> Text -> Text"
    assert program.cost(input_tokens=10_000, window=4_000).calls == 0
