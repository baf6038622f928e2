"""Read a feed's body into what the feed spider needs: its title, whether it is a feed at all,
and each entry's link and fields. Plain data in and out (bytes, dicts, tuples): it runs in the
crawl process for small feeds and in an extraction worker for big ones (``FeedReadMiddleware``),
where feedparser's seconds for a 10,000-entry feed do not hold the reactor.
"""
from __future__ import annotations

import calendar
import json
import logging
from datetime import datetime, timezone

import feedparser
import xxhash

logger = logging.getLogger(__name__)


def body_digest(body: bytes) -> str:
    """A feed body's fingerprint (xxh3, 64 bits, hex): an unchanged feed is not read again."""
    return xxhash.xxh3_64_hexdigest(body)


def read_feed(body: bytes, headers: dict[str, str]) -> dict:
    """``{"version", "bozo", "error", "title", "entries": [(link or None, fields)]}``;
    ``headers``: the response's headers, lower-case names (feedparser reads the charset)."""
    parsed = feedparser.parse(body, response_headers=headers)
    return {
        "version": parsed.version, "bozo": bool(parsed.bozo),
        "error": str(parsed.get("bozo_exception") or "") or None,
        "title": parsed.feed.get("title"),
        "entries": [(entry_link(entry), entry_fields(entry)) for entry in parsed.entries],
    }


def entry_fields(entry) -> dict:
    """The feed entry's own fields, kept beside what the page says."""
    published = entry.get("published_parsed") or entry.get("updated_parsed")
    tags = [t.get("term") for t in entry.get("tags", []) if t.get("term")]
    return {
        "feed_title": entry.get("title"),
        "feed_summary": entry.get("summary"),
        "feed_published": _iso(published),
        "feed_author": entry.get("author"),
        "feed_guid": entry.get("id"),
        "feed_tags": json.dumps(tags, ensure_ascii=False) if tags else None,
    }


def entry_link(entry) -> str | None:
    if entry.get("link"):
        return entry["link"]
    for link in entry.get("links", []):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link["href"]
    guid = entry.get("id") or ""
    return guid if guid.startswith(("http://", "https://")) else None


def _iso(struct) -> str | None:
    if not struct:
        return None
    return datetime.fromtimestamp(calendar.timegm(struct), timezone.utc).isoformat(timespec="seconds")


class FeedReadMiddleware:
    """Downloader middleware: a feed body of CRAWLER_FEED_POOL_BYTES or more is read in the
    extraction workers' pool (``ExtractPipeline.run_in_pool``), and the spider gets what
    ``read_feed`` returned in ``meta["feed_read"]``. Smaller feeds are read in the spider: a
    trip through the pool costs more than they do. A body a finished crawl read already (same
    digest) is not read at all."""

    def __init__(self, crawler, min_bytes: int):
        self.crawler = crawler
        self.min_bytes = min_bytes
        self.pool = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, crawler.settings.getint("CRAWLER_FEED_POOL_BYTES"))

    def pipeline(self):
        if self.pool is None:
            from crawler.runtime.pipelines import ExtractPipeline

            self.pool = self.crawler.get_item_pipeline(ExtractPipeline) or False
        return self.pool

    async def process_response(self, request, response, spider=None):
        meta = request.meta
        if not meta.get("read_feed") or response.status != 200 \
                or len(response.body) < self.min_bytes:
            return response
        pipeline = self.pipeline()
        if not pipeline or pipeline.pool is None:
            return response
        meta["feed_digest"] = digest = body_digest(response.body)
        if digest == meta.get("body_hash"):
            return response
        from crawler.fetch.spiders.feeds import response_headers

        meta["feed_read"] = await pipeline.run_in_pool(read_feed, response.body,
                                                       response_headers(response))
        self.crawler.stats.inc_value("news/feeds_read_in_pool")
        logger.info("Feed %s (%d KB) read in the extraction pool", response.url,
                    len(response.body) // 1024)
        return response
