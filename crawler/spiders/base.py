"""What every news spider shares: the database, counters and failure records."""
from __future__ import annotations

from typing import Any

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError

from crawler import store


class NewsSpider(scrapy.Spider):
    """Base of the feed and site spiders: one database, one crawl row, shared counters."""

    custom_settings: dict = {}

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        db_path = settings.get("CRAWLER_DB")  # "": no database here (a Redis worker)
        spider.db = store.open_db(db_path) if db_path else None
        spider.refresh = settings.getbool("CRAWLER_REFRESH")
        spider.crawl_id = settings.getint("CRAWLER_CRAWL_ID") or None
        spider.feeds_of = {}
        spider.validators = {}  # feed URL -> (ETag, Last-Modified), stored when finished
        return spider

    def count(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(f"news/{key}", n)

    # Bookkeeping goes through these methods: a spider with its own database calls the store,
    # a Redis worker (crawler.distributed.spider) sends the same records to the single writer.
    def stored_feed(self, url: str) -> dict | None:
        """The stored state of a feed (ETag, Last-Modified for a conditional GET), if any."""
        return store.get_feed(self.db, url)

    def feed_fetched(self, url: str, **fields: Any) -> None:
        store.feed_fetched(self.db, url, **fields)

    def feed_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Keep a feed's ETag / Last-Modified for the next crawl's conditional GET."""
        store.update_feed(self.db, url, etag=etag, last_modified=last_modified)

    def stored_urls(self, urls: list[str]) -> set[str]:
        """Which of ``urls`` need no fetch, as their article is stored already."""
        return store.known_urls(self.db, urls)

    def record_failure(self, kind: str, url: str, reason: str, error: str,
                       status: int | None = None, feed_url: str | None = None) -> None:
        store.record_failure(self.db, crawl_id=self.crawl_id, kind=kind, url=url, reason=reason,
                             error=error, status=status, feed_url=feed_url)
        self.crawler.stats.inc_value(f"news/reason/{reason}")


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
        return exc.reason, None  # refused by crawler.middlewares (bad_scheme, private_address...)
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
