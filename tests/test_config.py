"""Config is four groups; each setting can be given by its group or by its name."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from lambda_rlm import Config, HoleLimits, Leaves, Limits, ModelSettings
from lambda_rlm.core.errors import ConfigError
from lambda_rlm.runtime.config import SETTINGS


def test_settings_by_name_land_in_their_groups() -> None:
    config = Config(model="openai/gpt-4o-mini", window=4096, max_calls=200, deadline_s=30,
                    max_leaf_records=12, label_votes=3, hole_calls=2, max_hole_depth=1, cache_dir="/tmp/c")
    assert config == Config(ModelSettings("openai/gpt-4o-mini", window=4096), Limits(max_calls=200, deadline_s=30),
                            Leaves(max_records=12, votes=3), HoleLimits(calls=2, max_depth=1), cache_dir="/tmp/c")
    got = (config.llm.window, config.limits.max_calls, config.leaves.votes, config.holes.max_depth)
    assert got == (4096, 200, 3, 1)


def test_every_setting_of_every_group_has_a_name() -> None:
    named = {(group, name) for group, name in SETTINGS.values()}
    groups = {"llm": ModelSettings, "limits": Limits, "leaves": Leaves, "holes": HoleLimits}
    assert named == {(group, f.name) for group, cls in groups.items() for f in fields(cls)}
    assert len(fields(Config)) == 7  # four groups, the cache (on/off, folder) and the trace


def test_changed_and_replace_change_one_setting_and_keep_the_rest() -> None:
    config = Config(model="reference/8k", max_calls=5, hole_reasks=1)
    assert config.changed(window=2048) == Config(model="reference/8k", window=2048, max_calls=5, hole_reasks=1)
    assert replace(config, max_calls=7).limits == Limits(max_calls=7)
    assert replace(config, max_calls=7).holes == HoleLimits(reasks=1)
    assert config.limits.max_calls == 5  # frozen: the original is untouched


def test_an_unknown_setting_is_refused_with_the_closest_name() -> None:
    with pytest.raises(ConfigError, match="no setting 'max_call'") as info:
        Config(max_call=3)
    assert "did you mean 'max_calls'?" in info.value.format()


@pytest.mark.parametrize("settings, message", [
    ({"max_calls": -1}, "max_calls must be 0 or more"),
    ({"max_usd": float("nan")}, "max_usd must be 0 or more"),
    ({"deadline_s": 0}, "deadline_s must be a number of seconds above 0"),
    ({"label_votes": 17}, "label_votes must be from 1 to 16"),
    ({"hole_calls": -2}, "hole calls must be 0 or more"),
    ({"concurrency": 0}, "concurrency must be positive"),
    ({"window": 100, "output_tokens": 100}, "must be larger than the output per call"),
    ({"api_base": "localhost:8000"}, "is not an http"),
])
def test_each_group_checks_its_own_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config(**settings)


def test_the_api_key_stays_out_of_the_repr() -> None:
    assert "sk-secret" not in repr(Config(model="openai/x", api_key="sk-secret"))


def test_the_flat_names_of_0_1_still_read_with_a_warning() -> None:
    config = Config(concurrency=3, max_calls=9)
    with pytest.warns(DeprecationWarning, match=r"Config.concurrency is config.llm.concurrency"):
        assert config.concurrency == 3  # type: ignore[attr-defined]
    with pytest.warns(DeprecationWarning, match=r"config.limits.max_calls"):
        assert config.max_calls == 9  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        config.no_such_setting  # type: ignore[attr-defined]  # noqa: B018
