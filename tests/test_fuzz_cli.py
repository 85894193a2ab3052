"""A fuzz test of the command line: 10,000 generated cases in four families, each an in-process call of
`lambda_rlm.cli.app.main` that must end with a documented exit code (0 success, 1 invalid program, 2 usage,
3 run failed, 4 budget, 5 configuration), no "Traceback" on stderr, no escaping exception and no case over
30 s. `numeric` gives odd numbers (inf, nan, -0, 1e400, hex, unicode digits, "8k", …) to the numeric options
of check, run, ask, bench and calibrate; `nesting` writes programs of nested brackets, lets, lambdas,
ifs, interpolations and chains of definitions up to thousands deep, for `check` and some for `run`;
`trace` mutates real traces (wrong field types, missing keys, rich markup, deep JSON, huge numbers and
strings, NUL and invalid UTF-8 bytes) for `trace`; `cache` damages the leaf cache (random bytes, truncated
or garbled database, wrong schema, garbage rows) under a `run`. Runs use the in-process model
reference/32k. Every case is built from `random.Random(f"{family}:{seed}")` alone, so a failure, reported
as `family seed N`, replays with `python -c "import sys; sys.path[:0] = ['tests']; import test_fuzz_cli as f;
f.replay('trace', 1234)"`, which prints the arguments, the exit code and stderr and keeps the case's files.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(str(p) for p in (ROOT / "examples").glob("*.lam"))
SEARCH = str(ROOT / "examples" / "search.lam")
QUESTION = "question=what is the code"
MODEL = ("--model", "reference/32k")
CODES = {0, 1, 2, 3, 4, 5}
CASE_LIMIT_S = 30
CHUNK = 500
CASES = {"numeric": 4500, "nesting": 1000, "trace": 4000, "cache": 500}  # 10,000 in all, most of them cheap
# Outcomes each chunk must reach, so the fuzz is not stuck at one early refusal.
REACHED = {"numeric": {0, 2, 5}, "nesting": {0, 1}, "trace": {0, 5}, "cache": {0, 5}}


# ------------------------------------------------------------------------------------------ harness


class Hang(BaseException):
    """Raised in the case that runs past CASE_LIMIT_S (a BaseException, so no `except Exception` eats it)."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang("no result in time")


def call(argv: list[str], limit: float = CASE_LIMIT_S) -> tuple[Any, str, str, float]:
    """`lambda-rlm ARGV` in this process: exit code, stdout, stderr (with the traceback of an escaping
    exception, as the interpreter would print it) and seconds taken."""
    from lambda_rlm.cli import app

    # Byte streams behind strict UTF-8 text, as a pipe would be: an unprintable character fails here too.
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    saved, previous = sys.stdin, signal.signal(signal.SIGALRM, _alarm)
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""))
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code: Any = app.main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code
            except KeyboardInterrupt:
                raise
            except BaseException:  # Hang included: recorded, never swallowed
                err.write(traceback.format_exc())
                code = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.stdin = saved
    seconds = time.monotonic() - start
    try:
        out.flush()  # what is still buffered is written as the interpreter would at exit
    except UnicodeEncodeError:
        err.write(traceback.format_exc())
    err.flush()
    return code, _text(out), _text(err), seconds


def _text(stream: io.TextIOWrapper) -> str:
    return stream.buffer.getvalue().decode("utf-8", "replace")  # type: ignore[attr-defined]


def problem(code: Any, err: str, seconds: float) -> str | None:
    if "Traceback" in err:
        return "traceback"
    if seconds > CASE_LIMIT_S:
        return f"took {seconds:.0f} s"
    if code not in CODES:
        return f"exit code {code!r}"
    return None


@dataclass(frozen=True)
class Base:
    """What the cases start from: a tiny document, real traces and a real leaf cache."""

    doc: str
    traces: list[list[dict[str, Any]]]
    cache_db: bytes
    keys: list[str]


def make_base(folder: Path) -> Base:
    doc = folder / "doc.txt"
    doc.write_text("The code is 42. " * 20, encoding="utf-8")
    runs = [["run", SEARCH, "--arg", QUESTION, "--input", str(doc)],
            ["run", str(ROOT / "examples" / "holes.lam"), "--arg", QUESTION, "--input", str(doc)],
            ["run", str(ROOT / "examples" / "graph.lam"), "--arg", QUESTION, "--input", str(doc)],
            ["run", str(ROOT / "examples" / "summarise.lam"), "--input", str(doc)],
            ["ask", "what is the code", str(doc), "--search", "3"]]
    traces = []
    for i, argv in enumerate(runs):
        path = folder / f"trace{i}.jsonl"
        code, _, err, _ = call([*argv, *MODEL, "--no-cache", "--quiet", "--trace", str(path)])
        assert code in (0, 3) and "Traceback" not in err, err  # holes and graph fail on this model: fine
        traces.append([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()])
    traces.append(TEMPLATES)
    cache = folder / "cache"
    code, _, err, _ = call(["run", SEARCH, "--arg", QUESTION, "--input", str(doc), *MODEL, "--quiet",
                            "--cache-dir", str(cache)])
    assert code == 0, err
    with contextlib.closing(sqlite3.connect(cache / "leaves.sqlite3")) as db:
        keys = [k for (k,) in db.execute("SELECT key FROM leaves")]
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Base(str(doc), traces, (cache / "leaves.sqlite3").read_bytes(), keys)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    return make_base(tmp_path_factory.mktemp("base"))


def case(family: str, seed: int, work: Path, base: Base) -> list[str]:
    """The argv of one case (its files written under `work`)."""
    return GENERATORS[family](random.Random(f"{family}:{seed}"), work, base)


def replay(family: str, seed: int) -> None:
    """Run one case and print what it did; its files are kept."""
    folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{family}-{seed}-"))
    (folder / "case").mkdir()
    argv = case(family, seed, folder / "case", make_base(folder))
    code, out, err, seconds = call(argv)
    print(f"argv: {argv!r}\nexit {code!r} in {seconds:.2f} s ({problem(code, err, seconds) or 'passes'})")
    print(f"files: {folder}\n--- stdout\n{out[-2000:]}\n--- stderr\n{err[-6000:]}")


CHUNKS = [(family, i) for family, n in CASES.items() for i in range(n // CHUNK)]


@pytest.mark.parametrize(("family", "chunk"), CHUNKS, ids=[f"{f}-{i}" for f, i in CHUNKS])
def test_fuzz_the_command_line(family: str, chunk: int, base: Base, tmp_path: Path) -> None:
    failures, codes = [], set()
    for seed in range(chunk * CHUNK, (chunk + 1) * CHUNK):
        work = tmp_path / str(seed)
        work.mkdir()
        argv = case(family, seed, work, base)
        code, _, err, seconds = call(argv)
        codes.add(code)
        found = problem(code, err, seconds)
        if found:
            failures.append(f"{family} seed {seed}: {found}\n  argv: {_short(argv)}\n{err[-1500:]}")
        shutil.rmtree(work, ignore_errors=True)
    assert not failures, f"{len(failures)} of {CHUNK} cases failed; the first:\n\n" + "\n\n".join(failures[:3])
    assert REACHED[family] <= codes, f"exit codes reached: {codes}"


def test_a_doubling_chain_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    # Each definition calls the one before twice: following every call would take 2^24 applications.
    program = tmp_path / "chain.lam"
    chain = "".join(f"def f{i} (x : Text) : Text = f{i - 1} (f{i - 1} x)\n" for i in range(1, 25))
    program.write_text(f"{LEAF}def f0 (x : Text) : Text = leaf x\n{chain}def main (doc : Text) : Text = f24 doc\n")
    code, _, err, seconds = call(["check", str(program)])
    assert problem(code, err, seconds) is None, err[-500:]
    assert code == 1 and "the bound's analysis gave up after 50,000 applications" in err


# Inputs of tracebacks the fuzz found, kept as plain cases: (argv or trace text, the exit code it now gets).
TRACES_FOUND = {
    "deep JSON": ("[" * 5000 + "]" * 5000, 0),  # json.loads: RecursionError
    "long number": ('{"event": "run_end", "calls": ' + "9" * 5000 + "}", 0),  # json.loads: ValueError, 4300 digits
    "markup in a bound": ('{"event": "run_start", "bound": {"calls": "[/]"}}', 0),
    "markup in a graph node": ('{"event": "graph_start", "graph": 1}\n{"event": "graph_node_start", "graph": 1, '
                               '"node": 2, "index": "/", "parents": ["[/]"]}', 0),
    "number too large for a float": ('{"event": "run_start"}\n{"event": "leaf_end", "key": "k", "latency_s": 1'
                                     + "0" * 400 + "}", 5),
}


@pytest.mark.parametrize("name", TRACES_FOUND)
def test_a_trace_the_fuzz_found(name: str, tmp_path: Path) -> None:
    text, expected = TRACES_FOUND[name]
    (tmp_path / "t.jsonl").write_text(text, encoding="utf-8")
    code, _, err, seconds = call(["trace", str(tmp_path / "t.jsonl")])
    assert (code, problem(code, err, seconds)) == (expected, None), err


def test_a_cache_the_fuzz_found(base: Base, tmp_path: Path) -> None:
    """Another table named `leaves`, a trigger refusing writes, a row whose value is NULL: exits 5, 5 and 0."""
    found = [("CREATE TABLE leaves (key TEXT)", 5), (f"{SCHEMAS[1]}; {TRIGGER}", 5),
             (f"{SCHEMAS[1]}; INSERT INTO leaves (key) VALUES ('{base.keys[0]}')", 0)]
    for i, (script, expected) in enumerate(found):
        (tmp_path / str(i)).mkdir()
        with contextlib.closing(sqlite3.connect(tmp_path / str(i) / "leaves.sqlite3")) as db:
            db.executescript(script)
        code, _, err, seconds = call(["run", SEARCH, "--arg", QUESTION, "--input", base.doc, *MODEL, "--quiet",
                                      "--cache-dir", str(tmp_path / str(i))])
        assert (code, problem(code, err, seconds)) == (expected, None), err


def test_calibrate_refuses_a_bad_batch_size_as_a_usage_error() -> None:
    code, _, err, seconds = call(["calibrate", "reference/32k", "--sizes", "5,x"])
    assert (code, problem(code, err, seconds)) == (2, None), err
    assert "not a whole number: 'x'" in err


def _short(argv: list[str]) -> str:
    return repr([a if len(a) < 80 else a[:60] + f"…({len(a)} chars)" for a in argv])


# ------------------------------------------------------------------------------------------ numeric

ODD = ["", " ", "inf", "-inf", "+inf", "Infinity", "nan", "NaN", "-nan", "-0", "+0", "-0.0", "0", "0.0", "00",
       "007", "1e400", "-1e400", "1e-400", "1e308", "1.7976931348623157e308", "5e-324", "0x10", "0o17", "0b101",
       "1_000", "_1", "1_", "1__0", "1,000", ",", "1 000", " 8 ", "\t8\n", "8\x00", "\x00", "١٢٣", "３２", "𝟑𝟐",
       "٣k", "½", "٫5", "8k", "8K", "1.5m", "1.5M", "32k", "1m", "0.5k", "k", "m", "kk", "8kk", "1e3k", "infk",
       "nank", "-5", "-1", "+5", "5.", ".5", "1e", "e5", "--5", "1..5", "0e0", "1E3", "1e+3", "True", "None",
       "2**10", "1/2", "\udcff", "8\udcff", "—5", "1t", "1b", "255", "256", "257", "4096", "8192", "32768",
       "100000", "1000000000000", "1000000000001", "1e12", "1e12k", "9" * 30, "9" * 400, "9" * 4300, "9" * 5000,
       "-" + "9" * 30, "0.0001", "1e-9", "1,k", "1_000k", "0x1p3"]


def number(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.45:
        return rng.choice(ODD)
    if r < 0.8:  # a plausible number, often valid
        value: float = rng.choice([rng.randint(0, 12), rng.randint(0, 10 ** rng.randint(1, 14)),
                                   rng.uniform(0, 10 ** rng.randint(-3, 13))])
        text = rng.choice([str(value), f"{value:g}", f"{value:_}" if isinstance(value, int) else f"{value:e}"])
        return rng.choice(["", "", "-", "+", " "]) + text + rng.choice(["", "", "", "k", "m", "K", " ", "x"])
    return "".join(rng.choice("0123456789.-+_eEkKmMxXabn ,٣\x00") for _ in range(rng.randint(0, 8)))


def tame(value: str, parse: Callable[[str], Any], fits: Callable[[Any], bool], instead: str) -> str:
    """`value` if it is refused at parse time or cheap to run with, else `instead` (no real long bench)."""
    try:
        parsed = parse(value)
    except Exception:  # refused (or a bug: the command line call meets the same value and reports it)
        return value
    return value if fits(parsed) else instead


def numeric_case(rng: random.Random, work: Path, base: Base) -> list[str]:
    from lambda_rlm.cli.bench import _lengths
    from lambda_rlm.cli.options import positive, positive_seconds

    quick = ("--no-cache", "--quiet")
    run = ("--window", "--output-tokens", "--concurrency", "--max-calls", "--max-tokens", "--max-usd", "--deadline",
           "--timeout", "--max-attempts", "--reasks")
    pick = rng.random()
    if pick < 0.94:
        argv = ["check", rng.choice(EXAMPLES), *(MODEL if rng.random() < 0.2 else ()),
                *(["--json"] if rng.random() < 0.3 else [])]
        options: tuple[str, ...] = ("--input-tokens", "--window", "--output-tokens")
    elif pick < 0.96:
        argv = ["run", SEARCH, "--arg", QUESTION, "--input", base.doc, *MODEL, *quick]
        options = run
    elif pick < 0.975:
        argv = ["ask", "what is the code", base.doc, *MODEL, *quick, *(["--dry-run"] if rng.random() < 0.5 else [])]
        options = (*run, "--search")
    elif pick < 0.99:
        argv = ["bench", "--task", "sniah", "--baseline", "direct", *MODEL, *quick, "--out", str(work / "bench")]
        options = ("--lengths", "--n", "--seed", "--window", "--output-tokens", "--concurrency", "--timeout",
                   "--deadline")
    else:
        argv = ["calibrate", "reference/32k", "--no-cache", "--write", str(work / "profiles.json")]
        options = ("--records", "--sizes", "--seed", "--timeout")
    for option in rng.sample(options, rng.randint(1, min(3, len(options)))):
        value = ",".join(number(rng) for _ in range(rng.randint(1, 3))) if option in ("--lengths", "--sizes") \
            else number(rng)
        if option == "--lengths":
            value = tame(value, _lengths, lambda v: max(v) <= 2000, "1k")
        elif option in ("--n", "--records"):
            value = tame(value, positive, lambda v: v <= 3, "2")
        elif option == "--timeout" and argv[0] in ("bench", "calibrate"):  # no --max-attempts: retries back off
            value = tame(value, positive_seconds, lambda v: v >= 30, "120")
        elif option == "--timeout":
            argv += ["--max-attempts", "1"]  # a timeout too short fails at once instead of backing off
        argv += [f"{option}={value}"] if rng.random() < 0.7 else [option, value]
    return argv


# ------------------------------------------------------------------------------------------ nesting

# Wrappers of an expression E that keep it Text; N is the level (fresh names), D the document.
TEXT_WRAPS = ["(E)", "(E : Text)", "let vN = E in vN", 'let vN = "x" in E', "(\\vN -> vN) (E)", "(\\vN -> E) D",
              'if true then E else ""', 'if D == "" then "" else E', 'E ++ "-"', '"-" ++ (E)', "E |> (\\vN -> vN)",
              "{f = E}.f", "fst (E, 1)", 'default "" (first [E])', 'join "" [E]', "leaf (E)"]
# Wrappers that change the type or break the syntax: the program is then refused, which is fine.
ODD_WRAPS = ["[E]", "- E", "not E", "E + 1", "(E, 1)", "{a = E}", "E.f", "\\vN -> E", "E E", "((E)", "[E", "E)",
             "let vN = E", "if E then", '"{E}"', '"""<{E}>"""', "?hN : Text", "llm E", "(E : List (List Text))"]
LEAF = 'def leaf (chunk : Text) : Text =\n  llm """\n    Repeat: {chunk}\n    """\n'
DEPTHS = [(0, 5), (5, 60), (60, 600), (600, 3000)]
# The bound's analysis unfolds every call, so a chain whose definitions call the one before twice doubles
# its work with each level until it gives up (test_a_doubling_chain_is_refused_with_a_clear_error, about
# 2 s): the fuzz keeps such chains short, so that its cases stay quick.
DOUBLINGS = 12


def nesting_case(rng: random.Random, work: Path, base: Base) -> list[str]:
    depth = rng.randint(*rng.choices(DEPTHS, weights=(50, 35, 12, 3))[0])  # the deepest are the slowest
    odd = rng.random() < 0.3
    defs, body, twice = [LEAF], rng.choice(["doc", "leaf doc", '"x"']), False
    if rng.random() < 0.3:  # a chain of definitions, each calling the one before (twice: a doubling bound)
        twice = rng.random() < 0.3
        depth = min(depth, DOUBLINGS if twice else 1000)  # a longer chain is refused the same way, only slower
        defs.append("def f0 (x : Text) : Text = leaf x\n")
        defs += [f"def f{i} (x : Text) : Text = " + (f"f{i - 1} (f{i - 1} x)\n" if twice else f"f{i - 1} x\n")
                 for i in range(1, depth + 1)]
        body, depth = f"f{depth} ({body})", rng.randint(0, 20)
    for level in range(depth):
        wrap = rng.choice(ODD_WRAPS if odd and rng.random() < 0.3 else TEXT_WRAPS)
        if wrap == '"{E}"' and '"' in body:  # an interpolation holds no plain string
            continue
        body = wrap.replace("N", str(level)).replace("D", "doc").replace("E", body, 1)
    source = "".join(defs) + f"def main (doc : Text) : Text =\n  {body}\n"
    if rng.random() < 0.2:
        source = mutate(rng, source)
    program = work / "p.lam"
    program.write_text(source, encoding="utf-8", errors="surrogatepass")
    if rng.random() < 0.1 and not twice:  # run it, unless it is a doubling chain
        return ["run", str(program), "--input", base.doc, *MODEL, "--no-cache", "--quiet"]
    small = ["--input-tokens", "1k"] if rng.random() < 0.5 else []  # so a leaf fits and the whole bound is worked out
    return ["check", str(program), *small, *(["--json"] if rng.random() < 0.2 else [])]


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(text) + 1)
        match rng.randrange(4):
            case 0:
                text = text[:i] + text[i + 1:]
            case 1:
                text = text[:i] + rng.choice("()[]{}\"\\->|+:?\n\t\x00λ") + text[i:]
            case 2:
                text = text[:i]
            case _:
                text = text[:i] + text[i: i + rng.randint(1, 40)] * rng.randint(2, 50) + text[i:]
    return text


# ------------------------------------------------------------------------------------------ trace

# Events the real runs of make_base do not write, in the shapes lambda_rlm/cli/progress.py reads.
TEMPLATES: list[dict[str, Any]] = [
    {"t": 0.1, "event": "run_start", "program": "p.lam", "model": "m", "bound": {"calls": 3, "max_prompt_tokens": 9}},
    {"t": 0.2, "event": "leaf_start", "key": "abc", "prompt_chars": 10, "hole": 1},
    {"t": 0.3, "event": "retry", "key": "abc", "error": "rate limit", "attempt": 1, "wait_s": 0.5},
    {"t": 0.3, "event": "budget", "key": "abc", "what": "calls", "limit": 2},
    {"t": 0.4, "event": "hole_start", "hole": 1, "name": "h", "type": "Text", "depth": 1, "parent": None},
    {"t": 0.5, "event": "hole_body", "hole": 1, "source": "doc", "bound_calls": 1, "reused": False},
    {"t": 0.6, "event": "hole_end", "hole": 1, "ok": True, "calls": 1, "prompt_tokens": 5, "completion_tokens": 1,
     "cost_usd": 0.0},
    {"t": 0.7, "event": "graph_start", "graph": 2, "parent": 1, "depth": 1, "question": "q", "bound_calls": 4},
    {"t": 0.8, "event": "graph_node_start", "graph": 2, "node": 3, "index": 1, "layer": 1, "parents": [1],
     "task": "t"},
    {"t": 0.9, "event": "graph_note", "graph": 2, "layer": 1, "note": "n"},
    {"t": 1.0, "event": "graph_node", "node": 3, "kind": "leaf", "ok": True, "calls": 1, "cost_usd": 0.0},
    {"t": 1.1, "event": "graph_end", "graph": 2, "ok": False, "error": "e", "calls": 2},
    {"t": 1.2, "event": "search_error", "message": "m"},
    {"t": 1.3, "event": "run_end", "calls": 1, "wall_s": 0.1},
]
KEYS = ["t", "event", "key", "bound", "program", "model", "prompt_chars", "hole", "parent", "graph", "node", "parents",
        "calls", "cost_usd", "latency_s", "prompt_tokens", "completion_tokens", "cached", "ok", "error", "kind",
        "candidates", "candidate", "description", "answer", "diagnostic", "source", "type", "name", "winner", "why",
        "index", "layer", "task", "note", "question", "message", "confidence", "reasoning_tokens", "wall_s", "leaves",
        "bound_calls", "depth", "attempt", "reused", "max_prompt_tokens"]
MARKUP = ["[/]", "[bold]", "[/bold]", "[red]x[/]", "[link=file:///etc]x", "[", "]", "\\[/]", "[[/]]", "[/red]",
          "/", "bold", "red on", "@click", "#fff", "\x00", "\x1b[2J", "\r", "\u202e", "\ud800", "{", "}", "%s", "{0}"]


def junk(rng: random.Random, depth: int = 0) -> Any:
    match rng.randrange(9 if depth < 3 else 6):
        case 0 | 1:  # a number a format may not take
            return rng.choice([-1, 2**63, 10 ** rng.randint(309, 4200), -(10 ** 400), float("nan"), float("inf"),
                               -0.0, True, None, rng.uniform(-1e9, 1e9)])
        case 2 | 3:
            return rng.choice(MARKUP)
        case 4:
            return "".join(rng.choice(MARKUP + ["a", " ", "é"]) for _ in range(rng.randint(0, 12)))
        case 5:
            return rng.choice([rng.choice(MARKUP) * rng.choice([1000, 20_000]), "x" * rng.choice([10_000, 100_000])])
        case 6 | 7:
            return [junk(rng, depth + 1) for _ in range(rng.randint(0, 4))]
        case _:
            return {rng.choice(KEYS): junk(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def trace_case(rng: random.Random, work: Path, base: Base) -> list[str]:
    path = work / "trace.jsonl"
    pick = rng.random()
    if pick < 0.03:
        path.write_bytes(b"")
    elif pick < 0.06:
        path.write_bytes(rng.randbytes(rng.randint(1, 5000)))
    elif pick < 0.08:
        path = work  # a folder
    else:
        events = json.loads(json.dumps(rng.choice(base.traces)))  # a deep copy
        for _ in range(rng.choice([0, 1, 1, 1, 2, 4])):
            _mutate_events(rng, events)
        lines = [json.dumps(e, ensure_ascii=rng.random() < 0.5) for e in events]
        for _ in range(rng.choice([0, 0, 1, 2])):
            lines.insert(rng.randint(0, len(lines)), _odd_line(rng))
        data = rng.choice(["\n", "\r\n", "\n\n"]).join(lines).encode("utf-8", "surrogatepass")
        if rng.random() < 0.1:
            data = data[: rng.randint(0, len(data))]
        if rng.random() < 0.05:
            i = rng.randint(0, len(data))
            data = data[:i] + rng.choice([b"\xff", b"\x00", b"\xc3", b"\xed\xa0\x80"]) + data[i:]
        path.write_bytes(data)
    return ["trace", str(path)]


def _mutate_events(rng: random.Random, events: list[Any]) -> None:
    i = rng.randrange(len(events) + 1)
    event = events[min(i, len(events) - 1)] if events else None
    match rng.randrange(7):
        case 0 | 1 if isinstance(event, dict):  # a field, often one the renderer reads, of another kind
            target = event.get("bound") if isinstance(event.get("bound"), dict) and rng.random() < 0.2 else event
            target[rng.choice(list(target) if target and rng.random() < 0.6 else KEYS)] = junk(rng)
        case 2 if isinstance(event, dict):  # every field but the kind (and the bound's) of another kind
            for target in (event, event.get("bound")):
                if isinstance(target, dict):
                    target.update({k: junk(rng) for k in target if k != "event"})
        case 3 if isinstance(event, dict) and event:
            del event[rng.choice(list(event))]
        case 4:  # an event of a known kind with junk fields, or junk
            kind = rng.choice(TEMPLATES + [e for e in events if isinstance(e, dict)]).get("event")
            fields = {rng.choice(KEYS): junk(rng, 1) for _ in range(rng.randint(0, 4))}
            events.insert(i, {"event": kind, **fields} if rng.random() < 0.8 else junk(rng))
        case 5 if events:
            events[i:i] = rng.sample(events, min(len(events), rng.randint(1, 5)))
        case _ if events:
            del events[rng.randrange(len(events))]


def _odd_line(rng: random.Random) -> str:
    depth = rng.choice([10, 900, 1100, 5000, 100_000])
    event = json.dumps(rng.choice(TEMPLATES))[:-1]
    return rng.choice([
        "[" * depth + "]" * depth,
        event + ', "bound": ' + '{"a": ' * depth + "1" + "}" * depth + "}",
        event + ', "key": ' + "[" * depth + "]" * depth + "}",
        event + ', "calls": ' + "9" * rng.choice([100, 4300, 4301, 20_000]) + "}",
        event + ', "latency_s": ' + "9" * rng.choice([309, 400, 4000]) + "}",
        event + ', "cost_usd": 1e999, "latency_s": NaN, "calls": -Infinity}',
        '{"event": "leaf_end", "key": "k", "key": 1}',
        "\x00" * rng.randint(1, 10), "null", "1", '"run_start"', "{", event, "",
    ])


# ------------------------------------------------------------------------------------------ cache

SCHEMAS = [
    "CREATE TABLE leaves (key TEXT)",
    "CREATE TABLE leaves (key TEXT PRIMARY KEY, type, value, text, prompt_tokens, completion_tokens, cost_usd,"
    " created)",
    "CREATE TABLE leaves (key TEXT PRIMARY KEY, value TEXT, type TEXT)",
    "CREATE TABLE leaves (a, b, c, d, e, f, g, h)",
    "CREATE TABLE leaves (key INT PRIMARY KEY, type INT, value INT, text INT, prompt_tokens TEXT,"
    " completion_tokens TEXT, cost_usd TEXT, created TEXT, extra TEXT NOT NULL)",
    "CREATE VIEW leaves AS SELECT 1 AS key",
    "CREATE TABLE other (x); CREATE INDEX leaves ON other (x)",
    "CREATE TABLE leaves (key TEXT PRIMARY KEY, type TEXT, value TEXT, text TEXT, prompt_tokens INT,"
    " completion_tokens INT, cost_usd REAL, created REAL) WITHOUT ROWID",
]
TRIGGER = "CREATE TRIGGER refuse BEFORE INSERT ON leaves BEGIN SELECT RAISE(ABORT, 'refused'); END"
COLUMNS = ("key", "type", "value", "text", "prompt_tokens", "completion_tokens", "cost_usd", "created")


def cell(rng: random.Random, key: str) -> Any:
    depth = rng.choice([5, 2000, 200_000])
    return rng.choice([None, 0, -1, 2**63 - 1, 1.5, float("inf"), "", "x", "[/]", "null", "[]", "{}", '{"a": 1}',
                       "[1, 2]", '"text"', "1e999", "NaN", "9" * 5000, "[" * depth + "]" * depth, '{"',
                       rng.randbytes(rng.randint(0, 64)), b"\xff\xfe", key, "Text", "Option Text"])


def cache_case(rng: random.Random, work: Path, base: Base) -> list[str]:
    folder = work / "cache"
    folder.mkdir()
    db = folder / "leaves.sqlite3"
    data, pick = base.cache_db, rng.randrange(8)
    if pick == 0:  # random bytes, maybe behind SQLite's header
        db.write_bytes(rng.choice([b"", b"SQLite format 3\x00"]) + rng.randbytes(rng.choice([0, 1, 100, 4096,
                                                                                            40_000])))
    elif pick == 1:  # a torn copy
        cut = rng.choice([rng.randrange(len(data)), rng.randrange(1, len(data) // 4096 + 1) * 4096])
        db.write_bytes(data[:cut])
    elif pick == 2:  # garbage written over parts of pages
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(rng.choice([100, len(data)]))
            damaged[at: at + rng.randint(1, 300)] = rng.randbytes(rng.randint(1, 300))
        db.write_bytes(bytes(damaged[: len(data)]))
    elif pick == 3:  # a database of another schema
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.executescript(rng.choice(SCHEMAS))
    elif pick in (4, 5):  # the real table with garbage in the row the run looks up, maybe without constraints
        loose = pick == 5
        db.write_bytes(data)
        with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
            if loose:
                conn.executescript("ALTER TABLE leaves RENAME TO old; " + SCHEMAS[1] +
                                   "; INSERT INTO leaves SELECT * FROM old; DROP TABLE old")
            for key in base.keys + ["other"] * rng.randint(0, 2):
                row = [key] + [cell(rng, key) if rng.random() < 0.5 else None for _ in COLUMNS[1:]]
                if not loose:
                    row = [v if v is not None else rng.choice(["", 0]) for v in row]
                conn.execute("INSERT OR REPLACE INTO leaves VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            if rng.random() < 0.2:
                conn.execute(TRIGGER)
    elif pick == 6:  # a real database with a garbage write-ahead log or shared memory file
        db.write_bytes(data)
        for suffix in rng.sample(["-wal", "-shm", "-journal"], rng.randint(1, 2)):
            Path(f"{db}{suffix}").write_bytes(rng.randbytes(rng.choice([8, 32, 4096, 40_000])))
    else:  # not a file, or no folder
        if rng.random() < 0.5:
            db.mkdir()
        else:
            folder.rmdir()
            folder.write_bytes(b"")
    return ["run", SEARCH, "--arg", QUESTION, "--input", base.doc, *MODEL, "--quiet", "--cache-dir", str(folder),
            *(["--json"] if rng.random() < 0.2 else [])]


GENERATORS: dict[str, Callable[[random.Random, Path, Base], list[str]]] = {
    "numeric": numeric_case, "nesting": nesting_case, "trace": trace_case, "cache": cache_case}
