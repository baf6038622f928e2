"""Stories: connected groups of verified copies, kept up to date as articles arrive.

For each new article the assigner asks the index for candidates (LSH bands and lead keys),
verifies every candidate on the texts (:mod:`.verify`), records the matching pairs in
``article_links`` and recomputes the stories of the *component* the new article joins: the
articles connected to it by verified links. Only that component is read, never the whole
database, and the stories of a component are a function of its links alone.

The links themselves are a function of the stored articles, whatever order they came in,
computed in three steps that each depend only on the ones before:

1. *candidates*: a pair is a candidate by the sizes its shared keys have now (a key grown
   past its limit is :meth:`~.index.Index.crowded` out, and what it alone proposed dropped);
2. *site groups*: same-site candidate pairs verified on their raw texts (nothing removed),
   each contained in the other, link copies of one story on one site; a site's short
   paragraph found in at least ``boilerplate_min_pages`` of these groups is boilerplate;
3. *story links*: candidate pairs verified with their sites' boilerplate removed.

Boilerplate is not counted over the story links it influences: counted that way, a story
with several copies on one site could hold two self-consistent states (copies linked, so
their paragraphs are the story's text; or split, so the same paragraphs count as
boilerplate and keep them split), and which one a crawl reached depended on arrival order.
When a step's outcome changes (a key is crowded out, site groups merge or split, a
paragraph becomes or stops being boilerplate), the later steps are redone for the articles
concerned. So the stories do not depend on the order in which articles arrive, and
``rebuild`` (which replays every stored article through the same path) gives the same
stories as the incremental crawls.

Guard against chaining: duplicate and update links (each text contained in the other) join
articles into *cores*; a core whose texts are only contained in others (teasers, truncated copies)
attaches to exactly one other core, the one that contains it best (ties go to the core
with the earliest published article, then the smallest URL: facts of the texts, not of
their arrival). So an article that overlaps two different stories, or a teaser of one
background paragraph shared by two stories, joins at most one of them and never bridges
them.
"""
from __future__ import annotations

import logging
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator

import numpy as np
import sqlite_utils

from .. import store
from . import DedupParams
from .index import Index, band_keys_many, select_in, site_paragraph_key
from . import representatives
from .normalize import Document, analyze
from .representatives import Plan
from .sketch import Fingerprint, fingerprint, stored_fingerprint
from .verify import Prepared, Verdict, compare, describe_changes, prepare

#: Analysed texts kept for verification (~21 KB of arrays each with its prepared form, over
#: the corpus's articles): the copies a crawl's batches compare. 512 held 16 MB at the peak
#: of a 10,000-page crawl and saved no CPU over 128 in a replay of its articles (3.4-3.5 vs
#: 3.1-3.2 ms an article).
_CACHE_SIZE = 128
_REBUILD_DOCUMENTS = 4096  # a rebuild replays batches of thousands: a larger cache pays there
_REBUILD_CACHE_KB = 256_000  # SQLite page cache while rebuilding (memory stays under 2 GB)

log = logging.getLogger(__name__)


@dataclass
class _Analysed:
    """A stored article's analysed text, as verification needs it (cached)."""

    doc: Document
    site_paragraphs: dict[int, int]  # site-paragraph key -> paragraph key, short paragraphs
    raw: Prepared | None = None      # prepared with nothing removed (site groups)
    # prepared with the boilerplate it had when last compared, and that boilerplate
    prepared: tuple[frozenset[int], Prepared] | None = None


class StoryAssigner:
    """Gives each new article its story (main process, the single writer of the DB).

    Call :meth:`add` inside ``store.transaction(db)`` right after the article row is inserted.
    """

    def __init__(self, db: sqlite_utils.Database, params: DedupParams,
                 cached_documents: int = _CACHE_SIZE):
        self.db = db
        self.params = params
        self.index = Index(db, params)
        self.cached_documents = cached_documents
        self._docs: OrderedDict[int, _Analysed] = OrderedDict()

    # ------------------------------------------------------------ public
    def add(self, article_id: int, fp: Fingerprint) -> int:
        """Index ``article_id``, link it to its verified copies; returns its story id."""
        self.index.check_fingerprint(fp)
        row = self.db.execute(
            "SELECT site, story_id, EXISTS (SELECT 1 FROM dedup_articles WHERE article_id = ?) "
            "FROM articles WHERE id = ?", [article_id, article_id]).fetchone()
        if row is None:
            raise KeyError(f"article {article_id} is not stored")
        site, story, indexed = row
        if indexed:
            return story if story is not None else article_id
        p = self.params
        bands = band_keys_many(fp.signature[None, :], p.lsh_bands, p.lsh_rows)
        candidates, crowded = self.index.probe(article_id, fp, bands[0])
        return self._join(article_id, fp, site, candidates, crowded, bands)

    def _join(self, article_id: int, fp: Fingerprint, site: str | None, candidates: set[int],
              crowded: list[tuple[str, int]], bands: np.ndarray | None = None) -> int:
        """Index ``article_id``, verify its candidates and rewrite the stories it touches
        (``crowded``: the keys it crowds out, see :meth:`Index.crowded`)."""
        site_keys = _site_keys(site, fp)
        # The article is a site group of its own at first: a paragraph it holds becomes
        # boilerplate if it was in one group fewer than needed.
        need = self.params.boilerplate_min_pages
        counts = self.index.site_group_counts(site_keys)
        flipped = {k for k in site_keys if counts.get(k, 0) == need - 1}
        self.index.add_many([(article_id, fp, site_keys)], bands)
        if not candidates:
            write_single_stories(self.db, [article_id])
            if crowded:
                flipped ^= self._uncrowd(crowded)
            self._review(flipped)
            return article_id
        raw_verdicts: dict[int, Verdict] = {}
        plan = representatives.plan(self.index, article_id, fp.signature, site, candidates,
                                    self.params.story_representatives)
        flipped ^= self._group_site_copies(article_id, site, plan, raw_verdicts)
        if crowded:
            flipped ^= self._uncrowd(crowded)
        self._link(article_id, fp.n_words, plan, raw_verdicts)
        self._review(flipped)
        return self._story_of(article_id)

    def _group_site_copies(self, article_id: int, site: str | None, plan: Plan,
                           verdicts: dict[int, Verdict]) -> set[int]:
        """Link ``article_id`` to its same-site candidates that are copies on the raw texts,
        each contained in the other (:func:`_site_copy`; of a big story, to the first of its
        same-site articles that is) and merge their site groups; returns the site paragraphs
        whose boilerplate status changed with the groups.
        The raw verdicts go into ``verdicts`` (other id -> verdict): where neither text has
        boilerplate they are the story verdicts too."""
        if not plan:
            return set()
        same_site = [r[0] for r in select_in(
            self.db, "SELECT id FROM articles WHERE id IN ({marks}) AND coalesce(site, '') = ?",
            plan.every, site or "")] if plan.every else []
        new = self._raw(article_id)
        for other in same_site:
            verdicts[other] = compare(new, self._raw(other), self.params)
        copies = [other for other in same_site if _site_copy(verdicts[other])]
        for group in plan.stories:
            for other in group.same_site:
                verdicts[other] = compare(new, self._raw(other), self.params)
                if _site_copy(verdicts[other]):
                    copies.append(other)
                    break
        if not copies:
            return set()
        self.index.add_site_links((article_id, other) for other in copies)
        groups = set(self.index.site_groups_of(copies).values())
        if len(groups) == 1 and min(groups) < article_id:  # it joins one group, unchanged
            return self._join_site_group(article_id, groups.pop())
        return self._regroup_sites({article_id, *copies})

    def _join_site_group(self, article_id: int, group: int) -> set[int]:
        """Move a new article (a site group of its own) into ``group``, as
        :meth:`_regroup_sites` would, without reading the group; returns the site paragraphs
        whose boilerplate status changed."""
        keys = set(self._site_paragraphs(article_id))
        before = self.index.boilerplate(keys)
        self.index.set_site_group([article_id], group)
        return before ^ self.index.boilerplate(keys)

    def _regroup_sites(self, articles: set[int]) -> set[int]:
        """Recompute the site groups around ``articles`` from their site links (they may merge
        or split); returns the site paragraphs whose boilerplate status changed."""
        groups = self.index.site_groups_of(articles)
        members = self.index.site_group_members(set(groups.values()))
        current = self.index.site_groups_of(members)
        find = _union_find(members, self.index.site_links_within(members))
        moved = [m for m in members if current.get(m) != find(m)]
        if not moved:
            return set()
        keys = {k for m in moved for k in self._site_paragraphs(m)}
        before = self.index.boilerplate(keys)
        by_group: dict[int, list[int]] = defaultdict(list)
        for m in moved:
            by_group[find(m)].append(m)
        for group, ms in by_group.items():
            self.index.set_site_group(ms, group)
        return before ^ self.index.boilerplate(keys)

    def _link(self, article_id: int, n_words: int, plan: Plan,
              raw_verdicts: dict[int, Verdict]) -> None:
        """Link ``article_id`` to its verified candidates (to one representative of each big
        story, see :mod:`.representatives`) and merge their components."""
        links = self._verify(article_id, plan.every, raw_verdicts) if plan.every else []
        for group in plan.stories:
            for other in group.representatives:  # until one takes the article in
                found = self._verify(article_id, [other], raw_verdicts)
                links += found
                if found and found[0][1].method in _JOINING:
                    break
        if not links:
            self._write_stories({article_id: article_id}, set())
            return
        self._insert_links(article_id, links)
        components = self.index.components_of([other for other, _ in links])
        if self._join_copies(article_id, links, components):
            return
        members = self.index.component_members(set(components.values()))
        members[article_id] = n_words
        label = min(members)
        self._relabel({m: label for m in members}, self.index.components_of(members))
        old_stories, rank = self._stories_and_ranks(members, new=article_id)
        self._write_stories(group_stories(members, self._links_within(members), rank),
                            old_stories)

    def _join_copies(self, article_id: int, links: list[tuple[int, Verdict]],
                     components: dict[int, int]) -> bool:
        """Add a new article that duplicates or is contained in articles of one component,
        which is one story, to that story without reading it; False (nothing done) in any
        other case.

        What :func:`group_stories` would find: the article joins the core of the articles it
        duplicates, or is a core of its own contained in others; it contains no one, so no
        other core gains a container, and every core that had one still reaches the story's
        root core (or the one cycle it may now close). The component stays one story, with
        the same smallest article id; only the ``stories`` row changes, by the new
        article's dates and site."""
        if len(set(components.values())) != 1 or \
                any(verdict.method not in _JOINING for _, verdict in links):
            return False
        component = next(iter(components.values()))
        stories = {r[0] for r in select_in(
            self.db, "SELECT story_id FROM articles WHERE id IN ({marks})", components)}
        if component >= article_id or stories != {component}:
            return False
        row = self.db.execute(
            "SELECT canonical_article_id, first_seen, first_published, last_published, "
            "n_articles, n_sites, (SELECT count(*) FROM dedup_articles WHERE component = ?), "
            "EXISTS (SELECT 1 FROM articles WHERE story_id = ? AND site IS "
            "(SELECT site FROM articles WHERE id = ?) AND id < ?) FROM stories WHERE id = ?",
            [component, component, article_id, article_id, component]).fetchone()
        if row is None or row[4] != row[6]:  # the component is more than this story
            return False
        canonical, first_seen, first_published, last_published, n_articles, n_sites, _, \
            site_known = row
        rows = {r[0]: r for r in self.db.execute(
            "SELECT id, title, published, first_seen FROM articles WHERE id IN (?, ?)",
            [canonical, article_id])}
        order = {a: (r[2] is None, r[2] or "", r[3] or "", a) for a, r in rows.items()}
        canonical = min(order, key=order.get)
        _, _, published, seen = rows[article_id]
        self.index.set_component([article_id], component)
        self.db.execute("UPDATE articles SET story_id = ? WHERE id = ?", [component, article_id])
        self.db.execute(
            "UPDATE stories SET title = ?, canonical_article_id = ?, first_seen = ?, "
            "first_published = ?, last_published = ?, n_articles = ?, n_sites = ? WHERE id = ?",
            [rows[canonical][1], canonical, min(filter(None, (first_seen, seen)), default=None),
             min(filter(None, (first_published, published)), default=None),
             max(filter(None, (last_published, published)), default=None), n_articles + 1,
             n_sites + (not site_known), component])
        return True

    def _insert_links(self, article_id: int, links: list[tuple[int, Verdict]]) -> None:
        now = store.utcnow()
        self.db.conn.executemany(
            "INSERT OR REPLACE INTO article_links (article_id, other_id, similarity, jaccard, "
            "containment, method, changes, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(article_id, other, round(v.similarity, 4), round(v.jaccard, 4),
              round(v.containment, 4), _method_name(v), _changes(v), now)
             for other, v in links])

    # ------------------------------------------------------------ order independence
    # (see the module docstring) Each step reads only the articles concerned: the holders of
    # a paragraph whose status flipped, the articles under a crowded key, moved groups.

    def _review(self, changed: set[int]) -> None:
        """Re-verify every candidate pair of the articles holding the ``changed`` site
        paragraphs (verified with them counted the other way) and regroup their stories.
        Site groups do not depend on story links, so nothing changes in turn."""
        if not changed:
            return
        pairs: set[tuple[int, int]] = set()
        for article in sorted(self.index.holders(changed)):
            candidates = self.index.candidates(article, self._fingerprint(article))
            pairs.update((min(article, c), max(article, c)) for c in candidates)
        if not pairs:
            return
        self._delete_links(pairs)
        earlier: dict[int, set[int]] = defaultdict(set)
        for a, b in pairs:  # the later article keeps the row, as when it arrived
            earlier[b].add(a)
        for b in sorted(earlier):
            plan = representatives.plan(
                self.index, b, self.index.signature_rows(np.array([b]))[0], None, earlier[b],
                self.params.story_representatives)
            for a in plan.every:
                self._relink(a, b)
            for group in plan.stories:
                any(self._relink(a, b) in _JOINING for a in group.representatives)
        self._regroup({x for pair in pairs for x in pair})

    def _relink(self, a: int, b: int) -> str:
        """Verify the indexed pair ``a`` < ``b``, link it if it is one story; the verdict's
        method, ``b`` first."""
        verdict = _flip(compare(self._prepared(a), self._prepared(b), self.params))
        if verdict.same_story:
            self._insert_links(b, [(a, verdict)])
        return verdict.method

    def _uncrowd(self, crowded: list[tuple[str, int]]) -> set[int]:
        """Drop the story links and site links between articles under these just-crowded
        keys that no other key proposes any more (see :meth:`Index.candidates`); returns the
        site paragraphs whose boilerplate status the regrouping of site groups changed."""
        members: set[int] = set()
        for table, key in crowded:
            members.update(self.index.members(table, key))
        links = [(a, b) for a, b, _, _ in self._links_within(dict.fromkeys(members, 0))]
        site_links = self.index.site_links_within(members)
        if not links and not site_links:
            return set()
        candidates: dict[int, tuple[set[int], Counter]] = {}

        def still_candidates(a: int, b: int) -> bool:
            # Asked of the later one, as when it arrived: a key past its limit proposes its
            # first holders to it, and a story with more candidates than representatives
            # justifies a link to any of its articles (see .representatives).
            later, earlier = max(a, b), min(a, b)
            if later not in candidates:
                found = self.index.candidates(later, self._fingerprint(later))
                candidates[later] = (found, Counter(self.index.components_of(found).values()))
            found, per_component = candidates[later]
            return earlier in found or per_component[
                self.index.components_of([earlier]).get(earlier)] > \
                self.params.story_representatives

        gone = [(a, b) for a, b in links if not still_candidates(a, b)]
        if gone:
            self._delete_links(gone)
            self._regroup({x for pair in gone for x in pair})
        gone = [(a, b) for a, b in site_links if not still_candidates(a, b)]
        if not gone:
            return set()
        self.index.delete_site_links(gone)
        return self._regroup_sites({x for pair in gone for x in pair})

    def _delete_links(self, pairs: Iterable[tuple[int, int]]) -> None:
        self.db.conn.executemany(
            "DELETE FROM article_links WHERE (article_id = ? AND other_id = ?) OR "
            "(article_id = ? AND other_id = ?)", [(a, b, b, a) for a, b in pairs])

    def _fingerprint(self, article_id: int) -> Fingerprint:
        """An indexed article's fingerprint (its signature as stored, not sketched again)."""
        row = self.db.execute("SELECT text FROM articles WHERE id = ?", [article_id]).fetchone()
        signature = self.index.signature_rows(np.array([article_id]))[0]
        return stored_fingerprint((row[0] if row else "") or "", signature, self.params)

    def _regroup(self, articles: set[int]) -> None:
        """Recompute the components (they may split) and stories around ``articles``."""
        components = self.index.components_of(articles)
        members = self.index.component_members(set(components.values()))
        links = self._links_within(members)
        find = _union_find(members, ((a, b) for a, b, _, _ in links))
        parts: dict[int, dict[int, int]] = defaultdict(dict)
        for m, words in members.items():
            parts[find(m)][m] = words
        old_stories, rank = self._stories_and_ranks(members)
        self._relabel({m: find(m) for m in members}, self.index.components_of(members))
        assignment: dict[int, int] = {}
        for part in parts.values():
            assignment.update(group_stories(part, [l for l in links if l[0] in part], rank))
        self._write_stories(assignment, old_stories)

    def _relabel(self, labels: dict[int, int], current: dict[int, int]) -> None:
        """Move articles to their new components."""
        by_label: dict[int, list[int]] = defaultdict(list)
        for m, label in labels.items():
            if current.get(m) != label:
                by_label[label].append(m)
        for label, ms in by_label.items():
            self.index.set_component(ms, label)

    # ------------------------------------------------------------ verification
    def _document(self, article_id: int) -> _Analysed:
        """The analysed text, and its site-paragraph key -> paragraph key for the short
        paragraphs (the ones that may be its site's boilerplate); cached."""
        cached = self._docs.get(article_id)
        if cached is not None:
            self._docs.move_to_end(article_id)
            return cached
        text, site = self.db.execute("SELECT text, site FROM articles WHERE id = ?",
                                     [article_id]).fetchone()
        doc = analyze(text or "")
        short = doc.paragraph_keys[doc.paragraph_lengths <= self.params.boilerplate_max_words]
        entry = _Analysed(doc, {site_paragraph_key(site, k): k for k in short.tolist()})
        self._docs[article_id] = entry
        if len(self._docs) > self.cached_documents:
            self._docs.popitem(last=False)
        return entry

    def _site_paragraphs(self, article_id: int) -> dict[int, int]:
        return self._document(article_id).site_paragraphs

    def _raw(self, article_id: int) -> Prepared:
        """The text prepared with nothing removed (cached: it never changes)."""
        entry = self._document(article_id)
        if entry.raw is None:
            entry.raw = prepare(entry.doc, set(), self.params)
        return entry.raw

    def _prepared(self, article_id: int, boilerplate: set[int] | None = None) -> Prepared:
        """The text prepared with its site's boilerplate removed (``boilerplate``: the
        boilerplate site-paragraph keys among its own, if already known)."""
        entry = self._document(article_id)
        site_keys = entry.site_paragraphs
        if boilerplate is None:
            boilerplate = self.index.boilerplate(site_keys)
        removed = frozenset(site_keys[k] for k in boilerplate if k in site_keys)
        if not removed:
            return self._raw(article_id)
        if entry.prepared is None or entry.prepared[0] != removed:
            entry.prepared = (removed, prepare(entry.doc, set(removed), self.params))
        return entry.prepared[1]

    def _verify(self, article_id: int, candidates: list[int],
                raw_verdicts: dict[int, Verdict]) -> list[tuple[int, Verdict]]:
        """The candidates that are copies, with the verdicts (``raw_verdicts``: verdicts on
        the raw texts, reused where neither text has boilerplate to remove)."""
        # the boilerplate of the article and all its candidates, in one statement
        boilerplate = self.index.boilerplate(
            [k for a in (article_id, *candidates) for k in self._site_paragraphs(a)])
        new = self._prepared(article_id, boilerplate)
        new_is_raw = new is self._raw(article_id)
        links = []
        for other in candidates:
            prepared = self._prepared(other, boilerplate)
            if new_is_raw and other in raw_verdicts and prepared is self._raw(other):
                verdict = raw_verdicts[other]
            else:
                verdict = compare(new, prepared, self.params)
            if verdict.same_story:
                links.append((other, verdict))
        return links

    # ------------------------------------------------------------ stories
    def _links_within(self, members: dict[int, int]) -> list[tuple[int, int, str, float]]:
        return [link for link in select_in(
            self.db, "SELECT article_id, other_id, method, similarity FROM article_links "
            "WHERE article_id IN ({marks})", members) if link[1] in members]

    def _stories_and_ranks(self, members: Iterable[int], new: int | None = None
                           ) -> tuple[set[int], dict[int, tuple]]:
        """The current story ids of ``members``, and each member's rank for ties (see
        :func:`group_stories`): earliest published, then smallest URL. The story id of the
        ``new`` article is none of them: NULL in a crawl, left from before in a rebuild."""
        stories, rank = set(), {}
        for article, story, published, url in select_in(
                self.db, "SELECT id, story_id, published, url FROM articles "
                "WHERE id IN ({marks})", members):
            if story is not None and article != new:
                stories.add(story)
            rank[article] = (published is None, published or "", url or "")
        return stories, rank

    def _story_of(self, article_id: int) -> int:
        row = self.db.execute("SELECT story_id FROM articles WHERE id = ?",
                              [article_id]).fetchone()
        return row[0] if row and row[0] is not None else article_id

    def _write_stories(self, assignment: dict[int, int], old_stories: set[int]) -> None:
        """Set ``articles.story_id`` and rewrite the ``stories`` rows of these articles."""
        self.db.conn.executemany("UPDATE articles SET story_id = ? WHERE id = ?",
                                 [(story, article) for article, story in assignment.items()])
        by_story: dict[int, list[int]] = defaultdict(list)
        for article, story in assignment.items():
            by_story[story].append(article)
        gone = old_stories - set(by_story)
        if gone:
            marks = ",".join("?" * len(gone))
            self.db.execute(f"DELETE FROM stories WHERE id IN ({marks})", list(gone))
        for story, articles in by_story.items():
            write_story(self.db, story, articles)


#: Verdicts (new article first) that put the new article into the other's story: a link
#: where it contains the other only makes it a container the other core may choose.
_JOINING = ("duplicate", "a_in_b")


def _site_copy(v: Verdict) -> bool:
    """Does a raw verdict of two pages of one site link them into one site group? Only when
    each text is contained in the other: every page of a site shares its chrome, so a page with
    little text of its own (a photo caption, a one-line brief) is "contained" in all of them,
    and one-way links would join the site's different stories into one group through it, and
    keep the chrome from ever counting as boilerplate."""
    return v.method == "duplicate"


def _flip(v: Verdict) -> Verdict:
    """The verdict of (b, a) from that of (a, b)."""
    method = {"a_in_b": "b_in_a", "b_in_a": "a_in_b"}.get(v.method, v.method)
    return Verdict(method, v.coverage_b, v.coverage_a, v.novel_b, v.novel_a, v.jaccard,
                   v.containment, v.fact_conflicts, v.fact_agreements, v.reason,
                   v.names_changed, v.words_changed, v.figures_b, v.figures_a)


def _site_keys(site: str | None, fp: Fingerprint) -> list[int]:
    return [site_paragraph_key(site, k) for k in fp.short_paragraphs.tolist()]


def _method_name(v: Verdict) -> str:
    """``article_links.method``; rows read "article_id <method> other_id". ``update``: each
    text contained in the other but their figures differ (one is an updated version)."""
    if v.method == "duplicate" and v.updated:
        return "update"
    return {"duplicate": "duplicate", "a_in_b": "contained_in", "b_in_a": "contains"}[v.method]


def _changes(v: Verdict) -> str | None:
    """``article_links.changes``: the figures that differ, other_id's → article_id's."""
    return describe_changes(v.figures_b, v.figures_a) if v.updated else None


def write_story(db: sqlite_utils.Database, story_id: int, articles: list[int]) -> None:
    """The ``stories`` row of one story: canonical = earliest published, first seen breaks ties."""
    marks = ",".join("?" * len(articles))
    rows = db.execute(
        f"SELECT id, title, site, published, first_seen FROM articles WHERE id IN ({marks})",
        articles).fetchall()
    canonical = min(rows, key=lambda r: (r[3] is None, r[3] or "", r[4] or "", r[0]))
    published = [r[3] for r in rows if r[3]]
    seen = [r[4] for r in rows if r[4]]
    db.execute(
        "INSERT OR REPLACE INTO stories (id, title, canonical_article_id, first_seen, "
        "first_published, last_published, n_articles, n_sites) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [story_id, canonical[1], canonical[0], min(seen) if seen else None,
         min(published) if published else None, max(published) if published else None,
         len(rows), len({r[2] for r in rows})])


def _union_find(members: Iterable[int], pairs: Iterable[tuple[int, int]]
                ) -> Callable[[int], int]:
    """``find(article)``: the smallest id of its connected group under ``pairs``."""
    parent = {m: m for m in members}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return find


#: Link methods of texts contained in each other: they join articles into cores.
_CORE = ("duplicate", "update")


def group_stories(members: dict[int, int], links: list[tuple[int, int, str, float]],
                  rank: dict[int, tuple] | None = None) -> dict[int, int]:
    """Story id of every member of one component, from its verified links alone.

    ``members`` maps article id -> word count; ``links`` are (article_id, other_id, method,
    similarity) rows of ``article_links``. Duplicate and update links form cores (union-find); a core
    whose articles are contained in other cores attaches to the single core that contains it
    best; a story is a group of cores joined by these attachments, its id the smallest
    article id in it. Which text is contained in which is the verifier's verdict (boilerplate
    removed), not a comparison of raw word counts: a copy with more page chrome than its
    container still attaches. Each core attaches to at most one other, so a teaser shared by
    two stories joins only one of them and never bridges them. ``rank`` (article id ->
    comparable key, smallest first) breaks the last ties; without it, the smallest id does.
    """
    find = _union_find(members, ((a, b) for a, b, method, _ in links if method in _CORE))
    cores: dict[int, list[int]] = defaultdict(list)
    for m in members:
        cores[find(m)].append(m)
    longest = {core: max(members[m] for m in ms) for core, ms in cores.items()}
    first = {core: min(rank[m] for m in ms) if rank else core for core, ms in cores.items()}
    best: dict[int, tuple[tuple, object, int]] = {}
    for a, b, method, similarity in links:
        if method in _CORE:
            continue
        child, container = (a, b) if method == "contained_in" else (b, a)
        cc, pc = find(child), find(container)
        if cc == pc:
            continue
        # Ties (a teaser is covered 1.0 by every text that holds its paragraphs) go to the
        # core with more copies, then the longer one, then the one whose first article was
        # published first (smallest URL): facts of the texts, not arrival order.
        choice = (similarity, len(cores[pc]), longest[pc])
        if cc not in best or choice > best[cc][0] or \
                (choice == best[cc][0] and first[pc] < best[cc][1]):
            best[cc] = (choice, first[pc], pc)
    story = _union_find(cores, ((child, chosen[2]) for child, chosen in best.items()))
    return {a: story(core) for core, articles in cores.items() for a in articles}


# ---------------------------------------------------------------- rebuild


class _BatchReplay:
    """Replays a batch of articles through :meth:`StoryAssigner.add` in id order, with the work
    of a batch rather than of each article, and exactly the same outcome.

    Candidates depend only on the keys and signatures indexed before an article, never on
    links, so the candidates of the whole batch are found up front with array operations:
    the stored index (earlier batches) is asked once for all keys of the batch, and a key
    counts the batch's earlier articles too. An article without candidates (most of them)
    is only queued: its index rows and its one-article story are written with the next
    flush. An article with candidates first flushes the queue, so that verification,
    boilerplate and components see exactly what the one-by-one path would see.
    """

    def __init__(self, assigner: StoryAssigner, batch: list[tuple[int, Fingerprint, str | None]]):
        self.assigner = assigner
        self.pending: list[tuple[int, Fingerprint, str | None]] = []
        self.row = {a: i for i, (a, _, _) in enumerate(batch)}
        self.candidates: dict[int, set[int]] = defaultdict(set)  # batch row -> article ids
        # batch rows holding a key that passes its limit within the batch: replayed one by
        # one (:meth:`.index.Index.probe` judges the key on its first holders)
        self.slow: set[int] = set()
        if not batch:
            return
        p = assigner.params
        ids = np.array([a for a, _, _ in batch], dtype=np.int64)
        signatures = np.stack([fp.signature for _, fp, _ in batch])
        self.band_matrix = band_keys_many(signatures, p.lsh_bands, p.lsh_rows)
        band_pairs = self._pairs("dedup_bands", ids, np.repeat(np.arange(len(batch)),
                                 p.lsh_bands), self.band_matrix.ravel(), p.lsh_bucket_max)
        leads = [np.unique(fp.lead_keys) for _, fp, _ in batch]
        lead_pairs = self._pairs("dedup_leads", ids, np.repeat(np.arange(len(batch)),
                                 [len(k) for k in leads]), np.concatenate(leads),
                                 p.lead_key_max_postings)
        if p.lsh_min_jaccard > 0:
            band_pairs = self._similar(band_pairs, ids, signatures, p.lsh_min_jaccard)
        for rows, others in (band_pairs, lead_pairs):
            for row, other in zip(rows.tolist(), others.tolist()):
                self.candidates[row].add(other)

    def _pairs(self, table: str, ids: np.ndarray, rows: np.ndarray, keys: np.ndarray,
               limit: int) -> tuple[np.ndarray, np.ndarray]:
        """(batch row, candidate article id) of every key held by at most ``limit`` articles
        (the stored ones, the batch's earlier ones and the article itself) when the article
        arrives, and of every key whose first ``limit + 1`` holders were stored before the
        batch and are one story's copies (those holders); the rows holding a key whose first
        holders are not all stored yet go to :attr:`slow`."""
        stored = self.assigner.index.postings(table, np.unique(keys).tolist(), limit + 2)
        order = np.argsort(keys, kind="stable")  # a key's holders in arrival order
        keys, rows = keys[order], rows[order]
        first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        group = np.repeat(np.arange(len(first)), np.diff(np.r_[first, len(keys)]))
        earlier = np.arange(len(keys)) - first[group]  # the batch's holders before this one
        n_stored = np.array([len(stored.get(k, ())) for k in keys[first].tolist()])[group]
        size = n_stored + earlier + 1
        out_rows: list[np.ndarray] = []
        out_ids: list[np.ndarray] = []
        for i in np.flatnonzero((size <= limit) & (n_stored > 0)).tolist():
            found = stored[int(keys[i])]
            out_rows.append(np.full(len(found), rows[i]))
            out_ids.append(np.array(found, dtype=np.int64))
        for i in np.flatnonzero((size <= limit) & (earlier > 0)).tolist():
            start = first[group[i]]
            out_rows.append(np.full(earlier[i], rows[i]))
            out_ids.append(ids[rows[start:i]])
        index = self.assigner.index
        for i in np.flatnonzero(n_stored > limit).tolist():
            holders = stored[int(keys[i])][:limit + 1]
            proposed = index.key_past_limit(table, int(keys[i]), holders)
            if proposed:
                out_rows.append(np.full(len(proposed), rows[i]))
                out_ids.append(np.array(proposed, dtype=np.int64))
        self.slow.update(rows[(size > limit) & (n_stored <= limit)].tolist())
        if not out_rows:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        rows, found = np.concatenate(out_rows), np.concatenate(out_ids)
        order = np.lexsort((found, rows))
        rows, found = rows[order], found[order]
        distinct = np.r_[True, (rows[1:] != rows[:-1]) | (found[1:] != found[:-1])]
        return rows[distinct], found[distinct]

    def _similar(self, pairs: tuple[np.ndarray, np.ndarray], ids: np.ndarray,
                 signatures: np.ndarray, threshold: float, chunk: int = 16384
                 ) -> tuple[np.ndarray, np.ndarray]:
        """The pairs whose estimated Jaccard similarity reaches ``threshold``."""
        rows, others = pairs
        in_batch = np.isin(others, ids)
        keep = np.zeros(len(rows), dtype=bool)
        for start in range(0, len(rows), chunk):
            part = slice(start, start + chunk)
            values = np.empty((len(rows[part]), signatures.shape[1]), dtype=signatures.dtype)
            batch = in_batch[part]
            values[batch] = signatures[np.searchsorted(ids, others[part][batch])]
            values[~batch] = self.assigner.index.signature_rows(others[part][~batch])
            agree = np.count_nonzero(signatures[rows[part]] == values, axis=1)
            keep[part] = agree >= threshold * signatures.shape[1]
        return rows[keep], others[keep]

    def add(self, article_id: int, fp: Fingerprint, site: str | None) -> None:
        row = self.row[article_id]
        candidates = self.candidates.pop(row, set())
        if row in self.slow:
            self.flush()
            candidates, crowded = self.assigner.index.probe(article_id, fp,
                                                            self.band_matrix[row])
            self.assigner._join(article_id, fp, site, candidates, crowded,
                                self.band_matrix[row][None, :])
        elif candidates:
            self.flush()
            self.assigner._join(article_id, fp, site, candidates, [],
                                self.band_matrix[row][None, :])
        else:
            self.pending.append((article_id, fp, site))

    def flush(self) -> None:
        """Write the queued articles: index rows, and each one a story of its own."""
        if not self.pending:
            return
        rows = [self.row[a] for a, _, _ in self.pending]
        entries = [(a, fp, _site_keys(site, fp)) for a, fp, site in self.pending]
        # Each queued article is a site group of its own (it has no links): a paragraph
        # becomes boilerplate where these groups lift its count to the threshold.
        holders = Counter(k for _, _, keys in entries for k in set(keys))
        counts = self.assigner.index.site_group_counts(holders)
        need = self.assigner.params.boilerplate_min_pages
        flipped = {k for k, n in holders.items() if counts.get(k, 0) < need <= counts.get(k, 0) + n}
        self.assigner.index.add_many(entries, self.band_matrix[rows])
        write_single_stories(self.assigner.db, [a for a, _, _ in self.pending])
        self.pending = []
        self.assigner._review(flipped)


def write_single_stories(db: sqlite_utils.Database, articles: list[int]) -> None:
    """Make each of ``articles`` a story of its own: what :func:`write_story` writes for one."""
    for i in range(0, len(articles), 500):
        chunk = articles[i:i + 500]
        marks = ",".join("?" * len(chunk))
        db.execute(f"UPDATE articles SET story_id = id WHERE id IN ({marks})", chunk)
        db.execute(
            f"INSERT OR REPLACE INTO stories (id, title, canonical_article_id, first_seen, "
            f"first_published, last_published, n_articles, n_sites) SELECT id, title, id, "
            f"first_seen, published, published, 1, 1 FROM articles WHERE id IN ({marks})", chunk)


def _sketch_batch(batch: list[tuple[int, str, str | None]], params: DedupParams
                  ) -> list[tuple[int, Fingerprint, str | None]]:
    return [(article_id, fingerprint(text, params=params), site)
            for article_id, text, site in batch]


def _batches(db: sqlite_utils.Database, size: int) -> Iterator[list[tuple[int, str, str | None]]]:
    last = 0
    while True:
        rows = db.execute(
            "SELECT id, text, site FROM articles WHERE id > ? ORDER BY id LIMIT ?", [last, size]
        ).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield [(r[0], r[1] or "", r[2]) for r in rows]


def rebuild(db: sqlite_utils.Database, params: DedupParams,
            progress: Callable[[str], None] | None = None, *,
            workers: int | None = None, batch_size: int = 2000) -> dict:
    """Recompute every story from the stored texts with ``params`` (``crawler dedup --rebuild``).

    Drops the index, links and stories, sketches all articles in a process pool and replays
    them in id order through the incremental path (:meth:`StoryAssigner.add`, batched by
    :class:`_BatchReplay`), so both agree. ``progress(message)`` gets a line such as
    ``dedup rebuild: 4000/10000 articles`` after each batch.
    """
    total = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    with store.transaction(db):
        Index.reset(db, params)
        db.execute("DELETE FROM article_links")
        db.execute("DELETE FROM stories")
        # articles.story_id is overwritten as each article is replayed (rewriting every row
        # first would copy the whole table, texts and all).
    assigner = StoryAssigner(db, params, cached_documents=_REBUILD_DOCUMENTS)
    max_id = db.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]
    with store.transaction(db):
        assigner.index.begin_bulk(total, max_id)
    done = 0
    pool = ProcessPoolExecutor(workers) if workers != 0 else None
    cache = db.execute("PRAGMA cache_size").fetchone()[0]
    db.execute(f"PRAGMA cache_size = {-_REBUILD_CACHE_KB}")  # site paragraphs grow at random keys
    try:
        batches = _batches(db, batch_size)
        if pool is None:
            results = (_sketch_batch(b, params) for b in batches)
        else:
            results = _prefetch(pool, batches, params)
        for sketched in results:
            with store.transaction(db):
                replay = _BatchReplay(assigner, [s for s in sketched if s[1].n_words])
                for article_id, fp, site in sketched:
                    if fp.n_words == 0:
                        replay.flush()
                        assigner._write_stories({article_id: article_id}, set())
                    else:
                        replay.add(article_id, fp, site)
                replay.flush()
            done += len(sketched)
            if progress:
                progress(f"dedup rebuild: {done}/{total} articles")
        if progress:
            progress("dedup rebuild: writing the index")
        with store.transaction(db):
            assigner.index.finish_bulk()
        store.refresh_site_stats(db)
    finally:
        db.execute(f"PRAGMA cache_size = {cache}")
        if pool is not None:
            pool.shutdown()
    stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    links = db.execute("SELECT count(*) FROM article_links").fetchone()[0]
    return {"articles": done, "stories": stories, "links": links}


def _prefetch(pool: ProcessPoolExecutor, batches: Iterator[list[tuple[int, str, str | None]]],
              params: DedupParams, depth: int = 4
              ) -> Iterator[list[tuple[int, Fingerprint, str | None]]]:
    """Sketch batches in the pool, a few ahead of the single writer, in order."""
    pending = []
    for batch in batches:
        pending.append(pool.submit(_sketch_batch, batch, params))
        if len(pending) >= depth:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()
