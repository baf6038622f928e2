"""Sites: who publishes stories first, who copies them, how fast, and the copy network.

Reads the site statistics that the store keeps current as stories change (``sites``,
``site_languages`` and ``story_sites``, see crawler.store), so a listing reads one row per site
and the copy rows, never every article.

First publisher of a story: the site of its earliest copy by published date (first seen where
a page gave none); a re-dated copy (published more than ``REDATED_DAYS`` from most of the
story's copies) is never first; ties go to the copy seen first. It cannot know a copy the crawl
saw later than it was published with no date on the page, nor a source outside the crawl.
"""
from __future__ import annotations

import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import sqlite_utils

from crawler import store
from crawler.analysis.access import NotFound, build_once
from crawler.errors import UserError

#: ``--sort`` keys: (attribute, descending).
SORTS = {
    "articles": ("articles", True), "stories": ("stories", True),
    "first": ("first_stories", True), "first-share": ("first_share", True),
    "copies": ("copied_stories", True), "copy-share": ("copy_share", True),
    "lag": ("median_lag_seconds", False), "site": ("site", False),
}
#: Example stories shown for each site a site copies from or is copied by.
EXAMPLES = 3


@dataclass(frozen=True)
class SiteStats:
    """One site: what it carries, how often it was first, how fast it copies.

    ``shared_stories`` are its stories also on another site; ``first_stories`` those it
    published first; ``copied_stories`` those another site published first. ``first_share`` is
    first / shared (None: nothing shared), ``copy_share`` copied / all its stories. Lags are of
    its copies behind the first copy (re-dated copies have none). ``updates``: extra copies of a
    story on the same site (updated versions under new URLs)."""

    site: str
    name: str | None
    articles: int
    stories: int
    shared_stories: int
    first_stories: int
    copied_stories: int
    first_share: float | None
    copy_share: float | None
    median_lag_seconds: float | None
    p90_lag_seconds: float | None
    redated: int
    teasers: int
    updates: int
    languages: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CopyEdge:
    """Site ``target`` carried ``stories`` stories that ``source`` published first.

    Unpacks as ``(source, target, attributes)``, the edge-list form networkx takes:
    ``networkx.DiGraph(network.edges)``."""

    source: str
    target: str
    stories: int
    median_lag_seconds: float | None

    def __iter__(self) -> Iterator:
        return iter((self.source, self.target,
                     {"stories": self.stories, "median_lag_seconds": self.median_lag_seconds}))

    def __len__(self) -> int:
        return 3


@dataclass(frozen=True)
class CopyNetwork:
    """Directed copy network: an edge from each story's first publisher to every other site
    carrying it; ``nodes`` are the sites on an edge."""

    nodes: list[SiteStats]
    edges: list[CopyEdge]


@dataclass(frozen=True)
class StoryExample:
    """One story two sites share: the source's copy and the copier's."""

    story_id: int
    title: str | None
    source_url: str | None
    copy_url: str | None
    lag_seconds: float | None


@dataclass(frozen=True)
class Neighbour:
    """A site another copies from, or is copied by."""

    site: str
    name: str | None
    stories: int
    median_lag_seconds: float | None
    examples: list[StoryExample]


@dataclass(frozen=True)
class SiteDetail:
    """One site with the sites it copies from and the sites that copy it, most stories first."""

    stats: SiteStats
    copies_from: list[Neighbour]
    copied_by: list[Neighbour]


# ---------------------------------------------------------------- readiness


def require_site_stats(db: sqlite_utils.Database, path: str | Path) -> None:
    """Make sure the site statistics exist: built once (from the stories) when the file is
    writable, as on an older database; the crawl keeps them current afterwards."""
    if store.site_stats_ready(db):
        return
    print(f"crawler: building the site statistics of {path} once ...", file=sys.stderr)
    build_once(path, "site statistics", "crawler sites", store.ensure_site_stats)


# ---------------------------------------------------------------- sites


def _percentile(sorted_values: list[float], share: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    return sorted_values[max(math.ceil(share * len(sorted_values)) - 1, 0)]


def _median(values: list[float]) -> float | None:
    """The lower median: an observed value, as the canned SQL query computes it."""
    values = sorted(values)
    return values[(len(values) - 1) // 2] if values else None


def _copy_filter(since: str | None, language: str | None) -> tuple[str, dict]:
    where, params = [], {}
    if since:
        where.append("story_time >= julianday(:since)")
        params["since"] = since
    if language:
        where.append("language = :language")
        params["language"] = language
    return "".join(f" AND {w}" for w in where), params


def _lags(db: sqlite_utils.Database, since: str | None, language: str | None,
          site: str | None = None) -> dict[str, list[float]]:
    """Each site's copy lags, ascending (read from the partial index of copy rows)."""
    extra, params = _copy_filter(since, language)
    if site is not None:
        extra += " AND site = :site"
        params["site"] = site
    lags: dict[str, list[float]] = defaultdict(list)
    # unfiltered, the partial index gives the rows in order; filtered, the story_time or
    # language index finds them (an ORDER BY would make SQLite walk every copy row instead)
    order = "" if params else " ORDER BY site, lag_seconds"
    for name, lag in db.execute(
            "SELECT site, lag_seconds FROM story_sites WHERE NOT is_first "
            f"AND lag_seconds IS NOT NULL{extra}{order}", params):
        lags[name].append(lag)
    if order:
        return lags
    return {name: sorted(values) for name, values in lags.items()}


def list_sites(db: sqlite_utils.Database, *, since: str | None = None,
               language: str | None = None, min_articles: int = 1, sort: str = "articles",
               site: str | None = None, limit: int | None = None,
               lags: dict[str, list[float]] | None = None) -> list[SiteStats]:
    """Every site with its statistics, sorted by ``sort`` (a key of SORTS). ``since`` (ISO
    time) and ``language`` count only stories first published since then and the site's copies
    in that language; without them the per-site counters are read as kept. ``lags``: each
    site's copy lags under these filters, ascending, when the caller has read them already."""
    if sort not in SORTS:
        raise UserError(f"--sort {sort!r}: expected one of {', '.join(SORTS)}")
    one = " AND site = :site" if site is not None else ""
    if since or language:
        extra, params = _copy_filter(since, language)
        rows = db.execute(
            "SELECT site, max(sitename), sum(n_articles), count(*), sum(n_sites > 1), "
            "sum(is_first AND n_sites > 1), sum(NOT is_first), sum(n_redated), sum(n_teasers), "
            f"sum(n_articles - 1) FROM story_sites WHERE 1{extra}{one} GROUP BY site",
            {**params, "site": site}).fetchall()
        languages: dict[str, dict[str, int]] = defaultdict(dict)
        for name, lang, n in db.execute(
                f"SELECT site, coalesce(language, ''), sum(n_articles) FROM story_sites "
                f"WHERE 1{extra}{one} GROUP BY site, coalesce(language, '')",
                {**params, "site": site}):
            languages[name][lang] = n
    else:
        rows = db.execute(
            "SELECT site, sitename, articles, stories, shared_stories, first_stories, "
            f"copied_stories, redated, teasers, updates FROM sites WHERE stories > 0{one}",
            {"site": site}).fetchall()
        languages = defaultdict(dict)
        for name, lang, n in db.execute(
                f"SELECT site, language, articles FROM site_languages WHERE 1{one}",
                {"site": site}):
            languages[name][lang] = n
    if lags is None:
        lags = _lags(db, since, language, site)
    out = []
    for name, sitename, articles, stories, shared, first, copied, redated, teasers, updates \
            in rows:
        if articles < min_articles:
            continue
        lag = lags.get(name, [])
        out.append(SiteStats(
            site=name, name=sitename, articles=articles, stories=stories,
            shared_stories=shared, first_stories=first, copied_stories=copied,
            first_share=first / shared if shared else None,
            copy_share=copied / stories if stories else None,
            median_lag_seconds=_median(lag), p90_lag_seconds=_percentile(lag, 0.9),
            redated=redated, teasers=teasers, updates=updates,
            languages=dict(sorted(languages.get(name, {}).items(), key=lambda kv: -kv[1]))))
    key, descending = SORTS[sort]
    out.sort(key=lambda s: s.site)
    present = [s for s in out if getattr(s, key) is not None]
    missing = [s for s in out if getattr(s, key) is None]
    present.sort(key=lambda s: getattr(s, key), reverse=descending)
    out = present + missing
    return out[:limit] if limit else out


# ---------------------------------------------------------------- the copy network


def copy_network(db: sqlite_utils.Database, *, since: str | None = None,
                 language: str | None = None, min_stories: int = 1) -> CopyNetwork:
    """The copy network (see CopyNetwork); edges with at least ``min_stories`` stories, most
    stories first. Reads the copy rows only (a partial index holds them in edge order)."""
    extra, params = _copy_filter(since, language)
    copies = f"FROM story_sites WHERE NOT is_first{extra}"
    with _snapshot(db):  # both reads see the same stories
        # one row per edge, and every lag in the same (index) order: the counts say where
        # each edge's lags are, so no row is grouped in Python
        counts = db.execute(f"SELECT first_site, site, count(*), count(lag_seconds) {copies} "
                            f"GROUP BY first_site, site ORDER BY first_site, site",
                            params).fetchall()
        flat = [r[0] for r in db.execute(
            f"SELECT lag_seconds {copies} AND lag_seconds IS NOT NULL "
            f"ORDER BY first_site, site, lag_seconds", params)]
    edges: list[CopyEdge] = []
    site_lags: dict[str, list[float]] = defaultdict(list)  # the nodes' lags, from these rows
    start = 0
    for source, target, stories, lagged in counts:
        if lagged:
            site_lags[target] += flat[start:start + lagged]
        if stories >= min_stories:
            edges.append(CopyEdge(source, target, stories,
                                  flat[start + (lagged - 1) // 2] if lagged else None))
        start += lagged
    edges.sort(key=lambda e: (-e.stories, e.source, e.target))
    on_edge = {e.source for e in edges} | {e.target for e in edges}
    nodes = [s for s in list_sites(db, since=since, language=language,
                                   lags={k: sorted(v) for k, v in site_lags.items()})
             if s.site in on_edge]
    return CopyNetwork(nodes=nodes, edges=edges)


class _snapshot:
    """``with _snapshot(db):`` several reads in one read transaction (one snapshot of WAL)."""

    def __init__(self, db: sqlite_utils.Database):
        self.conn = db.conn
        self.owner = not self.conn.in_transaction

    def __enter__(self) -> None:
        if self.owner:
            self.conn.execute("BEGIN")

    def __exit__(self, *exc) -> None:
        if self.owner:
            self.conn.execute("COMMIT")


# ---------------------------------------------------------------- one site


def load_site(db: sqlite_utils.Database, host: str, *, examples: int = EXAMPLES) -> SiteDetail:
    """Site ``host`` with the sites it copies from and those that copy it."""
    found = list_sites(db, site=host)
    if not found:
        like = [r[0] for r in db.execute(
            "SELECT site FROM sites WHERE site LIKE :q ORDER BY articles DESC LIMIT 5",
            {"q": f"%{host}%"})]
        hint = f"; did you mean {', '.join(like)}?" if like else " (`crawler sites` lists them)"
        raise NotFound(f"no site {host} in this database{hint}")
    names = dict(db.execute("SELECT site, sitename FROM sites").fetchall())
    copies_from = _neighbours(db, "first_site", "site", host, names, examples)
    copied_by = _neighbours(db, "site", "first_site", host, names, examples)
    return SiteDetail(stats=found[0], copies_from=copies_from, copied_by=copied_by)


def _neighbours(db: sqlite_utils.Database, other: str, this: str, host: str,
                names: dict[str, str | None], examples: int) -> list[Neighbour]:
    """The sites in column ``other`` of copy rows whose column ``this`` is ``host``."""
    rows: dict[str, list[tuple]] = defaultdict(list)
    for neighbour, lag, story_id, story_time in db.execute(
            f"SELECT {other}, lag_seconds, story_id, story_time FROM story_sites "
            f"WHERE NOT is_first AND {this} = ?", [host]):
        rows[neighbour].append((lag, story_id, story_time))
    out = []
    for neighbour, shared in rows.items():
        source, copier = (neighbour, host) if other == "first_site" else (host, neighbour)
        latest = sorted(shared, key=lambda r: -(r[2] or 0))[:examples]
        out.append(Neighbour(
            site=neighbour, name=names.get(neighbour), stories=len(shared),
            median_lag_seconds=_median([r[0] for r in shared if r[0] is not None]),
            examples=[_example(db, story_id, source, copier, lag)
                      for lag, story_id, _ in latest]))
    out.sort(key=lambda n: (-n.stories, n.site))
    return out


def _example(db: sqlite_utils.Database, story_id: int, source: str, copier: str,
             lag: float | None) -> StoryExample:
    urls = dict(db.execute(
        "SELECT ss.site, a.url FROM story_sites ss JOIN articles a ON a.id = ss.first_article_id "
        "WHERE ss.story_id = ? AND ss.site IN (?, ?)", [story_id, source, copier]).fetchall())
    title = db.execute("SELECT title FROM stories WHERE id = ?", [story_id]).fetchone()
    return StoryExample(story_id=story_id, title=title[0] if title else None,
                        source_url=urls.get(source), copy_url=urls.get(copier), lag_seconds=lag)
