"""A run's settings: takes the four groups or their settings by name, gives one checked, frozen Config.

A `Config` is four groups, each used as it is by the part of the runtime it concerns, plus where
the run keeps its cache and trace:

* `llm`: `ModelSettings`, the model and how each call is made (the oracle and the backend);
* `limits`: `Limits`, what the runs of a session may spend (the budget);
* `leaves`: `Leaves`, how large a leaf may be and how many samples it takes (the partition rule);
* `holes`: `HoleLimits`, how far typed holes may go (the bound and the expander).

Every setting can also be given by its name, which is what the README does:
`Config(model="openai/gpt-4o-mini", max_calls=200)` is
`Config(ModelSettings("openai/gpt-4o-mini"), Limits(max_calls=200))`, and
`config.changed(window=4096)` changes one setting of one group.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from lambda_rlm.analysis.cost import Leaves
from lambda_rlm.analysis.holes import HoleLimits
from lambda_rlm.core.errors import ConfigError
from lambda_rlm.models.backend import model_window
from lambda_rlm.models.settings import Limits, ModelSettings

FALLBACK_WINDOW = 8192  # the window of a model neither its provider nor litellm's table knows

# A setting's name -> (its group, its name in the group). The names are the ones Config had when
# it was one flat record (before 0.2), so code written for it keeps working.
SETTINGS: dict[str, tuple[str, str]] = {
    **{f.name: ("llm", f.name) for f in fields(ModelSettings)},
    **{f.name: ("limits", f.name) for f in fields(Limits)},
    "max_leaf_tokens": ("leaves", "max_tokens"), "max_leaf_records": ("leaves", "max_records"),
    "label_votes": ("leaves", "votes"), "read_all": ("leaves", "read_all"),
    "hole_calls": ("holes", "calls"), "hole_reasks": ("holes", "reasks"), "max_hole_depth": ("holes", "max_depth"),
}


@dataclass(frozen=True, init=False)
class Config:
    """Everything a run needs besides the program and its inputs."""

    llm: ModelSettings
    limits: Limits
    leaves: Leaves
    holes: HoleLimits
    use_cache: bool
    cache_dir: str | None
    trace_path: str | None

    def __init__(self, llm: ModelSettings | None = None, limits: Limits | None = None,
                 leaves: Leaves | None = None, holes: HoleLimits | None = None, *, use_cache: bool = True,
                 cache_dir: str | None = None, trace_path: str | None = None,
                 **settings: Any) -> None:
        groups: dict[str, Any] = {"llm": llm or ModelSettings(), "limits": limits or Limits(),
                                  "leaves": leaves or Leaves(), "holes": holes or HoleLimits()}
        changes: dict[str, dict[str, Any]] = {}
        for name, value in settings.items():
            if name not in SETTINGS:
                close = difflib.get_close_matches(name, [*SETTINGS, "use_cache", "cache_dir", "trace_path"], 1)
                raise ConfigError(f"Config has no setting {name!r}",
                                  notes=[f"did you mean {close[0]!r}?"] if close else [])
            group, field_name = SETTINGS[name]
            changes.setdefault(group, {})[field_name] = value
        for group, values in changes.items():
            groups[group] = replace(groups[group], **values)
        for name, value in [*groups.items(), ("use_cache", use_cache), ("cache_dir", cache_dir),
                            ("trace_path", trace_path)]:
            object.__setattr__(self, name, value)

    if not TYPE_CHECKING:  # hidden from mypy, so our own code must read settings from their groups

        def __getattr__(self, name: str) -> Any:
            """The flat names of 0.1 (`config.max_calls`) still read, with a DeprecationWarning, for one release."""
            if name not in SETTINGS:
                raise AttributeError(f"'Config' object has no attribute {name!r}")
            group, field_name = SETTINGS[name]
            warnings.warn(f"Config.{name} is config.{group}.{field_name}; the flat name goes in the next release",
                          DeprecationWarning, stacklevel=2)
            return getattr(object.__getattribute__(self, group), field_name)

    def changed(self, **settings: Any) -> Config:
        """This config with some settings changed, each given by its name (`changed(window=4096)`)."""
        return replace(self, **settings)

    @property
    def model(self) -> str:
        """The model string (`llm.model`): the one setting nearly every reader needs."""
        return self.llm.model

    def resolved(self) -> Config:
        """This config with its window set: the one given, else the model's own where its provider or
        litellm's table knows it, else FALLBACK_WINDOW. Every command and the Python API take the
        window by this one rule (a model unknown to both makes litellm's table be read: ~3 s once)."""
        if self.llm.window is not None:
            return self
        window = model_window(self.llm.model) or FALLBACK_WINDOW
        return replace(self, llm=replace(self.llm, window=max(window, self.llm.output_tokens + 1)))

    @property
    def window(self) -> int | None:
        """The window (`llm.window`); None until `resolved()` when the model's own is meant."""
        return self.llm.window

    @property
    def tokenizer(self) -> Any:
        """The tokenizer the run counts with (`llm.tokenizer`); None: the model's own, else cl100k."""
        return self.llm.tokenizer
