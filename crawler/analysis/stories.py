"""Stories and their timelines, read from the stable schema (articles, stories, article_links).

A story's time line orders its copies by their time: the published date, or first_seen when a
page gave none. Flags explain a copy at a glance:

- ``first``: the earliest copy, the first source.
- ``re-dated``: published more than ``REDATED_DAYS`` away from the story's first publication
  (a years-old story served under today's date, like seed 003).
- ``teaser``: at most ``TEASER_MAX_RATIO`` of the canonical article's words and contained in it
  (``article_links.containment`` >= ``TEASER_MIN_CONTAINMENT`` when the pair was linked).
- ``updated``: a later version of an earlier copy with other figures (dedup linked the pair
  with ``article_links.changes``, e.g. ``"12 → 15"``: a death toll, an amount revised).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlite_utils

from crawler.analysis.access import NotFound, has_table
from crawler.analysis.filters import story_conditions, where_clause
from crawler.analysis.search import fts_query, matching_story_ids_sql
from crawler.analysis.times import parse_time

# REDATED_DAYS: a copy dated more than this many days after (or before) the story's first
# publication; TEASER_*: see the module docstring. Defined with the site statistics that count
# them (crawler.store), so both use the same thresholds.
from crawler.store import REDATED_DAYS, TEASER_MAX_RATIO, TEASER_MIN_CONTAINMENT

ARTICLE_FIELDS = ("id", "url", "fetched_url", "site", "title", "author", "published",
                  "first_seen", "language", "word_count", "story_id", "description", "text")


@dataclass(frozen=True)
class Article:
    """One stored article (a row of ``articles`` without the bulky page HTML)."""

    id: int
    url: str
    fetched_url: str | None
    site: str | None
    title: str | None
    author: str | None
    published: str | None
    first_seen: str | None
    language: str | None
    word_count: int | None
    story_id: int | None
    description: str | None
    text: str | None

    @property
    def time(self) -> datetime | None:
        """When it appeared: published, else first seen (aware UTC)."""
        return parse_time(self.published) or parse_time(self.first_seen)


@dataclass(frozen=True)
class Story:
    """A story as listed: its first copy, how far and how long it spread."""

    id: int
    title: str | None
    canonical_article_id: int | None
    first_published: str | None
    first_seen: str | None
    first_site: str | None
    n_articles: int
    n_sites: int
    spread: timedelta | None

    @property
    def first_time(self) -> datetime | None:
        return parse_time(self.first_published) or parse_time(self.first_seen)


@dataclass(frozen=True)
class Copy:
    """One copy in a story's time line, with what it has in common with the canonical article."""

    article: Article
    time: datetime | None
    is_canonical: bool
    similarity: float | None        # to the canonical article (None: not linked)
    similarity_direct: bool         # False: the best value along a chain of links
    containment: float | None
    first: bool = False
    redated_days: float | None = None  # set when re-dated: days from the first publication
    teaser_ratio: float | None = None  # set when a teaser: its share of the canonical's words
    changes: str | None = None  # set when updated: the figures that differ from an earlier copy

    @property
    def redated(self) -> bool:
        return self.redated_days is not None

    @property
    def teaser(self) -> bool:
        return self.teaser_ratio is not None

    @property
    def updated(self) -> bool:
        return self.changes is not None

    @property
    def flags(self) -> list[str]:
        out = ["first"] if self.first else []
        if self.redated:
            out.append(f"re-dated {self.redated_days:+.0f}d")
        if self.teaser:
            out.append(f"teaser {self.teaser_ratio:.0%}")
        if self.updated:
            out.append(f"updated {self.changes}")
        return out


@dataclass(frozen=True)
class StoryTimeline(Story):
    """A story with every copy, in time order."""

    copies: list[Copy] = field(default_factory=list)

    @property
    def sites(self) -> list[str]:
        """Sites in the order the story reached them."""
        return list(dict.fromkeys(c.article.site or "?" for c in self.copies))


# ---------------------------------------------------------------- listing

_APPEARED = "julianday(coalesce(published, first_seen))"


def list_stories(db: sqlite_utils.Database, *, since: str | None = None,
                 site: str | None = None, language: str | None = None, min_sites: int = 1,
                 search: str | None = None, raw_search: bool = False,
                 limit: int | None = 50) -> list[Story]:
    """Stories, newest first, filtered; ``search`` needs the FTS index (see search.py)."""
    where, params = story_conditions("s.", since=since, site=site, language=language)
    if min_sites > 1:
        where.append("s.n_sites >= :min_sites")
        params["min_sites"] = min_sites
    if search:
        where.append(f"s.id IN ({matching_story_ids_sql()})")
        params["q"] = fts_query(search, raw=raw_search)
    sql = f"""
        SELECT s.id, s.title, s.canonical_article_id, s.first_published, s.first_seen,
               coalesce(s.n_articles, 0) AS n_articles, coalesce(s.n_sites, 0) AS n_sites,
               (SELECT site FROM articles WHERE story_id = s.id
                 ORDER BY {_APPEARED}, first_seen, id LIMIT 1) AS first_site,
               (SELECT max({_APPEARED}) - min({_APPEARED}) FROM articles
                 WHERE story_id = s.id) AS spread_days
        FROM stories s
        {where_clause(where)}
        ORDER BY julianday(coalesce(s.first_published, s.first_seen)) DESC, s.id DESC
        {'LIMIT :limit' if limit else ''}"""
    if limit:
        params["limit"] = limit
    return [_story(row) for row in db.query(sql, params)]


def _story(row: dict) -> Story:
    days = row.pop("spread_days")
    return Story(**row, spread=None if days is None else timedelta(days=days))


# ---------------------------------------------------------------- one story


def resolve_story_id(db: sqlite_utils.Database, ident: int) -> int:
    """``ident`` as a story id; an article id leads to its story (ids of merged stories do)."""
    if db.execute("SELECT 1 FROM stories WHERE id = ?", [ident]).fetchone():
        return ident
    row = db.execute("SELECT story_id FROM articles WHERE id = ?", [ident]).fetchone()
    if row and row[0] is not None:
        return row[0]
    raise NotFound(f"no story {ident} in this database (`crawler stories` lists them)")


def load_story(db: sqlite_utils.Database, story_id: int, *,
               redated_days: float = REDATED_DAYS) -> StoryTimeline:
    """Story ``story_id`` (or the story of article ``story_id``) with every copy and its flags."""
    story_id = resolve_story_id(db, story_id)
    row = db.execute(
        "SELECT title, canonical_article_id, n_articles, n_sites FROM stories WHERE id = ?",
        [story_id]).fetchone()
    articles = [Article(**a) for a in db.query(
        f"SELECT {', '.join(ARTICLE_FIELDS)} FROM articles WHERE story_id = ? ORDER BY id",
        [story_id])]
    title, canonical_id, n_articles, n_sites = row or (None, None, 0, 0)
    articles.sort(key=lambda a: (a.time is None, a.time or datetime.max, a.first_seen or "", a.id))
    by_id = {a.id: a for a in articles}
    if canonical_id not in by_id:
        canonical_id = articles[0].id if articles else None
    copies = _copies(db, articles, canonical_id, redated_days)
    times = [c.time for c in copies if c.time]
    first = copies[0].article if copies else None
    return StoryTimeline(
        id=story_id, title=title or (by_id[canonical_id].title if canonical_id else None),
        canonical_article_id=canonical_id,
        first_published=first.published if first else None,
        first_seen=min((a.first_seen for a in articles if a.first_seen), default=None),
        first_site=first.site if first else None,
        n_articles=len(articles) or n_articles,
        n_sites=len({a.site for a in articles}) or n_sites,
        spread=(max(times) - min(times)) if times else None,
        copies=copies)


def _copies(db: sqlite_utils.Database, articles: list[Article], canonical_id: int | None,
            redated_days: float) -> list[Copy]:
    links = _links(db, [a.id for a in articles])
    best = _widest_paths(links, canonical_id) if canonical_id is not None else {}
    canonical = next((a for a in articles if a.id == canonical_id), None)
    published = [parse_time(a.published) for a in articles if parse_time(a.published)]
    first_publication = min(published) if published else None
    copies = []
    earlier: list[int] = []
    for i, art in enumerate(articles):
        direct = links.get(_pair(art.id, canonical_id)) if canonical_id is not None else None
        if art.id == canonical_id:
            similarity, is_direct = 1.0, True
        elif direct and direct["similarity"] is not None:
            similarity, is_direct = direct["similarity"], True
        else:
            similarity, is_direct = best.get(art.id), False
        containment = direct["containment"] if direct else None
        redated = None
        when = parse_time(art.published)
        if when and first_publication:
            days = (when - first_publication).total_seconds() / 86400
            if abs(days) > redated_days:
                redated = days
        teaser = None
        if canonical and art.id != canonical_id and art.word_count and canonical.word_count:
            ratio = art.word_count / canonical.word_count
            contained = containment is None or containment >= TEASER_MIN_CONTAINMENT
            if ratio <= TEASER_MAX_RATIO and contained:
                teaser = ratio
        copies.append(Copy(article=art, time=art.time, is_canonical=art.id == canonical_id,
                           similarity=similarity, similarity_direct=is_direct,
                           containment=containment, first=i == 0, redated_days=redated,
                           teaser_ratio=teaser, changes=_changes(links, art.id, earlier)))
        earlier.append(art.id)
    return copies


def _changes(links: dict[tuple[int, int], dict], article: int, earlier: list[int]
             ) -> str | None:
    """The figures ``article`` changed against the first earlier copy it is linked to with
    changes (None: it updates none of them), as "earlier's → its"."""
    for other in earlier:
        row = links.get(_pair(article, other))
        if row and row.get("changes"):
            if row["article_id"] == article:  # stored as "other_id's → article_id's"
                return row["changes"]
            return ", ".join(_reverse(change) for change in row["changes"].split(", "))
    return None


def _reverse(change: str) -> str:
    """One change of ``article_links.changes`` read the other way ("12 → 15" -> "15 → 12")."""
    if " → " in change:
        old, new = change.split(" → ", 1)
        return f"{new} → {old}"
    return ("+" if change.startswith("-") else "-") + change[1:]


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a <= b else (b, a)


def _links(db: sqlite_utils.Database, ids: list[int]) -> dict[tuple[int, int], dict]:
    """Links among ``ids``, keyed by the unordered pair (the best one if stored both ways)."""
    if not ids or not has_table(db, "article_links"):
        return {}
    out: dict[tuple[int, int], dict] = {}
    # databases linked before updates were told apart have no ``changes`` column
    changes = "changes" if "changes" in db["article_links"].columns_dict else "NULL AS changes"
    for start in range(0, len(ids), 400):
        chunk = ids[start:start + 400]
        marks = ",".join("?" * len(chunk))
        for row in db.query(
                f"SELECT article_id, other_id, similarity, jaccard, containment, method, "
                f"{changes} FROM article_links WHERE article_id IN ({marks}) OR other_id IN "
                f"({marks})", chunk + chunk):
            key = _pair(row["article_id"], row["other_id"])
            if key not in out or (row["similarity"] or 0) > (out[key]["similarity"] or 0):
                out[key] = row
    return out


def _widest_paths(links: dict[tuple[int, int], dict], source: int) -> dict[int, float]:
    """For each article, the best similarity along a chain of links from ``source``:
    the chain whose weakest link is strongest (how dedup reached it)."""
    graph: dict[int, list[tuple[int, float]]] = {}
    for (a, b), row in links.items():
        weight = row["similarity"]
        if weight is None:
            continue
        graph.setdefault(a, []).append((b, weight))
        graph.setdefault(b, []).append((a, weight))
    best = {source: 1.0}
    heap = [(-1.0, source)]
    while heap:
        neg, node = heapq.heappop(heap)
        if -neg < best.get(node, 0):
            continue
        for other, weight in graph.get(node, ()):
            value = min(-neg, weight)
            if value > best.get(other, -1):
                best[other] = value
                heapq.heappush(heap, (-value, other))
    best.pop(source)
    return best
