"""Politeness towards the sites we crawl: who we say we are, one load budget per publisher,
and waiting when a server says "not now" (429/503 with Retry-After).

Scrapy already throttles per download slot (CONCURRENT_REQUESTS_PER_DOMAIN, DOWNLOAD_DELAY,
AutoThrottle); a slot is one host by default. ``PublisherSlotMiddleware`` makes the slot one
registered domain instead (CRAWLER_SLOT_BY = "domain"), so a publisher's www., feeds. and rss.
hosts share one budget however many of its feeds a crawl lists.

``RobotsTxtMiddleware`` is Scrapy's, with a fix: every request that waited for a host's
robots.txt is checked against it, not only the first.
"""
from __future__ import annotations

import email.utils
import logging
import sqlite3
import time
from functools import lru_cache

from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxt
from scrapy.exceptions import NotConfigured
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from twisted.internet.defer import Deferred

from crawler import store

logger = logging.getLogger(__name__)


def user_agent(bot_name: str, version: str, contact_url: str | None) -> str:
    """``news-crawler/0.1 (+https://contact)``: the form site operators look for in their logs."""
    return f"{bot_name}/{version} (+{contact_url})" if contact_url else f"{bot_name}/{version}"


# ---------------------------------------------------------------- robots.txt


class RobotsTxtMiddleware(ScrapyRobotsTxt):
    """Scrapy 2.19's robots.txt middleware, without its race, with robots.txt kept across
    crawls, holding the rules of at most CRAWLER_ROBOTS_HOSTS hosts.

    Requests that reach a host while its robots.txt is still downloading await one shared
    Deferred through ``Deferred.asFuture``, which consumes the result: the first waiter gets the
    parser, every other one ``None``, Scrapy's "allow all". The feeds of one host, started
    together, were fetched even where robots.txt disallowed them. Once that Deferred has fired,
    ``_parsers`` holds the parser (or ``None`` after a download error) for everyone.

    Scrapy fetches every host's robots.txt again in every crawl: a pass every 15 minutes over
    feeds of thousands of publishers sent one more request a host each time. A robots.txt
    answered (2xx, 4xx) is kept in the database (table ``robots``) and used for
    CRAWLER_ROBOTS_MAX_AGE seconds (24 h, the longest RFC 9309 allows); server errors and
    failed downloads are not kept.

    Scrapy keeps every host's parser for the whole crawl: a pass over 100,000 feeds of as many
    publishers held them all (~1.2 KB a host for two rules, more for a long robots.txt).
    The least recently used ones go beyond the bound; a host asked again reads its robots.txt
    again (from the database, else the network).
    """

    #: Bigger robots.txt files are obeyed but not kept (RFC 9309 asks parsers for 500 KiB).
    KEEP_BYTES = 512 * 1024

    def __init__(self, crawler):
        super().__init__(crawler)
        s = crawler.settings
        self.max_hosts = s.getint("CRAWLER_ROBOTS_HOSTS")
        if self.max_hosts < 1:
            raise ValueError(f"CRAWLER_ROBOTS_HOSTS must be 1 or more, not {self.max_hosts}")
        self.max_age = s.getfloat("CRAWLER_ROBOTS_MAX_AGE")
        self.db_path = s.get("CRAWLER_DB") if self.max_age > 0 else ""  # "": a Redis worker
        self._db = None
        crawler.signals.connect(self._close_db, signal=signals.spider_closed)

    async def robot_parser(self, request):
        url = urlparse_cached(request)
        netloc = url.netloc
        while True:
            if netloc not in self._parsers and self.db_path:
                self._read_kept(f"{url.scheme}://{netloc}", netloc)
            await super().robot_parser(request)
            parser = self._parsers.get(netloc, Deferred)
            if not (parser is Deferred or isinstance(parser, Deferred)):
                break  # else dropped (or fetched anew) while this request waited: ask again
        del self._parsers[netloc]
        self._parsers[netloc] = parser  # most recently used last
        while len(self._parsers) > self.max_hosts:
            oldest = next(iter(self._parsers))
            if isinstance(self._parsers[oldest], Deferred):
                break  # still downloading: recent, kept
            del self._parsers[oldest]
        return parser

    def _read_kept(self, origin: str, netloc: str) -> None:
        try:
            body = store.get_robots(self.db(), origin, self.max_age)
        except (sqlite3.Error, OSError):  # a database in trouble: fetched as Scrapy would
            return
        if body is not None:
            self._parsers[netloc] = build_from_crawler(self._parserimpl, self.crawler, body)
            self._stats.inc_value("robotstxt/kept")

    async def _parse_robots(self, response, netloc, request):
        if response.status < 500 and len(response.body) <= self.KEEP_BYTES and self.db_path:
            origin = f"{urlparse_cached(response).scheme}://{netloc}"
            try:
                store.put_robots(self.db(), origin, response.status, response.body)
            except (sqlite3.Error, OSError):  # not kept; obeyed all the same (a full or
                pass  # read-only database stops the crawl through its own writes)
        await super()._parse_robots(response, netloc, request)

    def db(self):
        if self._db is None:
            self._db = store.open_db(self.db_path, cache_kb=store.BOOKKEEPING_CACHE_KB)
        return self._db

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


# ---------------------------------------------------------------- one slot per publisher


@lru_cache(maxsize=1)
def _extractor():
    import tldextract

    # The bundled public-suffix snapshot only: never fetch the list over the network.
    return tldextract.TLDExtract(suffix_list_urls=(), include_psl_private_domains=True)


@lru_cache(maxsize=65536)
def publisher_key(host: str) -> str:
    """The registered domain of ``host`` (``www.example.co.uk`` -> ``example.co.uk``).

    IP addresses and names without a public suffix (``localhost``) stay as they are; hosts on
    shared platforms (``x.github.io``, ``y.blogspot.com``) are publishers of their own.
    """
    host = (host or "").lower().rstrip(".")
    if not host or host.replace(".", "").isdigit() or ":" in host:
        return host
    parts = _extractor()(host)
    return getattr(parts, "top_domain_under_public_suffix", None) or host


class PublisherSlotMiddleware:
    """Put every request of one registered domain into one Scrapy download slot.

    Per-slot concurrency, DOWNLOAD_DELAY and AutoThrottle then apply per publisher across all
    feeds and sites of a crawl. CRAWLER_SLOT_BY = "host" keeps Scrapy's own per-host slots.
    """

    def __init__(self, by: str):
        self.by = by

    @classmethod
    def from_crawler(cls, crawler):
        by = crawler.settings.get("CRAWLER_SLOT_BY", "domain")
        if by not in ("domain", "host"):
            raise ValueError(f"CRAWLER_SLOT_BY must be 'domain' or 'host', not {by!r}")
        if by == "host":
            raise NotConfigured
        return cls(by)

    def process_request(self, request, spider=None):
        if "download_slot" not in request.meta:
            host = urlparse_cached(request).hostname or ""
            request.meta["download_slot"] = publisher_key(host)
        return None


# ---------------------------------------------------------------- Retry-After


def parse_retry_after(value: str | bytes | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent
    or unreadable."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RetryAfterMiddleware:
    """On 429 and 503, hold the whole download slot (the host or publisher) for the time the
    server asks (Retry-After) and then retry; without the header, hold for
    CRAWLER_RETRY_AFTER_DEFAULT seconds.

    A wait longer than CRAWLER_RETRY_AFTER_MAX is not waited for: the request gives up at once
    and the failure is recorded, so one unwilling server cannot stall a crawl for hours. Sits
    just before Scrapy's RetryMiddleware and shares its retry count (RETRY_TIMES).
    """

    CODES = (429, 503)

    def __init__(self, crawler, default: float, maximum: float, max_retries: int):
        self.crawler = crawler
        self.default = default
        self.maximum = maximum
        self.max_retries = max_retries
        self.held_until: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        if not s.getbool("RETRY_ENABLED"):
            raise NotConfigured
        return cls(crawler, s.getfloat("CRAWLER_RETRY_AFTER_DEFAULT"),
                   s.getfloat("CRAWLER_RETRY_AFTER_MAX"), s.getint("RETRY_TIMES"))

    def process_response(self, request, response, spider=None):
        if response.status not in self.CODES or request.meta.get("dont_retry"):
            return response
        wait = parse_retry_after(response.headers.get("Retry-After"))
        stats = self.crawler.stats
        if wait is not None and wait > self.maximum:
            stats.inc_value("news/retry_after/too_long")
            logger.warning("%s asks to wait %.0fs (more than CRAWLER_RETRY_AFTER_MAX=%.0fs): "
                           "giving up on %s", response.status, wait, self.maximum, request.url)
            request.meta["dont_retry"] = True  # and Scrapy's RetryMiddleware must not retry it
            return response
        wait = self.default if wait is None else wait
        key = request.meta.get("download_slot") or urlparse_cached(request).hostname or ""
        if wait > 0:
            self.hold(key, wait)
        retry = get_retry_request(request, spider=self.crawler.spider,
                                  reason=f"{response.status} Retry-After {wait:.0f}s",
                                  max_retry_times=request.meta.get("max_retry_times",
                                                                   self.max_retries))
        if retry is None:
            return response
        stats.inc_value("news/retry_after/waits")
        return retry

    def hold(self, key: str, seconds: float) -> None:
        """No request of slot ``key`` starts before ``seconds`` from now (Scrapy's own delay
        mechanism: the slot's queue is processed again when its ``latercall`` fires)."""
        downloader = self.crawler.engine.downloader
        slot = downloader.slots.get(key)
        until = time.monotonic() + seconds
        if slot is None or self.held_until.get(key, 0) >= until:
            return
        self.held_until[key] = until
        from scrapy.utils.asyncio import call_later

        if slot.latercall:
            slot.latercall.cancel()
        slot.latercall = call_later(seconds, downloader._latercall, slot)
