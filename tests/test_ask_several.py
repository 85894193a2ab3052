"""`ask FILE -q Q1 -q Q2` and `--questions FILE`: several questions of one document in one session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads(files("lambda_rlm.cli").joinpath("output.schema.json").read_text(encoding="utf-8"))
FILLER = "The committee met on a quiet morning and discussed the harbour works at length. " * 6
CODE = "What is the access code for the north gate?"
BUDGET = "What is the budget for the harbour works?"


def document(tmp_path: Path) -> Path:
    paragraphs = [FILLER] * 400
    paragraphs[100] = "The access code for the north gate is 4417."
    paragraphs[300] = "The budget for the harbour works is 8 million euros."
    path = tmp_path / "report.txt"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return path


def ask(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAMBDA_RLM_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "lambda_rlm", "ask", *args, "--model", "reference/32k", "--quiet"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_each_question_is_answered_in_order_under_its_own_heading(tmp_path: Path) -> None:
    done = ask(tmp_path, str(document(tmp_path)), "-q", CODE, "-q", BUDGET)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"[1/2] {CODE}\n4417\n\n[2/2] {BUDGET}\n8 million euros\n"


def test_json_is_one_output_document_a_line_and_the_trace_holds_both_runs(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    done = ask(tmp_path, str(document(tmp_path)), "-q", CODE, "-q", BUDGET, "--json", "--trace", str(trace))
    assert done.returncode == 0, done.stderr
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    for doc in docs:
        jsonschema.validate(doc, SCHEMA)
    assert [(d["question"], d["value"]) for d in docs] == [(CODE, "4417"), (BUDGET, "8 million euros")]
    runs = [json.loads(line) for line in trace.read_text().splitlines() if '"run_end"' in line]
    assert len(runs) == 2  # one session, one trace: both questions' runs are in it


def test_a_file_of_questions_skips_blank_lines_and_comments(tmp_path: Path) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text(f"# about the report\n{CODE}\n\n   \n{BUDGET}\n", encoding="utf-8")
    done = ask(tmp_path, str(document(tmp_path)), "--questions", str(questions))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1::3] == ["4417", "8 million euros"]


def test_the_session_has_one_budget_for_every_question(tmp_path: Path) -> None:
    first = ask(tmp_path, str(document(tmp_path)), "-q", CODE, "--no-cache", "--json")
    spent, bound = json.loads(first.stdout)["calls"], json.loads(first.stdout)["bound"]["calls"]
    # A limit the first question fits within, but not the two together: the second is refused
    # before it sends anything, after the first is answered.
    limit = spent + bound - 1
    done = ask(tmp_path, str(document(tmp_path)), "-q", CODE, "-q", BUDGET, "--max-calls", str(limit), "--no-cache")
    assert done.returncode == 4 and done.stdout.startswith(f"[1/2] {CODE}\n4417\n"), (done.stdout, done.stderr)
    assert "of what this session has left" in done.stderr
    enough = ask(tmp_path, str(document(tmp_path)), "-q", CODE, "-q", BUDGET, "--max-calls", str(limit + 1),
                 "--no-cache")
    assert enough.returncode == 0, enough.stderr


def test_a_question_and_a_file_besides_q_is_refused(tmp_path: Path) -> None:
    path = document(tmp_path)
    done = ask(tmp_path, CODE, str(path), "-q", BUDGET)
    assert done.returncode == 5 and "give only the document" in done.stderr and "Traceback" not in done.stderr
    done = ask(tmp_path, str(path), "-q", "  ")
    assert done.returncode == 5 and "question 1 is empty" in done.stderr
