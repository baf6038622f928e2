"""Text normalisation and word hashing shared by sketching and verification.

Normalising makes copies that differ only in Unicode form, case, punctuation, quotes, emoji or
line breaks identical: NFKC, case folding, punctuation and symbols to separators, whitespace
collapsed. Scripts written without spaces (Chinese, Japanese, Thai, ...) become one token per
character, so shingles work for them too. Numbers keep their inner separators ("5,3" stays one
token ``5,3``), because numbers are the facts that tell template stories apart.

Sketching is the hot path of a crawl, so nothing here loops over words in Python: the UTF-8
bytes of the whole text go through C-level passes (one regex substitution for the separators
inside numbers and one for non-ASCII punctuation, ``bytes.translate`` for ASCII punctuation,
``bytes.split`` for lines and tokens), and tokens are hashed with xxh3 through ``map``.
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
# separates paragraphs. Punctuation and symbols outside ASCII, as UTF-8: U+00A0-00BF (Latin-1
# signs), U+2000-2BFF (general punctuation, currency, arrows, shapes, dingbats), U+3000-303F
# (CJK punctuation), U+FE00-FE7F (variation selectors, small forms), U+1F000-1FFFF (emoji).
_OTHER_PUNCTUATION = re.compile(
    rb"\xc2[\xa0-\xbf]|\xe2[\x80-\xaf][\x80-\xbf]|\xe3\x80[\x80-\xbf]|\xef[\xb8\xb9][\x80-\xbf]"
    rb"|\xf0\x9f[\x80-\xbf][\x80-\xbf]")
# A separator between two digits stays inside the number: it is swapped for a control byte
# while ASCII punctuation becomes space, then swapped back.
_NUMBER_SEPARATOR = re.compile(rb"[0-9][.,:/'](?=[0-9])")
_SEPARATORS = b".,:/'"
_PLACEHOLDERS = b"\x01\x02\x03\x04\x05"
_PROTECT = {bytes([d, s]): bytes([d, p]) for d in b"0123456789"
            for s, p in zip(_SEPARATORS, _PLACEHOLDERS)}
_ASCII_SEPARATORS = bytes(c if chr(c).isalnum() or c >= 128 or c == 10 or c in _PLACEHOLDERS
                          else 32 for c in range(256))
_RESTORE = bytes.maketrans(_PLACEHOLDERS, _SEPARATORS)
# Scripts written without spaces (Thai, Lao, Myanmar, Khmer, kana, CJK ideographs): every
# character is a token of its own.
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff]")
_DIGIT = re.compile(r"\d")


def normalized_bytes(text: str) -> bytes:
    """NFKC, case folding, every separator a space (newlines kept), as UTF-8."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    ascii_only = folded.isascii()
    if not ascii_only and _UNSPACED.search(folded):
        folded = _UNSPACED.sub(r" \g<0> ", folded)
    data = folded.encode("utf-8")
    if not ascii_only:
        data = _OTHER_PUNCTUATION.sub(b" ", data)
    data = _NUMBER_SEPARATOR.sub(_protect, data)
    return data.translate(_ASCII_SEPARATORS).translate(_RESTORE)


def _protect(match: re.Match) -> bytes:
    return _PROTECT[match.group()]


def paragraph_tokens(text: str) -> list[list[bytes]]:
    """The tokens of every non-empty paragraph (line) of ``text``, normalised, as UTF-8."""
    return [tokens for line in normalized_bytes(text).split(b"\n") if (tokens := line.split())]


def hash_words(tokens, count: int = -1) -> np.ndarray:
    """64-bit xxh3 hash of every token (bytes), in order."""
    return np.fromiter(map(_xxh3, tokens), dtype=np.uint64, count=count)


def paragraph_key(tokens: list[bytes]) -> int:
    """Order-sensitive unsigned 64-bit key of a run of tokens (a paragraph, or its opening)."""
    return _xxh3(b" ".join(tokens))


def word_hashes(text: str) -> np.ndarray:
    """64-bit hash of every token of ``text``, in order."""
    paragraphs = paragraph_tokens(text)
    return hash_words(chain.from_iterable(paragraphs), sum(map(len, paragraphs)))


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
    """A text split and hashed for comparison: what verification and boilerplate work on."""

    paragraphs: list[str]          # normalised paragraphs, tokens separated by one space
    words: np.ndarray              # uint64 hash of every token, paragraphs concatenated
    paragraph_of_word: np.ndarray  # int32 paragraph index of every token

    @property
    def n_words(self) -> int:
        return int(self.words.size)

    def paragraph_keys(self) -> list[int]:
        """Key of every paragraph, as :func:`paragraph_key` gives it."""
        return [_xxh3(p.encode("utf-8")) for p in self.paragraphs]

    def numbers(self, index: int) -> list[str]:
        """Number tokens of paragraph ``index`` (the facts of template stories)."""
        paragraph = self.paragraphs[index]
        if not _DIGIT.search(paragraph):
            return []
        return [t for t in paragraph.split(" ") if _DIGIT.search(t)]


def analyze(text: str) -> Document:
    """Normalise, split into paragraphs and hash ``text``."""
    paragraphs = paragraph_tokens(text)
    lengths = np.fromiter(map(len, paragraphs), dtype=np.int64, count=len(paragraphs))
    words = hash_words(chain.from_iterable(paragraphs), int(lengths.sum()))
    paragraph_of_word = np.repeat(np.arange(len(paragraphs), dtype=np.int32), lengths)
    return Document([b" ".join(tokens).decode("utf-8") for tokens in paragraphs], words,
                    paragraph_of_word)


def normalize_paragraphs(text: str) -> list[str]:
    """The comparable form of each non-empty paragraph (line) of ``text``."""
    return analyze(text).paragraphs


def normalize(text: str) -> str:
    """Comparable form of a whole text: tokens separated by single spaces."""
    return " ".join(normalize_paragraphs(text))
