"""The feed spider: fetch RSS/Atom feeds, follow every entry to its article page.

Feeds are fetched by Scrapy (so retries, throttling, robots.txt and size limits apply) and parsed
by feedparser from the response body. What went wrong with a feed or a page is recorded, with a
short reason, and the crawl goes on.
"""
from __future__ import annotations

from typing import Any, AsyncIterator, Iterator

import scrapy
from scrapy import signals
from scrapy.http import Response
from scrapy.settings import SETTINGS_PRIORITIES

from crawler.errors import UserError
from crawler.fetch.feedlist import read_feed_args
from crawler.fetch.feedread import body_digest, read_feed
from crawler.fetch.revalidate import scrapy_feeds
from crawler.items import FeedLink, Page
from crawler.fetch.spiders.base import NewsSpider, failure_reason
from crawler.fetch.urls import canonicalize, is_crawlable
from crawler.store.staging import StagedFeeds

FEED_TYPES = ("xml", "rss", "atom", "rdf", "feed+json", "text/plain")
#: Feeds whose stored state (validators, body hash) is read with one query.
STATE_BATCH = 500
_LOOK_UP = object()


class FeedSpider(NewsSpider):
    """``scrapy crawl feeds -a feeds=URL_OR_FILE[,URL_OR_FILE...]``"""

    name = "feeds"

    @classmethod
    def update_settings(cls, settings) -> None:
        """USER_AGENT names CRAWLER_CONTACT_URL, unless USER_AGENT itself was set."""
        super().update_settings(settings)
        if (settings.getpriority("USER_AGENT") or 0) <= SETTINGS_PRIORITIES["project"]:
            from crawler import __version__
            from crawler.fetch.politeness import user_agent

            settings.set("USER_AGENT", user_agent(settings.get("BOT_NAME"), __version__,
                                                  settings.get("CRAWLER_CONTACT_URL")),
                         priority="spider")  # the process re-applies its own at "project"

    def __init__(self, feeds: str | list[str] | StagedFeeds | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(feeds, str):
            feeds = [f for f in feeds.split(",") if f.strip()]
        if not feeds:
            raise UserError("no feeds given (a feed URL, a file of URLs or an OPML file)")
        #: on disk, read a batch at a time (crawler.store.staging)
        self.feed_urls = feeds if isinstance(feeds, StagedFeeds) else read_feed_args(feeds)

    async def start(self) -> AsyncIterator[Any]:
        """The feeds, as the downloader has room for them (Scrapy's lazy start: a queue of
        100,000 feed requests held ~1.5 KB each), their stored states read in batches. Feeds
        that answered 304 last time are revalidated outside the engine first
        (crawler.fetch.revalidate); those that did not answer 304 again come back here."""
        engine = self.crawler.engine
        async for url, state in scrapy_feeds(self, self.feed_states()):
            if engine.needs_backout():
                await self.crawler.signals.wait_for(signals.scheduler_empty)
            yield self.feed_request(url, state)

    def feed_states(self) -> Iterator[tuple[str, dict | None]]:
        """Each feed URL with its stored state (None: never fetched, or --refresh)."""
        for urls in self.feed_urls.batches(STATE_BATCH):
            states = self.stored_feeds(urls) if not self.refresh else {}
            for url in urls:
                yield url, states.get(url)

    def feed_request(self, url: str, feed: dict | None | object = _LOOK_UP) -> scrapy.Request:
        """A conditional GET of a feed; ``feed``: its stored state (looked up if not given)."""
        headers = {}
        if feed is _LOOK_UP:
            feed = self.stored_feed(url) if not self.refresh else None
        if feed and feed.get("etag"):
            headers["If-None-Match"] = feed["etag"]
        if feed and feed.get("last_modified"):
            headers["If-Modified-Since"] = feed["last_modified"]
        return scrapy.Request(
            url, callback=self.parse_feed, errback=self.feed_failed, headers=headers,
            dont_filter=True, meta={"feed_url": url, "handle_httpstatus_list": [304],
                                    "read_feed": True,
                                    "body_hash": feed.get("body_hash") if feed else None},
        )

    # ------------------------------------------------------------ feeds

    def parse_feed(self, response: Response):
        feed_url = response.meta["feed_url"]
        if response.status == 304:
            self.feed_not_modified(feed_url)
            return
        self.count("feeds_done")
        digest = response.meta.get("feed_digest") or body_digest(response.body)
        if digest == response.meta.get("body_hash") and not self.refresh:
            # the very body a finished crawl read: like a 304, nothing to read again
            self.count("feeds_same")
            self.feed_fetched(feed_url, status=response.status, error=None)
            return
        parsed = response.meta.pop("feed_read", None) or read_feed(
            response.body, response_headers(response))
        if not parsed["entries"] and (parsed["bozo"] or not parsed["version"]):
            reason = "not_a_feed" if not parsed["version"] else "malformed_feed"
            detail = parsed["error"] or "no RSS/Atom entries"
            self.feed_error(feed_url, reason, f"{detail}", status=response.status)
            return
        if parsed["bozo"]:
            self.logger.warning("Malformed feed %s, parsed as far as possible: %s",
                                feed_url, parsed["error"])
        self.feed_fetched(
            feed_url, status=response.status, error=None,
            title=parsed["title"], site=response.url,
        )
        # The validators are stored when the crawl has finished, not now: a crawl killed before
        # this feed's articles are all fetched must not get a 304 for it next time.
        self.validators[feed_url] = (_header(response, "ETag"), _header(response, "Last-Modified"))
        self.body_hashes[feed_url] = digest
        self.count("feeds_ok")
        for link, fields in parsed["entries"]:
            if not link:
                continue
            link = response.urljoin(link)
            if not is_crawlable(link):
                self.count("links_refused")
                self.record_failure("article", link, "bad_scheme", "only http and https are followed",
                                    feed_url=feed_url)
                continue
            request = self.article_request(link, feed_url, fields)
            if request is not None:
                yield request
            else:
                yield FeedLink(url=canonicalize(link), feed_url=feed_url)

    def feed_not_modified(self, feed_url: str) -> None:
        """A feed answered 304 (through Scrapy or the fast path): nothing to read."""
        self.count("feeds_done")
        self.count("feeds_unchanged")
        self.feed_fetched(feed_url, status=304, error=None)

    def closed(self, reason: str) -> None:
        if reason == "finished" and self.validators:
            failed = self.feeds_with_failures()
            self.store_validators({
                url: {"etag": etag, "last_modified": last_modified,
                      "body_hash": None if url in failed else self.body_hashes.get(url)}
                for url, (etag, last_modified) in self.validators.items()})
        super().closed(reason)

    def feed_failed(self, failure):
        request = failure.request
        self.count("feeds_done")
        reason, status = failure_reason(failure)
        self.feed_error(request.meta["feed_url"], reason, failure.getErrorMessage(), status=status)

    def feed_error(self, feed_url: str, reason: str, error: str, status: int | None = None):
        self.count("feeds_failed")
        self.logger.error("Feed %s gave nothing: %s (%s)", feed_url, reason, error)
        self.feed_fetched(feed_url, status=status, error=f"{reason}: {error}")
        self.record_failure("feed", feed_url, reason, error, status=status)

    # ------------------------------------------------------------ articles

    def article_request(self, link: str, feed_url: str | None, entry: dict | None):
        """A request for an article page, or None when it is stored or scheduled already.

        An article reached through several feeds is fetched once; every feed is remembered and
        linked when the article is stored.
        """
        canonical = canonicalize(link)
        feeds = self.feeds_of.get(canonical)
        if feeds is not None:
            if feed_url:
                feeds.add(feed_url)
            self.count("articles_known")
            return None
        self.feeds_of[canonical] = {feed_url} if feed_url else set()
        if not self.refresh and self.stored_urls([canonical, link]):
            del self.feeds_of[canonical]  # held for pages on their way only: memory stays flat
            self.count("articles_known")
            return None
        return scrapy.Request(
            link, callback=self.parse_article, errback=self.article_failed,
            meta={"feed_url": feed_url, "entry": entry, "canonical": canonical},
        )

    def parse_article(self, response: Response):
        meta = response.meta
        content_type = _header(response, "Content-Type") or ""
        if not _is_html(content_type, response.body):
            self.article_error(response.url, "not_html", f"Content-Type {content_type or 'missing'}",
                               meta.get("feed_url"), response.status)
            return
        yield Page(
            url=meta["canonical"], fetched_url=response.url, body=response.body,
            encoding=_charset(content_type), feed_url=meta.get("feed_url"),
            entry=meta.get("entry") or {}, status=response.status,
            cache_key=self.crawler.request_fingerprinter.fingerprint(response.request).hex(),
        )

    def article_failed(self, failure):
        request = failure.request
        reason, status = failure_reason(failure)
        url = (request.meta.get("redirect_urls") or [request.url])[0]  # the URL the feed gave
        self.article_error(url, reason, failure.getErrorMessage(),
                           request.meta.get("feed_url"), status)

    def article_error(self, url, reason, error, feed_url=None, status=None):
        self.count("articles_failed")
        self.logger.warning("Article %s not stored: %s (%s)", url, reason, error)
        self.record_failure("article", url, reason, error, status=status, feed_url=feed_url)


def response_headers(response: Response) -> dict[str, str]:
    """The headers as feedparser takes them: lower-case names, first values, text."""
    return {k.decode().lower(): v[0].decode("latin-1") for k, v in response.headers.items()}


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return None


def _is_html(content_type: str, body: bytes) -> bool:
    """HTML by its first bytes (servers mislabel pages), else by its Content-Type."""
    head = body[:2048].lstrip().lower()
    if head.startswith(b"<!doctype html") or any(tag in head for tag in HTML_MARKERS):
        return True
    return content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml") \
        and not head.startswith((b"%pdf", b"\x89png", b"gif8", b"\xff\xd8"))


HTML_MARKERS = (b"<html", b"<head", b"<body", b"<meta", b"<title", b"<article", b"<p>", b"<div")
