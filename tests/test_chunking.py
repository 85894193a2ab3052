"""Tokenizers and token-exact chunking: boundary tables, Unicode edge cases and property tests."""

from __future__ import annotations

import subprocess
import sys
from bisect import bisect_left, bisect_right
from itertools import accumulate

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_rlm.core.errors import ConfigError
from lambda_rlm.text import tokens
from lambda_rlm.text.chunking import max_chunks, max_piece, partition, peek, slack, split
from lambda_rlm.text.tokens import TiktokenTokenizer, Tokenizer, WhitespaceTokenizer, cl100k

WS = WhitespaceTokenizer()
CHARS = WhitespaceTokenizer(max_word=1)  # every non-space character is a token
TOKENIZERS = {"whitespace": WS, "cl100k": cl100k()}
PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def words(seps: dict[int, str], count: int = 60) -> str:
    """Words w0 w1 ... w{count-1}, word j followed by seps.get(j, " ")."""
    return "".join(f"w{j}" + seps.get(j, " ") for j in range(count))


def after_word(text: str, j: int) -> int:
    """Char offset just after word j's separator in a `words` text."""
    return text.index(f"w{j + 1}")


# ------------------------------------------------------------------ boundary preference

# With the whitespace tokenizer, word j is token 2j and its separator token 2j+1. limit=100
# gives a zone of the last 10 tokens, so a cut after the separator of words 44..49 is eligible.
BOUNDARY_CASES = [
    ("paragraph beats sentence and line", {45: "\n\n", 47: ". ", 48: "\n"}, 45),
    ("sentence beats line", {45: ". ", 47: "\n"}, 45),
    ("later sentence wins", {45: ". ", 48: "! "}, 48),
    ("line beats word", {46: "\n"}, 46),
    ("blank line with spaces is a paragraph", {44: "\n  \t\n", 47: ". "}, 44),
    ("question mark and closing quote end a sentence", {45: '?" ', 48: "\n"}, 45),
    ("paragraph before the zone is ignored", {40: "\n\n", 42: ". "}, 49),
    ("a dot inside a word is no sentence end", {45: ".x ", 46: "\t"}, 49),
]


@pytest.mark.parametrize(("name", "seps", "cut_after"), BOUNDARY_CASES, ids=[c[0] for c in BOUNDARY_CASES])
def test_boundary_preference(name: str, seps: dict[int, str], cut_after: int) -> None:
    text = words(seps)
    chunks = split(text, 100, WS)
    assert chunks[0] == text[: after_word(text, cut_after)]
    assert "".join(chunks) == text


def test_no_whitespace_in_zone_cuts_hard() -> None:
    text = "x" * 250
    assert split(text, 100, CHARS) == ["x" * 100, "x" * 100, "x" * 50]


def test_cl100k_cuts_after_paragraph_and_keeps_glued_space_with_next_word() -> None:
    tok = cl100k()
    head = "The cat sat on the mat. " * 7 + "End of part one.\n\n"
    assert tok.count(head) == 54  # inside the zone [54, 60] of a 60-token chunk
    chunks = split(head + "Part two starts here. " * 3, 60, tok)
    assert chunks[0] == head
    # cl100k glues a space to the word after it (" Then"): a cut at a sentence end before it
    # leaves the space with the next chunk rather than cutting inside a token.
    head = "The cat sat on the mat." + " The cat sat on the mat." * 4 + " It ended."
    assert tok.count(head) == 38  # inside the zone [36, 40] of a 40-token chunk
    chunks = split(head + " Then more words follow here and there" * 5, 40, tok)
    assert chunks[0] == head
    assert chunks[1].startswith(" Then")


@pytest.mark.parametrize("tok", TOKENIZERS.values(), ids=TOKENIZERS.keys())
def test_edge_inputs(tok: Tokenizer) -> None:
    assert split("", 5, tok) == []
    assert partition("", 3, tok) == []
    assert peek("", 0, 5, tok) == ""
    with pytest.raises(ValueError):
        split("abc", 0, tok)
    with pytest.raises(ValueError):
        partition("abc", 0, tok)
    text = "a b c"
    ends = [*tok.offsets(text)[1:], len(text)]
    assert split(text, 1, tok) == [text[a:b] for a, b in zip(tok.offsets(text), ends, strict=True)]
    assert split(text, 1000, tok) == [text]
    assert partition(text, 1, tok) == [text]


UNICODE_CASES = {
    "cjk": "这是一个测试。我们把长文档切成小块，然后分别处理。" * 20,
    "emoji": "🙂👍🏽👨‍👩‍👧‍👦 🇫🇷🇯🇵 ok 🦀🦀🦀" * 20,
    "combining": "e\u0301 a\u0308 n\u0303 \u0915\u094d\u0937 " * 40,
    "rare chars": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ᚠᛇᚻ ꙮ 𓀀𓀁 " * 20,
}


@pytest.mark.parametrize("text", UNICODE_CASES.values(), ids=UNICODE_CASES.keys())
@pytest.mark.parametrize("limit", [1, 3, 7, 50])
def test_unicode_split(text: str, limit: int) -> None:
    for tok in TOKENIZERS.values():
        check_split(text, limit, tok)
        check_partition(text, limit, tok)
        if limit >= 40:  # with a few tokens of slack even split characters always fit
            assert all(tok.count(c) <= limit for c in split(text, limit, tok))


def test_chunk_count_bound_wins_over_limit_for_characters_split_between_tokens() -> None:
    tok = cl100k()
    text = "档切" * 30  # each character is two cl100k tokens, so a 3-token chunk holds one
    assert tok.count("档") == 2
    chunks = split(text, 3, tok)
    assert len(chunks) <= max_chunks(tok.count(text), 3) < len(text)
    assert max(tok.count(c) for c in chunks) == 4


def test_partition_cannot_split_a_single_character() -> None:
    # A caller that recurses until pieces fit must stop when partition returns one piece.
    assert cl100k().count("\U0001fae8") == 3
    assert partition("\U0001fae8", 3, cl100k()) == ["\U0001fae8"]


@pytest.mark.parametrize(
    "tok",
    [WS, cl100k(), WhitespaceTokenizer(max_word=7)],
    ids=["whitespace", "cl100k", "whitespace-7"],
)
def test_fifty_thousand_char_word(tok: Tokenizer) -> None:
    word = "supercalifragilistic" * 2500
    for limit in (1, 97, 2000):
        if limit == 1 and tok.count(word) > 10_000:
            continue  # one count per chunk: fine, but slow for a unit test
        check_split(word, limit, tok)
    check_partition(word, 5, tok)


# ------------------------------------------------------------------ bounds


def test_max_chunks_and_max_piece_values() -> None:
    assert max_chunks(0, 10) == 0
    assert max_chunks(1, 1) == 1
    assert max_chunks(10, 10) == 2  # slack 1: a chunk is only sure to advance 9 tokens
    assert max_chunks(2000, 2000) == 2
    assert [slack(x) for x in (1, 9, 10, 2000)] == [0, 0, 1, 200]
    assert max_piece(0, 3) == 0
    assert max_piece(100, 4) == 27
    with pytest.raises(ValueError):
        max_chunks(5, 0)


def test_max_piece_is_smaller_than_the_text() -> None:
    # divide terminates because each piece is smaller than the text it came from.
    for n in range(2, 3000):
        for k in range(2, 12):
            assert max_piece(n, k) < n, (n, k)


@given(st.integers(2, 10**12), st.integers(2, 10**6))
def test_max_piece_is_smaller_for_large_sizes(n: int, k: int) -> None:
    assert max_piece(n, k) < n


@given(st.integers(0, 10**7), st.integers(1, 10**5))
def test_bounds_are_monotone(n: int, limit: int) -> None:
    # The static analysis feeds upper bounds on n and lower bounds on limit/k.
    assert max_chunks(n, limit) <= max_chunks(n + 1, limit)
    assert max_chunks(n, limit + 1) <= max_chunks(n, limit)
    assert max_piece(n, limit) <= max_piece(n + 1, limit)
    assert max_piece(n, limit + 1) <= max_piece(n, limit)


# ------------------------------------------------------------------ properties

_WORDLIKE = st.one_of(
    st.sampled_from(["the", "cat", "Hello", "don't", "x²", "1234567", "(hi)", "...", "--", "_"]),
    st.sampled_from(["😀", "👍🏽", "👨‍👩‍👧", "中文", "e\u0301", "ﬁ", "\u200d", "𓀀", "ǅ"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8),
    st.builds(lambda c, n: c * n, st.sampled_from("a!é😀1 "), st.integers(50, 3000)),
)
_SEPARATOR = st.sampled_from([" ", " ", " ", "\n", "\n\n", ". ", "! ", "?\n", "\t", "  ", "\r\n", ""])
TEXTS = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200),
    st.lists(st.tuples(_WORDLIKE, _SEPARATOR), max_size=60).map(lambda parts: "".join(w + s for w, s in parts)),
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc")),
        min_size=1,
        max_size=400,
    ),
)


def inner_cuts(text: str, start: int, end: int, tok: Tokenizer) -> list[int]:
    """Char offsets strictly inside text[start:end] where a token of `text` starts."""
    return sorted({o for o in tok.offsets(text) if start < o < end})


def splits_characters(text: str, tok: Tokenizer) -> bool:
    """Whether some token of `text` starts or ends inside a character (cl100k: rare characters)."""
    if not isinstance(tok, TiktokenTokenizer):
        return False
    enc = tok._enc
    try:
        for token in tok.encode(text):
            enc.decode_single_token_bytes(token).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def check_split(text: str, limit: int, tok: Tokenizer) -> None:
    chunks = split(text, limit, tok)
    assert "".join(chunks) == text
    assert all(chunks)
    n = tok.count(text)
    assert len(chunks) <= max_chunks(n, limit)
    offs, at = tok.offsets(text), 0
    for i, chunk in enumerate(chunks):
        if tok.count(chunk) > limit:
            # Allowed only when no shorter chunk exists, or when ending at the last earlier
            # token boundary would leave more tokens than the remaining chunks can take.
            inner = inner_cuts(text, at, at + len(chunk), tok)
            if inner:
                left = n - (bisect_right(offs, inner[-1]) - 1)
                room = (max_chunks(n, limit) - i - 1) * (limit - slack(limit))
                assert left > room, (chunk, limit)
                assert not isinstance(tok, WhitespaceTokenizer)  # it never drifts
        at += len(chunk)


def check_partition(text: str, k: int, tok: Tokenizer) -> None:
    pieces = partition(text, k, tok)
    assert "".join(pieces) == text
    assert all(pieces)
    assert len(pieces) <= k
    bound, at = max_piece(tok.count(text), k), 0
    for i, piece in enumerate(pieces):
        if tok.count(piece) > bound:
            # Allowed only for one character with more tokens than the bound, or for the last
            # piece when characters split between tokens leave no cut near the last target.
            last = i == len(pieces) - 1
            assert not inner_cuts(text, at, at + len(piece), tok) or (last and splits_characters(text, tok)), (piece, k)
        at += len(piece)


@pytest.mark.parametrize("tok", TOKENIZERS.values(), ids=TOKENIZERS.keys())
@PROPERTY
@given(text=TEXTS, limit=st.integers(1, 300))
def test_split_properties(tok: Tokenizer, text: str, limit: int) -> None:
    check_split(text, limit, tok)


@pytest.mark.parametrize("tok", TOKENIZERS.values(), ids=TOKENIZERS.keys())
@PROPERTY
@given(text=TEXTS, k=st.integers(1, 8))
def test_partition_properties(tok: Tokenizer, text: str, k: int) -> None:
    check_partition(text, k, tok)


@pytest.mark.parametrize("tok", TOKENIZERS.values(), ids=TOKENIZERS.keys())
@PROPERTY
@given(text=TEXTS, start=st.integers(-5, 400), length=st.integers(-2, 400))
def test_peek_properties(tok: Tokenizer, text: str, start: int, length: int) -> None:
    got = peek(text, start, length, tok)
    offs = tok.offsets(text)
    if length <= 0 or max(0, start) >= len(offs):
        assert got == ""
        return
    # It starts where token `start` does, or one cut earlier when that token starts
    # inside a character (then the whole character is included).
    at = offs[max(0, start)]
    starts = [at] + [o for o in offs if o < at][-1:]
    where = next(p for p in starts if text.startswith(got, p))
    assert tok.count(got) <= length or not inner_cuts(text, where, where + len(got), tok)


def test_peek_table() -> None:
    text = "alpha beta gamma delta"
    assert peek(text, 0, 3, WS) == "alpha beta"
    assert peek(text, 2, 1, WS) == "beta"
    assert peek(text, -4, 1, WS) == "alpha"
    assert peek(text, 6, 100, WS) == "delta"
    assert peek(text, 7, 1, WS) == ""
    assert peek(text, 0, 0, WS) == ""
    tok = cl100k()
    assert peek(text, 0, tok.count(text), tok) == text
    assert peek("Hello world, again", 1, 2, tok) == " world,"


# ------------------------------------------------------------------ tokenizers


@pytest.mark.parametrize("tok", TOKENIZERS.values(), ids=TOKENIZERS.keys())
@PROPERTY
@given(text=TEXTS)
def test_tokenizer_views_agree(tok: Tokenizer, text: str) -> None:
    offs = list(tok.offsets(text))
    assert len(offs) == tok.count(text) == len(tok.encode(text))
    assert offs == sorted(offs)
    assert all(0 <= o <= len(text) for o in offs)
    assert not text or offs[0] == 0


@PROPERTY
@given(text=TEXTS)
def test_cl100k_offsets_match_token_bytes(text: str) -> None:
    enc = cl100k()._enc
    char_starts = list(accumulate((len(c.encode()) for c in text), initial=0))[:-1]
    expected, at = [], 0
    for token in cl100k().encode(text):
        expected.append(bisect_left(char_starts, at))  # the first char starting at or after
        at += len(enc.decode_single_token_bytes(token))
    assert list(cl100k().offsets(text)) == expected


SMALL_PIECES = TiktokenTokenizer(cl100k()._enc, piece_chars=64)
_SPACED = st.lists(
    st.one_of(
        _WORDLIKE.filter(lambda w: len(w) < 30 and " " not in w),
        st.sampled_from(["\n", "\n\n", "\t"]),
    ),
    max_size=80,
).map(" ".join)


@PROPERTY
@given(text=_SPACED)
def test_cl100k_pieces_match_one_shot_encoding(text: str) -> None:
    # Pieces are cut at safe places, so small pieces change no token unless a piece has no
    # safe place at all; words here are short and spaced, so there always is one.
    assert SMALL_PIECES.encode(text) == cl100k()._enc.encode_ordinary(text)


def test_cl100k_matches_tiktoken_on_prose() -> None:
    text = "It was the best of times, it was the worst of times.\n\n" * 200
    assert cl100k().encode(text) == cl100k()._enc.encode_ordinary(text)
    assert cl100k().count("hello world") == 2
    assert cl100k() is cl100k()
    assert cl100k().name == "cl100k_base"


def test_whitespace_tokenizer() -> None:
    assert WS.offsets("  ab c\n\nd ") == [0, 2, 4, 5, 6, 8, 9]
    assert WS.encode("ab ab") == [WS.encode("ab")[0], WS.encode(" ")[0], WS.encode("ab")[0]]
    assert WhitespaceTokenizer(max_word=2).offsets("abcde f") == [0, 2, 4, 5, 6]
    with pytest.raises(ValueError):
        WhitespaceTokenizer(max_word=0)


def test_cl100k_file_needs_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="litellm"):
        tokens._cl100k_file()


def test_cl100k_loads_without_importing_litellm(repo_root: object) -> None:
    code = (
        "import sys; from lambda_rlm.text.tokens import cl100k; assert cl100k().count('a b') == 2;"
        "assert 'litellm' not in sys.modules; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=str(repo_root),
    )
    assert done.stdout.strip() == "ok", done.stderr


# ------------------------------------------------------------------ the tokenization memo


def test_memo_agrees_with_its_tokenizer_and_tokenizes_a_long_text_once() -> None:
    inner = cl100k()
    memo = tokens.Memo(inner, min_chars=1000, size=2)
    long_text = "The harbour master signed the lease on the quay. " * 100
    first = memo.offsets(long_text)
    assert list(first) == list(inner.offsets(long_text))
    assert memo.count(long_text) == inner.count(long_text) == len(first)
    assert memo.offsets(long_text) is first  # kept: the same array, not a second pass
    assert memo.offsets("".join(long_text)) is first  # keyed by value, not by object
    short = "a short prompt"
    assert memo.count(short) == inner.count(short)
    assert memo.offsets(short) is not memo.offsets(short)  # short texts are never kept
    assert split(long_text, 50, memo) == split(long_text, 50, inner)


def test_memo_forgets_the_oldest_text_and_never_keeps_one_over_its_token_cap() -> None:
    memo = tokens.Memo(WhitespaceTokenizer(), min_chars=10, max_tokens=100, size=2)
    texts = [f"{i} " * 30 for i in range(3)]
    kept = [memo.offsets(t) for t in texts]
    assert memo.offsets(texts[2]) is kept[2] and memo.offsets(texts[1]) is kept[1]
    assert memo.offsets(texts[0]) is not kept[0]  # evicted when the third text came in
    huge = "w " * 500
    assert memo.offsets(huge) is not memo.offsets(huge)
