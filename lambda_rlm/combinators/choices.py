"""Multiple choice: takes a question listing lettered choices, gives the choices and a leaf that picks one by text.

`options question` reads the choices symbolically ("A) …", "(B) …", "c. …" lines, lettered in
order from A). `choose passage question` shows the passage, what the question asks before its
choices and the choices' texts, without their letters, and its reply is decoded as one of those
texts or NONE (`types.TLabels` with one key: the local model's grammar
allows nothing else, any other model is re-asked). A small model asked for a letter answers with
the letter it favours whatever the text says; asked to copy the right choice, it has to read it.
The text is mapped back to its letter symbolically.

The bound: the prompt is the passage and the question (its stem and choices), the reply one choice.
"""

from __future__ import annotations

import re
from typing import Any

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.analysis.cost import MESSAGE_OVERHEAD
from lambda_rlm.core import types as t
from lambda_rlm.core.errors import EvalError
from lambda_rlm.core.registry import combinator
from lambda_rlm.core.values import Some
from lambda_rlm.text import fences

NONE = "NONE"  # the pick that says the passage does not tell
KEY = "answer"
MAX_CHOICES = 10  # lettered A to J: a longer list is not read as choices
_OPTION = re.compile(r"^[ \t]*(?:\(([A-Za-z])\)|([A-Za-z])[).:])[ \t]+(\S[^\n]*?)[ \t]*$", re.MULTILINE)


def _options(question: str) -> list[tuple[str, str, int]]:
    """(letter, text, start offset) of the first run of lettered lines A, B, C… (at least two)."""
    found: list[tuple[str, str, int]] = []
    for m in _OPTION.finditer(question):
        letter = m.group(1) or m.group(2)
        follows = found and ord(letter.upper()) == ord(found[-1][0].upper()) + 1
        if follows and letter.isupper() == found[-1][0].isupper() and len(found) < MAX_CHOICES:
            found.append((letter, m.group(3), m.start()))
        elif len(found) >= 2:
            break
        elif letter in "Aa":
            found = [(letter, m.group(3), m.start())]
        else:
            found = []
    return found if len(found) >= 2 else []


@combinator("options : Text -> List (Text, Text)",
            size=lambda q: a.Lst(q.tokens, a.Tup((a.Text(1), q))) if isinstance(q, a.Text) else a.TOP)
def options(question: str) -> tuple[tuple[str, str], ...]:
    """The lettered choices a multiple-choice question lists, as (letter, text) in order; none when
    it lists fewer than two."""
    return tuple((letter, text) for letter, text, _ in _options(question))


def stem(question: str) -> str:
    """What a multiple-choice question asks, before its choices (the whole question when it has none)."""
    found = _options(question)
    return question[:found[0][2]].strip() if found else question


def pick_prompt(passage: str, asked: str, texts: tuple[str, ...]) -> str:
    """choose's prompt; no part of it can close the `<document>` fence (text.fences)."""
    fenced = fences.tags(["<document>"])
    passage, asked = fences.neutral(passage, fenced), fences.neutral(asked, fenced)
    shown = "\n".join(f"- {fences.neutral(x, fenced)}" for x in texts)
    return (f"<document>\n{passage}\n</document>\nThe text above is one part of a longer document.\n"
            f"Question: {asked}\nChoices:\n{shown}\n"
            f'Which choice does the text show to be right? Reply as {{"{KEY}": <the choice, copied exactly>}}, '
            f'or {{"{KEY}": "{NONE}"}} if the text does not tell.')


def _abs_choose(an: Any, passage: a.AValue, question: a.AValue) -> a.AValue:
    m = an.model
    if not isinstance(passage, a.Text) or passage.tokens is None:
        an.fail("choose needs a passage of bounded size; cut it with peek or split")
    if not isinstance(question, a.Text) or question.tokens is None:
        an.fail("choose needs a question of bounded size")
    assert isinstance(passage, a.Text) and isinstance(question, a.Text)
    # The stem and the choices are parts of the question; each part shown may split a token at
    # either end, and each of at most MAX_CHOICES choices is shown as "- " and a line break.
    parts = m.count(pick_prompt("", "", ())) + passage.tokens + 2 + (question.tokens or 0) + 2
    prompt = parts + MAX_CHOICES * (m.count("- \n") + 2)
    tokens = prompt + m.instruction_tokens(t.TLabels((KEY,), (NONE,))) + MESSAGE_OVERHEAD
    leaves = () if an.where is None else (a.Leaf(an.where, tokens, m.output_tokens, "choose"),)
    an.charge(a.Cost(1, tokens, tokens, 0, leaves))
    return a.Opt(a.Text(1))


@combinator("choose : Text -> Text -> Option Text", abstract=_abs_choose)
async def choose(passage: str, question: str, *, ctx: Any) -> Some | None:
    """The letter of the choice of a multiple-choice `question` that the passage shows to be right,
    or none when it does not tell (or the question lists no choices). One model call, shown the
    choices' texts without their letters, whose reply can only be one of them or NONE."""
    if ctx.ask is None:
        raise EvalError("choose needs a model: run the program with lambda_rlm.run")
    found = _options(question)
    texts = tuple(dict.fromkeys(text for _, text, _ in found if text.upper() != NONE))
    if not texts:
        return None
    (choice,) = await ctx.ask(pick_prompt(passage, stem(question), texts), t.TLabels((KEY,), (*texts, NONE)))
    return next((Some(letter) for letter, text, _ in found if text == choice), None)
