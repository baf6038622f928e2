"""Fingerprints: what the extraction workers compute for every article (pure, no database).

A :class:`Fingerprint` holds a datasketch MinHash signature (scheme ``affine32``) of the
article's word shingles, used to find candidate copies through LSH, and *lead keys*: a hash of
the first words of each of the first paragraphs, used to find teasers and truncated copies,
which hold only the start of an article and so have a low Jaccard similarity with it.

The signature is bit-identical to ``datasketch.MinHash(num_perm, seed, scheme="affine32",
hashfunc=int).update_batch(shingle_hashes)``; it is computed with numpy over all distinct
shingles at once (one broadcast, one ``min``) because ``update_batch`` calls the hash function
once per shingle in Python. With unigram shingles (the default) only the distinct words are
hashed, and only the paragraphs' keys are computed besides: nothing the verifier needs later.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from itertools import chain, islice
from typing import TYPE_CHECKING

import numpy as np

from . import DedupParams
from .normalize import HASH_SCHEME, hash_words, paragraph_key, paragraph_tokens, shingle_hashes

if TYPE_CHECKING:
    from datasketch import MinHash

# datasketch is imported where signatures are made (the extraction workers, a rebuild), not in
# every process that only reads them: importing it pulls in scipy, ~0.8 s of start-up.
MINHASH_SCHEME = "affine32"
_CHUNK = 4096  # shingles per numpy block: bounds the (permutations x shingles) product to 2 MB


@dataclass(frozen=True)
class Fingerprint:
    """The sketch of one article: small, picklable, independent of any database."""

    signature: np.ndarray   # uint32[num_perm], datasketch MinHash hash values
    lead_keys: np.ndarray   # int64 keys of the first paragraphs' opening words
    short_paragraphs: np.ndarray  # int64 keys of the short paragraphs (boilerplate learning)
    n_words: int            # tokens after normalisation
    sketch_key: str         # the sketch parameters it was made with (see sketch_parameters)

    def minhash(self, params: DedupParams) -> MinHash:
        """The signature as a datasketch ``MinHash`` (for its jaccard(), LSH, ...)."""
        from datasketch import MinHash
        return MinHash(seed=params.seed, hashvalues=self.signature, scheme=MINHASH_SCHEME,
                       permutations=_permutations(params.num_perm, params.seed))


def sketch_parameters(params: DedupParams) -> dict:
    """Everything that makes two signatures comparable; stored with the index."""
    return {
        "hash_scheme": HASH_SCHEME, "minhash_scheme": MINHASH_SCHEME,
        "datasketch": version("datasketch").split(".")[0],
        "num_perm": params.num_perm, "seed": params.seed,
        "shingle_size": params.shingle_size, "lsh_bands": params.lsh_bands,
        "lsh_rows": params.lsh_rows, "lead_paragraphs": params.lead_paragraphs,
        "lead_words": params.lead_words, "boilerplate_max_words": params.boilerplate_max_words,
    }


@lru_cache(maxsize=8)
def sketch_key(params: DedupParams) -> str:
    return ";".join(f"{k}={v}" for k, v in sketch_parameters(params).items())


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=MINHASH_SCHEME).permutations
    return a, b


def minhash_values(shingles: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash hash values of 64-bit shingle hashes, as datasketch's affine32 scheme does."""
    a, b, fmix = _scheme(num_perm, seed)
    if shingles.size == 0:
        return np.full(num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
    hv = fmix(shingles.astype(np.uint32), 32)  # low 32 bits, as hashfunc output
    values = None
    for start in range(0, hv.size, _CHUNK):
        # permutations x shingles: every row is one permutation applied to a contiguous run of
        # shingles, so numpy's SIMD loops do the multiply, the add and the row minimum.
        block = a * hv[start:start + _CHUNK]  # uint32 arithmetic wraps: the scheme's modulo
        block += b
        row_min = block.min(axis=1)
        values = row_min if values is None else np.minimum(values, row_min, out=values)
    return values


@lru_cache(maxsize=8)
def _scheme(num_perm: int, seed: int):
    """The permutations as columns, and the scheme's own pre-mix of hash values, so the
    signatures stay datasketch's."""
    from datasketch.minhash import _fmix
    a, b = _permutations(num_perm, seed)
    return a[:, None].copy(), b[:, None].copy(), _fmix


def fingerprint(text: str, *, title: str | None = None, params: DedupParams) -> Fingerprint:
    """Sketch one article's text. ``title`` is not sketched: copies often change headlines."""
    paragraphs = paragraph_tokens(text)
    n_words = sum(map(len, paragraphs))
    if params.shingle_size <= 1:  # repeated words cost nothing: hash each distinct one once
        distinct = set().union(*paragraphs)
        shingles = hash_words(distinct, len(distinct))
    else:
        words = hash_words(chain.from_iterable(paragraphs), n_words)
        shingles = np.unique(shingle_hashes(words, params.shingle_size))
    signature = minhash_values(shingles, params.num_perm, params.seed)
    leads, short = paragraph_features(paragraphs, params)
    return Fingerprint(signature, leads, short, n_words, sketch_key(params))


def stored_fingerprint(text: str, signature: np.ndarray, params: DedupParams) -> Fingerprint:
    """The fingerprint of an indexed article from its stored ``signature``: only the paragraph
    keys are computed again from its text. For the crawl process, which re-reads indexed
    articles when keys or boilerplate change: sketching there would repeat the MinHash and
    import datasketch (with scipy, ~60 MB) into the process that runs the reactor."""
    paragraphs = paragraph_tokens(text)
    leads, short = paragraph_features(paragraphs, params)
    return Fingerprint(signature, leads, short, sum(map(len, paragraphs)), sketch_key(params))


def paragraph_features(paragraphs: list[list[bytes]], params: DedupParams
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Lead keys (the opening ``lead_words`` words of the first ``lead_paragraphs`` paragraphs
    long enough to have them: a teaser or truncated copy shares them with its full text) and
    the keys of the short paragraphs (at most ``boilerplate_max_words`` words: the ones that
    may be a site's boilerplate), from the paragraphs' tokens."""
    n, limit = params.lead_words, params.boilerplate_max_words
    leads = islice((paragraph_key(t[:n]) for t in paragraphs if len(t) >= n),
                   params.lead_paragraphs)
    short = [paragraph_key(t) for t in paragraphs if len(t) <= limit]
    return (np.fromiter(leads, dtype=np.uint64).view(np.int64),
            np.array(short, dtype=np.uint64).view(np.int64))

