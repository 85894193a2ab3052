"""Record combinators: take a document that is a list of entries, give its records, the labels a question
offers, and one label per record from a leaf whose reply is decoded against the records' numbers.

Logs, exports, tickets and table rows are lists of records (lambda_rlm.text.records). A plan
takes `records doc`, cuts the list into `batches` of a few dozen, and asks `label_each` for the
label of every record of a batch: one call, whose reply is decoded as exactly one label per
record number (`types.TLabels`: the local model's grammar allows nothing else, and any other model
is re-asked until it gives exactly those numbers, never padded or cut). Labels picked from a known
set (`choices`) are comparable across leaves; counting, comparing and pairing stay symbolic.

The bound: `records doc` has as many items as the document has records, each no larger than its
widest record (the run measures both; without them every token may be a record of the whole
text), so `batches k` gives an exact number of calls, and a record is shown by at most
`SHOWN_TOKENS` tokens of its content, which bounds each prompt.
"""

from __future__ import annotations

import re
from typing import Any

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.analysis.cost import MESSAGE_OVERHEAD
from lambda_rlm.core import types as t
from lambda_rlm.core.errors import EvalError
from lambda_rlm.core.registry import combinator
from lambda_rlm.models import decode
from lambda_rlm.text import chunking, fences
from lambda_rlm.text import records as rec

SHOWN_TOKENS = 128  # the most of one record's content a labelling leaf is shown (its topic is in its start)
FREE_LABEL_TOKENS = decode.FREE_LABEL_CHARS  # a label that no choice bounds: at most this many characters
_LISTED = re.compile(r"(?:one of|any of|among|categories|labels|types|kinds|classes)\b[^:\n]{0,40}:\s*([^\n]+)",
                     re.IGNORECASE)


def _abs_records(an: Any, text: a.AValue) -> a.AValue:
    if not isinstance(text, a.Text) or text.tokens is None:
        return a.Lst(None, a.Text(None))
    if text.records is None or text.widest is None:
        return a.Lst(text.tokens, a.Text(text.tokens))
    return a.Lst(text.records, a.Text(min(text.tokens, text.widest)))


@combinator("records : Text -> List Text", abstract=_abs_records)
def records(text: str) -> tuple[str, ...]:
    """The text's records in order: its non-blank lines, or its blocks when it is made of
    blank-line-separated blocks of labelled lines (mails, tickets)."""
    return tuple(rec.records(text))


@combinator("item_of : Text -> Text -> Text", size=lambda q, r: r)
def item_of(question: str, record: str) -> str:
    """What a record is about, read symbolically (no model call): the value of the field whose key
    the question names ("pairs of users" reads `User: 42003`), else the record's first field."""
    return rec.item(question, record)


@combinator("batch : Int", abstract=lambda an: a.Num.exactly(an.model.batch) if an.model.batch else a.Num(1))
def batch(*, ctx: Any) -> int:
    """Records per labelling leaf, chosen with the bound: the most whose prompt and reply fit the
    window and the output limit, capped by the model's profile (`config.leaves.max_records`)."""
    return int(ctx.batch or 1)


@combinator("listed : Text -> List Text", size=lambda x: a.Lst(x.tokens, x) if isinstance(x, a.Text) else a.TOP)
def listed(question: str) -> tuple[str, ...]:
    """The labels a question lists after "one of …:", "categories: …" and the like, lower case, in
    order ("a, b or c" gives a, b, c); none when it lists none."""
    found = _LISTED.findall(question)
    if not found:
        return ()
    items = re.split(r",|;|\bor\b|\band\b", found[-1].strip().rstrip("."))
    labels = [" ".join(x.split()).strip(" '\"").lower() for x in items]
    return tuple(dict.fromkeys(x for x in labels if x))


# ---------------------------------------------------------------------- the labelling leaf

_FREE_RULE = "give its label: as the item writes it, or, where it writes none, the one its content evidently has."


def label_prompt(notes: str, choices: tuple[str, ...], items: str, last: str) -> str:
    """The labelling leaf's prompt: what to give for each item, then the numbered items, then the reply's form."""
    rule = f"give the one of these labels that fits it: {' | '.join(choices)}." if choices else _FREE_RULE
    items = fences.neutral(items, fences.tags(["<items>"]))  # no item can close the fence
    return (f"{notes}For every numbered item below, [1] to [{last}], {rule}\n<items>\n{items}\n</items>\n"
            f'Reply as {{"1": <label>, ..., "{last}": <label>}}, one entry per numbered item, in order.')


def _abs_label(an: Any, notes: a.AValue, choices: a.AValue, items: a.AValue) -> a.AValue:
    m = an.model
    if not isinstance(notes, a.Text) or notes.tokens is None:
        an.fail("label_each needs notes of bounded size")
    if not (isinstance(choices, a.Lst) and choices.length is not None and isinstance(choices.elem, a.Text)
            and choices.elem.tokens is not None):
        an.fail("label_each needs a list of choices of bounded size; take a few of them, each cut with peek")
    if not (isinstance(items, a.Lst) and items.length is not None and isinstance(items.elem, a.Text)):
        an.fail("label_each needs a list of items of bounded length; cut the records into batches")
    assert isinstance(notes, a.Text) and isinstance(choices, a.Lst) and isinstance(choices.elem, a.Text)
    assert isinstance(items, a.Lst) and isinstance(items.elem, a.Text)
    n = items.length or 0
    if n == 0:
        return a.Lst(0, a.Text(0))
    label = choices.elem.tokens if choices.length else FREE_LABEL_TOKENS
    reply = n * (m.count(f'"{n}": "", ') + (label or 0) + 2) + 2  # each entry may split a token or two
    if reply > m.output_tokens:
        an.fail(f"the labels of {n} items may take {reply:,} output tokens, more than the {m.output_tokens:,} a call "
                "may write; label fewer items per call, or offer shorter labels")
    # An item is "[k] " and at most SHOWN_TOKENS of its content (a part of it: one token more at
    # most at each end where it was cut out), then a line break; each interpolated part may split a token.
    size = SHOWN_TOKENS if items.elem.tokens is None else min(items.elem.tokens + 2, SHOWN_TOKENS)
    item = m.count(f"[{n}] ") + size + 2
    fixed = max(m.count(label_prompt("", (), "", "")), m.count(label_prompt("", ("",), "", "")))
    listed_tokens = choices.length * ((choices.elem.tokens or 0) + m.count(" | "))
    prompt = fixed + (notes.tokens or 0) + n * item + listed_tokens + 3 * m.count(str(n)) + 6
    tokens = prompt + m.instruction_tokens(t.TLabels(())) + MESSAGE_OVERHEAD
    leaves = () if an.where is None else (a.Leaf(an.where, tokens, m.output_tokens, "label_each"),)
    an.charge(a.Cost(1, tokens, tokens, 0, leaves))
    return a.Lst(n, choices.elem if choices.length else a.Text(m.output_tokens))


@combinator("label_each : Text -> List Text -> List Text -> List Text", abstract=_abs_label)
async def label_each(notes: str, choices: tuple[str, ...], items: tuple[str, ...], *, ctx: Any) -> tuple[str, ...]:
    """One label per item, in order, each one of `choices` (any label when it is empty): one model
    call, none for no items. Each item is shown numbered, by its content (`text.records.content`:
    a row's longest field) cut to SHOWN_TOKENS tokens. `notes` (what the labels mean, say) is shown
    after the items; end it with a line break."""
    if ctx.ask is None:
        raise EvalError("label_each needs a model: run the program with lambda_rlm.run")
    if not items:
        return ()
    picks = tuple(dict.fromkeys(c.strip() for c in choices if c.strip()))
    shown = "\n".join(f"[{k}] {chunking.peek(rec.content(x), 0, SHOWN_TOKENS, ctx.tokenizer)}"
                      for k, x in enumerate(items, 1))
    keys = tuple(str(k) for k in range(1, len(items) + 1))
    labels = await ctx.ask(label_prompt(notes, picks, shown, keys[-1]), t.TLabels(keys, picks))
    return tuple(labels)
