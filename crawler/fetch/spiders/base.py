"""What every news spider shares: the database, counters and failure records."""
from __future__ import annotations

import errno
import sqlite3
from typing import Any

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError

from crawler import store
from crawler.store.errors import MESSAGES, fatal_database_error
from crawler.fetch.middlewares import stop_for_database

#: Feed fetches recorded per transaction.
FEED_WRITES_BATCH = 500

#: Failure reasons that are about the crawler's own disk: they stop the crawl.
DISK_REASONS = {"disk_full": MESSAGES["SQLITE_FULL"], "disk_error": MESSAGES["SQLITE_IOERR"]}
DISK_ERRNOS = {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full", errno.EROFS: "disk_error",
               errno.EIO: "disk_error"}


class NewsSpider(scrapy.Spider):
    """Base of the feed and site spiders: one database, one crawl row, shared counters."""

    custom_settings: dict = {}

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        db_path = settings.get("CRAWLER_DB")  # "": no database here (a Redis worker)
        spider.db = store.open_db(db_path, cache_kb=store.BOOKKEEPING_CACHE_KB) \
            if db_path else None
        spider.refresh = settings.getbool("CRAWLER_REFRESH")
        spider.crawl_id = settings.getint("CRAWLER_CRAWL_ID") or None
        spider.feeds_of = {}
        spider.validators = {}  # feed URL -> (ETag, Last-Modified), stored when finished
        spider.body_hashes = {}  # feed URL -> digest of the body read, stored when finished
        spider.feed_fetches = []  # feed_fetched records not written yet
        return spider

    def closed(self, reason: str) -> None:
        """Close the database here, not at exit: the last connection to close checkpoints the
        WAL into the database file."""
        self.flush_feed_fetches()
        if self.db is not None:
            self.db.close()

    def count(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(f"news/{key}", n)

    # Bookkeeping goes through these methods: a spider with its own database calls the store,
    # a Redis worker (crawler.distributed.spider) sends the same records to the single writer.
    def stored_feed(self, url: str) -> dict | None:
        """The stored state of a feed (ETag, Last-Modified for a conditional GET), if any."""
        return store.get_feed(self.db, url)

    def stored_feeds(self, urls: list[str]) -> dict[str, dict]:
        """``stored_feed`` for many feeds at once, by URL."""
        return store.get_feeds(self.db, urls)

    def feed_fetched(self, url: str, **fields: Any) -> None:
        """Record a fetch of a feed; written in batches of FEED_WRITES_BATCH (one transaction
        each: a transaction per feed cost ~1 ms of a 304's CPU). A killed crawl loses the
        fetch counts of the last batch, nothing else: validators are stored at the end."""
        self.feed_fetches.append({"url": url, "time": store.utcnow(), **fields})
        if len(self.feed_fetches) >= FEED_WRITES_BATCH:
            self.flush_feed_fetches()

    def flush_feed_fetches(self) -> None:
        fetches, self.feed_fetches = self.feed_fetches, []
        if fetches:
            self.write(store.feeds_fetched, self.db, fetches)

    def feed_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Keep a feed's ETag / Last-Modified for the next crawl's conditional GET."""
        self.write(store.update_feed, self.db, url, etag=etag, last_modified=last_modified)

    def feeds_with_failures(self) -> set[str]:
        """Feeds with an article this crawl could not store (their body digest is not kept:
        the next crawl reads them again and retries it)."""
        return store.feeds_with_failed_articles(self.db, self.crawl_id) if self.crawl_id \
            else set()

    def store_validators(self, updates: dict[str, dict]) -> None:
        """Keep the validators (ETag, Last-Modified, body hash) of many feeds, in one
        transaction."""
        def write(db, updates):
            with store.transaction(db):
                store.update_feeds(db, updates)
        if updates:
            self.write(write, self.db, updates)

    def stored_urls(self, urls: list[str]) -> set[str]:
        """Which of ``urls`` need no fetch, as their article is stored already."""
        return store.known_urls(self.db, urls)

    def record_failure(self, kind: str, url: str, reason: str, error: str,
                       status: int | None = None, feed_url: str | None = None) -> None:
        if reason in DISK_REASONS:  # our own disk failed (e.g. the job cache), not the page
            stop_for_database(self.crawler, DISK_REASONS[reason].format(
                path=self.crawler.settings.get("CRAWLER_DB"), error=error))
            return
        if self.write(store.record_failure, self.db, crawl_id=self.crawl_id, kind=kind, url=url,
                      reason=reason, error=error, status=status, feed_url=feed_url):
            self.crawler.stats.inc_value(f"news/reason/{reason}")

    def write(self, write, *args: Any, **kwargs: Any) -> bool:
        """Run a bookkeeping write; a database that cannot be written any more (disk full,
        read-only) stops the crawl with one clear message instead of a traceback per page."""
        try:
            write(*args, **kwargs)
            return True
        except (sqlite3.Error, OSError) as exc:
            message = fatal_database_error(exc, self.crawler.settings.get("CRAWLER_DB"))
            if message is None:
                raise
            stop_for_database(self.crawler, message)
            return False


#: Exception class names (Twisted's and Scrapy 2.13+'s own) -> short reason codes.
REASONS = {
    "DNSLookupError": "dns", "CannotResolveHostError": "dns",
    "TimeoutError": "timeout", "TCPTimedOutError": "timeout", "DownloadTimeoutError": "timeout",
    "ConnectionRefusedError": "refused", "DownloadConnectionRefusedError": "refused",
    "ResponseDataLossError": "truncated", "ConnectionLost": "connection_lost",
    "ResponseNeverReceived": "connection_lost", "ResponseFailed": "connection_lost",
    "DownloadFailedError": "connection_lost", "UnsupportedURLSchemeError": "bad_scheme",
}


def failure_reason(failure) -> tuple[str, int | None]:
    """A short reason code (for summaries and the failures table) and the HTTP status if any."""
    exc = failure.value
    if failure.check(HttpError):
        status = exc.response.status
        return f"http_{status}", status
    if getattr(exc, "reason", None) and failure.check(IgnoreRequest):
        return exc.reason, None  # refused by crawler.fetch.middlewares (bad_scheme, private_address...)
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:  # writing our own files
        return DISK_ERRNOS[exc.errno], None
    text = f"{type(exc).__name__} {exc}".lower()
    if "max redirections" in text:
        return "too_many_redirects", None
    if "maxsize" in text or "max size" in text or "cancelled" in text:
        return "too_large", None
    if failure.check(IgnoreRequest):
        return ("robots_txt" if "robots" in text else "ignored"), None
    for cls in type(exc).__mro__:
        if cls.__name__ in REASONS:
            return REASONS[cls.__name__], None
    return type(exc).__name__, None
