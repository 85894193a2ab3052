"""Model profiles: takes a model string, gives what that model handles reliably in one leaf (measured, not fitted).

The partition rule fills leaves up to the window; a small model loses accuracy long before that
(the paper's A(n) = A₀·ρ^(n/K)). A profile caps the leaves of one model: how many records a
labelling leaf holds (`label_records`), and how many samples of such a leaf are voted on
(`label_votes`: more than 1 only where one sample is unreliable). Profiles ship in
`profiles.json`, each with the command and date that measured it; `lambda-rlm calibrate MODEL`
measures one and stores it in the user's `profiles.json` (in the cache folder), which comes
first; `config.leaves` (`max_leaf_records`, `label_votes`) overrides both for a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from .cache import default_cache_dir


@dataclass(frozen=True, slots=True)
class Profile:
    """What one model handles reliably in one leaf, and how that was measured."""

    model: str
    label_records: int | None = None  # records per labelling leaf
    label_votes: int | None = None  # samples voted on per labelling leaf (None: 1)
    measured: str = ""  # the command, date and machine that produced these figures


@cache
def _shipped() -> dict[str, Profile]:
    raw = json.loads(files(__package__).joinpath("profiles.json").read_text(encoding="utf-8"))
    return {model: Profile(model, **fields) for model, fields in raw.items()}


def user_profiles() -> Path:
    """The user's profiles file: `profiles.json` in the cache folder."""
    return default_cache_dir() / "profiles.json"


def profile(model: str) -> Profile | None:
    """The profile of `model`: the user's calibration, else the shipped one (None for a model nobody measured)."""
    mine = user_profiles()
    if mine.exists():
        try:
            fields = json.loads(mine.read_text(encoding="utf-8")).get(model)
        except (OSError, ValueError, AttributeError):
            fields = None  # an unreadable file is ignored, as if no calibration were stored
        if isinstance(fields, dict):
            return Profile(model, fields.get("label_records"), fields.get("label_votes"),
                           str(fields.get("measured", "")))
    return _shipped().get(model)
