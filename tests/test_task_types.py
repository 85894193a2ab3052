"""Task types as records: the built-ins make the classifier and the menu; a plug-in adds one record and one plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from lambda_rlm.strategies import plan
from lambda_rlm.strategies.task_types import BUILT_IN, STRONG, TaskType, menu

ROOT = Path(__file__).resolve().parent.parent

PLUGIN = '''
from lambda_rlm import TaskType

LINES = TaskType(
    "linecount",
    "count the lines of the document",
    rules=((r"\\bline count\\b", 2),),
    precedence=9,
    plan="def main (doc : Text) (question : Text) : Text = show (len (lines doc))",
)
NOT_A_TASK_TYPE = 42
'''


def plugin(tmp_path: Path, target: str) -> dict[str, str]:
    """A site directory holding a distribution that publishes `target` as the task type `linecount`."""
    site = tmp_path / "site"
    info = site / "lines_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "lines_plugin.py").write_text(textwrap.dedent(PLUGIN))
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lines-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[lambda_rlm.task_types]\nlinecount = {target}\n")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "LAMBDA_RLM_CACHE_DIR": str(tmp_path / "cache")}


def command(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lambda_rlm", *args], input=stdin, env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_the_built_in_records_make_the_task_list_the_menu_and_the_leaf_caps() -> None:
    assert plan.TASKS == ("search", "classify", "aggregate", "pairwise", "summarise", "multihop", "choice")
    assert plan.LIST_LEAF_RATIO == {"aggregate": 3, "pairwise": 1}
    lines = menu(BUILT_IN).splitlines()
    assert lines[0] == "1. search: find one fact or value stated somewhere in it" and len(lines) == 7
    assert all(kind.plan is None for kind in BUILT_IN)  # each has its shipped plan file


def test_a_record_s_cues_and_precedence_drive_the_rules() -> None:
    extra = TaskType("shout", "questions in capitals", rules=((r"\bloudly\b", STRONG),), precedence=9)
    assert plan.scores("Say it loudly: how many?", (*BUILT_IN, extra)) == {
        "classify": 0, "aggregate": 2, "pairwise": 0, "summarise": 0, "multihop": 0, "choice": 0, "shout": 2}


def test_a_plug_in_task_type_runs_through_ask_task(tmp_path: Path) -> None:
    env = plugin(tmp_path, "lines_plugin:LINES")
    doc = "\n".join(f"Line {i}: the harbour log notes the tide and the cargo of the day." for i in range(700))
    done = command(env, "ask", "What is the line count?", "-", "--task", "linecount", "--model", "reference/4k",
                   "--json", stdin=doc)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["task"], out["plan"], out["value"]) == ("linecount", "linecount", "700")
    # Without --task, its own rule and precedence pick it, and it is on the menu the model would be shown.
    probe = ("from lambda_rlm.strategies import plan, task_types as t; "
             "print(plan.classify('What is the line count?'), t.menu(t.task_types()).splitlines()[-1])")
    shown = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    # A tie with aggregate's "count": its precedence picks it, and the rules are unsure.
    assert shown.stdout.strip() == "('linecount', False) 8. linecount: count the lines of the document"


def test_a_plug_in_that_is_not_a_task_type_is_a_clear_error(tmp_path: Path) -> None:
    env = plugin(tmp_path, "lines_plugin:NOT_A_TASK_TYPE")
    done = command(env, "ask", "What is the line count?", "-", "--task", "linecount", "--model", "reference/4k",
                   stdin="one\ntwo\n")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "lines_plugin:NOT_A_TASK_TYPE is not a lambda_rlm task type named 'linecount'" in done.stderr
