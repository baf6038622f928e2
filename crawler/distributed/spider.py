"""The feed spider as a Redis worker: feeds from a Redis list, bookkeeping sent to the writer.

``RedisFeedSpider`` is the FeedSpider with scrapy-redis's RedisMixin: it takes feeds from
``Keys.start`` (pushed by ``crawler enqueue``) whenever it is idle, and its requests go through
the scrapy-redis scheduler (shared queue and seen-filter). It has no database: feed states and
failures go to the results stream (NewsSpider's bookkeeping methods), known articles are those
some worker has requested already (the shared seen-filter), and conditional-GET validators come
from the hash the writer keeps (``Keys.feeds``).
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
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.spiders import RedisMixin
from twisted.internet import task

from crawler.items import Page
from crawler.fetch.spiders.feeds import FeedSpider

from . import Keys, connect, ensure_group, round_trips
from .outbox import Outbox
from .leases import busy_elsewhere, leases_of, release_own, requeue_dead

logger = logging.getLogger(__name__)


class RedisFeedSpider(RedisMixin, FeedSpider):
    """``crawler worker --redis URL``: one of many processes sharing one crawl frontier."""

    name = "feeds-redis"

    def __init__(self, **kwargs: Any):
        scrapy.Spider.__init__(self, **kwargs)  # FeedSpider.__init__ wants feeds: they come later
        self.feed_urls: list[str] = []
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.leases: dict[str, list[str]] = {}  # fetched URL of a Page -> leases it releases

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        s = crawler.settings
        spider.keys = Keys(s.get("CRAWLER_REDIS_PREFIX"))
        spider.redis = connect(s.get("REDIS_URL"))
        spider.outbox = Outbox(spider.redis, spider.keys, spider.worker_id)
        spider.seen = RFPDupeFilter(spider.redis, spider.keys.seen)
        spider.heartbeat_ttl = s.getfloat("CRAWLER_REDIS_HEARTBEAT")
        spider.redis_batch_size = 1  # one feed at a time: idle workers share the feeds
        spider.setup_redis(crawler)
        spider.max_idle_time = s.getfloat("CRAWLER_REDIS_IDLE_EXIT")
        spider.spider_idle_start_time = time.time()
        ensure_group(spider.redis, spider.keys)
        for signal, handler in ((signals.spider_opened, spider.register),
                                (signals.spider_closed, spider.deregister),
                                (signals.request_dropped, spider.dropped),
                                (signals.spider_error, spider.given_up),
                                (signals.item_error, spider.given_up)):
            crawler.signals.connect(handler, signal=signal)
        return spider

    # ------------------------------------------------------------ liveness

    def register(self, spider=None) -> None:
        self.beat()
        self.redis.sadd(self.keys.workers, self.worker_id)
        self.beater = task.LoopingCall(self.beat_and_reap)
        self.beater.start(max(0.2, self.heartbeat_ttl / 3), now=False)
        self.poller = task.LoopingCall(self.poll)
        self.poller.start(self.settings.getfloat("CRAWLER_REDIS_POLL"), now=False)

    def beat(self) -> None:
        self.redis.set(self.keys.alive(self.worker_id), 1, px=int(self.heartbeat_ttl * 1000))

    def beat_and_reap(self) -> None:
        self.beat()
        requeue_dead(self.redis, self.keys, skip=[self.worker_id])

    def poll(self) -> None:
        """An idle Scrapy engine looks at its scheduler (here: the shared queue) only every 5 s;
        an idle worker looks every CRAWLER_REDIS_POLL seconds, so it joins in as soon as another
        worker's feed fills the queue, and stops soon after the crawl is done."""
        engine = self.crawler.engine
        slot = getattr(engine, "_slot", None)  # Scrapy has no public "look again now"
        if slot is not None and not engine.downloader.active and slot.closing is None:
            slot.nextcall.schedule()

    def deregister(self, spider=None, reason: str = "") -> None:
        self.crawler.stats.set_value("redis/round_trips", round_trips())
        for loop in (getattr(self, "beater", None), getattr(self, "poller", None)):
            if loop is not None and loop.running:
                loop.stop()
        left = release_own(self.redis, self.keys, self.worker_id, requeue=reason != "finished")
        if left:
            logger.warning("Worker %s stopped (%s) holding %d requests: %s", self.worker_id,
                           reason, left, "back in the queue" if reason != "finished"
                           else "given up (their processing failed)")

    # ------------------------------------------------------------ feeds from Redis

    async def start(self) -> AsyncIterator[Any]:
        for request in self.next_requests():
            yield request

    def make_request_from_data(self, data: bytes):
        """A feed pushed by ``crawler enqueue``: ``{"url": ...}`` (or a bare URL)."""
        text = data.decode("utf-8")
        url = json.loads(text)["url"] if text.lstrip().startswith("{") else text.strip()
        self.feed_urls.append(url)
        return self.feed_request(url)

    def spider_idle(self):
        """Close after CRAWLER_REDIS_IDLE_EXIT seconds (0: never) with nothing left anywhere:
        no feeds, no queued requests and no other worker holding leases."""
        busy = (self.redis.llen(self.keys.start) or self.redis.zcard(self.keys.requests)
                or busy_elsewhere(self.redis, self.keys, self.worker_id))
        if busy:
            self.spider_idle_start_time = time.time()
        self.schedule_next_requests()
        if self.max_idle_time and time.time() - self.spider_idle_start_time >= self.max_idle_time:
            return
        raise DontCloseSpider

    # ------------------------------------------------------------ bookkeeping -> the writer

    def stored_feed(self, url: str) -> dict | None:
        state = self.redis.hget(self.keys.feeds, url)
        return json.loads(state) if state else None

    def feed_fetched(self, url: str, **fields: Any) -> None:
        self.outbox.send("feed", url=url, **fields)

    def feed_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Sent as soon as the feed's article requests are queued: unlike a local crawl's, they
        survive a killed worker (leases), so a 304 next time loses nothing."""
        self.outbox.send("validators", url=url, etag=etag, last_modified=last_modified)

    def stored_urls(self, urls: list[str]) -> set[str]:
        """An article some worker requested already (the shared seen-filter) is not fetched
        again; its feed is linked to it by the writer (a FeedLink)."""
        link = urls[-1]
        fingerprint = self.seen.request_fingerprint(scrapy.Request(link))
        return {link} if self.redis.sismember(self.keys.seen, fingerprint) else set()

    def record_failure(self, kind: str, url: str, reason: str, error: str,
                       status: int | None = None, feed_url: str | None = None) -> None:
        self.outbox.send("failure", what=kind, url=url, reason=reason, error=error,
                         status=status, feed_url=feed_url)
        self.crawler.stats.inc_value(f"news/reason/{reason}")
        if kind == "article" and url.startswith(("http://", "https://")):
            # as in a local crawl, the next feed that lists it tries again
            self.redis.srem(self.keys.seen, self.seen.request_fingerprint(scrapy.Request(url)))

    # ------------------------------------------------------------ releasing leases

    def parse_feed(self, response):
        yield from super().parse_feed(response)
        # its article requests are queued now
        validators = self.validators.pop(response.meta["feed_url"], None)
        if validators:
            self.feed_validators(response.meta["feed_url"], *validators)
        self.outbox.release(leases_of(response.request))

    def feed_failed(self, failure):
        super().feed_failed(failure)
        self.outbox.release(leases_of(failure.request))

    def parse_article(self, response):
        page = False
        for item in super().parse_article(response):
            if isinstance(item, Page):  # released when RedisPushPipeline has sent the article
                self.leases[item.fetched_url] = leases_of(response.request)
                page = True
            yield item
        if not page:  # not HTML: recorded as a failure
            self.outbox.release(leases_of(response.request))

    def article_failed(self, failure):
        super().article_failed(failure)
        self.outbox.release(leases_of(failure.request))

    def dropped(self, request, spider=None) -> None:
        """The seen-filter dropped a request: a redirect to a URL fetched already, or an article
        another worker requested a moment earlier from another feed. That feed still lists the
        article, so its link goes to the writer (who links it once the article is stored)."""
        self.outbox.release(leases_of(request))
        canonical, feed_url = request.meta.get("canonical"), request.meta.get("feed_url")
        if canonical and feed_url:
            self.outbox.send("link", url=canonical, feed_url=feed_url)

    def given_up(self, failure=None, response=None, spider=None, item=None) -> None:
        """A callback or pipeline raised: the page is lost here, as in a local crawl."""
        if response is not None:
            self.leases.pop(response.url, None)
            self.outbox.release(leases_of(response.request))
