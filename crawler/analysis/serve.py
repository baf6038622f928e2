"""`crawler serve`: the database in Datasette, described, faceted, with ready-made queries.

Datasette is an optional extra (``pip install 'news-crawler[serve]'``). Its metadata gives every
table and column a description, facets on site, language and story, and canned queries for the
questions people ask first. Datasette opens the file read-only, so it can run during a crawl.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from crawler.analysis.stories import REDATED_DAYS
from crawler.errors import UserError

COLUMNS = {
    "articles": {
        "id": "Article id",
        "url": "Canonical URL (tracking parameters removed, rel=canonical honoured); unique",
        "fetched_url": "The URL as fetched, before canonicalisation",
        "site": "Host name of the canonical URL",
        "title": "Headline",
        "author": "Author(s) from the page, else from the feed",
        "published": "Publication date, ISO 8601 UTC (page metadata, else the feed's date)",
        "date_source": "Where `published` came from: page or feed",
        "first_seen": "When the crawler first stored this article (ISO 8601 UTC)",
        "language": "Language code detected or declared (de, en, ...)",
        "text": "Main text, paragraphs separated by blank lines",
        "word_count": "Words in text",
        "story_id": "The story this article is a copy of (see stories)",
        "description": "Page description (meta/og:description)",
        "sitename": "Site name the page declares",
        "categories": "Categories the page declares (JSON list)",
        "feed_title": "Title in the feed entry",
        "feed_summary": "Summary in the feed entry",
        "feed_published": "Date in the feed entry",
        "feed_author": "Author in the feed entry",
        "feed_guid": "GUID/id of the feed entry",
        "feed_tags": "Tags of the feed entry (JSON list)",
        "content_hash": "SHA-1 of text (exact copies share it)",
        "html": "The fetched page, gzip (only with --keep-html)",
        "crawl_id": "The crawl that stored it (see crawls)",
    },
    "stories": {
        "id": "Story id: the id of its first article until stories merge",
        "title": "Title of the canonical article",
        "canonical_article_id": "The story's canonical article: earliest published",
        "first_seen": "When the crawler first saw any copy",
        "first_published": "Earliest publication date among the copies",
        "last_published": "Latest publication date among the copies",
        "n_articles": "Number of copies",
        "n_sites": "Number of distinct sites carrying a copy",
    },
    "article_links": {
        "article_id": "One article of a matched pair",
        "other_id": "The other article",
        "similarity": "Similarity the merge decision used",
        "jaccard": "Estimated Jaccard similarity of the word shingles",
        "containment": "Share of the shorter text's shingles found in the longer one",
        "method": "How the pair was matched: duplicate, update (figures differ), "
                  "contained_in or contains",
        "changes": "For an update: the figures that differ, other_id's → article_id's",
        "created": "When the link was recorded",
    },
    "feeds": {
        "url": "Feed URL", "etag": "ETag of the last response",
        "last_modified": "Last-Modified of the last response", "last_fetch": "Last fetch time",
        "last_status": "HTTP status of the last fetch", "error": "Last error, if any",
    },
    "crawls": {"started": "Start (UTC)", "ended": "End (UTC)", "status": "finished, failed, ...",
               "n_new": "Articles stored new", "n_known": "Articles already known",
               "n_failed": "Pages that gave no article"},
    "failures": {"kind": "feed or article", "reason": "Short reason (http_404, timeout, ...)",
                 "error": "Full error message"},
}

TABLES = {
    "articles": {
        "description": "One row per article (canonical URL). Copies of one story share story_id.",
        "facets": ["site", "language", "story_id"],
        "sort_desc": "first_seen",
        "label_column": "title",
    },
    "stories": {
        "description": "One row per story: the copies of one news story, wherever published.",
        "facets": ["n_sites"],
        "sort_desc": "n_sites",
        "label_column": "title",
    },
    "article_links": {"description": "Matched pairs of articles: why two copies were merged."},
    "feeds": {"description": "Feeds crawled, with the state of their last fetch."},
    "article_feeds": {"description": "Which feeds listed which article."},
    "crawls": {"description": "One row per crawl run."},
    "failures": {"description": "Feeds and pages that gave nothing, and why."},
    "meta": {"description": "Schema version and index parameters."},
}

QUERIES = {
    "stories_on_most_sites": {
        "title": "Stories seen on most sites",
        "description": "Stories carried by the most sites, with first and last publication.",
        "sql": """SELECT s.id AS story_id, s.title, s.n_sites, s.n_articles,
       s.first_published, s.last_published,
       (SELECT site FROM articles WHERE id = s.canonical_article_id) AS first_site
FROM stories s
WHERE s.n_sites >= coalesce(nullif(:min_sites, ''), 2)
ORDER BY s.n_sites DESC, s.n_articles DESC, s.first_published DESC
LIMIT 200""",
    },
    "redated_copies": {
        "title": "Re-dated copies",
        "description": "Copies whose published date is more than :days days (default "
                       f"{REDATED_DAYS:.0f}) away from their story's first publication.",
        "sql": f"""SELECT a.id AS article_id, a.story_id, s.title AS story, a.site, a.published,
       s.first_published AS story_first_published,
       round(julianday(a.published) - julianday(s.first_published), 1) AS days_off, a.url
FROM articles a JOIN stories s ON s.id = a.story_id
WHERE a.published IS NOT NULL AND s.first_published IS NOT NULL
  AND abs(julianday(a.published) - julianday(s.first_published))
      > coalesce(nullif(:days, ''), {REDATED_DAYS})
ORDER BY abs(days_off) DESC
LIMIT 500""",
    },
    "who_published_first": {
        "title": "Who published first",
        "description": "For stories on more than one site: how often each site had the "
                       "first copy, of the stories it carried.",
        "sql": """WITH multi AS (
  SELECT id, canonical_article_id FROM stories WHERE n_sites > 1
), carried AS (
  SELECT a.site, count(DISTINCT a.story_id) AS stories
  FROM articles a JOIN multi m ON m.id = a.story_id GROUP BY a.site
), firsts AS (
  SELECT a.site, count(*) AS first FROM multi m JOIN articles a ON a.id = m.canonical_article_id
  GROUP BY a.site
)
SELECT c.site, coalesce(f.first, 0) AS stories_first, c.stories AS stories_carried,
       round(100.0 * coalesce(f.first, 0) / c.stories, 1) AS percent_first
FROM carried c LEFT JOIN firsts f ON f.site = c.site
ORDER BY stories_first DESC, percent_first DESC""",
    },
}


def build_metadata(db_name: str) -> dict:
    """Datasette metadata (0.6x format) for a crawl database that Datasette names ``db_name``."""
    tables = {}
    for table, spec in TABLES.items():
        tables[table] = {**spec, "columns": COLUMNS.get(table, {})}
    return {
        "title": "News crawler",
        "description": "Articles crawled from news feeds; syndicated copies merged into stories.",
        "databases": {db_name: {"tables": tables, "queries": QUERIES}},
    }


def datasette_available() -> bool:
    try:
        import datasette  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def serve(db_path: str | Path, *, host: str = "127.0.0.1", port: int = 8001,
          open_browser: bool = False, extra_args: list[str] | None = None) -> int:
    """Run Datasette on ``db_path`` until interrupted (blocks)."""
    if not datasette_available():
        raise UserError("Datasette is not installed: pip install 'news-crawler[serve]' "
                        "(or pip install datasette)")
    from datasette.cli import cli

    db_path = Path(db_path)
    metadata = build_metadata(db_path.stem)
    with tempfile.TemporaryDirectory(prefix="crawler-serve-") as tmp:
        meta_file = os.path.join(tmp, "metadata.json")
        with open(meta_file, "w", encoding="utf-8") as fh:
            json.dump(metadata, fh, ensure_ascii=False, indent=1)
        args = ["serve", str(db_path), "--metadata", meta_file, "--host", host,
                "--port", str(port), *(["--open"] if open_browser else []),
                *(extra_args or [])]
        try:
            cli.main(args=args, prog_name="datasette", standalone_mode=False)
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0
