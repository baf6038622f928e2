"""The candidate index held in memory while ``crawler dedup --rebuild`` replays every article.

A rebuild inserts 32 band keys, a few lead keys and the keys of its short paragraphs for every
article. Written one batch at a time into SQLite's B-trees, those keys land on random pages:
at a million articles the band table is over a gigabyte, every batch dirties most of its
pages, and the writer slows from about 500 to well over 1,000 microseconds an article. Here
the same postings live in sorted numpy runs (merged like a binary counter up to a size, so
each pair is copied O(log n) times) and the signatures in one matrix; looking up a batch's keys
is a ``searchsorted`` per run. At the end the postings are written to their tables in key
order, page after page.

Memory: 12 bytes per posting (bands, lead keys, short paragraphs) and 4 bytes per signature
value: about 1.1 GB for a million 600-word articles with the default 32 bands and 128
permutations (1.7 GB peak for the whole rebuild, SQLite's cache included).
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np


class SortedPostings:
    """(key, article_id) pairs, each run sorted by key then id; article ids arrive in
    increasing order (the replay's order), so concatenated runs list ids in order too."""

    #: Runs stop merging at this many postings: merging two 4M runs briefly needs ~250 MB more.
    MAX_RUN = 1 << 22

    def __init__(self, id_dtype: type = np.int32) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.id_dtype = id_dtype  # int32 where the ids allow it: a third less memory

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        if not len(keys):
            return
        order = np.lexsort((ids, keys))
        self.runs.append((np.asarray(keys, dtype=np.int64)[order],
                          np.asarray(ids, dtype=np.int64)[order].astype(self.id_dtype)))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]) and \
                len(self.runs[-2][0]) + len(self.runs[-1][0]) <= self.MAX_RUN:
            (k1, i1), (k2, i2) = self.runs[-2:]
            keys_all, ids_all = np.concatenate([k1, k2]), np.concatenate([i1, i2])
            order = np.argsort(keys_all, kind="stable")  # merges two sorted runs in one pass
            self.runs[-2:] = [(keys_all[order], ids_all[order])]

    def lookup(self, keys: Iterable[int], limit: int | None = None) -> dict[int, list[int]]:
        """Up to ``limit`` ids (the smallest) under each of ``keys``; keys without any are
        left out."""
        wanted = np.unique(np.fromiter(keys, dtype=np.int64))
        found: dict[int, list[int]] = {}
        for run_keys, run_ids in self.runs:
            if not wanted.size:
                break
            lo = np.searchsorted(run_keys, wanted)
            present = np.flatnonzero(run_keys[np.minimum(lo, len(run_keys) - 1)] == wanted)
            if not present.size:
                continue
            # most keys are in no run: only the present ones need their end searched
            hi = np.searchsorted(run_keys, wanted[present], "right")
            for key, start, end in zip(wanted[present].tolist(), lo[present].tolist(),
                                       hi.tolist()):
                found.setdefault(key, []).extend(run_ids[start:end].tolist())
            if limit is not None:
                full = [k for k in wanted[present].tolist() if len(found[k]) >= limit]
                if full:
                    for key in full:
                        del found[key][limit:]
                    wanted = np.setdiff1d(wanted, full, assume_unique=True)
        return found

    def sorted_pairs(self, chunk: int = 1 << 20) -> Iterator[list[tuple[int, int]]]:
        """Every pair in (key, id) order, about ``chunk`` at a time (a k-way merge of the
        runs by key ranges, so memory stays at a chunk); empties the runs."""
        runs, self.runs = self.runs, []
        if not runs:
            return
        largest = max((keys for keys, _ in runs), key=len)
        pieces = max(1, sum(len(keys) for keys, _ in runs) // chunk)
        bounds = np.unique(largest[np.linspace(0, len(largest) - 1, pieces + 1)
                                   .astype(np.int64)[1:-1]])
        cuts = [np.concatenate([[0], np.searchsorted(keys, bounds), [len(keys)]])
                for keys, _ in runs]
        for piece in range(len(bounds) + 1):
            keys = np.concatenate([k[c[piece]:c[piece + 1]] for (k, _), c in zip(runs, cuts)])
            ids = np.concatenate([i[c[piece]:c[piece + 1]] for (_, i), c in zip(runs, cuts)])
            # Runs are in arrival order: a stable sort by key keeps each key's ids in order.
            order = np.argsort(keys, kind="stable")
            yield list(zip(keys[order].tolist(), ids[order].tolist()))


class SignatureMatrix:
    """The MinHash values of the articles replayed so far, one row per article in id order."""

    def __init__(self, capacity: int, num_perm: int) -> None:
        self.ids = np.empty(max(capacity, 1), dtype=np.int64)
        self.values = np.empty((max(capacity, 1), num_perm), dtype=np.uint32)
        self.size = 0

    def add(self, ids: np.ndarray, values: np.ndarray) -> None:
        n = len(ids)
        if self.size and n and ids[0] <= self.ids[self.size - 1]:
            raise ValueError("signatures must be added in increasing article id order")
        if self.size + n > len(self.ids):  # more articles than counted at the start
            grow = max(self.size + n, 2 * len(self.ids))
            self.ids = np.resize(self.ids, grow)
            self.values = np.resize(self.values, (grow, self.values.shape[1]))
        self.ids[self.size:self.size + n] = ids
        self.values[self.size:self.size + n] = values
        self.size += n

    def _rows(self, ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """The ids held among ``ids``, and their rows."""
        wanted = np.fromiter(ids, dtype=np.int64)
        if not wanted.size or not self.size:
            return wanted[:0], wanted[:0]
        rows = np.minimum(np.searchsorted(self.ids[:self.size], wanted), self.size - 1)
        present = self.ids[rows] == wanted
        return wanted[present], rows[present]

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The values of these articles, all of them held, in their order."""
        held, rows = self._rows(ids)
        if len(held) != len(ids):
            raise KeyError("signatures of articles not replayed yet")
        return self.values[rows]

    def similar(self, ids: Iterable[int], signature: np.ndarray, threshold: float) -> set[int]:
        """Those of ``ids`` whose estimated Jaccard similarity with ``signature`` reaches
        ``threshold`` (see :meth:`.index.Index.similar`)."""
        held, rows = self._rows(ids)
        agree = np.count_nonzero(self.values[rows] == signature, axis=1)
        return set(held[agree >= threshold * len(signature)].tolist())
