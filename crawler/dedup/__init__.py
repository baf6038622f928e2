"""Near-duplicate detection: syndicated copies of one news story share one ``story_id``.

The parts, in the order data flows through them:

- :mod:`.normalize` turns article text into comparable tokens and paragraphs;
- :mod:`.sketch` computes a :class:`~.sketch.Fingerprint` (MinHash signature and lead keys),
  pure and picklable, in the extraction workers;
- :mod:`.index` is the persistent candidate index (LSH band table in SQLite);
- :mod:`.stories` verifies candidates and assigns stories (main process, single writer).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping


@dataclass(frozen=True)
class DedupParams:
    """Every knob of near-duplicate detection, with the defaults the quality benchmark chose.

    Read from Scrapy-style settings named ``DEDUP_<FIELD>`` with :meth:`from_settings`.
    """

    #: Words per shingle of the MinHash signature (the LSH candidate search).
    shingle_size: int = 1
    #: MinHash permutations; must equal ``lsh_bands * lsh_rows``.
    num_perm: int = 128
    #: Seed of datasketch's MinHash permutations.
    seed: int = 1
    #: LSH bands and rows per band: a pair with Jaccard J is a candidate with probability
    #: ``1 - (1 - J**rows)**bands``.
    lsh_bands: int = 32
    lsh_rows: int = 4
    #: An LSH bucket shared by more articles than this is judged by its first holders: copies
    #: of more than ``crowded_key_stories`` different texts are common words (skipped); of
    #: fewer, one story's copies, which keep proposing that story.
    lsh_bucket_max: int = 100
    #: An LSH candidate is verified only if its estimated Jaccard similarity reaches this
    #: (teasers come through lead keys, without this check).
    lsh_min_jaccard: float = 0.3
    #: Words per shingle when verifying a candidate pair (coverage by shared word n-grams).
    verify_ngram: int = 3
    #: A text is contained in another when its coverage by shared n-grams reaches this...
    min_coverage: float = 0.5
    #: ...and at most this share of it lies in paragraphs the other text lacks.
    max_novel: float = 0.25
    #: The coverage needed instead by texts shorter than ``short_words`` words.
    short_min_coverage: float = 0.7
    short_words: int = 100
    #: A paragraph counts as present in the other text when this share of it is covered.
    paragraph_covered: float = 0.3
    #: Shortest text (in words, boilerplate removed) that may be merged as contained in another.
    min_words: int = 15
    #: Where figures differ, names replaced in the shared paragraphs (more names and figures
    #: differing than figures agreeing) mark another event of one template, unless more than
    #: this many other words per differing name or figure were replaced (a spun copy).
    words_per_slot: float = 0.5
    #: ...and at least this many names must differ (one, a weekday say, changes in an update).
    names_changed: int = 2
    #: Facts veto: numbers that differ between the aligned texts; at least this many, and more
    #: than the numbers they agree on, mark two stories written from one template...
    fact_conflicts: int = 2
    #: ...unless the texts share at least this many words per differing number (an updated
    #: version of a story: its text stays, a few figures change).
    words_per_changed_figure: int = 20
    #: Paragraphs from the start of an article keyed for teaser search, and words per key.
    lead_paragraphs: int = 4
    lead_words: int = 8
    #: A lead key shared by more articles than this is a site's chrome, not a candidate
    #: source, unless its first holders are copies of few texts (``crowded_key_stories``).
    lead_key_max_postings: int = 50
    #: A key past its limit whose first holders (``lsh_bucket_max`` + 1, or
    #: ``lead_key_max_postings`` + 1, smallest ids) are copies of more than this many
    #: different texts (by their MinHash signatures; at most half the limit counts) is
    #: crowded by common words or chrome.
    crowded_key_stories: int = 10
    #: A new article is verified against every candidate of a story (component) with at most
    #: this many candidates; in a larger one, against this many at most, its representatives
    #: (the story's canonical article, then the candidates most similar to it), stopping at
    #: the first that takes it in: verification and links per article stay flat as stories
    #: grow. A key past its limit proposes this many first holders of each of its texts.
    story_representatives: int = 8
    #: A paragraph seen on pages of at least this many different stories of one site is that
    #: site's boilerplate...
    boilerplate_min_pages: int = 3
    #: ...if it has at most this many words (longer ones are content, even when reused).
    boilerplate_max_words: int = 60

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | Any) -> "DedupParams":
        """Build from Scrapy-style settings (``DEDUP_SHINGLE_SIZE`` ...); missing ones keep defaults."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = settings.get(f"DEDUP_{f.name.upper()}")
            if raw is None:
                continue
            default = f.default
            values[f.name] = type(default)(raw)
        params = cls(**values)
        params.validate()
        return params

    def validate(self) -> None:
        if self.lsh_bands * self.lsh_rows != self.num_perm:
            raise ValueError(
                f"DEDUP_LSH_BANDS * DEDUP_LSH_ROWS must equal DEDUP_NUM_PERM "
                f"({self.lsh_bands} * {self.lsh_rows} != {self.num_perm})")
        if self.shingle_size < 1 or self.verify_ngram < 1:
            raise ValueError("shingle sizes must be >= 1")
        if self.story_representatives < 1 or self.crowded_key_stories < 1:
            raise ValueError("DEDUP_STORY_REPRESENTATIVES and DEDUP_CROWDED_KEY_STORIES must be >= 1")


__all__ = ["DedupParams"]
