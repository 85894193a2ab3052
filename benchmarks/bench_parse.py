"""Parse speed: takes nothing, gives the time to parse a realistic 200-line program, in ms.

Run `python benchmarks/bench_parse.py [--runs N]`. Each stage of the front end is timed
on its own: the first run separately (it pays for building the LALR tables and any other
caches) and then the median, minimum and maximum of N warm runs. A stage takes the previous
stage's output, so a new stage (the type checker) is one more line in `stages()`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

# One section of a report-writing program; `@` is replaced by the section number.
SECTION = '''\
-- ----------------------------------------------------------------- section @
-- Facts about one aspect of the document, found chunk by chunk and then merged.

def aspect_@ : Text = "aspect number @ of the brief"

def ask_@ (chunk : Text) : Option Text =
  let prompt = """
    <passage>
    {chunk}
    </passage>
    List every fact about {aspect_@} that the passage above states.
    Reply with "none" if there is none.
    """ in
  let answer : Text = llm prompt in
  if contains (lower answer) "none" then none else some (trim answer)

def score_@ (fact : Text) : Int =
  let words = split fact 8 in
  len words * 2 + tokens fact % 7 - 1

def record_@ (fact : Text) =
  { text = fact
  , score = score_@ fact
  , label = "aspect-@"
  , keep = score_@ fact > 3 && not (contains fact "rumour")
  }

def facts_@ (doc : Text) : List Text =
  let found = extract_all tau ask_@ doc in
  let records = map record_@ found in
  let kept = filter (\\r -> r.keep) records in
  map (\\r -> r.text) kept

def summary_@ (doc : Text) : Text =
  let facts = facts_@ doc in
  let n = len facts in
  let listed = join "\\n- " facts in
  llm """
    Here are {show n} facts about {aspect_@}:
    - {listed}
    Write one paragraph that states them plainly, most important first.
    The paragraph is section @ of a report; begin it with "{aspect_@}: ".
    """

def ranked_@ (doc : Text) : List (Text, Int) =
  let facts = facts_@ doc in
  let scored = map (\\f -> (f, score_@ f)) facts in
  take 5 (sort scored)

'''

HEADER = """\
-- A report on a long document: four sections, each extracted and summarised
-- chunk by chunk, then a title and an index over all of them.
import prelude

"""

FOOTER = '''\
def main (doc : Text) : Text =
  let sections = [summary_1 doc, summary_2 doc, summary_3 doc, summary_4 doc] in
  let title : Text = llm """A title for a report made of: {join ", " sections}""" in
  let index = flatten [ranked_1 doc, ranked_2 doc, ranked_3 doc, ranked_4 doc] in
  let lines = map (\\p -> "{fst p} ({show (snd p)})") index in
  """# {title}\\n\\n{join "\\n\\n" sections}\\n\\n## Index\\n{join "\\n" lines}\\n"""
'''


SOURCE: list[str] = []  # the program text, for stages that start from text


def program(sections: int = 4) -> str:
    """The benchmark program: a header, `sections` sections and a main definition."""
    body = "".join(SECTION.replace("@", str(i)) for i in range(1, sections + 1))
    return HEADER + body + FOOTER


def stages() -> list[tuple[str, Callable[[Any], Any]]]:
    """The front end as a pipeline; each stage takes what the stage before it gave."""
    from lambda_rlm.analysis.program import compile
    from lambda_rlm.core.registry import standard_library
    from lambda_rlm.lang.parser import parse_module

    library = standard_library()
    return [
        ("parse", parse_module),
        # parse + imports + prelude + type inference + termination, from the text again
        ("check", lambda _module: compile(SOURCE[0], library)),
    ]


def _ms(fn: Callable[[Any], Any], arg: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(arg)
    return (time.perf_counter() - start) * 1000, out


def measure(source: str, runs: int) -> list[tuple[str, float, list[float]]]:
    """(stage, first-run ms, warm-run ms) for every stage, in pipeline order."""
    results = []
    value: Any = source
    for name, fn in stages():
        first, out = _ms(fn, value)
        warm = [_ms(fn, value)[0] for _ in range(runs)]
        results.append((name, first, warm))
        value = out
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="warm runs per stage (default 50)")
    parser.add_argument("--sections", type=int, default=4, help="program size (4 is ~200 lines)")
    args = parser.parse_args()
    source = program(args.sections)
    SOURCE.append(source)
    lines = source.count("\n")
    print(f"program: {lines} lines, {len(source)} characters; {args.runs} warm runs per stage")
    print("(a stage's first run includes its one-off set-up, e.g. building the LALR tables)")
    print(f"{'stage':<8}{'first':>10}{'median':>10}{'min':>10}{'max':>10}{'µs/line':>10}")
    for name, first, warm in measure(source, args.runs):
        median = statistics.median(warm)
        print(
            f"{name:<8}{first:>8.2f}ms{median:>8.2f}ms{min(warm):>8.2f}ms"
            f"{max(warm):>8.2f}ms{median * 1000 / lines:>10.1f}"
        )


if __name__ == "__main__":
    main()
