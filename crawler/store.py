"""SQLite storage: the schema and every write, in one place (sqlite-utils).

The table and column names documented in the README are a stable interface: other tools read
them. Writes go through short transactions on a WAL database, so a crawl killed at any moment
leaves a consistent file, and readers keep working while a crawl writes.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

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
}


def utcnow() -> str:
    """Now, as the ISO 8601 UTC string every timestamp column uses."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


#: SQLite page cache of a writing connection. SQLite's 2 MB default holds less than one batch
#: touches (an article adds ~60 rows at random places of the index tables): pages were spilled
#: and read back, 290 reads and writes an article in a replay of 9,946 crawled articles; with
#: 16 MB, 116 (32 MB: 113). Bounded, so memory stays flat however large the database grows.
WRITER_CACHE_KB = 16_000


def open_db(path: str | Path, *, readonly: bool = False) -> sqlite_utils.Database:
    """Open (creating it and its folder if needed) a crawl database in WAL mode.

    ``readonly`` opens an existing file without ever writing, for readers such as
    ``crawler stories`` that run while a crawl writes.
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
    db.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KB}")
    db.execute("PRAGMA foreign_keys=ON")
    ensure_schema(db)
    from crawler.analysis.search import ensure_fts  # full-text index, kept by triggers

    ensure_fts(db)
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
    db["stories"].upsert({
        "id": article_id, "title": art["title"], "canonical_article_id": article_id,
        "first_seen": art["first_seen"], "first_published": art["published"],
        "last_published": art["published"], "n_articles": 1, "n_sites": 1,
    }, pk="id")
    db["articles"].update(article_id, {"story_id": article_id})
    return article_id


# ---------------------------------------------------------------- meta


def get_meta(db: sqlite_utils.Database, key: str, default: str | None = None) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def set_meta(db: sqlite_utils.Database, key: str, value: str) -> None:
    db["meta"].upsert({"key": key, "value": value}, pk="key")


# ---------------------------------------------------------------- schedule and feed health


def feed_outcomes(db: sqlite_utils.Database, crawl_id: int, urls: Iterable[str]) -> dict[str, dict]:
    """What crawl ``crawl_id`` brought each feed: its row plus ``n_new`` (articles first stored
    by this crawl through the feed) and ``newest`` (when the newest of them was stored)."""
    out = {}
    for url in dict.fromkeys(urls):
        feed = get_feed(db, url)
        if feed is None:
            continue
        n_new, newest = db.execute(
            "SELECT count(*), max(a.first_seen) FROM article_feeds af "
            "JOIN articles a ON a.id = af.article_id WHERE af.feed_id = ? AND a.crawl_id = ?",
            [feed["id"], crawl_id]).fetchone()
        out[url] = {**feed, "n_new": n_new, "newest": newest}
    return out


def due_feeds(db: sqlite_utils.Database, urls: Iterable[str], now: str) -> list[str]:
    """Those of ``urls`` to fetch at ``now`` (ISO UTC): never scheduled, or due, and enabled."""
    urls = list(dict.fromkeys(urls))
    rows = {r[0]: r[1:] for r in db.execute(
        "SELECT url, next_fetch, disabled FROM feeds WHERE url IN (%s)" % ",".join("?" * len(urls)),
        urls)} if urls else {}
    due = []
    for url in urls:
        next_fetch, disabled = rows.get(url, (None, 0))
        if not disabled and (not next_fetch or next_fetch <= now):
            due.append(url)
    return due


def next_due(db: sqlite_utils.Database, urls: Iterable[str]) -> str | None:
    """The earliest `next_fetch` among the enabled feeds of ``urls`` (None: one is unscheduled
    or none is enabled; ask ``due_feeds``)."""
    urls = list(dict.fromkeys(urls))
    if not urls:
        return None
    rows = db.execute("SELECT url, next_fetch FROM feeds WHERE coalesce(disabled, 0) = 0 "
                      "AND url IN (%s)" % ",".join("?" * len(urls)), urls).fetchall()
    if not rows or any(r[1] is None for r in rows):
        return None
    return min(r[1] for r in rows)


def feed_health(db: sqlite_utils.Database) -> list[dict]:
    """Every feed with what ``crawler status`` shows: last fetch and status, last new article,
    errors in a row and the last error, next fetch and interval, articles carried."""
    return [dict(row) for row in db.query(
        "SELECT f.url, f.title, f.last_fetch, f.last_status, f.error, "
        "coalesce(f.n_errors, 0) AS n_errors, coalesce(f.n_fetches, 0) AS n_fetches, "
        "f.last_new_article, f.next_fetch, f.interval_seconds, coalesce(f.disabled, 0) AS disabled, "
        "(SELECT count(*) FROM article_feeds af WHERE af.feed_id = f.id) AS n_articles "
        "FROM feeds f ORDER BY coalesce(f.disabled, 0) DESC, coalesce(f.n_errors, 0) DESC, f.url")]
