"""Fingerprints: what the extraction workers compute for every article (pure, no database).

A :class:`Fingerprint` holds a datasketch MinHash signature (scheme ``affine32``) of the
article's word shingles, used to find candidate copies through LSH, and *lead keys*: a hash of
the first words of each of the first paragraphs, used to find teasers and truncated copies,
which hold only the start of an article and so have a low Jaccard similarity with it.

The signature is bit-identical to ``datasketch.MinHash(num_perm, seed, scheme="affine32",
hashfunc=int).update_batch(shingle_hashes)``; it is computed with numpy over all shingles at
once because ``update_batch`` calls the hash function once per shingle in Python.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import datasketch
import numpy as np
from datasketch import MinHash
from datasketch.minhash import _fmix  # the scheme's own pre-mix, so signatures stay datasketch's

from . import DedupParams
from .normalize import HASH_SCHEME, Document, analyze, paragraph_key, shingle_hashes

MINHASH_SCHEME = "affine32"
_CHUNK = 256  # shingles per numpy block: keeps the (shingles x perms) product in cache


@dataclass(frozen=True)
class Fingerprint:
    """The sketch of one article: small, picklable, independent of any database."""

    signature: np.ndarray   # uint32[num_perm], datasketch MinHash hash values
    lead_keys: np.ndarray   # int64 keys of the first paragraphs' opening words
    n_words: int            # tokens after normalisation
    sketch_key: str         # the sketch parameters it was made with (see sketch_parameters)

    def minhash(self, params: DedupParams) -> MinHash:
        """The signature as a datasketch ``MinHash`` (for its jaccard(), LSH, ...)."""
        return MinHash(seed=params.seed, hashvalues=self.signature, scheme=MINHASH_SCHEME,
                       permutations=_permutations(params.num_perm, params.seed))


def sketch_parameters(params: DedupParams) -> dict:
    """Everything that makes two signatures comparable; stored with the index."""
    return {
        "hash_scheme": HASH_SCHEME, "minhash_scheme": MINHASH_SCHEME,
        "datasketch": datasketch.__version__.split(".")[0],
        "num_perm": params.num_perm, "seed": params.seed,
        "shingle_size": params.shingle_size, "lsh_bands": params.lsh_bands,
        "lsh_rows": params.lsh_rows, "lead_paragraphs": params.lead_paragraphs,
        "lead_words": params.lead_words,
    }


def sketch_key(params: DedupParams) -> str:
    return ";".join(f"{k}={v}" for k, v in sketch_parameters(params).items())


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=MINHASH_SCHEME).permutations
    return a, b


def minhash_values(shingles: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash hash values of 64-bit shingle hashes, as datasketch's affine32 scheme does."""
    a, b = _permutations(num_perm, seed)
    values = np.full(num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
    hv = _fmix(np.unique(shingles).astype(np.uint32), 32)  # low 32 bits, as hashfunc output
    for start in range(0, hv.size, _CHUNK):
        block = hv[start:start + _CHUNK, None] * a + b
        np.minimum(values, block.min(axis=0), out=values)
    return values


def fingerprint(text: str, *, title: str | None = None, params: DedupParams) -> Fingerprint:
    """Sketch one article's text. ``title`` is not sketched: copies often change headlines."""
    doc = analyze(text)
    signature = minhash_values(shingle_hashes(doc.words, params.shingle_size),
                               params.num_perm, params.seed)
    return Fingerprint(signature, lead_keys(doc, params), doc.n_words, sketch_key(params))


def lead_keys(doc: Document, params: DedupParams) -> np.ndarray:
    """Keys of the opening ``lead_words`` words of the first ``lead_paragraphs`` paragraphs
    long enough to carry them; a teaser or truncated copy shares them with its full text."""
    keys = []
    for paragraph in doc.paragraphs:
        words = paragraph.split(" ", params.lead_words)
        if len(words) >= params.lead_words:
            keys.append(paragraph_key(" ".join(words[:params.lead_words])))
            if len(keys) == params.lead_paragraphs:
                break
    return np.array(keys, dtype=np.uint64).view(np.int64)
