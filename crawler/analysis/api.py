"""Typed, read-only access to a crawl database, for notebooks and scripts.

>>> from crawler import open_db
>>> news = open_db("storage/demo.db")
>>> for story in news.stories(min_sites=2, limit=5):
...     print(story.id, story.n_sites, story.spread, story.title)
>>> timeline = news.story(story.id)
>>> [(c.article.site, c.time, c.flags) for c in timeline.copies]
>>> news.search("Schüler")[0].snippet
>>> [(s.site, s.first_share, s.median_lag_seconds) for s in news.sites(min_articles=20)]
>>> graph = networkx.DiGraph(news.copy_network().edges)   # edges carry stories and lag

Everything comes back as frozen dataclasses (Story, StoryTimeline, Copy, Article, SearchHit,
SiteStats, SiteDetail, CopyNetwork);
``news.db`` is the underlying sqlite_utils.Database for anything else (``news.db.query(sql)``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from crawler.analysis.access import NotFound, open_readonly
from crawler.analysis.export import iter_rows
from crawler.analysis.search import SearchHit, require_fts, search
from crawler.analysis.sites import (CopyEdge, CopyNetwork, SiteDetail, SiteStats, copy_network,
                                    list_sites, load_site, require_site_stats)
from crawler.analysis.stories import (ARTICLE_FIELDS, REDATED_DAYS, Article, Copy, Story,
                                      StoryTimeline, list_stories, load_story)
from crawler.analysis.times import parse_since

__all__ = ["open_db", "NewsDB", "Article", "Story", "StoryTimeline", "Copy", "SearchHit",
           "SiteStats", "SiteDetail", "CopyNetwork", "CopyEdge", "NotFound"]


class NewsDB:
    """A crawl database opened read-only (safe while a crawl writes to it)."""

    def __init__(self, path: str | Path = "storage/news.db"):
        self.path = Path(path)
        self.db: sqlite_utils.Database = open_readonly(self.path)

    def __repr__(self) -> str:
        return f"<NewsDB {self.path}: {self.count_articles()} articles, " \
               f"{self.count_stories()} stories>"

    def count_articles(self) -> int:
        return self.db.execute("SELECT count(*) FROM articles").fetchone()[0]

    def count_stories(self) -> int:
        return self.db.execute("SELECT count(*) FROM stories").fetchone()[0]

    def stories(self, *, since: str | None = None, site: str | None = None,
                language: str | None = None, min_sites: int = 1, search: str | None = None,
                limit: int | None = None) -> list[Story]:
        """Stories, newest first. ``since``: a date or an age such as "7d"; ``search``: words
        that one of the story's copies must contain."""
        if search:
            require_fts(self.db, self.path)
        return list_stories(self.db, since=parse_since(since) if since else None, site=site,
                            language=language, min_sites=min_sites, search=search, limit=limit)

    def story(self, story_id: int, *, redated_days: float = REDATED_DAYS) -> StoryTimeline:
        """One story (or the story of an article id) with every copy, flags and similarity."""
        return load_story(self.db, story_id, redated_days=redated_days)

    def article(self, article_id: int) -> Article:
        row = self.db.execute(f"SELECT {', '.join(ARTICLE_FIELDS)} FROM articles WHERE id = ?",
                              [article_id]).fetchone()
        if row is None:
            raise NotFound(f"no article {article_id} in {self.path}")
        return Article(*row)

    def articles(self, *, story_id: int | None = None, site: str | None = None,
                 language: str | None = None, since: str | None = None) -> Iterator[Article]:
        """Articles in id order, streamed (fine for millions of rows)."""
        for row in iter_rows(self.db, "articles", story_id=story_id, site=site,
                             language=language, since=parse_since(since) if since else None):
            yield Article(**{k: row.get(k) for k in ARTICLE_FIELDS})

    def search(self, query: str, *, limit: int | None = 20, raw: bool = False,
               site: str | None = None, language: str | None = None) -> list[SearchHit]:
        """Full-text search (FTS5); ``raw`` takes FTS5 syntax such as ``Schul* OR Kita``."""
        require_fts(self.db, self.path)
        return search(self.db, query, raw=raw, limit=limit, site=site, language=language)

    def sites(self, *, since: str | None = None, language: str | None = None,
              min_articles: int = 1, sort: str = "articles",
              limit: int | None = None) -> list[SiteStats]:
        """Every site: articles, stories, first-publisher and copy shares, copy lags.
        ``sort``: articles, stories, first, first-share, copies, copy-share, lag or site."""
        require_site_stats(self.db, self.path)
        return list_sites(self.db, since=parse_since(since) if since else None,
                          language=language, min_articles=min_articles, sort=sort, limit=limit)

    def site(self, host: str) -> SiteDetail:
        """One site, the sites it copies from and the sites that copy it, with examples."""
        require_site_stats(self.db, self.path)
        return load_site(self.db, host)

    def copy_network(self, *, since: str | None = None, language: str | None = None,
                     min_stories: int = 1) -> CopyNetwork:
        """Edges from each story's first publisher to every other site carrying it
        (``networkx.DiGraph(network.edges)``), nodes with their site statistics."""
        require_site_stats(self.db, self.path)
        return copy_network(self.db, since=parse_since(since) if since else None,
                            language=language, min_stories=min_stories)

    def query(self, sql: str, params: Any = None) -> Iterator[dict]:
        """Any read-only SQL, rows as dicts."""
        return self.db.query(sql, params)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "NewsDB":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_db(path: str | Path = "storage/news.db") -> NewsDB:
    """Open a crawl database read-only for analysis (see NewsDB)."""
    return NewsDB(path)
