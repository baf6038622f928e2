"""Verification of a candidate pair: are two texts copies of one story?

MinHash and LSH only propose candidates; this decides, on the texts themselves (boilerplate
paragraphs of each text's site removed):

- *coverage*: the share of a text's words that lie in a word n-gram (``verify_ngram``) the
  other text also has. A copy with other chrome, a re-dated copy or an edited copy covers
  nearly all of the other; a teaser is covered completely by its full text; a spun copy with
  30% of its words replaced is still covered about half, in every paragraph.
- *novel share*: the share of a text's words in paragraphs that the other text lacks (covered
  less than ``paragraph_covered``). Two different stories that reuse background paragraphs
  both have novel paragraphs of their own; a copy, a teaser or a spun copy has (almost) none.
- *what differs* in the paragraphs both texts share: the words there that lie in no n-gram
  of the other text are what was replaced, each a figure (a token with a digit: amounts,
  scores, dates, times), a name (capitalised inside a sentence: people, places, teams,
  organisations; German nouns too) or another word. Reports written from one template about
  different events share nearly every word and differ in exactly these slots; an updated
  version keeps the story's names and its text and changes a few figures; a spun or edited
  copy changes ordinary words.

Text A is *contained* in B when A is covered at least ``min_coverage`` (``short_min_coverage``
below ``short_words`` words, where shared names and stock phrases of two reports on one event
weigh more), at most ``max_novel`` of A is novel, and A has at least ``min_words`` words. Two
texts contained in each other are duplicates; one contained in the other is a teaser or part of
it. Where the shared paragraphs disagree on figures, either is vetoed as another event when
at least ``names_changed`` names were replaced too, more names and figures differ than
figures agree, and at most ``words_per_slot`` other words were replaced per differing name or
figure (an update may change one name: a weekday, a deadline), or when at
least ``fact_conflicts`` figures differ, more than agree, and the texts share fewer than
``words_per_changed_figure`` words per differing figure (a robot report is mostly slots; an
updated version is mostly its own text). What is not vetoed is an *update*: one story, its
figures changed (:attr:`Verdict.updated`, with the figures each side has). Both leads (first
paragraph of at least ``lead_words`` words) novel vetoes too: two stories that share only
their background.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from . import DedupParams
from .normalize import FIGURE, NAME, Document, combine


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing texts a and b."""

    method: str            # "duplicate", "a_in_b", "b_in_a", or "" (not one story)
    coverage_a: float      # share of a's words covered by n-grams of b
    coverage_b: float
    novel_a: float         # share of a's words in paragraphs b lacks
    novel_b: float
    jaccard: float         # n-gram set Jaccard
    containment: float     # n-gram set containment of the smaller set in the larger
    fact_conflicts: int
    fact_agreements: int
    reason: str = ""
    names_changed: int = 0  # names (capitalised words) replaced in the shared paragraphs
    words_changed: int = 0  # other words (neither names nor figures) replaced there
    # the figures of the shared paragraphs that the other text lacks, in text order
    figures_a: tuple[str, ...] = ()
    figures_b: tuple[str, ...] = ()

    @property
    def updated(self) -> bool:
        """One story whose texts disagree on figures: one is an updated version of the other."""
        return bool(self.method) and self.fact_conflicts > 0

    @property
    def same_story(self) -> bool:
        return bool(self.method)

    @property
    def similarity(self) -> float:
        """The score the decision rests on: coverage of the contained text (both, for duplicates)."""
        if self.method == "a_in_b":
            return self.coverage_a
        if self.method == "b_in_a":
            return self.coverage_b
        return min(self.coverage_a, self.coverage_b)


@dataclass
class Prepared:
    """A document with boilerplate removed, ready for pairwise comparison (and reusable:
    one text is compared with many candidates)."""

    doc: Document
    gram_set: np.ndarray     # sorted distinct n-gram hashes over the kept words
    gram_index: np.ndarray   # position in ``gram_set`` of each n-gram, in text order
    paragraph: np.ndarray    # paragraph index of each kept word
    paragraph_words: np.ndarray  # kept words per paragraph (0 for a removed one)
    n_words: int
    kind: np.ndarray         # :attr:`~.normalize.Document.word_kind` of each kept word
    words: np.ndarray        # the kept words' hashes


def prepare(doc: Document, boilerplate: set[int], params: DedupParams) -> Prepared:
    """Drop the paragraphs that are boilerplate of the text's site and build its n-grams."""
    dropped = [i for i, key in enumerate(doc.paragraph_keys.tolist()) if key in boilerplate] \
        if boilerplate else []
    if dropped:
        keep = ~np.isin(doc.paragraph_of_word, dropped)
        words, paragraph, kind = doc.words[keep], doc.paragraph_of_word[keep], doc.word_kind[keep]
    else:  # the raw text: the document's own arrays, not copies
        words, paragraph, kind = doc.words, doc.paragraph_of_word, doc.word_kind
    n = params.verify_ngram
    if words.size >= n:
        grams = combine(words, n)
    elif words.size:
        grams = combine(words, words.size)
    else:
        grams = words
    gram_set, gram_index = np.unique(grams, return_inverse=True)
    return Prepared(doc, gram_set, gram_index.ravel(), paragraph,
                    np.bincount(paragraph, minlength=doc.paragraph_keys.size), int(words.size),
                    kind, words)


def _shared(a: Prepared, b: Prepared) -> np.ndarray:
    """bool per distinct n-gram of a (``a.gram_set``): does b have it too? (Both sets are
    sorted: a binary search, not ``np.isin``'s sort of both.)"""
    if b.gram_set.size == 0:
        return np.zeros(a.gram_set.size, dtype=bool)
    position = np.searchsorted(b.gram_set, a.gram_set)
    position[position == b.gram_set.size] = 0
    return b.gram_set[position] == a.gram_set


def _covered(a: Prepared, shared: np.ndarray, n: int) -> np.ndarray:
    """bool per kept word of a: inside an n-gram that b also has (``shared``: see
    :func:`_shared`)."""
    hit = shared[a.gram_index]
    covered = np.zeros(a.n_words, dtype=bool)
    span = min(n, a.n_words)
    for k in range(span):  # a word is covered by any of the n-grams that contain it
        covered[k:k + hit.size] |= hit
    return covered


def _novel(covered: np.ndarray, paragraph: np.ndarray, threshold: float,
           counts: np.ndarray) -> tuple[float, np.ndarray]:
    """Share of words in paragraphs covered less than ``threshold``, and the shared paragraphs
    (``counts``: words per paragraph)."""
    if covered.size == 0:
        return 1.0, np.zeros(0, dtype=bool)
    hits = np.bincount(paragraph, weights=covered, minlength=counts.size)
    present = counts > 0
    shared = np.zeros(counts.size, dtype=bool)
    shared[present] = hits[present] / counts[present] >= threshold
    novel_words = counts[present & ~shared].sum()
    return float(novel_words / covered.size), shared


def _lead_novel(p: Prepared, shared: np.ndarray, min_words: int) -> bool:
    """Is the first substantial paragraph (the lead, where news puts what is new) absent from
    the other text?"""
    for index, count in enumerate(p.paragraph_words.tolist()):
        if count >= min_words:
            return not shared[index]
    return False


def _numbers(p: Prepared, shared: np.ndarray) -> Counter:
    """The numbers (their word hashes) of the shared paragraphs, counted."""
    return Counter(p.doc.number_words[shared[p.doc.number_paragraph]].tolist())


def _lacking(p: Prepared, shared: np.ndarray, other: Counter) -> tuple[str, ...]:
    """The figures of ``p``'s shared paragraphs beyond those in ``other`` (counted), in text
    order, as text."""
    left = Counter(other)
    out = []
    for i in np.flatnonzero(shared[p.doc.number_paragraph]).tolist():
        word = int(p.doc.number_words[i])
        if left[word] > 0:
            left[word] -= 1
        else:
            out.append(p.doc.number_text[i].decode("utf-8", "replace"))
    return tuple(out)


def _changed_words(p: Prepared, covered: np.ndarray, shared: np.ndarray, other: Prepared
                   ) -> tuple[int, int]:
    """Names and other words (not figures) of ``p``'s shared paragraphs that lie in no n-gram
    of the ``other`` text and that it does not have at all: what was replaced or inserted
    there (a word between two changed figures is in no shared n-gram, yet unchanged)."""
    where = ~covered & shared[p.paragraph]
    kind = p.kind[where]
    absent = ~np.isin(p.words[where], other.words)
    names = int(np.count_nonzero(absent & (kind == NAME)))
    return names, int(np.count_nonzero(absent & (kind == 0)))


def compare(a: Prepared, b: Prepared, params: DedupParams) -> Verdict:
    """Decide whether ``a`` and ``b`` are copies of one story (see the module docstring)."""
    n = params.verify_ngram
    if a.n_words == 0 or b.n_words == 0:
        return Verdict("", 0, 0, 1, 1, 0, 0, 0, 0, "empty")
    shared_grams_a, shared_grams_b = _shared(a, b), _shared(b, a)
    cov_a_words = _covered(a, shared_grams_a, n)
    cov_b_words = _covered(b, shared_grams_b, n)
    coverage_a = np.count_nonzero(cov_a_words) / cov_a_words.size
    coverage_b = np.count_nonzero(cov_b_words) / cov_b_words.size
    novel_a, shared_a = _novel(cov_a_words, a.paragraph, params.paragraph_covered,
                               a.paragraph_words)
    novel_b, shared_b = _novel(cov_b_words, b.paragraph, params.paragraph_covered,
                               b.paragraph_words)
    common = int(np.count_nonzero(shared_grams_a))
    union = a.gram_set.size + b.gram_set.size - common
    jaccard = common / union if union else 0.0
    containment = common / min(a.gram_set.size, b.gram_set.size)

    def contained(coverage: float, novel: float, words: int) -> bool:
        needed = params.min_coverage if words >= params.short_words else params.short_min_coverage
        return coverage >= needed and novel <= params.max_novel and words >= params.min_words

    a_in_b = contained(coverage_a, novel_a, a.n_words)
    b_in_a = contained(coverage_b, novel_b, b.n_words)
    method = "duplicate" if a_in_b and b_in_a else "a_in_b" if a_in_b else \
        "b_in_a" if b_in_a else ""
    if not method:
        return Verdict("", coverage_a, coverage_b, novel_a, novel_b, jaccard, containment, 0, 0)
    facts_a, facts_b = _numbers(a, shared_a), _numbers(b, shared_b)
    agreements = sum((facts_a & facts_b).values())
    conflicts = min(sum((facts_a - facts_b).values()), sum((facts_b - facts_a).values()))
    names = others = 0
    reason = ""
    if conflicts:  # what else differs decides: another event, or an updated version
        names_a, others_a = _changed_words(a, cov_a_words, shared_a, b)
        names_b, others_b = _changed_words(b, cov_b_words, shared_b, a)
        names, others = min(names_a, names_b), min(others_a, others_b)
        # the words both texts share in the paragraphs they share: the text the slots sit in
        free = min(int(np.count_nonzero(cov_a_words & shared_a[a.paragraph])),
                   int(np.count_nonzero(cov_b_words & shared_b[b.paragraph])))
        slots = names + conflicts
        if names >= params.names_changed and others <= params.words_per_slot * slots and \
                slots > agreements:
            method, reason = "", "other names and figures"
        elif conflicts >= params.fact_conflicts and conflicts > agreements and \
                free < params.words_per_changed_figure * conflicts:
            method, reason = "", "facts differ"
    if method and _lead_novel(a, shared_a, params.lead_words) and \
            _lead_novel(b, shared_b, params.lead_words):
        method, reason = "", "different leads"
    changed = (_lacking(a, shared_a, facts_b), _lacking(b, shared_b, facts_a)) \
        if method and conflicts else ((), ())
    return Verdict(method, coverage_a, coverage_b, novel_a, novel_b, jaccard, containment,
                   conflicts, agreements, reason, names, others, *changed)


def describe_changes(old: tuple[str, ...], new: tuple[str, ...]) -> str:
    """Which figures an updated version changed: ``"12 → 15, 300 → 340"`` (figures in text
    order, paired in order; one left over shows alone: ``"+7"``, ``"-7"``)."""
    pairs = [f"{o} → {n}" for o, n in zip(old, new)]
    pairs += [f"-{o}" for o in old[len(new):]] + [f"+{n}" for n in new[len(old):]]
    return ", ".join(pairs)
