"""Run events are typed records with a schema: every event of real runs is one of them and fits it."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from test_graph import COMPLEX, PLAN, Model, graph_run
from test_holes import ANSWER, NESTED, hole_run

import lambda_rlm
from lambda_rlm import Config
from lambda_rlm.core import events
from lambda_rlm.runtime.trace import read

ROOT = Path(__file__).resolve().parent.parent
DOC = "\n\n".join(f"Section {i}. The weather was mild and the rooms were quiet." for i in range(60))
DOC += "\n\nThe vault code is 7342.\n\n" + DOC


def validate_all(lines: list[dict[str, object]]) -> set[str]:
    schema = events.schema()
    for line in lines:
        jsonschema.validate(line, schema)
    return {str(line["event"]) for line in lines}


def test_every_event_of_holes_graphs_and_search_fits_the_schema(tmp_path: Path) -> None:
    for part in "hgs":
        (tmp_path / part).mkdir()
    hole_result, _ = hole_run(tmp_path / "h", ANSWER, NESTED, max_hole_depth=3)
    graph_result = graph_run(tmp_path / "g", Model(PLAN, COMPLEX))
    trace = tmp_path / "s" / "trace.jsonl"
    config = Config(model="reference/4k", window=4096, cache_dir=str(tmp_path / "cache"), trace_path=str(trace))
    searched = lambda_rlm.ask("What is the vault code?", DOC, config, search=2)
    assert str(searched.value).strip() == "7342"
    kinds = validate_all(read(tmp_path / "h" / "trace.jsonl")) | validate_all(read(tmp_path / "g" / "trace.jsonl"))
    kinds |= validate_all(read(trace))
    # The runs above between them make nearly every kind; the rest have unit tests of their own.
    assert set(events.KINDS) - kinds <= {"budget", "reask", "retry", "leaf_error", "run_error", "search_error",
                                         "hole_retry"}
    for result in (hole_result, graph_result):
        assert all(isinstance(e, events.Event) and type(e) is events.KINDS[e["event"]] for e in result.trace)


def test_an_event_is_a_frozen_record_and_its_json_form() -> None:
    end = events.LeafEnd(key="k", prompt_tokens=10, completion_tokens=2, latency_s=0.5, cost_usd=0.0,
                         cached=False, attempts=1, reasks=0)
    assert end["event"] == "leaf_end" and end.prompt_tokens == end["prompt_tokens"] == 10
    assert json.loads(json.dumps(end)) == end.as_dict() == end
    with pytest.raises(TypeError, match="read-only"):
        end["calls"] = 3  # type: ignore[index]
    with pytest.raises(AttributeError):
        end.key = "other"  # type: ignore[misc]
    stamped = replace(end, t=1.25, hole=4)
    assert list(stamped)[:2] == ["t", "event"] and stamped["hole"] == 4 and "hole" not in end
    assert pickle.loads(pickle.dumps(stamped)) == stamped
    quick = end.stamped(1.25)  # what the trace does to every event, without building it again
    assert quick == replace(end, t=1.25) and list(quick) == list(replace(end, t=1.25)) and quick.t == 1.25
    assert type(quick) is events.LeafEnd and "t" not in end and end.t is None


def test_absent_fields_stay_out_of_the_json_form_and_known_ones_are_checked() -> None:
    assert events.RunError(kind="deadline").as_dict() == {"event": "run_error", "kind": "deadline"}
    node = events.GraphNodeStart(graph=1, node=2, index=1, layer=1, depth=1, parents=(1,), task="t")
    assert node["parents"] == [1]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**node.as_dict(), "parents": "1"}, events.schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"event": "leaf_end", "key": "k"}, events.schema())  # the usage is missing
