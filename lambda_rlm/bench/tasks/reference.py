"""The deterministic reference model: takes a leaf's messages, gives a perfect reader's reply from its window only.

`reference/32k` is a litellm custom provider (like `local/…`) whose window is 32,768 tokens
(`4k`, `128k`, `1m` or a plain number; k = 1,024). It is honest: it reads only the messages it
is sent, and of those only the first `window` tokens (cl100k, the runtime's own count), so a
needle cut off by the window, or a question pushed out of it, is not seen. Within what it sees
it is a perfect reader of the benchmark tasks: it recognises the leaf forms of the task plans
(`combinators/plans/*.lam`) by their delimiters and asks every task's `read_answer` or
`read_items` (tasks/base.py) about the delimited text, replying in the format the system
message asks for (NONE for an absent Option, a JSON array for a list); a `choose` leaf, which
shows a multiple-choice question's choices without their letters, is read as the lettered
question it came from. Beyond the tasks, it knows plainly stated facts: asked "What is the X for
Y?", it replies Z where its text says "the X for Y is Z" (`plain_fact`). Runs with it measure the
orchestration — calls, tokens, latency shape and scores — without any real model.
`reference/32k?latency=0.05` waits 50 ms per call.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambda_rlm.core.errors import ConfigError
from lambda_rlm.models.providers import Reply, Request, in_process

if TYPE_CHECKING:
    from .base import Task

PREFIX = "reference"
OUTPUT_TOKENS = 1024
ABSENT, NOT_FOUND = "NONE", "NOT FOUND"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([km]?)")
_BLOCK = re.compile(r"<(document|passage|items|records|text)>\n?(.*)\n?</\1>", re.DOTALL)
_QUESTION = re.compile(r"^(?:Question|Request): ", re.MULTILINE)
_NOTES = re.compile(r"Notes copied from a long document:\n<notes>\n?(.*?)\n?</notes>", re.DOTALL)
_FACTS = re.compile(r"Facts found so far:\n(.*?)\nCopy, word for word", re.DOTALL)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"')\]]*|$)")
_CAPITALISED = re.compile(r"\b[A-Z][\w-]*")  # a possessive's "'s" is left out: Orla's names Orla
# Capitalised only because they open a sentence (or are pronouns and question words): not names.
_COMMON = frozenset(re.findall(r"[a-z]+", """
    a an the this that these those it its he she they them his her their there here who whom whose what
    which where when why how is are was were does do did has have had can could will would should
    in on at of for from by with to into after before during and but or if then so each every one
    some any all no not also i we you our your my as yes please copy reply answer question none found
"""))


@dataclass(frozen=True)
class Spec:
    """A reference model string's window (tokens) and simulated latency (seconds per call)."""

    window: int
    latency_s: float = 0.0


def is_reference(model: str) -> bool:
    return model.startswith(f"{PREFIX}/")


def spec(model: str) -> Spec:
    """`reference/32k?latency=0.05` → Spec(32768, 0.05); a ConfigError for anything else."""
    name, _, query = model.removeprefix(f"{PREFIX}/").partition("?")
    m = _SIZE.fullmatch(name.strip().lower())
    latency = 0.0
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        try:
            latency = float(value) if key == "latency" else -1.0
        except ValueError:
            latency = -1.0
        if latency < 0:
            break
    window = int(float(m[1]) * {"": 1, "k": 1024, "m": 1024 * 1024}[m[2]]) if m else 0
    if not is_reference(model) or window < 256 or latency < 0:
        raise ConfigError(f"not a reference model: {model!r}",
                          notes=["write reference/<window>[?latency=SECONDS], e.g. reference/32k"])
    return Spec(window, latency)


def window(model: str) -> int:
    """The window named by a reference model string (`reference/32k` → 32,768)."""
    return spec(model).window


# ------------------------------------------------------------------ what the model sees


def visible(messages: Sequence[tuple[str, str]], window: int, count: Any, offsets: Any) -> tuple[list[str], int]:
    """The messages' contents cut to the first `window` tokens in order, and the tokens sent."""
    seen: list[str] = []
    sent = 0
    for _, text in messages:
        tokens = count(text)
        room = window - sent
        if room > 0:
            seen.append(text if tokens <= room else text[: offsets(text)[room]])
        sent += tokens
    return seen, sent


# ------------------------------------------------------------------ the reader


def reply(system: str, prompt: str, tasks: Sequence[Task]) -> str:
    """The reply to one leaf prompt (as far as it is visible), in the format `system` asks for."""
    absent = ABSENT if "reply NONE" in system else NOT_FOUND
    question = _question(prompt)
    if prompt.startswith("Kinds of question about a long document:"):
        return _menu(question)
    notes = _NOTES.search(prompt)
    if notes is not None:
        return _answer(question, notes[1], tasks) or NOT_FOUND
    if prompt.startswith("Summary of one part of a document:"):
        summaries = prompt.split("\n", 1)[-1]
        return _answer(question, summaries, tasks) or " ".join(_sentences(summaries)[:5]) or absent
    block = _BLOCK.search(prompt)
    if block is None:
        return absent
    tag, body = block[1], block[2]
    if "one of the offered choices" in system:  # choose: a multiple-choice question, answered by text
        return json.dumps({"answer": _choice(body, prompt, tasks) or ABSENT}, ensure_ascii=False)
    if "maps the number of every item" in system:  # label_records: one label per numbered record
        return json.dumps(_numbered_labels(body, prompt, tasks), ensure_ascii=False)
    if '"item"' in system:  # a list of {item, label} records
        items = _items(body, tasks)
        return json.dumps([{"item": i, "label": lab} for i, lab in items], ensure_ascii=False) if items else absent
    if "[<string>" in system:  # a list of labels
        labels = [lab for _, lab in _items(body, tasks) if lab is not None]
        return json.dumps(labels, ensure_ascii=False) if labels else absent
    if tag == "passage":
        facts = _FACTS.search(prompt)
        return _copy(body, question, facts[1] if facts else "") or absent
    if tag == "text":  # a summary: what a task's reader keeps of it, else its first five sentences
        kept = _answer(question, body, tasks)  # (an Option leaf, asked to copy key facts, says NONE instead)
        return kept or (absent if absent == ABSENT else " ".join(_sentences(body)[:5]) or absent)
    return _answer(question, body, tasks) or absent


def _question(prompt: str) -> str | None:
    """The text after the last `Question:` (or `Request:`) label, None when the window cut it off."""
    asked = list(_QUESTION.finditer(prompt))
    return prompt[asked[-1].end():].strip() or None if asked else None


def _answer(question: str | None, text: str, tasks: Sequence[Task]) -> str | None:
    """The first task's answer to the question; a question may span lines, and an instruction may
    follow it, so the lines after the label are tried longest first."""
    lines = (question or "").splitlines()
    for end in range(len(lines), 0, -1):
        asked = "\n".join(lines[:end]).strip()
        for task in tasks:
            found = task.read_answer(asked, text) if asked else None
            if found is not None:
                return found
        found = plain_fact(asked, text) if asked else None
        if found is not None:
            return found
    return None


_ASKED_FACT = re.compile(r"^\W*(?:what|which|who|where|when)\s+(?:is|was|are|were)\s+(the\s+[^?\n]{3,120}?)\s*\??\s*$",
                         re.IGNORECASE)


def plain_fact(question: str, text: str) -> str | None:
    """The value of a plainly stated fact: asked "What is the X for Y?", the Z of the first sentence
    of `text` that says "the X for Y is Z" (any case; Z up to the end of its clause)."""
    asked = _ASKED_FACT.match(question.strip())
    if asked is None:
        return None
    subject = r"\s+".join(re.escape(w) for w in asked.group(1).split())
    stated = re.search(rf"\b{subject}\s+(?:is|was|are|were)\s+([^.;,\n]+?(?:[.,]\d[^.;,\n]*)?)\s*(?:[.;,\n]|$)",
                       text, re.IGNORECASE)
    return stated.group(1).strip() if stated else None


def _items(text: str, tasks: Sequence[Task]) -> list[tuple[str, str | None]]:
    for task in tasks:
        found = task.read_items(text)
        if found is not None:
            return list(found)
    return []


_MARK = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
_CHOICES = re.compile(r"give the one of these labels that fits it: (.*)\.\n")


def _numbered_labels(body: str, prompt: str, tasks: Sequence[Task]) -> dict[str, str]:
    """label_records' reply: each numbered record's label as the task's reader infers it from that
    record alone; a record it cannot read (cut off, or of no task) gets the first choice, as a
    reader who must answer guesses."""
    offered = _CHOICES.search(prompt)
    choices = offered[1].split(" | ") if offered else []
    labels = {}
    for m in _MARK.finditer(body):
        found = [lab for _, lab in _items(m[2], tasks) if lab is not None]
        found += [lab for task in tasks if (lab := _label(task, m[2])) is not None]
        labels[m[1]] = found[0] if found else (choices[0] if choices else "unknown")
    return labels


_PICK = re.compile(r"^Question: (.*?)\nChoices:\n((?:- [^\n]*\n)+)Which choice", re.MULTILINE | re.DOTALL)
_LETTERS = "ABCDEFGHIJ"


def _choice(body: str, prompt: str, tasks: Sequence[Task]) -> str | None:
    """choose's reply: the text of the choice a task's reader finds right, asked as the lettered
    question it would be (the stem, "A) …" lines, and an answer line), or None."""
    shown = _PICK.search(prompt)
    if shown is None:
        return None
    texts = [line[2:] for line in shown[2].splitlines()]
    lettered = "\n".join(f"{letter}) {text}" for letter, text in zip(_LETTERS, texts, strict=False))
    letter = _answer(f"{shown[1]}\n{lettered}\nAnswer with the letter of the correct choice.", body, tasks)
    return texts[_LETTERS.index(letter)] if letter and letter in _LETTERS[:len(texts)] else None


def _label(task: Task, text: str) -> str | None:
    read = getattr(task, "read_label", None)
    return read(text) if read is not None else None


def _copy(passage: str, question: str | None, facts: str) -> str:
    """The passage's sentences that share a proper name with the question or the facts."""
    wanted = _names((question or "").split("\n", 1)[0]) | _names(facts)
    # A substring test first: most sentences mention none of the names, and it is far cheaper.
    kept = [s for s in _sentences(passage) if any(w in s for w in wanted) and _names(s) & wanted]
    return " ".join(kept)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _names(text: str) -> set[str]:
    """Capitalised words that are not common words (which open sentences and questions)."""
    return {w for w in _CAPITALISED.findall(text) if w.lower() not in _COMMON}


def _menu(question: str | None) -> str:
    from lambda_rlm.strategies.plan import classify, task_names

    return str(task_names().index(classify(question or "")[0]) + 1)


# ------------------------------------------------------------------ the litellm provider


class Reader:
    """The reference model's reader for this process: the installed tasks and any added to it, and
    how many replies it has given."""

    def __init__(self) -> None:
        self.extra: dict[str, Task] = {}
        self.calls = 0

    @functools.cached_property
    def builtin(self) -> list[Task]:
        return builtin_tasks()

    def tasks(self) -> list[Task]:
        named = {task.name: task for task in self.builtin}
        return [*named.values(), *(t for name, t in self.extra.items() if name not in named)]

    def respond(self, model: str, messages: Sequence[dict[str, Any]]) -> Reply:
        from lambda_rlm.text.tokens import cl100k

        tok = cl100k()
        pairs = [(str(m.get("role")), str(m.get("content") or "")) for m in messages]
        seen, sent = visible(pairs, spec(model).window, tok.count, tok.offsets)
        roles = [role for role, _ in pairs[: len(seen)]]
        system = next((text for role, text in zip(roles, seen, strict=True) if role == "system"), "")
        prompt = next((text for role, text in zip(roles, seen, strict=True) if role == "user"), "")
        text = reply(system, prompt, self.tasks())
        self.calls += 1
        return Reply(text, sent, tok.count(text))


def builtin_tasks() -> list[Task]:
    """Every task that loads (a task module still being written is skipped)."""
    from . import load, names

    found = []
    for name in names():
        try:
            found.append(load(name))
        except (ImportError, AttributeError):
            continue
    return found


@functools.cache
def handler() -> Reader:
    """This process's one Reader."""
    return Reader()


async def answer(request: Request) -> Reply:
    """A perfect reader's reply (the provider's function; `providers.in_process` serves it)."""
    latency = spec(request.model).latency_s
    if latency:
        await asyncio.sleep(latency)
    return handler().respond(request.model, request.messages)


def _check(model: str) -> None:
    if is_reference(model):
        spec(model)  # a ConfigError now for a malformed reference model string


# The runtime's view of `reference/...` models (see `lambda_rlm.models.providers`): the window in the
# name. The revision keys the leaf cache: bump it when a reader learns to answer a prompt it did not
# (revision 2: plainly stated facts and `choose`), so no old reply is served from the cache.
PROVIDER = in_process(PREFIX, answer, window=window, revision="2", check=_check, output_tokens=OUTPUT_TOKENS)


def register(*models: str, tasks: Iterable[Task] = ()) -> None:
    """Serve `reference/...` model strings through litellm (idempotent), with their windows known.

    `tasks` adds readers beyond the installed tasks (a task defined in a test or a script).
    Model strings that are not reference models are ignored.
    """
    handler().extra.update({task.name: task for task in tasks})
    for model in models:
        if is_reference(model):
            PROVIDER.register(model)
