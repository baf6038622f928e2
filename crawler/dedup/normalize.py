"""Text normalisation and word hashing shared by sketching and verification.

Normalising makes copies that differ only in Unicode form, case, punctuation, quotes, emoji or
line breaks identical: NFKC, case folding, punctuation and symbols to separators, whitespace
collapsed. Scripts written without spaces (Chinese, Japanese, Thai, ...) become one token per
character, so shingles work for them too. Numbers keep their inner separators ("5,3" stays one
token ``5,3``), because numbers are the facts that tell template stories apart.

Everything after NFKC and case folding runs with numpy over the UTF-8 bytes of the whole text
(token boundaries, and a 64-bit polynomial hash of every token mixed with the MurmurHash3
finaliser), so no Python loop runs per word: sketching is the hot path of a crawl.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

#: Name of the tokenising and word-hash scheme; part of the index's stored parameters.
HASH_SCHEME = "utf8-tokens-poly64-fmix64-v1"

# Byte classes of UTF-8 text after NFKC and case folding. A token is a maximal run of word
# bytes; ASCII punctuation, controls and spaces separate tokens, "\n" also separates paragraphs.
_WORD_BYTE = np.array([chr(c).isalnum() or c >= 128 for c in range(256)], dtype=bool)
_NUMBER_SEPARATORS = np.zeros(256, dtype=bool)
_NUMBER_SEPARATORS[[ord(c) for c in ".,:/'"]] = True
_IS_DIGIT = np.zeros(256, dtype=bool)
_IS_DIGIT[ord("0"):ord("9") + 1] = True
# Punctuation and symbols outside ASCII, as (lead byte, second-byte range, sequence length):
# U+00A0-00BF (Latin-1 signs), U+2000-2BFF (general punctuation, currency, arrows, shapes,
# dingbats), U+3000-303F (CJK punctuation), U+FE00-FE6F (variation selectors, small forms),
# U+1F000-1FAFF (emoji).
_OTHER_PUNCTUATION = [(0xC2, 0xA0, 0xBF, 2), (0xE2, 0x80, 0xAF, 3), (0xE3, 0x80, 0x80, 3),
                      (0xEF, 0xB8, 0xB9, 3), (0xF0, 0x9F, 0x9F, 4)]
# Scripts written without spaces (Thai, Lao, Myanmar, Khmer, kana, CJK ideographs): every
# character is a token of its own.
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff]")
_DIGIT = re.compile(r"\d")

_P = np.uint64(0x100000001B3)                    # odd multiplier of the polynomial hash
_Q = np.uint64(pow(0x100000001B3, -1, 2 ** 64))  # its inverse modulo 2**64
_POWERS_P = np.ones(1, dtype=np.uint64)
_POWERS_Q = np.ones(1, dtype=np.uint64)


def _prepare(text: str) -> np.ndarray:
    """NFKC and case folding, as UTF-8 bytes."""
    return np.frombuffer(unicodedata.normalize("NFKC", text).casefold().encode("utf-8"),
                         dtype=np.uint8)


def _token_bounds(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the tokens of normalised UTF-8 bytes."""
    word = _WORD_BYTE[data]
    if data.size > 2:  # a separator between two digits stays inside the number
        inner = np.flatnonzero(_NUMBER_SEPARATORS[data[1:-1]] & _IS_DIGIT[data[:-2]]
                               & _IS_DIGIT[data[2:]]) + 1
        word[inner] = True
    non_ascii = data.size and data.max() >= 0xC2
    for lead, low, high, length in _OTHER_PUNCTUATION if non_ascii else ():
        heads = np.flatnonzero(data[:-1] == lead)
        if heads.size:
            heads = heads[(data[heads + 1] >= low) & (data[heads + 1] <= high)]
            for k in range(length):
                word[np.minimum(heads + k, data.size - 1)] = False
    edges = np.flatnonzero(np.diff(np.concatenate(([False], word, [False])).view(np.int8)))
    return edges[0::2], edges[1::2]


def tokenize(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised UTF-8 bytes of ``text`` and the start/end offsets of its tokens."""
    data = _prepare(text)
    if data.size and data.max() >= 0xE0 and _UNSPACED.search(text):
        data = _prepare(_UNSPACED.sub(lambda m: f" {m.group(0)} ", text))
    starts, ends = _token_bounds(data)
    return data, starts, ends


def paragraph_index(data: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Paragraph number of every token: paragraphs are lines, empty lines do not count."""
    newlines = np.flatnonzero(data == 10)
    line = np.searchsorted(newlines, starts)
    if line.size == 0:
        return line.astype(np.int32)
    return (np.cumsum(np.diff(line, prepend=line[0]) > 0)).astype(np.int32)


def _powers(table: np.ndarray, base: np.uint64, n: int) -> np.ndarray:
    if len(table) >= n:
        return table
    size = max(n, 2 * len(table))
    powers = np.full(size, base, dtype=np.uint64)
    powers[0] = 1
    return np.cumprod(powers, dtype=np.uint64)  # wraps modulo 2**64, as intended


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads every input bit over the whole word."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def hash_tokens(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """64-bit hash of the byte ranges [starts, ends) of ``data``, all at once."""
    global _POWERS_P, _POWERS_Q
    n = data.size
    if starts.size == 0:
        return np.empty(0, dtype=np.uint64)
    _POWERS_P = _powers(_POWERS_P, _P, n + 1)
    _POWERS_Q = _powers(_POWERS_Q, _Q, n + 1)
    # S[i] = sum_{j<i} c_j Q^j, so the hash of bytes [s, e) is (S[e] - S[s]) * P^(e-1).
    weighted = (data.astype(np.uint64) + np.uint64(1)) * _POWERS_Q[:n]
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(weighted, dtype=np.uint64, out=prefix[1:])
    raw = (prefix[ends] - prefix[starts]) * _POWERS_P[ends - 1]
    return fmix64(raw ^ (ends - starts).astype(np.uint64))


def word_hashes(text: str) -> np.ndarray:
    """64-bit hash of every token of ``text``, in order."""
    return hash_tokens(*tokenize(text))


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


def paragraph_keys(words: np.ndarray, paragraph_of_word: np.ndarray, limit: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order-sensitive 64-bit key of each paragraph, the key of its first ``limit`` words, and
    each paragraph's length in words; computed for all paragraphs at once."""
    if words.size == 0:
        empty = np.empty(0, dtype=np.uint64)
        return empty, empty, np.empty(0, dtype=np.int64)
    first = np.flatnonzero(np.diff(paragraph_of_word, prepend=-1))
    lengths = np.diff(np.append(first, words.size))
    position = np.arange(words.size) - np.repeat(first, lengths)
    mixed = fmix64(words ^ (position.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)))
    keys = np.add.reduceat(mixed, first)
    if limit is None:
        return keys, keys, lengths
    openings = np.add.reduceat(np.where(position < limit, mixed, np.uint64(0)), first)
    return keys, openings, lengths


@dataclass
class Document:
    """A text split and hashed for comparison: what verification and boilerplate work on."""

    paragraphs: list[str]          # normalised paragraphs, tokens separated by one space
    words: np.ndarray              # uint64 hash of every token, paragraphs concatenated
    paragraph_of_word: np.ndarray  # int32 paragraph index of every token

    @property
    def n_words(self) -> int:
        return int(self.words.size)

    def paragraph_keys(self) -> list[int]:
        """Key of every paragraph, as :func:`paragraph_keys` gives it."""
        return paragraph_keys(self.words, self.paragraph_of_word)[0].tolist()

    def numbers(self, index: int) -> list[str]:
        """Number tokens of paragraph ``index`` (the facts of template stories)."""
        paragraph = self.paragraphs[index]
        if not _DIGIT.search(paragraph):
            return []
        return [t for t in paragraph.split(" ") if _DIGIT.search(t)]


def analyze(text: str) -> Document:
    """Normalise, split into paragraphs and hash ``text``."""
    data, starts, ends = tokenize(text)
    words = hash_tokens(data, starts, ends)
    paragraph_of_word = paragraph_index(data, starts)
    raw = data.tobytes()
    tokens = [raw[s:e] for s, e in zip(starts.tolist(), ends.tolist())]
    bounds = np.flatnonzero(np.diff(paragraph_of_word)) + 1
    pieces = np.split(np.arange(len(tokens)), bounds) if tokens else []
    paragraphs = [b" ".join(tokens[i] for i in idx).decode("utf-8") for idx in pieces]
    return Document(paragraphs, words, paragraph_of_word)


def normalize_paragraphs(text: str) -> list[str]:
    """The comparable form of each non-empty paragraph (line) of ``text``."""
    return analyze(text).paragraphs


def normalize(text: str) -> str:
    """Comparable form of a whole text: tokens separated by single spaces."""
    return " ".join(normalize_paragraphs(text))
