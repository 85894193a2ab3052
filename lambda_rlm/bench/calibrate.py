"""Calibration: takes a model, gives its profile (the records it labels reliably in one leaf) from seeded probes.

A probe is a list of OOLONG-style records (a date, a user id and a question about one of several
topics, the topic never written) whose true labels the generator knows. The model labels them
through the aggregate plan's own leaves (`labels.lam`) at several batch sizes (a size the window
or the output limit cuts down is tried at the size it becomes); the profile keeps the largest size
whose accuracy is within `TOLERANCE` of the best size's. When even that size labels less than
`RELIABLE` of the records right, it is tried again with `VOTES` samples per leaf (majority per
record), and the profile keeps the votes if they gain more than `TOLERANCE`. Leaves are cached,
so an interrupted calibration resumes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from lambda_rlm.models.profiles import Profile, user_profiles
from lambda_rlm.runtime.session import Config, run

from .tasks.oolong import RECORD_LINE, Oolong, infer_label

SIZES = (5, 10, 20, 40)
TOLERANCE = 0.05  # a batch size within this much accuracy of the best one is as reliable
RELIABLE = 0.9  # below this accuracy, votes are tried
VOTES = 3  # samples per leaf when voting
PROBE_LENGTH = 8000  # tokens of the generated document the records are taken from
PROGRAM = """
import labels

def main (doc : Text) (notes : Text) : List Text = labels_of notes (listed notes) (records doc)
"""


@dataclass(frozen=True, slots=True)
class Trial:
    """One batch size (and samples per leaf): records labelled right, records labelled, seconds taken."""

    size: int
    correct: int
    total: int
    seconds: float
    votes: int = 1

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class Calibration:
    model: str
    trials: tuple[Trial, ...]
    profile: Profile


def probe(records: int, seed: int) -> tuple[str, str, list[str]]:
    """A document of `records` records, the line that lists their labels, and their true labels."""
    instance = Oolong().generate(PROBE_LENGTH, 1, seed, lambda text: len(text) // 4)[0]
    lines = instance.document.splitlines()[:records]
    truth = []
    for line in lines:
        found = RECORD_LINE.match(line)
        truth.append(infer_label(found.group(3)) if found else None)
    notes = instance.question.splitlines()[1] + "\n"
    return "\n".join(lines), notes, [t or "" for t in truth]


def calibrate(config: Config, records: int = 40, sizes: Sequence[int] = SIZES, seed: int = 0,
              on_trial: Callable[[Trial], None] | None = None) -> Calibration:
    """Label the probe's records at each batch size and choose the model's `label_records`."""
    doc, notes, truth = probe(records, seed)

    def trial(size: int, votes: int) -> Trial:
        start = time.monotonic()
        result = run(PROGRAM, doc, config.changed(max_leaf_records=size, label_votes=votes), notes=notes)
        correct = sum(1 for got, want in zip(result.value, truth, strict=True) if got == want)
        used = result.bound.batch or size  # the window or the output limit may allow fewer
        done = Trial(used, correct, len(truth), time.monotonic() - start, votes)
        if on_trial is not None:
            on_trial(done)
        return done

    trials: list[Trial] = []
    for size in sizes:
        done = trial(size, 1)
        if all(t.size != done.size for t in trials):  # else the same batches as a size already tried
            trials.append(done)
    best = max(t.accuracy for t in trials)
    chosen = max((t for t in trials if t.accuracy >= best - TOLERANCE), key=lambda t: t.size)
    votes = None
    if chosen.accuracy < RELIABLE:
        voted = trial(chosen.size, VOTES)
        trials.append(voted)
        votes = VOTES if voted.accuracy > chosen.accuracy + TOLERANCE else None
    figures = ", ".join(f"{t.correct}/{t.total} at {t.size}" + (f" with {t.votes} votes" if t.votes > 1 else "")
                        for t in trials)
    measured = (f"lambda-rlm calibrate {config.model} --records {records} --sizes {','.join(map(str, sizes))} "
                f"--seed {seed} on {date.today().isoformat()}: {figures}")
    return Calibration(config.model, tuple(trials),
                       Profile(config.model, label_records=chosen.size, label_votes=votes, measured=measured))


def save(profile: Profile, path: Path | None = None) -> Path:
    """Write the profile into a profiles file (the user's, by default), keeping the others in it."""
    target = path or user_profiles()
    known = json.loads(target.read_text(encoding="utf-8")) if target.exists() else {}
    known[profile.model] = {"label_records": profile.label_records, "measured": profile.measured}
    if profile.label_votes is not None:
        known[profile.model]["label_votes"] = profile.label_votes
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(known, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
