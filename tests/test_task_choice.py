"""Choosing the task from the question and the document's shape: a table of (question, document, task).

The documents are written here in the forms users have them: report and paper prose, logs, CSV
exports, OOLONG-style records, Markdown tables, changelogs, JSON lines, ticket blocks, chat
transcripts and source code. The table covers counts that prose states against counts over
records, lookups phrased with "how many", and requests without a question word.
"""

from __future__ import annotations

import json

import pytest

from lambda_rlm.strategies.plan import choose_task
from lambda_rlm.text.shape import Shape, shape

TRIAL = """In the phase III trial, 412 patients were enrolled across nine sites between March 2019
and June 2021. The treatment group improved by 7 points more than the placebo group on the
primary scale, and adverse events were reported at two of the sites, Leeds and Porto. The
committee met four times during the study, and in three of the twelve subgroups the effect was
not significant. Enrolment closed early at the Oslo site because of a staffing shortage.

Follow-up lasted eighteen months. The authors note that the dropout rate, 11 percent, was
similar in both arms, and that the drug was approved for further study in six of the nine
countries. The budget for the extension was approved by the sponsor's finance director, whose
office is in Basel. Overall, the findings support a larger confirmatory trial."""

PAPER = """We introduce a typed functional runtime for recursive language model reasoning over long
contexts. Unlike free-form code generation, the model never writes control flow: a small
library of combinators splits the input, maps a bounded leaf over the pieces and combines the
results symbolically. We prove that every program terminates and give a closed-form bound on
the number of model calls. On four benchmarks, our method improves accuracy by 12 points on
average over direct prompting and by 5 points over the strongest baseline, while reducing
latency by up to a factor of three. Three of the seven models we evaluate benefit most at the
longest context lengths, where direct prompting degrades sharply. We discuss limitations and
the cost of the planning step in the final section, and release our code."""

STORY = """The harbour town woke slowly that winter. Maria repaired the red bench on Monday morning
while the caretaker inspected the greenhouse roof. By the time the ferry arrived, two fishing
boats had already returned with nothing to show for the night, and the council had decided to
postpone the market. Nobody could remember a colder January. Grandpa Joe said that in his day
the bay froze solid twice, though his daughter doubted it. In the evening the night guard
counted the lanterns along the pier and found three missing."""

LOG = "\n".join(
    f"2024-03-{d:02d} 1{h}:0{m}:12 {lvl} [{svc}] user={u} {msg}"
    for d, h, m, lvl, svc, u, msg in [
        (1, 0, 1, "INFO", "auth", "alice", "login ok"), (1, 1, 2, "ERROR", "auth", "bob", "login failed"),
        (2, 2, 3, "WARN", "billing", "carol", "card expiring"), (2, 3, 4, "INFO", "auth", "dave", "login ok"),
        (3, 4, 5, "ERROR", "search", "erin", "timeout after 30s"), (3, 5, 6, "INFO", "billing", "frank", "paid"),
        (4, 6, 7, "ERROR", "auth", "alice", "login failed"), (4, 7, 8, "INFO", "search", "bob", "query ok"),
    ]
)
CSV = "id,name,department,salary,start_date\n" + "\n".join(
    f"{i},{n},{d},{s},20{y}-0{i % 9 + 1}-15"
    for i, (n, d, s, y) in enumerate([("Alice", "Sales", 52000, 19), ("Bob", "Sales", 48000, 20),
                                      ("Chen", "Research", 71000, 18), ("Dara", "Support", 39000, 21),
                                      ("Eli", "Research", 68000, 22), ("Fay", "Support", 41000, 23)], 1)
)
OOLONG = "Each record's text belongs to one of these categories: sports, weather, music.\n" + "\n".join(
    f"Date: {d} || User: {u} || Instance: {q}"
    for d, u, q in [("Mar 22, 2022", 63617, "Which jazz album won the Grammy in 2018?"),
                    ("Jan 14, 2022", 73754, "Will it rain in Lisbon tomorrow?"),
                    ("Mar 21, 2023", 63617, "Why is the humidity so high in Madrid today?"),
                    ("Jun 25, 2022", 10189, "Who won the hockey final?"),
                    ("Apr 26, 2022", 73754, "How do I tune a violin?"),
                    ("May 02, 2023", 10189, "Is there a storm warning for Oslo?")]
)
TABLE = "| ticket | priority | status | owner |\n| --- | --- | --- | --- |\n" + "\n".join(
    f"| T-{100 + i} | {p} | {s} | {o} |"
    for i, (p, s, o) in enumerate([("high", "open", "ana"), ("low", "closed", "ben"), ("medium", "open", "ana"),
                                   ("high", "closed", "cy"), ("low", "open", "ben"), ("high", "open", "dee")])
)
CHANGELOG = "\n".join(
    f"- {kind}: {text}"
    for kind, text in [("Fixed", "a crash when the cache folder is read-only"), ("Added", "the --json flag to ask"),
                       ("Changed", "the default window for local models"), ("Fixed", "progress bar stuck at 0"),
                       ("Removed", "the deprecated --k option"), ("Added", "a serve command"),
                       ("Fixed", "a leak in the trace writer")]
)
EVENTS = "\n".join(json.dumps(e) for e in [
    {"event": "checkout", "user": "u1", "status": "ok", "amount": 30},
    {"event": "checkout", "user": "u2", "status": "failed", "amount": 12},
    {"event": "refund", "user": "u1", "status": "ok", "amount": 30},
    {"event": "checkout", "user": "u3", "status": "failed", "amount": 99},
    {"event": "login", "user": "u2", "status": "ok", "amount": 0},
    {"event": "checkout", "user": "u4", "status": "ok", "amount": 45},
])
TICKETS = "\n\n".join(
    f"Ticket: {n}\nFrom: {who}\nSubject: {subject}\nPriority: {p}"
    for n, who, subject, p in [(101, "ana@example.com", "Cannot log in", "high"),
                               (102, "ben@example.com", "Invoice is wrong", "medium"),
                               (103, "cy@example.com", "App crashes on start", "high"),
                               (104, "ana@example.com", "Refund request", "low"),
                               (105, "dee@example.com", "Password reset loop", "high")]
)
CHAT = "\n".join(
    f"{who}: {text}"
    for who, text in [("alice", "are we shipping today?"), ("bob", "after the tests pass"),
                      ("carol", "the release notes are ready"), ("alice", "great, who tags it?"),
                      ("bob", "I will, around five"), ("dave", "ping me when it is out")]
)
CODE = '''import argparse
from pathlib import Path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("path", type=Path)
    return parser.parse_args(argv)


class Store:
    def __init__(self, root):
        self.root = root

    def close(self):
        return None


def main():
    args = parse_args()
    Store(args.path).close()
'''

DOCUMENTS = {"trial": TRIAL, "paper": PAPER, "story": STORY, "log": LOG, "csv": CSV, "oolong": OOLONG,
             "table": TABLE, "changelog": CHANGELOG, "events": EVENTS, "tickets": TICKETS, "chat": CHAT,
             "code": CODE}
KINDS = {"trial": "prose", "paper": "prose", "story": "prose", "code": "code"}

CASES = [
    # Counts that prose states are looked up.
    ("How many patients were enrolled in the trial?", "trial", "search"),
    ("By how many points did the treatment group improve over placebo?", "trial", "search"),
    ("In how many of the subgroups was the effect not significant?", "trial", "search"),
    ("In how many countries was the drug approved for further study?", "trial", "search"),
    ("How many sites took part?", "trial", "search"),
    ("How often did the committee meet?", "trial", "search"),
    ("What was the total number of patients?", "trial", "search"),
    ("Number of sites in the study", "trial", "search"),
    ("Count of sites that reported adverse events", "trial", "search"),
    ("Which two sites both reported adverse events?", "trial", "search"),
    ("What was the dropout rate?", "trial", "search"),
    ("Summarise the trial report.", "trial", "summarise"),
    ("What are the main findings?", "trial", "summarise"),
    ("In which city is the office of the director who approved the budget?", "trial", "multihop"),
    ("By how many points does the method improve accuracy on average?", "paper", "search"),
    ("How many of the evaluated models benefit most at the longest lengths?", "paper", "search"),
    ("How many benchmarks are used in the evaluation?", "paper", "search"),
    ("What is the average improvement over the strongest baseline?", "paper", "search"),
    ("How many times faster is the method at best?", "paper", "search"),
    ("What is this paper about?", "paper", "summarise"),
    ("Give an overview of the paper.", "paper", "summarise"),
    ("Does the model write control flow?", "paper", "search"),
    ("How many lanterns were missing from the pier?", "story", "search"),
    ("How many fishing boats returned that morning?", "story", "search"),
    ("How many times did the bay freeze solid in Grandpa Joe's day?", "story", "search"),
    ("Who repaired the red bench?", "story", "search"),
    ("What is the tone of the story?", "story", "classify"),
    # Counts and pairs over records are computed over the records.
    ("How many errors were logged?", "log", "aggregate"),
    ("How many failed logins are there?", "log", "aggregate"),
    ("Breakdown of log levels", "log", "aggregate"),
    ("Which service logs errors most often?", "log", "aggregate"),
    ("Which two users both had a failed login?", "log", "pairwise"),
    ("What did the search service log on March 3?", "log", "search"),
    ("When did carol's card start expiring?", "log", "search"),
    ("How many employees work in Sales?", "csv", "aggregate"),
    ("Number of employees per department", "csv", "aggregate"),
    ("Which department is the most common?", "csv", "aggregate"),
    ("Which two employees share a department?", "csv", "pairwise"),
    ("What is Chen's salary?", "csv", "search"),
    ("When did Dara start?", "csv", "search"),
    ("How many records are about weather?", "oolong", "aggregate"),
    ("What is the least common category?", "oolong", "aggregate"),
    ("List every pair of users who both have a record about music.", "oolong", "pairwise"),
    ("How many pairs of users share a category?", "oolong", "pairwise"),
    ("The number of distinct categories", "oolong", "aggregate"),
    ("What did user 10189 ask on Jun 25, 2022?", "oolong", "search"),
    ("How many tickets are high priority?", "table", "aggregate"),
    ("Count the open tickets", "table", "aggregate"),
    ("Distribution of tickets by status", "table", "aggregate"),
    ("Who owns ticket T-103?", "table", "search"),
    ("How many fixes are in this release?", "changelog", "aggregate"),
    ("Number of changes of each kind", "changelog", "aggregate"),
    ("Was a serve command added?", "changelog", "search"),
    ("How many checkouts failed?", "events", "aggregate"),
    ("Total number of refunds", "events", "aggregate"),
    ("Which two users both have a checkout?", "events", "pairwise"),
    ("What amount did user u4 pay?", "events", "search"),
    ("How many tickets are high priority?", "tickets", "aggregate"),
    ("Which two tickets come from the same sender?", "tickets", "pairwise"),
    ("What is the subject of ticket 104?", "tickets", "search"),
    ("How many messages did bob send?", "chat", "aggregate"),
    ("Who will tag the release?", "chat", "search"),
    # Source code: a question about it is looked up, counts included.
    ("What does the function parse_args return?", "code", "search"),
    ("How many arguments does parse_args add to the parser?", "code", "search"),
    ("Which class defines the method close?", "code", "search"),
    ("Summarise what this module does.", "code", "summarise"),
]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_each_document_has_the_shape_users_would_name(name: str) -> None:
    found = shape(DOCUMENTS[name])
    assert found.kind == KINDS.get(name, "records"), found
    if found.kind == "records":
        assert found.count >= 5


@pytest.mark.parametrize(("question", "document", "task"), CASES, ids=[f"{d}: {q}" for q, d, _ in CASES])
def test_the_task_comes_from_the_question_and_the_document(question: str, document: str, task: str) -> None:
    chosen, _, note = choose_task(question, shape(DOCUMENTS[document]))
    assert chosen == task, note


def test_the_table_is_large_and_covers_every_kind_of_document() -> None:
    assert len(CASES) >= 60
    assert {d for _, d, _ in CASES} == set(DOCUMENTS)
    counted = [(d, t) for q, d, t in CASES if "how many" in q.lower()]
    assert {t for d, t in counted if KINDS.get(d) == "prose"} == {"search"}
    assert {t for d, t in counted if d not in KINDS} == {"aggregate", "pairwise"}
    assert sum(1 for q, _, _ in CASES if not q.rstrip().endswith("?")) >= 8  # requests without a question


def test_a_count_over_prose_is_confident_and_says_why() -> None:
    task, confident, note = choose_task("How many patients were enrolled?", shape(TRIAL))
    assert (task, confident) == ("search", True) and "prose" in note and "looked up" in note
    task, confident, note = choose_task("number of records", shape(OOLONG))  # a weak cue, made sure by the shape
    assert (task, confident) == ("aggregate", True) and "records" in note


def test_without_a_document_the_rules_alone_decide() -> None:
    assert choose_task("How many patients were enrolled?") == ("aggregate", True, "rules, confident")


def test_short_or_empty_texts_are_prose() -> None:
    assert shape("") == Shape("prose") and shape("a: 1, b: 2\nc: 3, d: 4") == Shape("prose")
