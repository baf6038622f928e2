"""Site scrapes in Redis mode: ``crawler enqueue --site URL`` and the workers' site spider.

A site's discovery (robots.txt, sitemaps, home page, its feeds, the fall-back to following links)
and its budget (``max_pages``) are state of one crawl of that site, so a site is scraped by one
worker at a time: ``RedisSiteSpider`` takes whole sites from ``Keys.sites``, each leased to it
(a dead worker's sites go back to the list and are scraped again by another), and keeps their
requests in its own scheduler. What stays shared: the politeness slot per site
(SharedSlotMiddleware reserves each start in Redis), the seen-set (a URL some worker requested
or sent is not fetched again) and the results stream to the single writer.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from typing import Any, AsyncIterator

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider

from crawler.fetch.spiders.sites import SiteSpider

from . import Keys, connect, ensure_group, round_trips
from .liveness import connect_worker, start_worker, stop_worker
from .leases import SITE_LEASE, look, release_own, requeue_dead

logger = logging.getLogger(__name__)

#: What ``crawler enqueue --site`` may set per site (crawler.launch.options.scrape_options).
SITE_OPTIONS = ("max_pages", "max_depth", "since", "include", "exclude", "subdomains",
                "follow_links")

# Take up to ARGV[1] sites from KEYS[1] into leases ARGV[2..] of the hash KEYS[2].
_TAKE = """
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local site = redis.call('LPOP', KEYS[1])
  if not site then break end
  redis.call('HSET', KEYS[2], ARGV[1 + i], site)
  out[#out + 1] = site
end
return out
"""


def site_entry(url: str, options: dict[str, Any]) -> str:
    """The JSON a site is queued as: its home URL and the scrape's options."""
    return json.dumps({"url": url, **{k: options.get(k) for k in SITE_OPTIONS}})


def enqueue_sites(redis_url: str, prefix: str, sites: list[str], options: dict[str, Any]) -> int:
    """Queue site scrapes for the workers (each site once per call); returns how many."""
    client = connect(redis_url)
    keys = Keys(prefix)
    ensure_group(client, keys)  # results sent before the writer first starts are kept
    if sites:
        client.rpush(keys.sites, *(site_entry(url, options) for url in sites))
    return len(sites)


class RedisSiteSpider(SiteSpider):
    """The worker's second crawl: sites from Redis, scraped as ``crawler scrape`` does."""

    name = "sites-redis"
    sites_come_later = True

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}-sites"
        self.site_leases: list[str] = []  # leases of the sites taken, released when idle
        self.sites_taken = 0
        self.leases: dict[str, list[str]] = {}  # RedisPushPipeline's: pages release nothing
        self.idle_since = time.time()

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        s = crawler.settings
        connect_worker(spider, s)
        spider.max_idle_time = s.getfloat("CRAWLER_REDIS_IDLE_EXIT")
        spider.site_limit = s.getint("CRAWLER_REDIS_SITES")
        spider.site_poll = s.getfloat("CRAWLER_REDIS_SITE_POLL")
        spider.next_look = 0.0  # the site list was empty: the periodic look waits until then
        spider._take = spider.redis.register_script(_TAKE)
        crawler.signals.connect(spider.register, signal=signals.spider_opened)
        crawler.signals.connect(spider.deregister, signal=signals.spider_closed)
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        return spider

    # ------------------------------------------------------------ liveness

    def register(self, spider=None) -> None:
        start_worker(self, self.take_sites)

    def reap(self) -> None:
        requeue_dead(self.redis, self.keys, skip=[self.worker_id])

    def deregister(self, spider=None, reason: str = "") -> None:
        stop_worker(self)
        if reason == "finished":
            self.release_sites()
        self.outbox.flush()
        self.crawler.stats.set_value("redis/round_trips", round_trips())
        # a site not finished (shutdown) goes back to the list: another worker scrapes it
        release_own(self.redis, self.keys, self.worker_id, requeue=reason != "finished")

    # ------------------------------------------------------------ sites from Redis

    async def start(self) -> AsyncIterator[Any]:
        for request in self.next_sites():
            yield request

    def next_sites(self) -> list[scrapy.Request]:
        """Take sites while this worker scrapes fewer than CRAWLER_REDIS_SITES, one per look,
        so the other workers get their share; their discovery starts at once."""
        if len(self.site_leases) >= self.site_limit:
            return []
        lease = f"{SITE_LEASE}{uuid.uuid4().hex[:12]}"
        taken = self._take(keys=[self.keys.sites, self.keys.inflight(self.worker_id)],
                           args=[1, lease])
        if not taken:
            self.next_look = time.monotonic() + self.site_poll
        requests = []
        for data in taken:
            entry = json.loads(data)
            site = self.add_site(entry["url"], **{k: entry.get(k) for k in SITE_OPTIONS})
            self.site_leases.append(lease)
            self.sites_taken += 1
            self.count("sites_taken")
            requests.extend(self.discover(site))
        return requests

    def take_sites(self) -> None:
        """Every CRAWLER_REDIS_POLL seconds, or CRAWLER_REDIS_SITE_POLL after the list was
        empty."""
        if time.monotonic() < self.next_look:
            return
        engine = self.crawler.engine
        for request in self.next_sites():
            engine.crawl(request)

    def release_sites(self) -> None:
        """Every site taken is done (the engine is idle): its results are in the outbox, the
        release goes in the same transaction."""
        if self.site_leases:
            self.outbox.release(self.site_leases)
            self.site_leases = []
            self.outbox.flush()

    def on_idle(self, spider=None) -> None:
        """Nothing left in this crawl: release the sites, take more, or stop after
        CRAWLER_REDIS_IDLE_EXIT seconds with nothing left anywhere."""
        self.release_sites()
        self.take_sites()
        if self.site_leases or look(self.redis, self.keys, self.worker_id, 0, 0).busy:
            self.idle_since = time.time()
        if self.max_idle_time and time.time() - self.idle_since >= self.max_idle_time:
            return
        raise DontCloseSpider

    # ------------------------------------------------------------ bookkeeping -> the writer

    def stored_feed(self, url: str) -> dict | None:
        state = self.redis.hget(self.keys.feeds, url)
        return json.loads(state) if state else None

    def stored_feeds(self, urls: list[str]) -> dict[str, dict]:
        states = self.redis.hmget(self.keys.feeds, urls) if urls else []
        return {url: json.loads(state) for url, state in zip(urls, states) if state}

    def feed_fetched(self, url: str, **fields: Any) -> None:
        self.outbox.send("feed", url=url, n_new=0, **fields)

    def feed_validators(self, url: str, etag: str | None, last_modified: str | None,
                        body_hash: str | None = None) -> None:
        self.outbox.send("validators", url=url, etag=etag, last_modified=last_modified,
                         body_hash=body_hash)

    def store_validators(self, updates: dict[str, dict]) -> None:
        for url, fields in updates.items():
            self.feed_validators(url, **fields)
        self.outbox.flush()

    def feeds_with_failures(self) -> set[str]:
        return set()

    def stored_urls(self, urls: list[str]) -> set[str]:
        """URLs some worker requested (feeds) or sent (sites) already: the shared seen-set."""
        fingerprints = [self.seen.request_fingerprint(scrapy.Request(url)) for url in urls]
        answer = self.redis.smismember(self.keys.seen, fingerprints)
        return {url for url, seen in zip(urls, answer) if seen}

    def article_sent(self, page) -> None:
        """Seen from now on, in the transaction that sends it: a worker killed before has its
        site scraped again, this page included."""
        urls = {page.url, page.fetched_url}
        self.outbox.command("SADD", self.keys.seen,
                            *(self.seen.request_fingerprint(scrapy.Request(u)) for u in urls))

    def record_failure(self, kind: str, url: str, reason: str, error: str,
                       status: int | None = None, feed_url: str | None = None) -> None:
        self.outbox.send("failure", what=kind, url=url, reason=reason, error=error,
                         status=status, feed_url=feed_url)
        self.crawler.stats.inc_value(f"news/reason/{reason}")

    # ------------------------------------------------------------ progress

    def progress_line(self, stats: dict, elapsed: float) -> str:
        pages = stats.get("response_received_count", 0)
        sent = stats.get("news/articles_sent", 0)
        return (f"[{elapsed:5.0f}s] worker (sites): {len(self.site_leases)} sites under way, "
                f"{self.sites_taken} taken · {pages} pages fetched "
                f"({pages / max(elapsed, 1e-9):.1f}/s), {sent} articles sent to the writer")
