"""The benchmark tasks: takes a task name, gives the Task (built-ins here, others by entry point)."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Task

ENTRY_POINT_GROUP = "lambda_rlm.tasks"
# name -> "module:Class", imported only when asked for, so listing tasks costs nothing.
BUILTIN = {
    "sniah": "lambda_rlm.bench.tasks.sniah:SNIAH",
    "oolong": "lambda_rlm.bench.tasks.oolong:Oolong",
    "pairs": "lambda_rlm.bench.tasks.pairs:Pairs",
    "codeqa": "lambda_rlm.bench.tasks.codeqa:CodeQA",
    "multihop": "lambda_rlm.bench.tasks.multihop:MultiHop",
    "summarise": "lambda_rlm.bench.tasks.summarise:Summarise",
}


def names() -> list[str]:
    """Every task name: the built-ins in their fixed order, then installed plug-ins, sorted."""
    extra = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN)
    return [*BUILTIN, *extra]


def load(name: str) -> Task:
    """The task called `name`, constructed with no arguments."""
    if name in BUILTIN:
        module, _, cls = BUILTIN[name].partition(":")
        return getattr(import_module(module), cls)()  # type: ignore[no-any-return]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()()  # type: ignore[no-any-return]
    raise KeyError(name)
