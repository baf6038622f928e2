"""Text normalisation and word hashing shared by sketching and verification.

Normalising makes copies that differ only in Unicode form, case, punctuation, quotes, emoji or
line breaks identical: NFKC, case folding, punctuation and symbols to separators, whitespace
collapsed. Scripts written without spaces (Chinese, Japanese, Thai, ...) become one token per
character, so shingles work for them too. Numbers keep their inner separators ("5,3" stays one
token ``5,3``), because numbers are the facts that tell template stories apart.

Sketching is the hot path of a crawl, so nothing here loops over words or characters in
Python: the UTF-8 bytes of the whole text go through C-level passes (``bytes.translate`` for
ASCII punctuation, numpy over the byte array for the separators inside numbers and non-ASCII
punctuation, ``bytes.split`` for lines and tokens), and tokens are hashed with xxh3 through
``map``.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import chain

import numpy as np
import xxhash

#: Name of the tokenising and word-hash scheme; part of the index's stored parameters.
HASH_SCHEME = "utf8-tokens-xxh3-v2"

_xxh3 = xxhash.xxh3_64_intdigest

# A token is a maximal run of ASCII letters and digits and of non-ASCII characters other than
# punctuation and symbols; ASCII punctuation, controls and spaces separate tokens, "\n" also
# separates paragraphs. Every byte that separates becomes a space, so the text keeps its length
# and the passes below are positions in one numpy array.
_ASCII_SEPARATORS = bytes(c if chr(c).isalnum() or c >= 128 or c == 10 else 32
                          for c in range(256))
# Punctuation and symbols outside ASCII, by their UTF-8 lead byte, the range of the byte after
# it and their length: U+00A0-00BF (Latin-1 signs: C2 A0-BF), U+2000-2BFF (general
# punctuation, currency, arrows, shapes, dingbats: E2 80-AF), U+3000-303F (CJK punctuation:
# E3 80), U+FE00-FE7F (variation selectors, small forms: EF B8-B9), U+1F000-1FFFF (emoji: F0 9F).
_PUNCTUATION_LEADS = {0xC2: (0xA0, 0xBF, 2), 0xE2: (0x80, 0xAF, 3), 0xE3: (0x80, 0x80, 3),
                      0xEF: (0xB8, 0xB9, 3), 0xF0: (0x9F, 0x9F, 4)}
_FOLLOWER_LOW, _FOLLOWER_HIGH, _LENGTH = (
    np.array([_PUNCTUATION_LEADS.get(b, (1, 0, 0))[i] for b in range(256)], dtype=np.uint8)
    for i in range(3))
# Scripts written without spaces (Thai, Lao, Myanmar, Khmer, kana, CJK ideographs): every
# character is a token of its own. Their UTF-8 lead bytes are E0, E1, E3-E9 or EF.
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff]+")


def _all_but(keep: bytes) -> bytes:
    """The bytes ``bytes.translate`` must delete to leave only ``keep``: a C-speed "contains any"."""
    return bytes(sorted(set(range(256)) - set(keep)))


_NOT_DIGITS = _all_but(b"0123456789")
_NOT_PUNCTUATION_LEADS = _all_but(bytes(_PUNCTUATION_LEADS))
_NOT_UNSPACED_LEADS = _all_but(bytes([0xE0, 0xE1, *range(0xE3, 0xEA), 0xEF]))
#: A decimal digit other than 0-9 (NFKC keeps Arabic-Indic, Devanagari, ... digits), and the
#: UTF-8 lead bytes such digits can start with (all of Unicode's, checked with unicodedata).
_OTHER_DIGIT = re.compile(r"[^\D0-9]")
_NOT_OTHER_DIGIT_LEADS = _all_but(bytes([0xD9, 0xDB, 0xDF, 0xE0, 0xE1, 0xEA, 0xEF, 0xF0]))


def normalized_bytes(text: str, *, fold: bool = True) -> bytes:
    """NFKC, case folding (unless ``fold`` is false), every separator a space (newlines
    kept), as UTF-8."""
    return _separated(unicodedata.normalize("NFKC", text), fold)


def _separated(nfkc: str, fold: bool) -> bytes:
    """:func:`normalized_bytes` of a text already in NFKC."""
    folded = nfkc.casefold() if fold else nfkc
    data = folded.encode("utf-8")
    ascii_only = folded.isascii()
    if (not ascii_only and data.translate(None, _NOT_UNSPACED_LEADS)
            and _UNSPACED.search(folded)):
        data = _UNSPACED.sub(_spaced, folded).encode("utf-8")
    separated = data.translate(_ASCII_SEPARATORS)
    has_numbers = bool(data.translate(None, _NOT_DIGITS))
    has_punctuation = not ascii_only and bool(data.translate(None, _NOT_PUNCTUATION_LEADS))
    if not (has_numbers or has_punctuation):
        return separated
    original = np.frombuffer(data, dtype=np.uint8)
    out = np.frombuffer(separated, dtype=np.uint8).copy()
    if has_numbers:
        numbers = _number_separators(original)
        out[numbers] = original[numbers]
    if has_punctuation:
        _blank_other_punctuation(original, out)
    return out.tobytes()


def _spaced(run: re.Match) -> str:
    """A run of unspaced-script characters, one token each (one call a run, not a character)."""
    return f" {' '.join(run.group())} "


def _number_separators(data: np.ndarray) -> np.ndarray:
    """Positions of the separators (. , : / ') that sit between two digits: they stay inside
    the number ("5,3", "12:30", "1.000")."""
    digit = (data - 48) < 10  # uint8 arithmetic wraps: only b"0"-b"9" fall below 10
    between = np.flatnonzero(digit[:-2] & digit[2:]) + 1
    value = data[between]
    return between[(value == 46) | (value == 44) | (value == 58) | (value == 47) | (value == 39)]


def _blank_other_punctuation(data: np.ndarray, out: np.ndarray) -> None:
    """Turn every byte of the non-ASCII punctuation and symbol characters into a space."""
    leads = np.flatnonzero(data >= 0xC2)  # lead bytes of multi-byte characters (and more)
    lead = data[leads]
    follower = data[np.minimum(leads + 1, data.size - 1)]
    starts = leads[(follower >= _FOLLOWER_LOW[lead]) & (follower <= _FOLLOWER_HIGH[lead])]
    length = _LENGTH[data[starts]]
    for offset in range(4):
        out[starts[length > offset] + offset] = 32


def paragraph_tokens(text: str) -> list[list[bytes]]:
    """The tokens of every non-empty paragraph (line) of ``text``, normalised, as UTF-8."""
    return _split(normalized_bytes(text))


def _split(data: bytes) -> list[list[bytes]]:
    return [tokens for line in data.split(b"\n") if (tokens := line.split())]


def hash_words(tokens, count: int = -1) -> np.ndarray:
    """64-bit xxh3 hash of every token (bytes), in order."""
    return np.fromiter(map(_xxh3, tokens), dtype=np.uint64, count=count)


def paragraph_key(tokens: list[bytes]) -> int:
    """Order-sensitive unsigned 64-bit key of a run of tokens (a paragraph, or its opening)."""
    return _xxh3(b" ".join(tokens))


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads every input bit over the whole word."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def shingle_hashes(words: np.ndarray, size: int) -> np.ndarray:
    """Hash of every run of ``size`` consecutive words (the words themselves when size is 1).
    A text shorter than one shingle gives one shingle of all its words."""
    if size <= 1:
        return words
    if len(words) < size:
        return fmix64(combine(words, len(words))) if len(words) else words
    return fmix64(combine(words, size))


def combine(words: np.ndarray, size: int) -> np.ndarray:
    """Order-sensitive combination of every ``size`` consecutive word hashes."""
    n = len(words) - size + 1
    h = words[:n].copy()
    for offset in range(1, size):  # a loop over the shingle width, not over shingles
        h = (h * np.uint64(0x9E3779B97F4A7C15)) ^ words[offset:offset + n]
    return h


@dataclass
class Document:
    """A text split and hashed for comparison: what verification and boilerplate work on.
    Only arrays: a verifier keeps many of these in its cache."""

    words: np.ndarray              # uint64 hash of every token, paragraphs concatenated
    paragraph_of_word: np.ndarray  # int32 paragraph index of every token
    paragraph_keys: np.ndarray     # uint64 :func:`paragraph_key` of every paragraph
    paragraph_lengths: np.ndarray  # tokens in every paragraph
    number_words: np.ndarray       # hashes of the tokens with a digit (the facts of template
    number_paragraph: np.ndarray   # stories), and the paragraph of each
    word_kind: np.ndarray          # uint8 per token: FIGURE, NAME or 0 (see :func:`word_kinds`)
    number_text: list[bytes]       # the tokens of ``number_words`` (to say which figures changed)

    @property
    def n_words(self) -> int:
        return int(self.words.size)


def analyze(text: str) -> Document:
    """Normalise, split into paragraphs and hash ``text``."""
    nfkc = unicodedata.normalize("NFKC", text)
    data = _separated(nfkc, True)
    paragraphs = _split(data)
    lengths = np.fromiter(map(len, paragraphs), dtype=np.int64, count=len(paragraphs))
    tokens = list(chain.from_iterable(paragraphs))
    words = hash_words(tokens, len(tokens))
    paragraph_of_word = np.repeat(np.arange(len(paragraphs), dtype=np.int32), lengths)
    keys = np.fromiter(map(paragraph_key, paragraphs), dtype=np.uint64, count=len(paragraphs))
    numbers = _number_tokens(data, paragraphs, words.size)
    return Document(words, paragraph_of_word, keys, lengths, words[numbers],
                    paragraph_of_word[numbers], word_kinds(nfkc, data, numbers),
                    [tokens[i] for i in np.flatnonzero(numbers).tolist()])


#: :attr:`Document.word_kind` values: a token with a digit (a figure, a date, a time) and a
#: capitalised token inside a sentence (a name; in German any noun too).
FIGURE, NAME = 1, 2
# Upper-case letters by UTF-8 lead byte and the range of the byte after it: Latin-1 (C3 80-9E,
# without the multiplication sign C3 97), Latin Extended-A pairs are left out (mixed case),
# Greek (CE 86-AB) and Cyrillic (D0 80-AF).
_UPPER_LEADS = {0xC3: (0x80, 0x9E), 0xCE: (0x86, 0xAB), 0xD0: (0x80, 0xAF)}
_UPPER_LOW, _UPPER_HIGH = (np.array([_UPPER_LEADS.get(b, (1, 0))[i] for b in range(256)],
                                    dtype=np.uint8) for i in range(2))
# The last byte of what ends a sentence or opens a quotation before a capitalised word that is
# not a name: . ! ? : and quotation marks (ASCII, and the last byte of „ “ ” « » ‹ ›).
_SENTENCE_START = np.zeros(256, dtype=bool)
_SENTENCE_START[list(b'.!?:"\'\n\x9c\x9d\x9e\xab\xbb\xb9\xba')] = True


def word_kinds(nfkc: str, folded: bytes, numbers: np.ndarray) -> np.ndarray:
    """:data:`FIGURE` for the tokens in ``numbers`` (bool per token), :data:`NAME` for a token
    that starts with a capital letter and does not open a sentence or a quotation, 0 else.
    ``folded`` is :func:`normalized_bytes` of the text ``nfkc`` (in NFKC): where case folding
    kept every character's length (nearly every text), its tokens sit at the same bytes of
    ``nfkc``; else the text is separated again without folding. A text with scripts written
    without spaces gets no names."""
    kinds = numbers.astype(np.uint8)
    original = nfkc.encode("utf-8")
    if len(folded) != len(original):
        folded = _separated(nfkc, False)
    if len(folded) != len(original) or not kinds.size:
        return kinds
    raw = np.frombuffer(folded, dtype=np.uint8)
    separator = (raw == 32) | (raw == 10)
    starts = ~separator
    starts[1:] &= separator[:-1]
    positions = np.flatnonzero(starts)
    if positions.size != kinds.size:
        return kinds
    source = np.frombuffer(original, dtype=np.uint8)
    first = source[positions]
    second = source[np.minimum(positions + 1, source.size - 1)]
    upper = ((first >= 65) & (first <= 90)) | (
        (second >= _UPPER_LOW[first]) & (second <= _UPPER_HIGH[first]) & (second != 0x97))
    marks = np.flatnonzero((source != 32) & (source != 9))  # where the text has a character
    before = np.searchsorted(marks, positions) - 1
    opening = (before < 0) | _SENTENCE_START[source[marks[np.maximum(before, 0)]]]
    kinds[upper & ~opening & (kinds == 0)] = NAME
    return kinds


def _number_tokens(data: bytes, paragraphs: list[list[bytes]], n_words: int) -> np.ndarray:
    """bool per token of ``data`` (in order): does it hold a digit? One numpy pass over the
    bytes for ASCII digits; tokens are runs of bytes other than space and newline."""
    found = np.zeros(n_words, dtype=bool)
    if data.translate(None, _NOT_DIGITS):
        raw = np.frombuffer(data, dtype=np.uint8)
        separator = (raw == 32) | (raw == 10)
        starts = ~separator
        starts[1:] &= separator[:-1]
        token = np.cumsum(starts) - 1
        found[token[(raw - 48) < 10]] = True  # uint8 arithmetic wraps: only digits fall below 10
    if data.translate(None, _NOT_OTHER_DIGIT_LEADS) and _OTHER_DIGIT.search(data.decode("utf-8")):
        others = map(_OTHER_DIGIT.search, (t.decode("utf-8") for t in chain(*paragraphs)))
        found |= np.fromiter((m is not None for m in others), dtype=bool, count=n_words)
    return found


def normalize_paragraphs(text: str) -> list[str]:
    """The comparable form of each non-empty paragraph (line) of ``text``."""
    return [b" ".join(tokens).decode("utf-8") for tokens in paragraph_tokens(text)]


def normalize(text: str) -> str:
    """Comparable form of a whole text: tokens separated by single spaces."""
    return " ".join(normalize_paragraphs(text))
