"""The article-extraction-benchmark metric (scrapinghub/article-extraction-benchmark, evaluate.py).

Re-implemented from its description so the figures are comparable with the published table:
texts are tokenised with ``\\w+``, cut into 4-word shingles (multisets); per page
TP/FP/FN are normalised to sum to 1; precision and recall are averaged over pages (precision
over pages that predicted something or expected something, likewise recall) and F1 is taken from
the two averages.
"""
from __future__ import annotations

import re
from collections import Counter
from statistics import mean
from typing import Iterable

TOKEN_RE = re.compile(r"\w+", re.UNICODE)

Counts = tuple[float, float, float]


def shingles(text: str, n: int = 4) -> Counter:
    tokens = TOKEN_RE.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1))
                   if tokens[i:i + n])


def page_counts(true: str, pred: str, n: int = 4) -> Counts:
    """Normalised (tp, fp, fn) of one page, as upstream's ``string_shingle_matching``."""
    t, p = shingles(true, n), shingles(pred, n)
    tp = fp = fn = 0.0
    for key in t.keys() | p.keys():
        tc, pc = t.get(key, 0), p.get(key, 0)
        tp += min(tc, pc)
        fp += max(0, pc - tc)
        fn += max(0, tc - pc)
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s > 0 else (tp, fp, fn)


def _share(tp: float, wrong: float, fp: float, fn: float) -> float:
    """tp / (tp + wrong), with upstream's conventions for empty texts."""
    if fp == fn == 0:
        return 1.0
    if tp == wrong == 0:
        return 0.0
    return tp / (tp + wrong)


def precision(tp: float, fp: float, fn: float) -> float:
    return _share(tp, fp, fp, fn)


def recall(tp: float, fp: float, fn: float) -> float:
    return _share(tp, fn, fp, fn)


def score(counts: Iterable[Counts]) -> dict[str, float]:
    """Averaged precision and recall, and F1 from the averages (upstream's definition)."""
    counts = list(counts)
    p = mean(precision(*c) for c in counts if c[0] + c[1] > 0)
    r = mean(recall(*c) for c in counts if c[0] + c[2] > 0)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"f1": f1, "precision": p, "recall": r}
