"""One politeness budget per site across all workers.

Each site (download slot: registered domain, or host) has one shared slot in Redis
(``Keys.slot``): the time its next request may start. A worker's pop reserves a start for every
request it takes (crawler.distributed.leases) and ``SharedSlotMiddleware`` holds the request
until then; requests that do not come from the queue (robots.txt) reserve here. The delay
after a request is the crawl's DOWNLOAD_DELAY, or what the workers' AutoThrottle published for
the site (``Keys.delays``). A 429/503 with Retry-After holds the shared slot, so every worker
pauses the site, not only the one that was told.

A reservation is a start time: a request that reaches the middleware later than that (it
waited for robots.txt, the engine or a busy reactor) would start inside another worker's
reservation, so it reserves again (CRAWLER_REDIS_SLOT_LATE).
"""
from __future__ import annotations

import time

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import task

from crawler.fetch.politeness import RetryAfterMiddleware

from .leases import NOT_BEFORE, reserve, site_of_request


class SharedSlotMiddleware:
    """Downloader middleware (last before the download): wait for the reserved start."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.slot_by = crawler.settings.get("CRAWLER_SLOT_BY", "domain")
        self.late = crawler.settings.getfloat("CRAWLER_REDIS_SLOT_LATE")

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_request(self, request, spider=None) -> None:
        """Wait for the request's reserved start; reserve one (again) when it has none or
        missed it by more than CRAWLER_REDIS_SLOT_LATE seconds."""
        from twisted.internet import reactor

        not_before = request.meta.get(NOT_BEFORE)
        for _ in range(20):  # reservations are missed only while the reactor is blocked
            if not_before is None or time.monotonic() - not_before > self.late:
                if not_before is not None:
                    self.crawler.stats.inc_value("redis/slot_missed")
                not_before = time.monotonic() + self.reserve(request)
            wait = not_before - time.monotonic()
            if wait <= 0:
                return
            self.crawler.stats.inc_value("redis/slot_waits")
            await maybe_deferred_to_future(task.deferLater(reactor, wait, lambda: None))
            if time.monotonic() - not_before <= self.late:
                return

    def reserve(self, request) -> float:
        spider = self.crawler.spider
        delay = getattr(self.crawler.engine.downloader, "_delay", 0.0)
        return reserve(spider.redis, spider.keys, site_of_request(request, self.slot_by), delay)


class SharedRetryAfterMiddleware(RetryAfterMiddleware):
    """Retry-After holds the site's shared slot too: every worker waits, not only this one."""

    def hold(self, key: str, seconds: float) -> None:
        super().hold(key, seconds)
        spider = self.crawler.spider
        reserve(spider.redis, spider.keys, key, 0.0, pause=seconds)
