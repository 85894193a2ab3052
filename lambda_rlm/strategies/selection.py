"""The selection rule of program search: takes the candidates' outcomes, gives the winner and why.

Answers are compared normalised; abstentions vote only when every candidate abstains; groups of
agreeing candidates are ranked by size, stated confidence, holding the single plan, shorter
reasoning and candidate order (README, "Program search"). `search.py` makes and runs the
candidates; this module only judges what they gave.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambda_rlm.core.events import CandidateEnd

if TYPE_CHECKING:
    from lambda_rlm.analysis.cost import Bound
    from lambda_rlm.analysis.program import Program
    from lambda_rlm.runtime.session import Config, Result

NEUTRAL = 50  # the confidence of a candidate whose leaves stated none (0–100 scale)
SINGLE_PLAN = 1  # the id of the candidate that is the plan `ask` would run on its own
# Normalised answers that say "no answer": they vote only when every candidate says so.
ABSTENTIONS = frozenset({"", "none", "not found", "undecided", "unknown", "no answer", "n/a", "null", "[]"})
_SPACE = re.compile(r"\s+")
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")



def normalise(answer: Any) -> str:
    """The form answers are compared in: text lower-cased, NFKC, spaces collapsed, no edge
    punctuation or leading article; any other value as canonical JSON."""
    import json

    from lambda_rlm.core.values import to_json

    plain = to_json(answer)
    if not isinstance(plain, str):
        return json.dumps(plain, sort_keys=True, ensure_ascii=False)
    text = _EDGE.sub("", _SPACE.sub(" ", unicodedata.normalize("NFKC", plain).lower().strip()))
    return _ARTICLE.sub("", text).strip()


def abstains(key: str) -> bool:
    """Whether a normalised answer is an abstention (NONE, NOT FOUND, an empty list, …)."""
    return key in ABSTENTIONS


def group_key(key: str) -> str:
    """The group a normalised answer votes in: every abstention is one answer, "no answer"."""
    return "no answer" if abstains(key) else key


@dataclass(frozen=True)
class Candidate:
    """One checked, bounded program of the search, with the configuration it was bounded for."""

    id: int  # 1-based, in the order of the pool: ties go to the smaller id
    description: str
    program: Program
    config: Config
    bound: Bound

    def as_dict(self) -> dict[str, Any]:
        return {"candidate": self.id, "description": self.description, "bound": self.bound.as_dict()}


@dataclass(frozen=True)
class Outcome:
    """What one candidate gave: its answer and score parts, or its error; and what it spent."""

    candidate: Candidate
    answer: Any = None
    confidence: int | None = None  # stated by its leaves, 0–100; None: none stated (counts NEUTRAL)
    reasoning_tokens: int = 0  # tokens its leaves wrote (cached leaves at what they wrote when made)
    calls: int = 0  # model calls made (cache hits excluded)
    tokens: int = 0  # prompt and completion tokens of those calls
    leaves: int = 0
    cost_usd: float = 0.0
    wall_s: float = 0.0
    result: Result | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        return normalise(self.answer)

    def as_event(self) -> CandidateEnd:
        from lambda_rlm.core.values import to_json

        return CandidateEnd(candidate=self.candidate.id, description=self.candidate.description,
                            answer=to_json(self.answer), confidence=self.confidence,
                            reasoning_tokens=self.reasoning_tokens, calls=self.calls, leaves=self.leaves,
                            cost_usd=self.cost_usd, wall_s=round(self.wall_s, 3), ok=self.error is None,
                            error=self.error)


@dataclass(frozen=True)
class Verdict:
    """The chosen candidate, why, and the score parts of every answer group."""

    winner: int  # a candidate id
    why: str
    votes: dict[str, int]  # normalised answer -> candidates giving it


def choose(outcomes: list[Outcome] | tuple[Outcome, ...]) -> Verdict:
    """The selection rule: group the successful candidates by normalised answer, leaving abstentions
    out unless every one abstains; rank groups lexicographically by (1) size — self-consistency,
    (2) mean stated confidence, NEUTRAL for none stated, (3) holding the single plan (candidate 1),
    (4) shorter mean reasoning, (5) the smaller first candidate id; the winner is the first
    candidate of the best group. So only more agreement or more stated confidence overrules the
    single plan; reasoning length decides among the other answers."""
    ok = [o for o in outcomes if o.error is None]
    if not ok:
        raise ValueError("no candidate gave an answer")
    real = [o for o in ok if not abstains(o.key)]
    groups: dict[str, list[Outcome]] = {}
    for o in real or ok:
        groups.setdefault(group_key(o.key), []).append(o)
    ranked = sorted(groups.values(), key=_rank)
    best = ranked[0]
    why = f"{len(best)} of {len(real or ok)} answering candidates agree on {short(best[0].answer)}"
    if len(ranked) > 1:
        why += f"; {_decided(best, ranked[1])}"
    if real and len(real) < len(ok):
        why += f"; {len(ok) - len(real)} abstained (an abstention wins only when every candidate abstains)"
    return Verdict(best[0].candidate.id, why, {k: len(g) for k, g in groups.items()})


def _rank(group: list[Outcome]) -> tuple[float, float, bool, float, int]:
    return (-len(group), -_confidence(group), not _has_plan(group), _reasoning(group), group[0].candidate.id)


def _has_plan(group: list[Outcome]) -> bool:
    return any(o.candidate.id == SINGLE_PLAN for o in group)


def _confidence(group: list[Outcome]) -> float:
    return sum(NEUTRAL if o.confidence is None else o.confidence for o in group) / len(group)


def _reasoning(group: list[Outcome]) -> float:
    return sum(o.reasoning_tokens for o in group) / len(group)


def _decided(best: list[Outcome], runner: list[Outcome]) -> str:
    """Which criterion separated the winning group from the runner-up, in words."""
    if len(best) != len(runner):
        return f"the next group has {len(runner)}"
    if _confidence(best) != _confidence(runner):
        return f"tied on agreement; higher mean confidence {_confidence(best):.0f} vs {_confidence(runner):.0f}"
    if _has_plan(best):
        return "tied on agreement and confidence; the single plan's answer stands"
    if _reasoning(best) != _reasoning(runner):
        return (f"tied on agreement and confidence; shorter reasoning {_reasoning(best):.0f} vs "
                f"{_reasoning(runner):.0f} tokens")
    return "tied on agreement, confidence and reasoning length; the earlier candidate wins"


def short(answer: Any, width: int = 60) -> str:
    from lambda_rlm.core.values import show

    text = show(answer).replace("\n", " ")
    return repr(text if len(text) <= width else text[: width - 1] + "…")
