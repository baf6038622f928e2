"""Guards between the crawl and the strangers' pages it reads.

``UrlSafetyMiddleware`` (downloader, before robots.txt) refuses requests a news crawler must
never make: schemes other than http(s) (file:, ftp:, data:, javascript:, s3:), and - unless
``CRAWLER_ALLOW_PRIVATE_ADDRESSES`` - private, loopback, link-local and other non-public
addresses when the crawl started on a public host (a feed on the internet must not make the
crawler fetch the operator's router or cloud metadata service). A crawl whose feed is itself on
a private address (an intranet feed, the tests on 127.0.0.x) may fetch private addresses.
``CRAWLER_ONLY_NETWORKS`` confines a crawl to a few networks without a single DNS lookup (tests
and sandboxes: ``127.0.0.0/8``).

``RedirectGuardMiddleware`` (downloader, just outside Scrapy's RedirectMiddleware) names the
redirects Scrapy would drop silently: a loop back to a URL of the same chain (the scheduler's
duplicate filter would swallow it, leaving no record) and a redirect to another scheme.

``DatabaseErrorMiddleware`` (spider) turns a database that cannot be written any more (disk
full, read-only, I/O error) into a clean stop of the crawl instead of a traceback per page.

Refusals raise ``RefusedRequest``, an ``IgnoreRequest`` that carries a short reason code, so
the request's errback records it like any other failure (see spiders/base.failure_reason).
"""
from __future__ import annotations

import ipaddress
import logging
from itertools import chain
from typing import Iterable
from urllib.parse import urljoin, urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future

from crawler.store.errors import fatal_database_error

logger = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

REDIRECT_CODES = (301, 302, 303, 307, 308)


class RefusedRequest(IgnoreRequest):
    """A request the crawler refused to make; ``reason`` is the code stored in `failures`."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def is_public(address: Address) -> bool:
    """True for addresses of the public internet (not private, loopback, link-local, ...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def ip_literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _networks(values: Iterable[str], setting: str) -> list:
    try:
        return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip()]
    except ValueError as exc:  # never NotConfigured: that would switch the guard off silently
        raise ValueError(f"{setting}: {exc}") from exc


class UrlSafetyMiddleware:
    """Refuse other schemes, non-public addresses reached from a public start, foreign networks."""

    def __init__(self, crawler, allow_private: bool, only_networks: Iterable[str] = (),
                 private_networks: Iterable[str] = ()):
        self.crawler = crawler
        self.allow_private = allow_private
        self.only_networks = _networks(only_networks, "CRAWLER_ONLY_NETWORKS")
        self.private_networks = _networks(private_networks, "CRAWLER_PRIVATE_NETWORKS")

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        return cls(crawler, s.getbool("CRAWLER_ALLOW_PRIVATE_ADDRESSES"),
                   s.getlist("CRAWLER_ONLY_NETWORKS"), s.getlist("CRAWLER_PRIVATE_NETWORKS"))

    def is_private(self, address: Address) -> bool:
        if self.private_networks:
            return any(address in net for net in self.private_networks)
        return not is_public(address)

    def refuse(self, reason: str, message: str):
        self.crawler.stats.inc_value(f"news/refused/{reason}")
        logger.info("Refused: %s", message)
        raise RefusedRequest(reason, message)

    async def process_request(self, request, spider=None) -> None:
        parts = urlsplit(request.url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "")
        if scheme not in ("http", "https") or not host:
            self.refuse("bad_scheme", f"{request.url[:200]}: only http and https are followed")
        literal = ip_literal(host)
        if self.only_networks:  # confined: no DNS lookup at all, names are refused
            if literal is None or not any(literal in net for net in self.only_networks):
                self.refuse("outside_networks",
                            f"{request.url}: host outside CRAWLER_ONLY_NETWORKS")
            return
        if self.allow_private or (request.meta.get("dont_obey_robotstxt")
                                  and parts.path == "/robots.txt"):
            return  # robots.txt is asked only of hosts that passed this check (or the seed)
        address = literal or await self.resolve(host)
        if address is None or not self.is_private(address):
            return  # unresolvable hosts fail in the downloader with their own reason
        if await self.started_public(request):
            self.refuse("private_address",
                        f"{request.url}: {address} is not a public address and the crawl "
                        f"started on a public host (CRAWLER_ALLOW_PRIVATE_ADDRESSES allows it)")

    async def started_public(self, request) -> bool:
        """Did the crawl that led to ``request`` start on a public host?

        Starts are what the user gave: the feeds (or the site) of the crawl. A request that
        names its feed in ``meta["feed_url"]`` (kept across redirects) is judged by that feed;
        any other by all of them (public if one is public): a sitemap or feed found on a
        public site is no licence to reach private addresses.
        """
        spider = self.crawler.spider
        feeds = getattr(spider, "feed_urls", None) or ()  # the feed spider's: on disk, indexed
        feed = request.meta.get("feed_url")
        if feed and feed in feeds:
            seeds: Iterable = [feed]
        else:  # walked lazily: the first public start ends it
            seeds = chain(feeds, getattr(spider, "start_urls", None) or (),
                          [getattr(spider, "site_url", None)])
        any_seed = False
        for url in seeds:
            if not (isinstance(url, str) and "://" in url):
                continue
            any_seed = True
            host = urlsplit(url).hostname or ""
            address = ip_literal(host) or await self.resolve(host)
            if address is None or not self.is_private(address):
                return True
        return not any_seed

    async def resolve(self, host: str) -> Address | None:
        """The address the downloader will connect to: Scrapy's resolver answers both, from
        its cache (DNSCACHE_SIZE hosts, least recently used dropped), so memory does not grow
        with the hosts of a crawl."""
        from twisted.internet import reactor

        try:
            return ipaddress.ip_address(await maybe_deferred_to_future(reactor.resolve(host)))
        except Exception:  # noqa: BLE001 - DNS failures are the downloader's to report
            return None


class _WithCrawler:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)


class RedirectGuardMiddleware(_WithCrawler):
    """Record redirect loops and redirects to other schemes instead of losing them silently."""

    def process_response(self, request, response, spider=None):
        if response.status not in REDIRECT_CODES or b"Location" not in response.headers:
            return response
        meta = request.meta
        if meta.get("dont_redirect") or meta.get("handle_httpstatus_all") or \
                response.status in meta.get("handle_httpstatus_list", ()):
            return response
        location = response.headers[b"Location"].decode("latin-1").strip()
        target = urljoin(request.url, location)
        scheme = urlsplit(target).scheme.lower()
        if scheme not in ("http", "https"):
            self.crawler.stats.inc_value("news/refused/bad_scheme")
            raise RefusedRequest("bad_scheme", f"{request.url} redirects to a {scheme}: URL")
        chain = [*meta.get("redirect_urls", ()), request.url]
        if target.split("#")[0] in {u.split("#")[0] for u in chain}:
            self.crawler.stats.inc_value("news/refused/redirect_loop")
            raise RefusedRequest("redirect_loop",
                                 f"{chain[0]} redirects in a loop after {len(chain)} hops")
        return response


class DatabaseErrorMiddleware(_WithCrawler):
    """Stop the crawl cleanly when the database cannot be written (disk full, read-only)."""

    def process_spider_exception(self, response, exception, spider=None):
        message = fatal_database_error(exception, self.crawler.settings.get("CRAWLER_DB"))
        if message is None:
            return None
        stop_for_database(self.crawler, message)
        return []


def stop_for_database(crawler, message: str) -> None:
    """Remember why (crawl.py raises it as a UserError at the end) and close the spider once."""
    if crawler.stats.get_value("news/database_error"):
        return
    crawler.stats.set_value("news/database_error", message)
    logger.error("Stopping the crawl: %s", message)
    engine = crawler.engine
    if engine and engine.spider is not None and engine._slot is not None \
            and engine._slot.closing is None:
        deferred_from_coro(engine.close_spider_async(reason="database_error"))
