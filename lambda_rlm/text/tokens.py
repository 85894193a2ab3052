"""Tokenizers: takes text, gives token ids, counts and the character offset where each token starts.

`cl100k()` is tiktoken's cl100k_base loaded offline from the BPE file that litellm bundles;
`WhitespaceTokenizer` is a tiny deterministic stand-in for tests and for when litellm is absent.
Both follow the `Tokenizer` protocol, and for both `count(t) == len(encode(t)) == len(offsets(t))`.
`Memo` wraps any of them so that a long document is tokenized once, however often it is measured.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import threading
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lambda_rlm.core.errors import ConfigError

if TYPE_CHECKING:  # tiktoken is heavy-ish and must not load with `import lambda_rlm`
    import tiktoken


class Tokenizer(Protocol):
    """Counts and locates tokens; `count`, `encode` and `offsets` always agree on the tokens."""

    @property
    def name(self) -> str: ...

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, special tokens treated as ordinary text."""
        ...

    def count(self, text: str) -> int:
        """How many tokens `text` has (`len(encode(text))`, possibly faster)."""
        ...

    def offsets(self, text: str) -> Sequence[int]:
        """For each token, the char offset in `text` where it starts (non-decreasing).

        A token whose bytes start inside a character maps to the next character boundary.
        """
        ...


# ------------------------------------------------------------------ memo


class Memo:
    """A Tokenizer that keeps the offsets of the last few long texts it measured.

    A run measures its document for the bound and again for `split`, and a benchmark asks many
    questions of one document; each pass over a million tokens costs about a second. Texts of
    at least `min_chars` characters are tokenized once and their offsets kept (8 bytes a token,
    at most `max_tokens` tokens an entry, the `size` most recent entries); shorter texts, such as
    chunks and prompts, go straight to the wrapped tokenizer. Entries are keyed by the text
    itself, so a hit on the same string object costs one cached hash and an identity check.
    """

    __slots__ = ("_tok", "_min_chars", "_max_tokens", "_size", "_kept", "_lock")

    def __init__(self, tok: Tokenizer, min_chars: int = 1 << 18, max_tokens: int = 1 << 24, size: int = 4) -> None:
        self._tok = tok
        self._min_chars, self._max_tokens, self._size = min_chars, max_tokens, size
        self._kept: OrderedDict[str, Sequence[int]] = OrderedDict()
        self._lock = threading.Lock()  # litellm may count prompts from its worker threads

    @property
    def name(self) -> str:
        return self._tok.name

    @property
    def inner(self) -> Tokenizer:
        return self._tok

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text)

    def count(self, text: str) -> int:
        if len(text) < self._min_chars:
            return self._tok.count(text)
        return len(self.offsets(text))

    def offsets(self, text: str) -> Sequence[int]:
        if len(text) < self._min_chars:
            return self._tok.offsets(text)
        with self._lock:
            kept = self._kept.get(text)
            if kept is not None:
                self._kept.move_to_end(text)
                return kept
        offs = self._tok.offsets(text)
        if len(offs) <= self._max_tokens:
            with self._lock:
                self._kept[text] = offs
                while len(self._kept) > self._size:
                    self._kept.popitem(last=False)
        return offs


# ------------------------------------------------------------------ whitespace


class WhitespaceTokenizer:
    """Tokens are maximal runs of whitespace and maximal runs of other characters.

    With `max_word`, a run of non-whitespace is further cut every `max_word` characters, so a
    giant unbroken blob is not mistaken for one token. Ids are CRC32s of the token text: stable
    across runs, not decodable. Cutting a text at any token start leaves the tokens on either
    side unchanged, so chunk counts never drift from the whole-text count.
    """

    __slots__ = ("_pattern", "_name")

    def __init__(self, max_word: int | None = None) -> None:
        if max_word is not None and max_word < 1:
            raise ValueError(f"max_word must be at least 1, given {max_word}")
        word = r"\S+" if max_word is None else rf"\S{{1,{max_word}}}"
        self._pattern = re.compile(r"\s+|" + word)
        self._name = "whitespace" if max_word is None else f"whitespace-{max_word}"

    @property
    def name(self) -> str:
        return self._name

    def encode(self, text: str) -> list[int]:
        return [zlib.crc32(m.group().encode("utf-8", "surrogatepass")) for m in self._tokens(text)]

    def count(self, text: str) -> int:
        return sum(1 for _ in self._tokens(text))

    def offsets(self, text: str) -> list[int]:
        return [m.start() for m in self._tokens(text)]

    def _tokens(self, text: str) -> Iterator[re.Match[str]]:
        return self._pattern.finditer(text)


# ------------------------------------------------------------------ tiktoken

# Where a whole-text encoding may be cut into pieces without changing any token: just before a
# space that follows a non-space, or just after a letter when a non-word character follows.
# No pre-token of cl100k's pattern spans such a position, and its pattern has no look-behind,
# so encoding the pieces separately gives exactly the one-shot tokens.
_SAFE_CUT = re.compile(r"(?<=\S) |(?<=[^\W\d_])\W")

# Bytes 0x80-0xBF continue a UTF-8 character; every other byte starts one.
_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))


class TiktokenTokenizer:
    """A Tokenizer over a tiktoken `Encoding`, encoding long texts in pieces.

    Pieces are at most `piece_chars` characters. Each is cut at the first safe position
    (see `_SAFE_CUT`) in its second half, else at the last one in its first half, else hard
    at `piece_chars`. Hard cuts happen only in a run of that many characters with no safe
    position (one giant word, a long run of digits or symbols, CJK without punctuation),
    where BPE on one huge pre-token would be slow; there the count may differ by a few
    tokens from a one-shot `Encoding.encode_ordinary`, and a substring cut out of such a run
    may count slightly differently from its share of the whole. `count`, `encode` and
    `offsets` always use the same pieces, so they agree with each other. The safe positions
    are derived from cl100k's pre-token pattern; with another encoding's pattern, a safe cut
    might also change a token or two near it (again consistently across the three methods).
    """

    __slots__ = ("_enc", "_leads", "_piece_max")

    def __init__(self, encoding: tiktoken.Encoding, piece_chars: int = 2000) -> None:
        if piece_chars < 2:
            raise ValueError(f"piece_chars must be at least 2, given {piece_chars}")
        self._enc = encoding
        self._piece_max = piece_chars
        self._leads = _lead_bytes_per_token(encoding)

    @property
    def name(self) -> str:
        return self._enc.name

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in self._pieces(text):
            ids.extend(self._enc.encode_ordinary(piece))
        return ids

    def count(self, text: str) -> int:
        return sum(len(self._enc.encode_ordinary(piece)) for piece in self._pieces(text))

    def offsets(self, text: str) -> Sequence[int]:
        # A token's char count is the number of UTF-8 lead bytes in it (a per-id table), so
        # start offsets are a running sum; a token starting mid-character lands on the next
        # boundary because that character's lead byte was counted by an earlier token.
        starts = array("q")  # 8 bytes a token instead of ~36 for a list of ints
        base = 0
        for piece in self._pieces(text):
            ids = self._enc.encode_ordinary(piece)
            starts.extend(accumulate(map(self._leads.__getitem__, ids[:-1]), initial=base))
            base += len(piece)
        return starts

    def _pieces(self, text: str) -> Iterator[str]:
        for start, end in _piece_bounds(text, self._piece_max):
            yield text[start:end]


def _piece_bounds(text: str, most: int) -> Iterator[tuple[int, int]]:
    """(start, end) of consecutive pieces of `text`, each at most `most` characters."""
    start, half = 0, most // 2
    while len(text) - start > most:
        found = _SAFE_CUT.search(text, start + half, start + most)
        if found is None:
            found = _last_match(_SAFE_CUT, text, start + 1, start + half)
        cut = start + most if found is None else found.start()
        yield start, cut
        start = cut
    if start < len(text):
        yield start, len(text)


def _last_match(pattern: re.Pattern[str], text: str, pos: int, endpos: int) -> re.Match[str] | None:
    last = None
    for last in pattern.finditer(text, pos, endpos):  # noqa: B007 - only the last one is kept
        pass
    return last


def _lead_bytes_per_token(encoding: tiktoken.Encoding) -> bytes:
    """For each token id, how many characters start in its bytes (0 for unused ids)."""
    leads = bytearray(encoding.n_vocab)
    for token in range(encoding.n_vocab):
        try:
            raw = encoding.decode_single_token_bytes(token)
        except KeyError:  # gaps between the ordinary and the special ids
            continue
        leads[token] = len(raw.translate(None, _CONTINUATION_BYTES))
    return bytes(leads)


# ------------------------------------------------------------------ cl100k, offline

# tiktoken caches downloads under sha1(url); litellm ships cl100k_base under that name.
_CL100K_FILE = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
# Copied from tiktoken_ext.openai_public.cl100k_base, which would download the file.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIALS = (
    ("<|endoftext|>", 100257),
    ("<|fim_prefix|>", 100258),
    ("<|fim_middle|>", 100259),
    ("<|fim_suffix|>", 100260),
    ("<|endofprompt|>", 100276),
)


@functools.cache
def cl100k() -> TiktokenTokenizer:
    """The cl100k_base tokenizer (GPT-4's), loaded once from litellm's bundled file, no network."""
    import tiktoken

    ranks = _read_bpe(_cl100k_file(), _CL100K_SHA256)
    encoding = tiktoken.Encoding(
        name="cl100k_base",
        pat_str=_CL100K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=dict(_CL100K_SPECIALS),
    )
    return TiktokenTokenizer(encoding)


def _read_bpe(path: Path, sha256: str) -> dict[bytes, int]:
    """A tiktoken BPE file (`base64-token rank` per line), checked against its hash.

    Read here rather than with tiktoken.load, which copies the file into a shared temp folder.
    """
    import binascii
    import hashlib

    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ConfigError(f"the tokenizer file {path} is damaged (sha256 mismatch)",
                          notes=["reinstall litellm: pip install --force-reinstall --no-deps litellm"])
    fields = data.split()  # token, rank, token, rank, …: one split and two maps, 2–3× a loop over lines
    return dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))


def _cl100k_file() -> Path:
    """litellm's copy of cl100k_base.tiktoken, found without importing litellm (which is slow)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the cl100k tokenizer needs the BPE file bundled with litellm, which is not installed",
            notes=["install litellm (pip install litellm), or use WhitespaceTokenizer"],
        )
    path = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers" / _CL100K_FILE
    if not path.is_file():
        raise ConfigError(
            f"the cl100k BPE file is missing from the installed litellm: {path}",
            notes=["reinstall litellm, or use WhitespaceTokenizer"],
        )
    return path
