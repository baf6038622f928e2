"""`crawler serve`: the database in Datasette, described, faceted, with ready-made queries.

Datasette is an optional extra (``pip install 'news-crawler[serve]'``). Its metadata gives every
table and column a description, facets on site, language and story, and canned queries for the
questions people ask first. Datasette opens the file read-only, so it can run during a crawl.
"""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from contextlib import closing
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
    "sites": {
        "site": "Host name", "sitename": "Name the site gives itself (og:site_name, ...)",
        "articles": "Articles stored", "stories": "Stories it carries",
        "shared_stories": "Its stories also carried by another site",
        "first_stories": "Shared stories it published first (see README: first publisher)",
        "copied_stories": "Its stories another site published first",
        "redated": "Its copies re-dated (published far from most copies of the story)",
        "teasers": "Its teasers (short extracts of a story's canonical article)",
        "updates": "Extra copies of one story on this site (updated versions)",
    },
    "story_sites": {
        "story_id": "The story", "site": "A site carrying it",
        "n_articles": "The site's copies of the story",
        "first_article_id": "The site's earliest copy (re-dated copies last)",
        "is_first": "1: this site is the story's first publisher",
        "lag_seconds": "Seconds from the story's first copy to this site's (none if re-dated)",
        "n_redated": "The site's re-dated copies", "n_teasers": "The site's teasers",
        "language": "Language of the site's earliest copy", "sitename": "The site's name",
        "first_site": "The story's first publisher", "story_time":
            "When the story's first copy appeared (julianday)",
        "n_sites": "Sites carrying the story",
    },
    "site_languages": {"site": "Host name", "language": "Language code",
                       "articles": "The site's articles in it"},
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
    "sites": {
        "description": "One row per site: stories it published first, stories it copied, "
                       "re-dated copies, teasers. Kept current as stories change.",
        "sort_desc": "articles",
        "label_column": "sitename",
    },
    "story_sites": {
        "description": "One row per story and site carrying it: first publisher, lag, "
                       "re-dated copies. The copy network's edges are its rows with "
                       "is_first = 0 (first_site -> site).",
        "facets": ["site", "first_site", "is_first"],
    },
    "site_languages": {"description": "Articles of each site per language."},
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
                       "first copy (the first publisher, as `crawler sites` counts it), of the "
                       "stories it carried.",
        "sql": """SELECT site, sum(is_first) AS stories_first, count(*) AS stories_carried,
       round(100.0 * sum(is_first) / count(*), 1) AS percent_first
FROM story_sites WHERE n_sites > 1
GROUP BY site
ORDER BY stories_first DESC, percent_first DESC""",
    },
}


#: The tables a reader starts with, in this order (Datasette lists tables by name; the
#: descriptions lead with these).
LEADING_TABLES = ("stories", "articles", "sites")
#: Internal tables of the duplicate index, hidden (``?_show_hidden=1`` shows them).
INTERNAL_PREFIX = "dedup_"


def _leading_html(db_name: str) -> str:
    links = ", ".join(f'<a href="/{db_name}/{t}">{t}</a>' for t in LEADING_TABLES)
    return (f"<p>Articles crawled from news feeds; syndicated copies merged into stories. "
            f"Start with {links}; the canned queries below answer the first questions "
            f"(<a href=\"/{db_name}/copy_network\">who copies whom</a>).</p>")


_MEDIAN_EDGES = """WITH copies AS (
  SELECT first_site, site, lag_seconds,
         row_number() OVER (PARTITION BY first_site, site ORDER BY lag_seconds IS NULL,
                            lag_seconds) AS r,
         count(lag_seconds) OVER (PARTITION BY first_site, site) AS n
  FROM story_sites WHERE NOT is_first{where}
)
SELECT first_site AS source, site AS target, count(*) AS stories,
       max(CASE WHEN r = (n + 1) / 2 THEN lag_seconds END) AS median_lag_seconds
FROM copies GROUP BY first_site, site"""

QUERIES.update({
    "sites_by_originality": {
        "title": "Sites: who publishes first, who copies",
        "description": "Every site with its share of shared stories published first and its "
                       "share of stories copied from another site (`crawler sites` adds lags).",
        "sql": """SELECT site, sitename, articles, stories, shared_stories, first_stories,
       round(100.0 * first_stories / nullif(shared_stories, 0), 1) AS percent_first,
       copied_stories, round(100.0 * copied_stories / nullif(stories, 0), 1) AS percent_copied,
       redated, teasers, updates
FROM sites
WHERE articles >= coalesce(nullif(:min_articles, ''), 1)
ORDER BY articles DESC""",
    },
    "copy_network": {
        "title": "Who copies whom",
        "description": "The copy network: from each story's first publisher (source) to every "
                       "other site carrying it (target), stories and median lag (lower median).",
        "sql": _MEDIAN_EDGES.format(where="") + "\nORDER BY stories DESC, source, target",
    },
    "site_copies": {
        "title": "One site: whom it copies, who copies it",
        "description": "For :site, the sites it copies stories from (direction 'copies from') "
                       "and the sites that copy it ('copied by').",
        "sql": "SELECT CASE WHEN target = :site THEN 'copies from' ELSE 'copied by' END AS "
               "direction, CASE WHEN target = :site THEN source ELSE target END AS other_site, "
               "stories, median_lag_seconds FROM (" + _MEDIAN_EDGES.format(
                   where=" AND (site = :site OR first_site = :site)") + ")\n"
               "ORDER BY direction, stories DESC",
    },
})


def build_metadata(db_name: str, table_names: list[str] | None = None) -> dict:
    """Datasette metadata (0.6x format) for a crawl database that Datasette names ``db_name``
    (``table_names``: the database's tables, so that the internal ones are hidden)."""
    tables = {}
    for table, spec in TABLES.items():
        tables[table] = {**spec, "columns": COLUMNS.get(table, {})}
    for table in table_names or []:
        if table.startswith(INTERNAL_PREFIX):
            tables[table] = {"hidden": True}
    return {
        "title": "News crawler",
        "description_html": _leading_html(db_name),
        "databases": {db_name: {"description_html": _leading_html(db_name), "tables": tables,
                                "queries": QUERIES}},
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
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    metadata = build_metadata(db_path.stem, names)
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
