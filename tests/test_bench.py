"""`lambda-rlm bench` on a tiny in-test task and the reference provider: records, files, resume, own plans, errors."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from providers import registered  # noqa: F401 - sets the offline cost map before litellm loads
from tiny_task import Gates

from lambda_rlm.bench import runner as bench
from lambda_rlm.bench import tasks
from lambda_rlm.bench.tasks import reference
from lambda_rlm.cli import app as cli
from lambda_rlm.runtime.session import Config

MODEL = "reference/4k"
RECORD_FIELDS = {"task", "length", "baseline", "id", "question", "gold", "predicted", "score", "calls", "cached",
                 "prompt_tokens", "completion_tokens", "cost_usd", "wall_s", "error"}
OWN_PLAN = '''
def look_up (question : Text) (chunk : Text) : Option Text =
  llm """
    <document>
    {chunk}
    </document>
    Question: {question}
    Reply with the answer, or NONE.
    """

def main (doc : Text) (question : Text) : Text =
  default "NOT FOUND" (first (filter_map (look_up question) (split doc tau)))
'''


@pytest.fixture(autouse=True)
def gates_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny task is known by name to `bench` and to the reference provider."""
    monkeypatch.setitem(tasks.BUILTIN, "gates", "tiny_task:Gates")
    reference.register(MODEL, tasks=[Gates()])


def provider_calls() -> int:
    return int(reference.handler().calls)


def run_cli(tmp_path: Path, *args: str, cache: str = "cache") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["bench", "--model", MODEL, "--out", str(tmp_path / "out"), "--cache-dir",
                         str(tmp_path / cache), "--quiet", *args])
    return code, out.getvalue(), err.getvalue()


def test_the_runner_scores_every_instance_and_writes_each_record_as_it_ends(tmp_path: Path) -> None:
    config = Config(model=MODEL, window=4096, cache_dir=str(tmp_path / "c"))
    lines = io.StringIO()
    systems = {name: bench.baseline(name) for name in ("direct", "plan")}
    report = asyncio.run(bench.arun_bench([Gates()], [2_000, 20_000], 3, 0, systems, config, lines))
    records = report.records
    assert [(r.length, r.baseline) for r in records] == [(2_000, "direct")] * 3 + [(2_000, "plan")] * 3 + [
        (20_000, "direct")] * 3 + [(20_000, "plan")] * 3
    assert [json.loads(line) for line in lines.getvalue().splitlines()] == [r.as_dict() for r in records]
    by = {(g["length"], g["baseline"]): g for g in bench.groups(records)}
    assert by[(2_000, "direct")]["score"] == 1.0 and by[(20_000, "plan")]["score"] == 1.0
    assert by[(20_000, "direct")]["score"] < 0.5  # the truncated document rarely holds the needle
    # The plan reads the chunks most relevant to the question first, so it often stops after one or two.
    assert by[(20_000, "direct")]["calls"] == 1 and by[(20_000, "plan")]["calls"] >= 1
    assert all(r.prompt_tokens <= 4096 for r in records if r.baseline == "direct")
    assert all(r.error is None and r.predicted is not None for r in records)


def test_a_failed_run_scores_zero_keeps_its_error_and_the_bench_goes_on(tmp_path: Path) -> None:
    from lambda_rlm.core.errors import LeafError

    async def broken(task: Any, instance: Any, config: Any, on_event: Any) -> Any:
        raise LeafError("the model said nothing useful")

    config = Config(model=MODEL, window=4096, cache_dir=str(tmp_path / "c"))
    systems = {"broken": broken, "plan": bench.baseline("plan")}
    report = asyncio.run(bench.arun_bench([Gates()], [3_000], 2, 1, systems, config))
    assert [r.score for r in report.records] == [0.0, 0.0, 1.0, 1.0]
    assert report.records[0].error == "leaf error: the model said nothing useful"


def test_a_run_past_its_deadline_scores_zero_and_the_bench_goes_on(tmp_path: Path) -> None:
    slow = f"{MODEL}?latency=0.2"
    reference.register(slow, tasks=[Gates()])
    every = tmp_path / "every.lam"  # reads every chunk (the library plan stops at the first that answers)
    every.write_text(OWN_PLAN)
    code, _, err = run_cli(tmp_path, "--task", "gates", "--lengths", "16k", "--n", "2", "--baseline",
                           f"direct,plan:{every}", "--model", slow, "--concurrency", "1", "--deadline", "0.5",
                           "--no-cache")
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    by_baseline = {b: [r for r in records if r["baseline"] == b] for b in ("direct", f"plan:{every}")}
    assert all(r["error"] is None for r in by_baseline["direct"])  # one call fits the deadline
    assert len(by_baseline[f"plan:{every}"]) == 2  # the second question ran after the first was cut off
    for r in by_baseline[f"plan:{every}"]:  # the plan's calls, one at a time, do not
        assert r["score"] == 0.0 and "deadline" in r["error"] and r["wall_s"] < 2.0


def test_cli_prints_a_table_and_writes_results_and_summary(tmp_path: Path) -> None:
    code, out, err = run_cli(tmp_path, "--task", "gates", "--lengths", "2k,16k", "--n", "2", "--seed", "3",
                             "--baseline", "direct,plan,ask")
    assert code == 0, err
    assert "gates" in out and "16k" in out and "wall p95" in out
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 3 * 2 and set(json.loads(lines[0])) == RECORD_FIELDS
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {"command", "seed", "model", "window", "date", "machine", "version", "timing", "groups"} <= set(summary)
    assert summary["seed"] == 3 and summary["model"] == MODEL and summary["window"] == 4096
    assert summary["machine"]["cpu_count"] >= 1 and "platform" in summary["machine"]
    assert summary["command"][:2] == ["lambda-rlm", "bench"]
    assert len(summary["groups"]) == 6 and set(summary["timing"]["generate_s"]) == {"gates"}
    plan16 = next(g for g in summary["groups"] if g["length"] == 16_000 and g["baseline"] == "plan")
    direct16 = next(g for g in summary["groups"] if g["length"] == 16_000 and g["baseline"] == "direct")
    assert plan16["score"] == 1.0 and plan16["score"] > direct16["score"]


def test_rerunning_the_same_command_resumes_from_the_cache(tmp_path: Path) -> None:
    args = ("--task", "gates", "--lengths", "12k", "--n", "3", "--baseline", "direct,plan")
    before = provider_calls()
    assert run_cli(tmp_path, *args)[0] == 0
    made = provider_calls() - before
    first = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert made == sum(json.loads(line)["calls"] for line in first) > 3
    assert run_cli(tmp_path, *args)[0] == 0
    assert provider_calls() - before == made  # no model call the second time
    second = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    same = ("predicted", "score", "calls", "prompt_tokens", "completion_tokens")
    for a, b in zip(first, second, strict=True):
        ra, rb = json.loads(a), json.loads(b)
        assert [ra[k] for k in same] == [rb[k] for k in same]  # cached leaves count at what they cost
        assert rb["cached"] == rb["calls"]


def test_a_researchers_own_plan_runs_as_a_baseline(tmp_path: Path) -> None:
    program = tmp_path / "mine.lam"
    program.write_text(OWN_PLAN)
    code, out, err = run_cli(tmp_path, "--task", "gates", "--lengths", "16k", "--n", "2",
                             "--baseline", f"plan,plan:{program}")
    assert code == 0, err
    groups = json.loads((tmp_path / "out" / "summary.json").read_text())["groups"]
    assert [g["baseline"] for g in groups] == ["plan", f"plan:{program}"]
    assert groups[1]["score"] == 1.0 and groups[1]["errors"] == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--lengths", "lots"], "not a token count"),
    (["--lengths", "0"], "not a list of lengths"),
    (["--n", "0"], "must be 1 or more"),
    (["--deadline", "-1"], "seconds above 0"),
    (["--task", "nope"], "unknown task 'nope'"),
    (["--baseline", "plan,oracle"], "unknown baseline 'oracle'"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        code = cli.main(["bench", "--task", "gates", "--quiet", "--out", str(tmp_path), *args])
        raise SystemExit(code)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "".join(err)
    assert not (tmp_path / "results.jsonl").exists()


def test_plot_without_matplotlib_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # Python's own "not importable" marker
    code, _, err = run_cli(tmp_path, "--task", "gates", "--lengths", "2k", "--n", "1", "--plot",
                           str(tmp_path / "p.png"))
    assert code == 5 and "pip install 'lambda-rlm[plot]'" in err
    assert not (tmp_path / "out" / "results.jsonl").exists()  # refused before running


def test_plot_draws_a_png(tmp_path: Path) -> None:
    code, _, err = run_cli(tmp_path, "--task", "gates", "--lengths", "2k,8k", "--n", "1", "--plot",
                           str(tmp_path / "p.png"))
    assert code == 0, err
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_length_labels_and_percentiles() -> None:
    assert [bench.size_label(x) for x in (8_000, 128_000, 1_000_000, 1_500_000, 300)] == [
        "8k", "128k", "1m", "1.5m", "300"]
    assert bench.percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    assert bench.percentile([float(i) for i in range(1, 21)], 0.95) == 19.0


def _builtin_tasks_load() -> bool:
    try:
        for name in list(tasks.BUILTIN):
            if name != "gates":
                tasks.load(name)
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _builtin_tasks_load(), reason="the built-in task modules are not all written yet")
def test_end_to_end_on_the_built_in_tasks(tmp_path: Path) -> None:
    code, out, err = run_cli(tmp_path, "--task", "sniah,oolong,pairs,codeqa,multihop", "--lengths", "8k",
                             "--n", "2")
    assert code == 0, err
    groups = json.loads((tmp_path / "out" / "summary.json").read_text())["groups"]
    for task in ("sniah", "oolong", "pairs", "codeqa", "multihop"):
        assert task in out
        score = {g["baseline"]: g["score"] for g in groups if g["task"] == task}
        assert score["plan"] >= score["direct"], (task, score)


def test_search4_is_never_worse_than_the_single_plan_on_pairs(tmp_path: Path) -> None:
    """Regression: the reasoning-length signal once let a τ/2 candidate that lost a record cut at a
    chunk boundary outvote the plan on pairs (one pair list shorter, so fewer tokens written)."""
    code, _, err = run_cli(tmp_path, "--task", "pairs", "--lengths", "8k", "--n", "5", "--model", "reference/32k",
                           "--baseline", "plan,search4")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    score = {(r["id"], r["baseline"]): r["score"] for r in rows}
    assert len(score) == 10 and all(r["error"] is None for r in rows)
    assert all(score[(i, "search4")] >= score[(i, "plan")] == 1.0 for i, _ in score)
