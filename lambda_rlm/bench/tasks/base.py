"""The benchmark task interface: a Task generates seeded instances, scores answers and reads text as a reference.

A task is a generator (seed, target length in tokens → instances, no network), a scorer (the
papers' definitions) and the name of the task-library plan that answers it. Its two `read_*`
methods are what the deterministic reference provider (`tasks/reference.py`) knows of the task:
they see only the text a model would see in one prompt, never the instance or its answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Count = Callable[[str], int]  # a tokenizer's count: text -> tokens


@dataclass(frozen=True)
class Instance:
    """One question about one document, with its gold answer (JSON-serialisable) and metadata."""

    task: str
    id: str  # "<task>-<length>-<seed>-<index>", unique within a run
    document: str  # instances of one (task, length, seed) may share one document object
    question: str
    answer: Any  # str, int, a list of [a, b] pairs, or a choice letter, as the task's scorer expects
    meta: dict[str, Any] = field(default_factory=dict, compare=False)  # depth, question kind, ...


class Task(Protocol):
    """What `lambda-rlm bench` needs of a task; register one under the entry-point group `lambda_rlm.tasks`."""

    name: str
    plan: str  # the task-library plan (combinators/plans/NAME.lam) that the `plan` baseline forces

    def generate(self, length: int, n: int, seed: int, count: Count) -> list[Instance]:
        """n instances whose documents are `length` tokens (±2%) by `count`; same arguments, same bytes."""
        ...

    def score(self, predicted: Any, instance: Instance) -> float:
        """The paper's score of a system's answer, in [0, 1]; never raises on malformed answers."""
        ...

    def read_answer(self, question: str, text: str) -> str | None:
        """The reference reader: the answer to `question` if `text` alone determines it, else None.

        None also when the question is not one of this task's; the provider tries every task.
        """
        ...

    def read_items(self, text: str) -> Sequence[tuple[str, str | None]] | None:
        """The reference reader: (item, label) for every whole item of this task in `text`, in order.

        None when `text` holds no item of this task (the provider tries every task).
        """
        ...

    # Optional: `read_label(text) -> str | None`, the label of one item's content shown alone
    # (label_records shows a record of delimited fields by its content field only).


_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")


def normalise(answer: Any) -> str:
    """Lower case, NFKC, collapsed spaces, no leading article, no edge punctuation (SQuAD-style)."""
    text = unicodedata.normalize("NFKC", str(answer)).lower().strip()
    text = _EDGE_PUNCT.sub("", _SPACE.sub(" ", text))
    return _ARTICLE.sub("", text).strip()


def exact_match(predicted: Any, gold: Any) -> float:
    """1.0 when the normalised answers are equal, else 0.0."""
    return 1.0 if predicted is not None and normalise(predicted) == normalise(gold) else 0.0
