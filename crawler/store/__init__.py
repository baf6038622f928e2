"""SQLite storage: the schema and every write, in one place (sqlite-utils).

The table and column names documented in the README are a stable interface: other tools read
them. Writes go through short transactions on a WAL database, so a crawl killed at any moment
leaves a consistent file, and readers keep working while a crawl writes.
"""
from __future__ import annotations

import json
import sqlite3
import zlib
from datetime import datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import sqlite_utils

SCHEMA_VERSION = 1

#: Columns of each table, in order. ``sqlite-utils`` creates missing tables and adds missing
#: columns, which is the whole migration story while the schema only grows.
TABLES: dict[str, dict[str, Any]] = {
    "feeds": {
        "columns": {
            "id": int, "url": str, "title": str, "site": str,
            "etag": str, "last_modified": str,
            "added": str, "last_fetch": str, "last_status": int, "error": str,
            "n_fetches": int, "n_errors": int, "last_new_article": str,
            "next_fetch": str, "interval_seconds": int, "disabled": int,
            "body_hash": str,
        },
        "pk": "id",
        "not_null": {"url"},
        "defaults": {"n_fetches": 0, "n_errors": 0, "disabled": 0},
        "unique": [["url"]],
    },
    "articles": {
        "columns": {
            "id": int, "url": str, "fetched_url": str, "site": str,
            "title": str, "author": str, "published": str, "date_source": str,
            "first_seen": str, "language": str, "text": str, "word_count": int,
            "story_id": int, "description": str, "sitename": str, "categories": str,
            "feed_title": str, "feed_summary": str, "feed_published": str,
            "feed_author": str, "feed_guid": str, "feed_tags": str,
            "content_hash": str, "html": bytes, "crawl_id": int,
        },
        "pk": "id",
        "not_null": {"url"},
        "unique": [["url"]],
        # fetched_url: known-URL lookups (known_urls, article_id_for) match either URL; without
        # this index each lookup scanned the whole table, once per feed entry.
        "indexes": [["story_id", "site"], ["site"], ["published"], ["first_seen"], ["fetched_url"]],
    },
    "article_feeds": {
        "columns": {"article_id": int, "feed_id": int, "first_seen": str},
        "pk": ("article_id", "feed_id"),
        "foreign_keys": [("article_id", "articles", "id"), ("feed_id", "feeds", "id")],
        "indexes": [["feed_id"]],
    },
    "stories": {
        "columns": {
            "id": int, "title": str, "canonical_article_id": int,
            "first_seen": str, "first_published": str, "last_published": str,
            "n_articles": int, "n_sites": int,
        },
        "pk": "id",
        "indexes": [["first_published"], ["first_seen"]],
    },
    "article_links": {
        "columns": {
            "article_id": int, "other_id": int, "similarity": float,
            "jaccard": float, "containment": float, "method": str, "created": str,
            "changes": str,
        },
        "pk": ("article_id", "other_id"),
        "indexes": [["other_id"]],
    },
    "crawls": {
        "columns": {
            "id": int, "kind": str, "args": str, "started": str, "ended": str,
            "status": str, "n_feeds": int, "n_feeds_failed": int, "n_pages": int,
            "n_new": int, "n_known": int, "n_failed": int,
        },
        "pk": "id",
    },
    "failures": {
        "columns": {
            "id": int, "crawl_id": int, "time": str, "kind": str, "url": str,
            "feed_url": str, "status": int, "reason": str, "error": str,
        },
        "pk": "id",
        "indexes": [["crawl_id"], ["url"]],
    },
    "meta": {"columns": {"key": str, "value": str}, "pk": "key"},
    # Site statistics, kept current by triggers on `stories` (see "site statistics" below).
    "story_sites": {
        "columns": {
            "story_id": int, "site": str, "n_articles": int, "first_article_id": int,
            "is_first": int, "lag_seconds": float, "n_redated": int, "n_teasers": int,
            "language": str, "sitename": str, "first_site": str, "story_time": float,
            "n_sites": int,
        },
        "pk": ("story_id", "site"),
        "indexes": [["site", "story_time"], ["story_time"], ["language", "story_time"]],
    },
    "sites": {
        "columns": {
            "site": str, "sitename": str, "articles": int, "stories": int,
            "shared_stories": int, "first_stories": int, "copied_stories": int,
            "redated": int, "teasers": int, "updates": int,
        },
        "pk": "site",
    },
    "site_languages": {
        "columns": {"site": str, "language": str, "articles": int},
        "pk": ("site", "language"),
    },
    # robots.txt as fetched, kept across crawls for CRAWLER_ROBOTS_MAX_AGE (crawler.fetch.politeness)
    "robots": {
        "columns": {"origin": str, "fetched": str, "status": int, "body": bytes},
        "pk": "origin",
    },
    # Big stories changed since their site rows were last computed (refresh_site_stats).
    "story_sites_stale": {"columns": {"story_id": int}, "pk": "story_id"},
}


def utcnow() -> str:
    """Now, as the ISO 8601 UTC string every timestamp column uses."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


#: SQLite page cache of a writing connection. SQLite's 2 MB default holds less than one batch
#: touches (an article adds ~60 rows at random places of the index tables): pages were spilled
#: and read back, 290 reads and writes an article in a replay of 9,946 crawled articles; with
#: 16 MB, 116 (32 MB: 113). Bounded, so memory stays flat however large the database grows.
WRITER_CACHE_KB = 16_000
#: Page cache of the feed spider's bookkeeping connection (feed states and fetches, 500 feeds
#: a statement): reading and updating 100,000 feed rows took 4.0 MB of RSS with 16 MB and
#: 0.8 MB with 2 MB, at the same CPU (0.035 ms a feed).
BOOKKEEPING_CACHE_KB = 2_000


def open_db(path: str | Path, *, readonly: bool = False,
            cache_kb: int = WRITER_CACHE_KB) -> sqlite_utils.Database:
    """Open (creating it and its folder if needed) a crawl database in WAL mode.

    ``readonly`` opens an existing file without ever writing, for readers such as
    ``crawler stories`` that run while a crawl writes. ``cache_kb``: SQLite's page cache of a
    writing connection.
    """
    path = Path(path)
    if readonly:
        if not path.exists():
            raise FileNotFoundError(f"no database at {path}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        return sqlite_utils.Database(conn)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # durable in WAL up to the last checkpointed commit
    # Checkpoint every ~40 MB of WAL, not SQLite's 4 MB: a crawl's batches rewrite the same
    # index and FTS pages, which then go to the database file once (commits 19 -> 12 ms).
    db.execute("PRAGMA wal_autocheckpoint=10000")
    db.execute(f"PRAGMA cache_size=-{int(cache_kb)}")
    db.execute("PRAGMA foreign_keys=ON")
    ensure_schema(db)
    from crawler.store.fts import ensure_fts  # full-text index, kept by triggers

    ensure_fts(db)
    ensure_site_stats(db)
    return db


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create missing tables, columns and indexes; safe to run on every open."""
    with transaction(db):
        for name, spec in TABLES.items():
            table = db[name]
            if not table.exists():
                table.create(
                    spec["columns"], pk=spec["pk"], not_null=spec.get("not_null"),
                    defaults=spec.get("defaults"), foreign_keys=spec.get("foreign_keys"),
                )
            else:
                missing = {c: t for c, t in spec["columns"].items() if c not in table.columns_dict}
                for column, col_type in missing.items():
                    table.add_column(column, col_type)
            for cols in spec.get("unique", []):
                table.create_index(cols, unique=True, if_not_exists=True)
            for cols in spec.get("indexes", []):
                table.create_index(cols, if_not_exists=True)
        if get_meta(db, "schema_version") != str(SCHEMA_VERSION):  # no write on every open:
            set_meta(db, "schema_version", str(SCHEMA_VERSION))  # a full disk fails later, cleanly


class transaction:
    """``with transaction(db):`` one BEGIN IMMEDIATE ... COMMIT, rolled back on error.

    IMMEDIATE takes the write lock up front, so two writers queue on ``busy_timeout``
    instead of failing half-way through a batch.
    """

    def __init__(self, db: sqlite_utils.Database):
        self.conn = db.conn

    def __enter__(self):
        if self.conn.in_transaction:
            self.nested = True
            return self
        self.nested = False
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.nested:
            return False
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False


# ---------------------------------------------------------------- crawls


def start_crawl(db: sqlite_utils.Database, kind: str, args: Any) -> int:
    with transaction(db):
        return db["crawls"].insert(
            {"kind": kind, "args": json.dumps(args, ensure_ascii=False), "started": utcnow(),
             "status": "running"}
        ).last_pk


def finish_crawl(db: sqlite_utils.Database, crawl_id: int, status: str, counts: dict) -> None:
    columns = TABLES["crawls"]["columns"]
    row = {k: v for k, v in counts.items() if k in columns}
    refresh_site_stats(db)  # the big stories' site rows, deferred while the crawl ran
    with transaction(db):
        db["crawls"].update(crawl_id, {**row, "ended": utcnow(), "status": status})


def record_failure(db: sqlite_utils.Database, *, crawl_id: int | None, kind: str, url: str,
                   reason: str, error: str = "", status: int | None = None,
                   feed_url: str | None = None) -> None:
    """Keep why a feed or page gave nothing, for the summary and for ``crawler status``."""
    with transaction(db):
        db["failures"].insert({
            "crawl_id": crawl_id, "time": utcnow(), "kind": kind, "url": url,
            "feed_url": feed_url, "status": status, "reason": reason, "error": error[:2000],
        })


# ---------------------------------------------------------------- feeds


def feed_id(db: sqlite_utils.Database, url: str) -> int:
    """The id of the feed row for ``url``, created on first sight."""
    row = db.execute("SELECT id FROM feeds WHERE url = ?", [url]).fetchone()
    if row:
        return row[0]
    with transaction(db):
        return db["feeds"].insert({"url": url, "added": utcnow()}).last_pk


def get_feed(db: sqlite_utils.Database, url: str) -> dict | None:
    rows = list(db["feeds"].rows_where("url = ?", [url], limit=1))
    return rows[0] if rows else None


def update_feed(db: sqlite_utils.Database, url: str, **fields: Any) -> None:
    """Set columns of a feed's row (created if missing)."""
    fid = feed_id(db, url)
    with transaction(db):
        db["feeds"].update(fid, fields)


def feed_fetched(db: sqlite_utils.Database, url: str, *, status: int | None, error: str | None,
                 **fields: Any) -> None:
    """Record one fetch of a feed: counters, status and error in one write."""
    fid = feed_id(db, url)
    with transaction(db):
        db.execute(
            "UPDATE feeds SET n_fetches = coalesce(n_fetches, 0) + 1, "
            "n_errors = CASE WHEN ? IS NULL THEN 0 ELSE coalesce(n_errors, 0) + 1 END "
            "WHERE id = ?", [error, fid])
        db["feeds"].update(fid, {"last_fetch": utcnow(), "last_status": status,
                                 "error": error, **fields})


#: Rows per statement when many feeds are read or written at once (SQLite allows 32,766
#: parameters a statement; 500 stays clear of older builds' 999 too).
CHUNK = 500


def _chunks(items: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    """``items`` ``size`` at a time (a list or a stream: memory flat in their number)."""
    items = iter(items)
    while chunk := list(islice(items, size)):
        yield chunk


def get_feeds(db: sqlite_utils.Database, urls: Iterable[str]) -> dict[str, dict]:
    """The stored rows of many feeds at once (``get_feed`` for a list), by URL."""
    found = {}
    for chunk in _chunks(list(dict.fromkeys(urls))):
        cursor = db.execute(f"SELECT * FROM feeds WHERE url IN ({','.join('?' * len(chunk))})",
                            chunk)
        names = [d[0] for d in cursor.description]
        for row in cursor:
            found[row[names.index("url")]] = dict(zip(names, row))
    return found


def _ensure_feeds(db: sqlite_utils.Database, urls: list[str]) -> None:
    now = utcnow()
    db.conn.executemany("INSERT OR IGNORE INTO feeds (url, added) VALUES (?, ?)",
                        [(url, now) for url in urls])


def _grouped_updates(db: sqlite_utils.Database, rows: list[tuple[str, dict]]) -> None:
    """One ``executemany`` per set of columns: ``UPDATE feeds SET a = ?, b = ? WHERE url = ?``."""
    groups: dict[tuple, list] = {}
    for url, fields in rows:
        names = tuple(k for k in fields if k in TABLES["feeds"]["columns"])
        groups.setdefault(names, []).append([*(fields[k] for k in names), url])
    for names, params in groups.items():
        sets = ", ".join(f"[{n}] = ?" for n in names)
        if sets:
            db.conn.executemany(f"UPDATE feeds SET {sets} WHERE url = ?", params)


def feeds_fetched(db: sqlite_utils.Database, fetches: list[dict]) -> None:
    """``feed_fetched`` for many feeds in one transaction (the feed spider's batches): each
    of ``fetches`` holds url, status, error, time (last_fetch) and optional columns."""
    if not fetches:
        return
    with transaction(db):
        _ensure_feeds(db, [f["url"] for f in fetches])
        counted = "n_fetches = coalesce(n_fetches, 0) + 1, n_errors = CASE WHEN ? IS NULL " \
                  "THEN 0 ELSE coalesce(n_errors, 0) + 1 END"
        groups: dict[tuple, list] = {}
        for f in fetches:
            fields = {"last_fetch": f["time"], "last_status": f.get("status"),
                      **{k: v for k, v in f.items() if k not in ("url", "time", "status")}}
            names = tuple(k for k in fields if k in TABLES["feeds"]["columns"])
            groups.setdefault(names, []).append([f.get("error"), *(fields[k] for k in names),
                                                 f["url"]])
        for names, params in groups.items():
            sets = ", ".join([counted, *(f"[{n}] = ?" for n in names)])
            db.conn.executemany(f"UPDATE feeds SET {sets} WHERE url = ?", params)


def update_feeds(db: sqlite_utils.Database, updates: dict[str, dict]) -> None:
    """``update_feed`` for many feeds (call inside ``transaction``): rows created if missing."""
    urls = list(updates)
    for chunk in _chunks(urls):
        _ensure_feeds(db, chunk)
        _grouped_updates(db, [(url, updates[url]) for url in chunk])


# ---------------------------------------------------------------- articles


def known_urls(db: sqlite_utils.Database, urls: Iterable[str]) -> set[str]:
    """Which of ``urls`` are stored already, as canonical or as fetched URL."""
    urls = list(dict.fromkeys(urls))
    found: set[str] = set()
    for i in range(0, len(urls), 500):
        chunk = urls[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for url, fetched in db.execute(
            f"SELECT url, fetched_url FROM articles WHERE url IN ({marks}) "
            f"OR fetched_url IN ({marks})", chunk + chunk
        ):
            found.update((url, fetched))
    return found & set(urls)


def article_id_for(db: sqlite_utils.Database, url: str) -> int | None:
    row = db.execute("SELECT id FROM articles WHERE url = ? OR fetched_url = ? LIMIT 1",
                     [url, url]).fetchone()
    return row[0] if row else None


def link_article_feed(db: sqlite_utils.Database, article_id: int, feed_url: str) -> None:
    fid = feed_id(db, feed_url)
    db.execute("INSERT OR IGNORE INTO article_feeds (article_id, feed_id, first_seen) "
               "VALUES (?, ?, ?)", [article_id, fid, utcnow()])


def insert_article(db: sqlite_utils.Database, article: dict) -> tuple[int, bool]:
    """Insert one article (call inside ``transaction``); returns (id, is_new).

    An article whose canonical URL is stored already is not written again: the existing id
    comes back with ``is_new`` False, so the caller only links it to one more feed.
    """
    columns = TABLES["articles"]["columns"]
    row = {k: v for k, v in article.items() if k in columns and k != "id"}
    existing = db.execute("SELECT id FROM articles WHERE url = ?", [row["url"]]).fetchone()
    if existing:
        return existing[0], False
    row.setdefault("first_seen", utcnow())
    # Plain SQL: sqlite-utils' insert() introspects the table on every call (~25 queries).
    names = ", ".join(f"[{name}]" for name in row)
    marks = ", ".join("?" * len(row))
    cursor = db.execute(f"INSERT INTO articles ({names}) VALUES ({marks})", list(row.values()))
    return cursor.lastrowid, True


def new_story_for(db: sqlite_utils.Database, article_id: int) -> int:
    """Make ``article_id`` a story of its own (the story id is the article id)."""
    art = db["articles"].get(article_id)
    db["articles"].update(article_id, {"story_id": article_id})  # before the story row: its
    db["stories"].upsert({  # triggers read the story's articles (see site statistics)
        "id": article_id, "title": art["title"], "canonical_article_id": article_id,
        "first_seen": art["first_seen"], "first_published": art["published"],
        "last_published": art["published"], "n_articles": 1, "n_sites": 1,
    }, pk="id")
    return article_id


def feeds_with_failed_articles(db: sqlite_utils.Database, crawl_id: int) -> set[str]:
    """The feeds of which crawl ``crawl_id`` failed to store an article."""
    return {url for (url,) in db.execute(
        "SELECT DISTINCT feed_url FROM failures WHERE crawl_id = ? AND kind = 'article' "
        "AND feed_url IS NOT NULL", [crawl_id])}


def crawl_urls(db: sqlite_utils.Database, crawl_id: int) -> tuple[list[str], list[str]]:
    """The URLs of the articles crawl ``crawl_id`` stored, and of the pages it failed on."""
    started = db.execute("SELECT started FROM crawls WHERE id = ?", [crawl_id]).fetchone()
    articles = [url for (url,) in db.execute(  # through the first_seen index
        "SELECT url FROM articles WHERE first_seen >= ? AND crawl_id = ?",
        [started[0] if started else "", crawl_id])]
    failures = [url for (url,) in db.execute(
        "SELECT url FROM failures WHERE crawl_id = ? AND kind = 'article'", [crawl_id])]
    return articles, failures


# ---------------------------------------------------------------- meta


def get_robots(db: sqlite_utils.Database, origin: str, max_age: float) -> bytes | None:
    """The robots.txt of ``origin`` (``scheme://host:port``) fetched less than ``max_age``
    seconds ago, if any."""
    since = (datetime.now(timezone.utc) - timedelta(seconds=max_age)).isoformat(timespec="seconds")
    row = db.execute("SELECT body FROM robots WHERE origin = ? AND fetched > ?",
                     [origin, since]).fetchone()
    return row[0] if row else None


def put_robots(db: sqlite_utils.Database, origin: str, status: int, body: bytes) -> None:
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO robots (origin, fetched, status, body) "
                   "VALUES (?, ?, ?, ?)", [origin, utcnow(), status, body])


def get_meta(db: sqlite_utils.Database, key: str, default: str | None = None) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def set_meta(db: sqlite_utils.Database, key: str, value: str) -> None:
    db["meta"].upsert({"key": key, "value": value}, pk="key")


# ---------------------------------------------------------------- schedule and feed health


def feed_outcomes(db: sqlite_utils.Database, crawl_id: int, urls: Iterable[str]) -> dict[str, dict]:
    """What crawl ``crawl_id`` brought each feed: its row plus ``n_new`` (articles first stored
    by this crawl through the feed) and ``newest`` (when the newest of them was stored)."""
    return {url: outcome for chunk in iter_feed_outcomes(db, crawl_id, urls)
            for url, outcome in chunk.items()}


def iter_feed_outcomes(db: sqlite_utils.Database, crawl_id: int, urls: Iterable[str],
                       size: int = CHUNK) -> Iterator[dict[str, dict]]:
    """``feed_outcomes`` ``size`` feeds at a time, so that scheduling 100,000 feeds never
    holds 100,000 feed rows (~2 KB each as dicts).

    The articles of this crawl (found through the ``first_seen`` index, from the crawl's
    start on) are counted by feed once; then the feed rows are read a chunk at a time."""
    started = db.execute("SELECT started FROM crawls WHERE id = ?", [crawl_id]).fetchone()
    new_by_feed = {fid: (n, newest) for fid, n, newest in db.execute(
        "SELECT af.feed_id, count(*), max(a.first_seen) FROM articles a "
        "JOIN article_feeds af ON af.article_id = a.id "
        "WHERE a.first_seen >= ? AND a.crawl_id = ? GROUP BY af.feed_id",
        [started[0] if started else "", crawl_id])}
    chunk: list[str] = []
    for url in urls:
        chunk.append(url)
        if len(chunk) >= size:
            yield _outcomes(db, chunk, new_by_feed)
            chunk = []
    if chunk:
        yield _outcomes(db, chunk, new_by_feed)


def _outcomes(db: sqlite_utils.Database, urls: list[str], new_by_feed: dict) -> dict[str, dict]:
    out = {}
    feeds = get_feeds(db, urls)
    for url in dict.fromkeys(urls):
        feed = feeds.get(url)
        if feed is None:
            continue
        n_new, newest = new_by_feed.get(feed["id"], (0, None))
        out[url] = {**feed, "n_new": n_new, "newest": newest}
    return out


def iter_due_feeds(db: sqlite_utils.Database, urls: Iterable[str], now: str) -> Iterator[str]:
    """Those of ``urls`` to fetch at ``now`` (ISO UTC), in order: never scheduled, or due, and
    enabled. Read CHUNK feeds at a time: memory flat in the number of feeds."""
    for chunk in _chunks(urls):
        rows = {r[0]: r[1:] for r in db.execute(
            "SELECT url, next_fetch, disabled FROM feeds WHERE url IN (%s)"
            % ",".join("?" * len(chunk)), chunk)}
        for url in chunk:
            next_fetch, disabled = rows.get(url, (None, 0))
            if not disabled and (not next_fetch or next_fetch <= now):
                yield url


def due_feeds(db: sqlite_utils.Database, urls: Iterable[str], now: str) -> list[str]:
    """``iter_due_feeds`` as a list, each feed once."""
    return list(dict.fromkeys(iter_due_feeds(db, urls, now)))


def next_due(db: sqlite_utils.Database, urls: Iterable[str]) -> str | None:
    """The earliest `next_fetch` among the enabled feeds of ``urls`` (None: one is unscheduled
    or none is enabled; ask ``due_feeds``)."""
    earliest = None
    for chunk in _chunks(urls):
        for _, next_fetch in db.execute(
                "SELECT url, next_fetch FROM feeds WHERE coalesce(disabled, 0) = 0 AND url IN (%s)"
                % ",".join("?" * len(chunk)), chunk):
            if next_fetch is None:
                return None
            earliest = next_fetch if earliest is None else min(earliest, next_fetch)
    return earliest


def feed_health(db: sqlite_utils.Database) -> list[dict]:
    """Every feed with what ``crawler status`` shows: last fetch and status, last new article,
    errors in a row and the last error, next fetch and interval, articles carried."""
    return [dict(row) for row in db.query(
        "SELECT f.url, f.title, f.last_fetch, f.last_status, f.error, "
        "coalesce(f.n_errors, 0) AS n_errors, coalesce(f.n_fetches, 0) AS n_fetches, "
        "f.last_new_article, f.next_fetch, f.interval_seconds, coalesce(f.disabled, 0) AS disabled, "
        "(SELECT count(*) FROM article_feeds af WHERE af.feed_id = f.id) AS n_articles "
        "FROM feeds f ORDER BY coalesce(f.disabled, 0) DESC, coalesce(f.n_errors, 0) DESC, f.url")]


# ---------------------------------------------------------------- site statistics
#
# Who publishes first and who copies, kept current as stories change: every write of a
# ``stories`` row (dedup rewrites the row of each story it touches, after moving the articles)
# recomputes that story's ``story_sites`` rows, one per site carrying it; their own triggers
# keep the per-site counters of ``sites`` and ``site_languages``. Readers (``crawler sites``,
# the copy network) then read per-site rows and the copy rows, never every article.
#
# First publisher of a story: its earliest copy by published date (first_seen where the page
# gave none), re-dated copies never first, ties broken by first_seen then article id. A copy is
# re-dated when published more than REDATED_DAYS away from the lower median of the story's
# published dates (what most copies say; with two copies, the earlier one).

#: A copy dated more than this many days away from most of its story's copies is re-dated.
REDATED_DAYS = 30.0
#: A teaser has at most this share of the canonical article's words ...
TEASER_MAX_RATIO = 0.6
#: ... and, when dedup linked the pair, at least this containment.
TEASER_MIN_CONTAINMENT = 0.8

_STORY_SITES = f"""DELETE FROM story_sites WHERE story_id = NEW.id;
  INSERT INTO story_sites (story_id, site, n_articles, first_article_id, is_first, lag_seconds,
      n_redated, n_teasers, language, sitename, first_site, story_time, n_sites)
  SELECT NEW.id, site, count(*), max(CASE WHEN site_rank = 1 THEN id END),
    max(story_rank = 1),
    CASE WHEN max(story_rank = 1) THEN NULL
         ELSE max(CASE WHEN site_rank = 1 AND NOT redated THEN round((t - story_t) * 86400) END)
    END,
    sum(redated), coalesce(sum(teaser), 0), max(CASE WHEN site_rank = 1 THEN language END),
    max(sitename), max(story_site), max(story_t), count(*) OVER ()
  FROM (
    SELECT c.*,
      row_number() OVER (PARTITION BY site ORDER BY redated, t IS NULL, t, first_seen, id)
        AS site_rank,
      row_number() OVER story AS story_rank,
      first_value(site) OVER story AS story_site,
      first_value(t) OVER story AS story_t
    FROM (
      SELECT a.id, coalesce(a.site, '') AS site, a.first_seen, a.language, a.sitename,
        julianday(coalesce(a.published, a.first_seen)) AS t,
        coalesce(abs(julianday(a.published) - m.median) > {REDATED_DAYS}, 0) AS redated,
        a.id != NEW.canonical_article_id AND a.word_count <= {TEASER_MAX_RATIO} * cw.words
          AND NOT EXISTS (SELECT 1 FROM article_links l WHERE l.containment < {TEASER_MIN_CONTAINMENT}
            AND ((l.article_id = a.id AND l.other_id = NEW.canonical_article_id)
              OR (l.other_id = a.id AND l.article_id = NEW.canonical_article_id))) AS teaser
      FROM articles a
      LEFT JOIN (SELECT julianday(published) AS median FROM articles
                 WHERE story_id = NEW.id AND julianday(published) IS NOT NULL
                 ORDER BY julianday(published) LIMIT 1 OFFSET (
                   SELECT (count(*) - 1) / 2 FROM articles
                   WHERE story_id = NEW.id AND julianday(published) IS NOT NULL)) m
      LEFT JOIN (SELECT word_count AS words FROM articles WHERE id = NEW.canonical_article_id) cw
      WHERE a.story_id = NEW.id
    ) c
    WINDOW story AS (ORDER BY redated, t IS NULL, t, first_seen, id
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
  ) GROUP BY site;"""

_SITE_COUNTS = ("articles", "stories", "shared_stories", "first_stories", "copied_stories",
                "redated", "teasers", "updates")
_SITE_VALUES = ("{r}.n_articles", "1", "{r}.n_sites > 1", "{r}.is_first AND {r}.n_sites > 1",
                "NOT {r}.is_first", "{r}.n_redated", "{r}.n_teasers", "{r}.n_articles - 1")
_COUNTS = ", ".join(_SITE_COUNTS)
_SUM = ", ".join(f"{c} = {c} + excluded.{c}" for c in _SITE_COUNTS)
_ADD = ", ".join(v.format(r="NEW") for v in _SITE_VALUES)
_SUBTRACT = ", ".join(f"{c} = {c} - ({v.format(r='OLD')})" for c, v in zip(_SITE_COUNTS,
                                                                        _SITE_VALUES))

#: A story of more articles than this is only marked stale when written, and its site rows are
#: recomputed by refresh_site_stats (at the end of a crawl or rebuild, and when the database is
#: opened for writing): recomputing reads the whole story, 0.4 ms of CPU at 2 articles but
#: 3.9 ms at 100, 25 ms at 1,000 and 122 ms at 5,000, so doing it at every copy that joins a
#: wire story would make a copy's cost grow with the copies already stored.
SITE_STATS_EAGER_MAX = 64


def _articles_over(n: int) -> str:
    """SQL: the story NEW has more than ``n`` articles (counted, not read from
    stories.n_articles, which writers set; reads at most n + 1 index entries)."""
    return (f"(SELECT count(*) FROM (SELECT 1 FROM articles WHERE story_id = NEW.id "
            f"LIMIT {n + 1})) > {n}")


#: A story of one article (most of them) needs no ordering: its own row, in a quarter of the
#: time (bench/sites_speed.py).
_SINGLE = f"NOT {_articles_over(1)}"
_BIG = _articles_over(SITE_STATS_EAGER_MAX)
_SINGLE_SITE = """DELETE FROM story_sites WHERE story_id = NEW.id;
  INSERT INTO story_sites (story_id, site, n_articles, first_article_id, is_first, lag_seconds,
      n_redated, n_teasers, language, sitename, first_site, story_time, n_sites)
  SELECT NEW.id, coalesce(site, ''), 1, id, 1, NULL, 0, 0, language, sitename,
    coalesce(site, ''), julianday(coalesce(published, first_seen)), 1
  FROM articles WHERE story_id = NEW.id;"""


_MARK_STALE = "INSERT OR IGNORE INTO story_sites_stale (story_id) VALUES (NEW.id);"
_NOT_STALE = "DELETE FROM story_sites_stale WHERE story_id = NEW.id;\n  "


def _story_trigger(name: str, event: str, size: str) -> str:
    """The trigger that keeps a story's site rows for stories of one article ('single'), of a
    few ('few': recomputed at once) or of many ('big': marked stale)."""
    moved = "\n  DELETE FROM story_sites WHERE story_id = OLD.id AND OLD.id != NEW.id;" \
        if event == "UPDATE" else ""
    when, body = {"single": (_SINGLE, _NOT_STALE + _SINGLE_SITE),
                  "few": (f"NOT {_SINGLE} AND NOT {_BIG}", _NOT_STALE + _STORY_SITES),
                  "big": (_BIG, _MARK_STALE)}[size]
    return (f"CREATE TRIGGER IF NOT EXISTS {name}\nAFTER {event} ON stories "
            f"WHEN {when} BEGIN{moved}\n  {body}\nEND")


SITE_TRIGGERS = {
    f"stories_site_stats_a{event[0].lower()}{suffix}": _story_trigger(
        f"stories_site_stats_a{event[0].lower()}{suffix}", event, size)
    for event in ("INSERT", "UPDATE") for suffix, size in (("", "few"), ("1", "single"), ("b", "big"))
}
SITE_TRIGGERS.update({
    "stories_site_stats_ad": """CREATE TRIGGER IF NOT EXISTS stories_site_stats_ad
AFTER DELETE ON stories BEGIN
  DELETE FROM story_sites WHERE story_id = OLD.id;
  DELETE FROM story_sites_stale WHERE story_id = OLD.id;
END""",
    "story_sites_ai": f"""CREATE TRIGGER IF NOT EXISTS story_sites_ai
AFTER INSERT ON story_sites BEGIN
  INSERT INTO sites (site, sitename, {_COUNTS})
  VALUES (NEW.site, NEW.sitename, {_ADD})
  ON CONFLICT (site) DO UPDATE SET sitename = coalesce(excluded.sitename, sitename),
    {_SUM};
  INSERT INTO site_languages (site, language, articles)
  VALUES (NEW.site, coalesce(NEW.language, ''), NEW.n_articles)
  ON CONFLICT (site, language) DO UPDATE SET articles = articles + excluded.articles;
END""",
    "story_sites_ad": f"""CREATE TRIGGER IF NOT EXISTS story_sites_ad
AFTER DELETE ON story_sites BEGIN
  UPDATE sites SET {_SUBTRACT} WHERE site = OLD.site;
  DELETE FROM sites WHERE site = OLD.site AND stories <= 0;
  UPDATE site_languages SET articles = articles - OLD.n_articles
  WHERE site = OLD.site AND language = coalesce(OLD.language, '');
  DELETE FROM site_languages
  WHERE site = OLD.site AND language = coalesce(OLD.language, '') AND articles <= 0;
END""",
})
#: The copy rows, as the copy network and the lag percentiles read them (partial: only copies).
SITE_INDEXES = [
    "CREATE INDEX IF NOT EXISTS story_sites_copies ON story_sites "
    "(first_site, site, lag_seconds) WHERE NOT is_first",
    "CREATE INDEX IF NOT EXISTS story_sites_copy_lags ON story_sites "
    "(site, lag_seconds) WHERE NOT is_first",
]
#: Changes when the definitions above do: the statistics are then recomputed.
SITE_STATS_VERSION = str(zlib.crc32("\n".join([*SITE_TRIGGERS.values(), *SITE_INDEXES])
                                    .encode()))


#: The recomputation of one story's site rows, as refresh_site_stats runs it.
_REFRESH = [sql.strip() for sql in _STORY_SITES.replace("NEW.canonical_article_id", ":canonical")
            .replace("NEW.id", ":id").split(";\n") if sql.strip()]


def refresh_site_stats(db: sqlite_utils.Database) -> int:
    """Recompute the site rows of the big stories written since the last refresh (one
    transaction); how many. Cheap when there are none."""
    if not db.execute("SELECT 1 FROM story_sites_stale LIMIT 1").fetchone():
        return 0
    with transaction(db):
        stale = db.execute("SELECT s.story_id, st.canonical_article_id FROM story_sites_stale s "
                           "JOIN stories st ON st.id = s.story_id").fetchall()
        for story_id, canonical in stale:
            for sql in _REFRESH:
                db.execute(sql, {"id": story_id, "canonical": canonical})
        db.execute("DELETE FROM story_sites_stale")
    return len(stale)


def site_stats_ready(db: sqlite_utils.Database) -> bool:
    """The site statistics exist, their triggers too, and match this version's definitions."""
    names = {row[0] for row in db.execute(
        f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN "
        f"({','.join('?' * len(SITE_TRIGGERS))})", list(SITE_TRIGGERS))}
    return names == set(SITE_TRIGGERS) and get_meta(db, "site_stats") == SITE_STATS_VERSION


def ensure_site_stats(db: sqlite_utils.Database, progress: Callable[[str], None] | None = None,
                      chunk: int = 20_000) -> bool:
    """Create the site statistics' triggers and fill them from the stored stories if missing or
    made by other definitions (an older database); True if (re)built. Needs a writable database.
    The fill fires the story trigger on every story, in transactions of ``chunk`` stories."""
    if site_stats_ready(db):
        refresh_site_stats(db)
        return False
    with transaction(db):
        for name in SITE_TRIGGERS:
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
        for sql in (*SITE_TRIGGERS.values(), *SITE_INDEXES):
            db.execute(sql)
        for table in ("story_sites", "sites", "site_languages", "story_sites_stale"):
            db.execute(f"DELETE FROM {table}")
    total = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    done, last = 0, None
    while True:
        with transaction(db):
            row = db.execute("SELECT max(id), count(*) FROM (SELECT id FROM stories WHERE id > ? "
                             "ORDER BY id LIMIT ?)", [last if last is not None else -1 << 62,
                                                      chunk]).fetchone()
            if not row[1]:
                set_meta(db, "site_stats", SITE_STATS_VERSION)
                break
            db.execute("UPDATE stories SET id = id WHERE id > ? AND id <= ?",
                       [last if last is not None else -1 << 62, row[0]])
        last, done = row[0], done + row[1]
        if progress:
            progress(f"site statistics: {done}/{total} stories")
    refresh_site_stats(db)
    return True
