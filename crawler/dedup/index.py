"""The persistent candidate index, in the crawl's SQLite file.

datasketch's ``MinHashLSH`` keeps its hash tables in Python dicts (or Redis/Cassandra): about
a kilobyte per article at 32 bands, so 1M articles would need several GB and have to be rebuilt
from the signatures at every start. The same banding (``lsh_bands`` x ``lsh_rows``, each band
of the datasketch signature hashed to one 64-bit key) is stored here in a ``WITHOUT ROWID``
SQLite table instead: memory stays bounded by SQLite's page cache, the index persists between
crawls, and a query is one indexed lookup.

Tables (created here, all prefixed ``dedup_``):

- ``dedup_bands(key, article_id)``: one row per article and LSH band.
- ``dedup_leads(key, article_id)``: lead keys (opening words of the first paragraphs).
- ``dedup_articles(article_id, component)``: which articles are indexed, and the connected
  group of verified links each belongs to (stories are computed inside a component).
- ``dedup_signatures(article_id, signature)``: the MinHash values, to estimate the Jaccard
  similarity of an LSH candidate before reading its text.
- ``dedup_site_paragraphs(key, article_id)``: short paragraphs per site, to learn boilerplate.
- ``dedup_site_links(article_id, other_id)``: same-site candidate pairs that are copies on
  their raw texts (nothing removed), both directions; ``dedup_site_groups(article_id,
  site_group)``: the connected groups they make. Boilerplate is counted over these groups, so
  it does not depend on the story links that it influences.

The sketch parameters and the layout version of these tables are stored in ``meta`` under
``dedup_sketch``; opening the index with other ones raises :class:`IncompatibleIndex`.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from functools import lru_cache
from typing import Iterable, Iterator, Sequence

import numpy as np
import sqlite_utils
import xxhash

from . import DedupParams
from .postings import SignatureMatrix, SortedPostings
from .sketch import Fingerprint, sketch_key, sketch_parameters

META_KEY = "dedup_sketch"
#: Estimated Jaccard similarity above which two holders of a key count as copies of one text
#: (:func:`text_groups`): copies with other chrome or an update agree on 0.8 and more of
#: their MinHash values, unrelated texts sharing a band of common words on 0.1 to 0.3.
COPY_JACCARD = 0.5
#: Verdicts on keys past their limit kept in memory (each with the few ids it proposes), and
#: signatures (512 bytes each): the first holders of a big story's keys are read again and
#: again. Together a few MB.
_FULL_KEYS_KEPT = 4096
_SIGNATURES_KEPT = 8192
#: Set in ``meta`` while a rebuild runs: an index it left half-written is refused.
REBUILDING_KEY = "dedup_rebuilding"
#: Version of the ``dedup_`` tables' layout and meaning (2: boilerplate over site groups;
#: 3: site groups join only pages contained in each other).
INDEX_SCHEMA = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS dedup_bands (
    key INTEGER NOT NULL, article_id INTEGER NOT NULL, PRIMARY KEY (key, article_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_leads (
    key INTEGER NOT NULL, article_id INTEGER NOT NULL, PRIMARY KEY (key, article_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_articles (
    article_id INTEGER PRIMARY KEY, component INTEGER NOT NULL, n_words INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dedup_articles_component ON dedup_articles (component);
CREATE TABLE IF NOT EXISTS dedup_signatures (
    article_id INTEGER PRIMARY KEY, signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dedup_site_paragraphs (
    key INTEGER NOT NULL, article_id INTEGER NOT NULL, PRIMARY KEY (key, article_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_site_links (
    article_id INTEGER NOT NULL, other_id INTEGER NOT NULL, PRIMARY KEY (article_id, other_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_site_groups (
    article_id INTEGER PRIMARY KEY, site_group INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dedup_site_groups_group ON dedup_site_groups (site_group);
"""
TABLES = ("dedup_bands", "dedup_leads", "dedup_articles", "dedup_signatures",
          "dedup_site_paragraphs", "dedup_site_links", "dedup_site_groups")


def ensure_schema(db: sqlite_utils.Database) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


class IncompatibleIndex(RuntimeError):
    """The stored index was built with other sketch parameters; run ``crawler dedup --rebuild``."""


def band_keys(signature: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One signed 64-bit key per LSH band: the band's ``rows`` hash values and its number."""
    return band_keys_many(signature[None, :], bands, rows)[0]


def band_keys_many(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """:func:`band_keys` of every row of a (articles x num_perm) signature matrix."""
    values = signatures[:, :bands * rows].astype(np.uint64).reshape(len(signatures), bands, rows)
    h = np.bitwise_xor(_band_numbers(bands), values[:, :, 0])
    scratch = np.empty_like(h)
    for column in range(rows):  # a loop over the rows of a band, not over articles
        if column:
            np.bitwise_xor(h, values[:, :, column], out=h)
        _fmix64_in_place(h, scratch)
    return h.view(np.int64)


_SHIFT = np.uint64(33)
_MIX1, _MIX2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)


def _fmix64_in_place(h: np.ndarray, scratch: np.ndarray) -> None:
    """:func:`~.normalize.fmix64` without new arrays or constants: the main process computes
    the band keys of one article at a time, where numpy's per-call overhead is the cost."""
    for multiplier in (_MIX1, _MIX2):
        np.right_shift(h, _SHIFT, out=scratch)
        np.bitwise_xor(h, scratch, out=h)
        np.multiply(h, multiplier, out=h)
    np.right_shift(h, _SHIFT, out=scratch)
    np.bitwise_xor(h, scratch, out=h)


@lru_cache(maxsize=4)
def _band_numbers(bands: int) -> np.ndarray:
    return np.arange(bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)


def select_in(db: sqlite_utils.Database, sql: str, ids: Iterable[int], *after: object,
              repeat: int = 1) -> Iterator[tuple]:
    """Rows of ``sql`` (with ``{marks}`` where the ``IN`` list goes, ``repeat`` times, and
    ``after`` as its parameters behind the lists) for every chunk of 300 ``ids``: SQLite
    limits parameters."""
    ids = sorted(set(ids))
    for i in range(0, len(ids), 300):
        chunk = ids[i:i + 300]
        yield from db.execute(sql.format(marks=",".join("?" * len(chunk))),
                              [*chunk * repeat, *after])


def _sorted_pairs(keys: np.ndarray, ids: np.ndarray) -> Iterable[tuple[int, int]]:
    order = np.lexsort((ids, keys))
    return zip(keys[order].tolist(), ids[order].tolist())


def site_paragraph_key(site: str | None, paragraph_key: int) -> int:
    """Signed 64-bit key of (site, paragraph); ``paragraph_key`` signed or unsigned alike."""
    unsigned = paragraph_key & 0xFFFFFFFFFFFFFFFF
    return xxhash.xxh3_64_intdigest(f"{site or ''}\x00{unsigned}".encode()) - 2 ** 63


def text_groups(signatures: np.ndarray, threshold: float, stop_after: int) -> list[np.ndarray]:
    """The rows of these MinHash signatures grouped by text: rows whose estimated Jaccard
    similarity with a group's first row reaches ``threshold`` are copies of it (each group's
    rows in their order). Grouping stops after ``stop_after + 1`` groups. One story's copies
    (other chrome, a teaser, an update) make one to a few groups; a bucket of common words,
    one group per holder."""
    rest = np.arange(len(signatures))
    groups: list[np.ndarray] = []
    while rest.size and len(groups) <= stop_after:
        agree = np.count_nonzero(signatures[rest] == signatures[rest[0]], axis=1)
        copies = agree >= threshold * signatures.shape[1]
        groups.append(rest[copies])
        rest = rest[~copies]
    return groups


class Index:
    """LSH bands, lead keys and site paragraphs of the indexed articles (one writer)."""

    def __init__(self, db: sqlite_utils.Database, params: DedupParams):
        self.db = db
        self.params = params
        ensure_schema(db)
        self._check_parameters()
        self._bulk: _Bulk | None = None
        # table -> key -> ((count, smallest, largest id) of its first limit + 1 holders, what
        # it proposes) of keys past their limit; article id -> stored signature of the
        # articles read lately
        self._full: dict[str, OrderedDict[int, tuple[tuple[int, int, int], tuple[int, ...]]]] = \
            {"dedup_bands": OrderedDict(), "dedup_leads": OrderedDict()}
        self._signatures: OrderedDict[int, bytes] = OrderedDict()

    @classmethod
    def reset(cls, db: sqlite_utils.Database, params: DedupParams) -> "Index":
        """Empty the index and adopt ``params`` (for a rebuild)."""
        ensure_schema(db)
        for table in TABLES:
            db.execute(f"DELETE FROM {table}")
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                   [META_KEY, json.dumps(_stored_parameters(params), sort_keys=True)])
        db.execute("DELETE FROM meta WHERE key = ?", [REBUILDING_KEY])
        return cls(db, params)

    # ------------------------------------------------------------ bulk (rebuild)
    def begin_bulk(self, expected_articles: int, max_article_id: int) -> None:
        """Hold the postings of the band, lead and site-paragraph tables and the signatures
        in memory (:mod:`.postings`) until :meth:`finish_bulk`: for a rebuild into an empty
        index, which they would otherwise fill at random B-tree pages. Marks the index as
        being rebuilt until then."""
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')",
                        [REBUILDING_KEY])
        id_dtype = np.int32 if max_article_id < 2 ** 31 else np.int64
        self._bulk = _Bulk(id_dtype, expected_articles, self.params.num_perm)

    def finish_bulk(self) -> None:
        """Write the postings held since :meth:`begin_bulk` in key order (call inside a
        transaction)."""
        bulk, self._bulk = self._bulk, None
        bulk.signatures = None  # (they are in dedup_signatures) free them before sorting
        for table, postings in bulk.tables().items():
            for rows in postings.sorted_pairs():
                self.db.conn.executemany(f"INSERT OR IGNORE INTO {table} VALUES (?, ?)", rows)
        self.db.execute("DELETE FROM meta WHERE key = ?", [REBUILDING_KEY])

    # ------------------------------------------------------------ parameters
    def _check_parameters(self) -> None:
        wanted = _stored_parameters(self.params)
        if self.db.execute("SELECT 1 FROM meta WHERE key = ?", [REBUILDING_KEY]).fetchone():
            raise IncompatibleIndex(
                "the dedup index of this database is incomplete: a `crawler dedup --rebuild` "
                "was interrupted. Run `crawler dedup --rebuild` again.")
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [META_KEY]).fetchone()
        if row is None:
            self._write_parameters(wanted)
            return
        stored = json.loads(row[0])
        stored.setdefault("index_schema", 1)  # indexes made before the layout had a version
        if stored != wanted:
            indexed = self.db.execute("SELECT count(*) FROM dedup_articles").fetchone()[0]
            if indexed == 0:  # nothing indexed yet: the new parameters simply apply
                self._write_parameters(wanted)
                return
            differing = sorted(k for k in set(stored) | set(wanted)
                               if stored.get(k) != wanted.get(k))
            details = ", ".join(f"{k}: stored {stored.get(k)!r}, now {wanted.get(k)!r}"
                                for k in differing)
            raise IncompatibleIndex(
                f"the dedup index of this database was built with other sketch parameters or "
                f"an older index layout ({details}); signatures made with different parameters "
                f"cannot be compared. Run `crawler dedup --rebuild` to re-sketch every stored "
                f"article, or use the stored settings.")

    def _write_parameters(self, wanted: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        [META_KEY, json.dumps(wanted, sort_keys=True)])

    def check_fingerprint(self, fp: Fingerprint) -> None:
        if fp.sketch_key != sketch_key(self.params):
            raise IncompatibleIndex(
                f"fingerprint made with other sketch parameters ({fp.sketch_key}) than the "
                f"index ({sketch_key(self.params)})")

    # ------------------------------------------------------------ writes
    def add(self, article_id: int, fp: Fingerprint, site_paragraphs: Iterable[int]) -> None:
        self.add_many([(article_id, fp, site_paragraphs)])

    def add_many(self, entries: Sequence[tuple[int, Fingerprint, Iterable[int]]],
                 bands: np.ndarray | None = None) -> None:
        """Index many articles with one statement per table (rows sorted by key, so a large
        index is written page by page rather than at random). ``bands`` may hold their
        :func:`band_keys_many`, already computed."""
        if not entries:
            return
        p = self.params
        ids = np.array([e[0] for e in entries], dtype=np.int64)
        if bands is None:
            bands = band_keys_many(np.stack([e[1].signature for e in entries]),
                                   p.lsh_bands, p.lsh_rows)
        leads, paragraphs, articles, signatures = set(), set(), [], []
        for article_id, fp, site_paragraphs in entries:
            leads.update((k, article_id) for k in fp.lead_keys.tolist())
            paragraphs.update((k, article_id) for k in site_paragraphs)
            articles.append((article_id, article_id, fp.n_words))
            signatures.append((article_id, fp.signature.astype("<u4").tobytes()))
        execute = self.db.conn.executemany
        if self._bulk:
            self._bulk.bands.add(bands.ravel(), np.repeat(ids, bands.shape[1]))
            self._bulk.leads.add(*_pairs_arrays(leads))
            self._bulk.paragraphs.add(*_pairs_arrays(paragraphs))
            self._bulk.signatures.add(ids, np.stack([e[1].signature for e in entries]))
        else:
            execute("INSERT OR IGNORE INTO dedup_bands VALUES (?, ?)",
                    _sorted_pairs(bands.ravel(), np.repeat(ids, bands.shape[1])))
            execute("INSERT OR IGNORE INTO dedup_leads VALUES (?, ?)", sorted(leads))
            execute("INSERT OR IGNORE INTO dedup_site_paragraphs VALUES (?, ?)",
                    sorted(paragraphs))
        execute("INSERT OR REPLACE INTO dedup_articles VALUES (?, ?, ?)", articles)
        execute("INSERT OR REPLACE INTO dedup_signatures VALUES (?, ?)", signatures)
        execute("INSERT OR REPLACE INTO dedup_site_groups VALUES (?, ?)",
                [(a, a) for a, _, _ in articles])

    # ------------------------------------------------------------ queries
    def candidates(self, article_id: int, fp: Fingerprint) -> set[int]:
        """Indexed articles sharing a live lead key with ``fp``, or a live LSH band and an
        estimated Jaccard similarity of at least ``lsh_min_jaccard`` (not ``article_id``).

        A band bucket of at most ``lsh_bucket_max`` articles and a lead key of at most
        ``lead_key_max_postings`` are live: all their holders are candidates. A key with
        more holders is judged by its first ``limit + 1`` holders (smallest ids, counting
        ``article_id`` whether it is indexed yet or not): held by copies of few different
        texts (:func:`text_groups`), it is one story's copies and proposes the first few
        holders of each text; held by many, it is common words or a site's chrome and is no
        source of candidates. Those first holders never change once a key has them (ids
        only grow), so neither does its verdict; a key that is crowded out when it passes
        its limit is returned by :meth:`probe`, and the links it alone proposed are dropped
        then."""
        p = self.params
        return self.probe(article_id, fp, band_keys(fp.signature, p.lsh_bands, p.lsh_rows))[0]

    def probe(self, article_id: int, fp: Fingerprint, bands: np.ndarray
              ) -> tuple[set[int], list[tuple[str, int]]]:
        """:meth:`candidates` of an article not indexed yet (``bands``: its
        :func:`band_keys`), and the keys it crowds out once indexed: one statement per key
        table instead of one per key (keys already judged full are not read again)."""
        p = self.params
        limits = {"dedup_bands": p.lsh_bucket_max, "dedup_leads": p.lead_key_max_postings}
        keys = {"dedup_bands": bands.tolist(), "dedup_leads": fp.lead_keys.tolist()}
        full = {table: self._full[table].keys() & keys[table] for table in keys}
        for table, known in full.items():
            if known:
                keys[table] = [k for k in keys[table] if k not in known]
        postings = self._postings_of(keys["dedup_bands"], p.lsh_bucket_max + 1,
                                     keys["dedup_leads"], p.lead_key_max_postings + 1)
        found: set[int] = set()
        crowded: list[tuple[str, int]] = []
        for table, limit in limits.items():
            live: set[int] = set()
            for key in full[table]:
                self._full[table].move_to_end(key)
                live.update(self._full[table][key][1])
            for key, ids in postings[table].items():
                size = len(ids) + (article_id not in ids)
                if size <= limit:
                    live.update(ids)
                elif article_id in ids or len(ids) > limit:  # its first holders are stored
                    live.update(self.key_past_limit(table, key, ids))
                elif self._text_groups(ids, limit, fp.signature) is not None:  # passing it now
                    live.update(ids)
                else:
                    crowded.append((table, key))
            live.discard(article_id)
            if table == "dedup_bands":
                live = self.similar(live, fp.signature, p.lsh_min_jaccard)
            found |= live
        return found, crowded

    def key_past_limit(self, table: str, key: int, first: list[int]) -> tuple[int, ...]:
        """What a key with ``first`` as its first ``limit + 1`` holders proposes: nothing if
        they are many different texts (common words, chrome); else the first
        ``story_representatives`` holders of each text, enough to find the story (the verdict
        is kept, bounded: it cannot change)."""
        held = (len(first), min(first), max(first))  # identifies them: holders only grow
        kept = self._full[table]
        known = kept.get(key)
        if known is not None and known[0] == held:
            return known[1]
        limit = self.params.lsh_bucket_max if table == "dedup_bands" else \
            self.params.lead_key_max_postings
        holders = sorted(first)
        groups = self._text_groups(holders, limit)
        proposed = () if groups is None else tuple(sorted(
            holders[i] for rows in groups for i in rows[:self.params.story_representatives]))
        kept[key] = (held, proposed)
        if len(kept) > _FULL_KEYS_KEPT:
            kept.popitem(last=False)
        return proposed

    def _text_groups(self, holders: list[int], limit: int,
                     extra: np.ndarray | None = None) -> list[np.ndarray] | None:
        """The :func:`text_groups` of these holders of a key, in id order (and of the article
        with signature ``extra`` last), or None when they are more than
        ``crowded_key_stories`` (at most half of ``limit``): a crowded key."""
        stories = min(self.params.crowded_key_stories, max(1, limit // 2))
        signatures = self.signature_rows(np.array(sorted(holders), dtype=np.int64))
        if extra is not None:
            signatures = np.vstack([signatures, extra[None, :]])
        groups = text_groups(signatures, COPY_JACCARD, stories)
        return groups if len(groups) <= stories else None

    def _postings_of(self, bands: list[int], band_limit: int, leads: list[int],
                     lead_limit: int) -> dict[str, dict[int, list[int]]]:
        """Up to ``band_limit`` article ids under each of the band keys ``bands`` and up to
        ``lead_limit`` under each lead key in ``leads`` (keys without any are left out), in
        one statement: table -> key -> ids."""
        if self._bulk:
            return {"dedup_bands": self._bulk.bands.lookup(bands, band_limit),
                    "dedup_leads": self._bulk.leads.lookup(leads, lead_limit)}
        select = ("SELECT {n}, k.value, (SELECT group_concat(article_id) FROM (SELECT "
                  "article_id FROM {table} t WHERE t.key = k.value LIMIT ?)) AS ids FROM "
                  "(SELECT DISTINCT value FROM json_each(?)) k WHERE ids IS NOT NULL")
        rows = self.db.execute(
            select.format(n=0, table="dedup_bands") + " UNION ALL " +
            select.format(n=1, table="dedup_leads"),
            [band_limit, json.dumps(bands), lead_limit, json.dumps(leads)])
        found: dict[str, dict[int, list[int]]] = {"dedup_bands": {}, "dedup_leads": {}}
        for n, key, ids in rows:
            found["dedup_leads" if n else "dedup_bands"][key] = [int(i) for i in ids.split(",")]
        return found

    def members(self, table: str, key: int) -> list[int]:
        """Every article under one key of ``dedup_bands`` or ``dedup_leads``."""
        if table not in ("dedup_bands", "dedup_leads"):
            raise ValueError(table)
        if self._bulk:
            return self._bulk.tables()[table].lookup([key]).get(key, [])
        return [r[0] for r in self.db.execute(
            f"SELECT article_id FROM {table} WHERE key = ?", [key])]

    def postings(self, table: str, keys: Iterable[int], limit: int) -> dict[int, list[int]]:
        """Up to ``limit`` article ids under each of many keys of ``dedup_bands`` or
        ``dedup_leads``, in one statement (keys without any are left out)."""
        if table not in ("dedup_bands", "dedup_leads"):
            raise ValueError(table)
        if self._bulk:
            return self._bulk.tables()[table].lookup(keys, limit)
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS dedup_probe (key INTEGER PRIMARY KEY)")
        self.db.execute("DELETE FROM dedup_probe")
        self.db.conn.executemany("INSERT OR IGNORE INTO dedup_probe VALUES (?)",
                                 [(k,) for k in keys])
        rows = self.db.execute(
            f"SELECT key, (SELECT group_concat(article_id) FROM (SELECT article_id FROM {table} t "
            f"WHERE t.key = p.key LIMIT ?)) AS ids FROM dedup_probe p WHERE ids IS NOT NULL",
            [limit]).fetchall()
        return {key: [int(i) for i in ids.split(",")] for key, ids in rows}

    def signature_rows(self, ids: np.ndarray) -> np.ndarray:
        """The MinHash values of these indexed articles, one row each, in their order."""
        if self._bulk:
            return self._bulk.signatures.rows(ids)
        cache = self._signatures
        wanted = ids.tolist()
        missing = [a for a in wanted if a not in cache]
        if missing:
            for article_id, signature in select_in(
                    self.db, "SELECT article_id, signature FROM dedup_signatures "
                    "WHERE article_id IN ({marks})", missing):
                cache[article_id] = signature
            while len(cache) > _SIGNATURES_KEPT:
                cache.popitem(last=False)
        return np.frombuffer(b"".join(cache[a] for a in wanted), dtype="<u4"
                             ).reshape(len(wanted), self.params.num_perm)

    def similar(self, ids: set[int], signature: np.ndarray, threshold: float) -> set[int]:
        """Those of ``ids`` whose estimated Jaccard similarity with ``signature`` reaches
        ``threshold``."""
        if not ids or threshold <= 0:
            return ids
        if self._bulk:
            return self._bulk.signatures.similar(ids, signature, threshold)
        wanted = np.fromiter(ids, dtype=np.int64, count=len(ids))
        agree = np.count_nonzero(self.signature_rows(wanted) == signature, axis=1)
        return set(wanted[agree >= threshold * len(signature)].tolist())

    def site_group_counts(self, site_keys: Iterable[int]) -> dict[int, int]:
        """In how many site groups each of these site-paragraph keys occurs, counted up to
        ``boilerplate_min_pages`` (keys in none are left out)."""
        keys = sorted(set(site_keys))
        if not keys:
            return {}
        need = self.params.boilerplate_min_pages
        if self._bulk:
            return self._bulk_group_counts(keys, need)
        return dict(self.db.execute(
            "SELECT k.value, (SELECT count(*) FROM (SELECT DISTINCT g.site_group FROM "
            "dedup_site_paragraphs p JOIN dedup_site_groups g ON g.article_id = p.article_id "
            "WHERE p.key = k.value LIMIT ?)) AS n FROM json_each(?) k WHERE n > 0",
            [need, json.dumps(keys)]).fetchall())

    def _bulk_group_counts(self, keys: list[int], need: int) -> dict[int, int]:
        """:meth:`site_group_counts` from the postings in memory: a few holders of a key
        usually show enough groups (a footer on every page of a site); only a key whose first
        holders are copies of one story needs all of them."""
        paragraphs = self._bulk.paragraphs
        first = 8 * need
        holders = paragraphs.lookup(keys, first)
        groups = self.site_groups_of({a for ids in holders.values() for a in ids})
        counts = {k: len({groups[a] for a in ids}) for k, ids in holders.items()}
        crowded = [k for k, n in counts.items() if n < need and len(holders[k]) == first]
        if crowded:
            holders = paragraphs.lookup(crowded)
            groups = self.site_groups_of({a for ids in holders.values() for a in ids})
            counts.update((k, len({groups[a] for a in ids})) for k, ids in holders.items())
        return {k: min(n, need) for k, n in counts.items()}

    def boilerplate(self, site_keys: Iterable[int]) -> set[int]:
        """Which of these site-paragraph keys recur in articles of at least
        ``boilerplate_min_pages`` different site groups (see :meth:`add_site_links`): a
        paragraph repeated only by copies of one story on one site is that story's text, not
        boilerplate. (Counting stops at the threshold, so a footer on every page of a site
        costs no more than a rare paragraph.)"""
        need = self.params.boilerplate_min_pages
        return {k for k, n in self.site_group_counts(site_keys).items() if n >= need}

    def holders(self, site_keys: Iterable[int]) -> set[int]:
        """The articles holding any of these site paragraphs."""
        if self._bulk:
            return {a for ids in self._bulk.paragraphs.lookup(site_keys).values() for a in ids}
        return {r[0] for r in select_in(
            self.db, "SELECT article_id FROM dedup_site_paragraphs WHERE key IN ({marks})",
            site_keys)}

    def component_members(self, components: Iterable[int]) -> dict[int, int]:
        """Article id -> word count of every article in these components."""
        components = list(set(components))
        marks = ",".join("?" * len(components))
        return dict(self.db.execute(
            f"SELECT article_id, n_words FROM dedup_articles WHERE component IN ({marks})",
            components).fetchall())

    def components_of(self, article_ids: Iterable[int]) -> dict[int, int]:
        return dict(select_in(
            self.db, "SELECT article_id, component FROM dedup_articles "
            "WHERE article_id IN ({marks})", article_ids))

    def story_of(self, article_id: int) -> tuple[int, int]:
        """The story of an indexed article and that story's canonical article."""
        row = self.db.execute(
            "SELECT a.story_id, s.canonical_article_id FROM articles a LEFT JOIN stories s "
            "ON s.id = a.story_id WHERE a.id = ?", [article_id]).fetchone()
        story = row[0] if row and row[0] is not None else article_id
        return story, row[1] if row and row[1] is not None else article_id

    def story_members_on_site(self, story: int, site: str | None, before: int,
                              limit: int) -> list[int]:
        """Up to ``limit`` articles of ``story`` on ``site`` with ids below ``before`` (the
        ones indexed before it, also while a rebuild replays them), smallest ids first."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM articles WHERE story_id = ? AND site IS ? AND id < ? ORDER BY id "
            "LIMIT ?", [story, site, before, limit])]

    def set_component(self, members: Sequence[int], component: int) -> None:
        self.db.conn.executemany("UPDATE dedup_articles SET component = ? WHERE article_id = ?",
                                 [(component, m) for m in members])

    # ------------------------------------------------------------ site groups
    # Copies of one story on one site, found on their raw texts: what boilerplate is counted
    # over. Raw verification does not depend on boilerplate, so neither do these groups.

    def add_site_links(self, pairs: Iterable[tuple[int, int]]) -> None:
        self.db.conn.executemany("INSERT OR IGNORE INTO dedup_site_links VALUES (?, ?)",
                                 [p for a, b in pairs for p in ((a, b), (b, a))])

    def delete_site_links(self, pairs: Iterable[tuple[int, int]]) -> None:
        self.db.conn.executemany("DELETE FROM dedup_site_links WHERE article_id = ? AND "
                                 "other_id = ?", [p for a, b in pairs for p in ((a, b), (b, a))])

    def site_links_within(self, members: Iterable[int]) -> list[tuple[int, int]]:
        members = set(members)
        return [(a, b) for a, b in select_in(
            self.db, "SELECT article_id, other_id FROM dedup_site_links "
            "WHERE article_id IN ({marks})", members) if a < b and b in members]

    def site_groups_of(self, article_ids: Iterable[int]) -> dict[int, int]:
        return dict(select_in(self.db, "SELECT article_id, site_group FROM dedup_site_groups "
                                       "WHERE article_id IN ({marks})", article_ids))

    def site_group_members(self, groups: Iterable[int]) -> list[int]:
        return [r[0] for r in select_in(self.db, "SELECT article_id FROM dedup_site_groups "
                                                 "WHERE site_group IN ({marks})", groups)]

    def set_site_group(self, members: Sequence[int], group: int) -> None:
        self.db.conn.executemany(
            "UPDATE dedup_site_groups SET site_group = ? WHERE article_id = ?",
            [(group, m) for m in members])


class _Bulk:
    """What :meth:`Index.begin_bulk` holds in memory: the postings of the key tables."""

    def __init__(self, id_dtype: type, expected_articles: int, num_perm: int) -> None:
        self.bands = SortedPostings(id_dtype)
        self.leads = SortedPostings(id_dtype)
        self.paragraphs = SortedPostings(id_dtype)
        self.signatures: SignatureMatrix | None = SignatureMatrix(expected_articles, num_perm)

    def tables(self) -> dict[str, SortedPostings]:
        return {"dedup_bands": self.bands, "dedup_leads": self.leads,
                "dedup_site_paragraphs": self.paragraphs}


def _pairs_arrays(pairs: set[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(key, article_id) pairs as two arrays."""
    flat = np.fromiter((x for pair in pairs for x in pair), dtype=np.int64, count=2 * len(pairs))
    return flat[0::2], flat[1::2]


def _stored_parameters(params: DedupParams) -> dict:
    """What the index stores in ``meta`` and refuses to mix: the sketch parameters and the
    layout version of the ``dedup_`` tables."""
    return {**sketch_parameters(params), "index_schema": INDEX_SCHEMA}

