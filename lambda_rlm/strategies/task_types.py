"""Task types: takes the built-in and plug-in declarations, gives the records the classifier, menu and plans use.

A task type is one `TaskType` record and one plan: its name, the line the model's menu shows,
the cues the rule classifier looks for, how it ranks on a tie, whether its leaves list every item,
and the plan's source (a shipped `combinators/plans/<name>.lam` when not given). A plug-in
publishes a record under the entry-point group `lambda_rlm.task_types`; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points

from lambda_rlm.core.errors import ConfigError

ENTRY_POINT_GROUP = "lambda_rlm.task_types"
STRONG, WEAK = 2, 1  # a cue's weight: one strong cue makes the rules sure, a weak one only leans

_NOUN = (r"(?:document|text|email|e-mail|message|letter|article|review|file|page|report|ticket|passage|paper|story"
         r"|essay|chapter|book|contract|transcript|log|module|code|thread|post)")
_CHOICES = r"(?m)^[ \t]*(?:\(A\)|A[).:])[ \t]+\S.*\n[ \t]*(?:\(B\)|B[).:])[ \t]+\S"  # lines A) … then B) …
_WHOLE = r"(?:document|text|list|passage|file|report|article|context|data|records?|table|book)"  # not a hop


@dataclass(frozen=True)
class TaskType:
    """One kind of question: how it is recognised and which plan answers it."""

    name: str
    describes: str  # the menu's line: what a question of this kind asks
    rules: tuple[tuple[str, int], ...] = ()  # (regular expression, STRONG or WEAK) cues in a question
    precedence: int = 0  # on a tie the higher wins: a plan that can also answer the other kind
    list_leaf_ratio: int | None = None  # leaves list every item: their size ≤ this × the output budget
    aliases: tuple[str, ...] = ()  # other words a menu reply may use for it
    plan: str | None = None  # the plan's source; None: the shipped plan <name>.lam


BUILT_IN = (
    TaskType("search", "find one fact or value stated somewhere in it", aliases=("lookup",)),
    TaskType("classify", "decide which category the document belongs to", (
        (r"\bclassif|\bcategori[sz]", STRONG),
        (rf"\b(?:what|which) (?:kind|type|sort|genre|class) of {_NOUN}\b", STRONG),
        (r"\b(?:sentiment|genre|tone)\b", STRONG),
        (r"\bcategor(?:y|ies)\b|\blabels?\b|\btopic\b", WEAK),
    ), precedence=1, aliases=("classification",)),
    TaskType("aggregate", "count items, or find the most common value among many items", (
        (r"\bhow many\b|\bhow often\b", STRONG),
        (r"\bcount(?:s|ing)?\b|\btall(?:y|ies)\b", STRONG),
        (r"\b(?:most|least|less|more) (?:common|frequent|popular|often|used)\b", STRONG),
        (r"\b(?:the|total|overall|average) number of\b", STRONG),
        (r"\bnumber of\b.*\b(?:each|every|per)\b", STRONG),
        (r"\bnumber of\b", WEAK),
        (r"\b(?:frequenc(?:y|ies)|distribution|breakdown|histogram)\b", STRONG),
        (r"\bmajority\b", WEAK),
    ), precedence=4, list_leaf_ratio=3, aliases=("aggregation",)),
    TaskType("pairwise", "find the pairs of items that satisfy a condition together", (
        (r"\bpairs?\b|\bpairings?\b", STRONG),
        (r"\bhow many pairs\b", STRONG),  # outweighs the "how many" of aggregate
        (r"\b(?:which|what|who are the) two\b", STRONG),
        (r"\bboth\b|\bin common\b|\beach other\b|\bone another\b", STRONG),
        (r"\b(?:same|shared?|sharing)\b", WEAK),
    ), precedence=5, list_leaf_ratio=1, aliases=("pairs",)),
    TaskType("summarise", "give a summary, an overview or the main points", (
        (r"\bsummar", STRONG),
        (r"\b(?:overview|gist|synopsis|recap|abstract|tl;?dr)\b", STRONG),
        (r"\b(?:main|key|central) (?:points?|ideas?|themes?|arguments?|findings?|topics?|takeaways?)\b", STRONG),
        (rf"\bwhat (?:is|was) (?:this|the) {_NOUN} about\b", STRONG),
        (r"\b(?:outline|describe|explain)\b", WEAK),
    ), precedence=2, aliases=("summarize", "summary")),
    TaskType("multihop", "combine several facts, each leading to the next", (
        (r"\bwhose\b", STRONG),
        (r"\b\w+'s \w+'s\b", STRONG),  # a chain of possessives: Alice's manager's office
        (rf"\b(?:of|by|for|to|from|with|at|in|on) the (?!{_WHOLE}\b)\w+(?: \w+)? (?:who|that|which|whom)\b", STRONG),
        (r"\bof the \w+ of\b|\b(?:and then|in turn)\b", WEAK),
    ), precedence=3, aliases=("multi-hop", "multi hop")),
    TaskType("choice", "pick the right one of the lettered choices a question lists", (
        # A question that lists lettered choices is answered by one whatever else it asks ("how many
        # …?" then A) to D)), so its cue outweighs every other task type's cues together.
        (_CHOICES, 10 * STRONG),
    ), precedence=6, aliases=("multiple choice", "multiple-choice")),
)


def task_types(plugins: bool = True) -> tuple[TaskType, ...]:
    """The built-in task types in their fixed order, then installed plug-ins by name."""
    return (*BUILT_IN, *_plugins()) if plugins else BUILT_IN


@cache
def _plugins() -> tuple[TaskType, ...]:
    """The installed plug-in task types, read once per process (a scan of the installed
    distributions costs about 10 ms, and the classifier, the menu and the plans all ask)."""
    found: list[TaskType] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        record = ep.load()
        if not isinstance(record, TaskType) or record.name != ep.name:
            raise ConfigError(f"{ep.value} is not a lambda_rlm task type named '{ep.name}'",
                              notes=[f"publish a TaskType under the entry-point group {ENTRY_POINT_GROUP}"])
        if record.plan is None:
            raise ConfigError(f"the task type '{ep.name}' ({ep.value}) has no plan",
                              notes=["give its plan's source in the record's `plan` field"])
        if record.name not in {t.name for t in BUILT_IN}:
            found.append(record)
    return tuple(found)


def menu(types: tuple[TaskType, ...]) -> str:
    """The numbered lines the menu call shows the model."""
    return "\n".join(f"{i}. {t.name}: {t.describes}" for i, t in enumerate(types, 1))
