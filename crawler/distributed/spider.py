"""The feed spider as a Redis worker: feeds from a Redis list, bookkeeping sent to the writer.

``RedisFeedSpider`` is the FeedSpider with scrapy-redis's RedisMixin: it takes feeds from
``Keys.start`` (pushed by ``crawler enqueue``) whenever it is idle, and its requests go through
the scrapy-redis scheduler (shared queue and seen-filter). It has no database: feed states and
failures go to the results stream (NewsSpider's bookkeeping methods), known articles are those
some worker has requested already (the shared seen-filter, checked when the request is queued),
and conditional-GET validators come from the hash the writer keeps (``Keys.feeds``). Every
write goes through the Outbox, one MULTI/EXEC per CRAWLER_REDIS_FLUSH seconds.
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
from scrapy_redis.spiders import RedisMixin

from crawler.items import Page
from crawler.fetch.spiders.feeds import FeedSpider

from . import ensure_group, round_trips
from .liveness import connect_worker, start_worker, stop_worker
from .leases import LEASES, Look, leases_of, look, release_own, requeue_dead

logger = logging.getLogger(__name__)


class RedisFeedSpider(RedisMixin, FeedSpider):
    """``crawler worker --redis URL``: one of many processes sharing one crawl frontier."""

    name = "feeds-redis"

    def __init__(self, **kwargs: Any):
        scrapy.Spider.__init__(self, **kwargs)  # FeedSpider.__init__ wants feeds: they come later
        self.feed_urls: list[str] = []  # the feeds of the requests it handled (UrlSafety's starts)
        self.known_feeds: set[str] = set()
        self.feeds_taken = 0
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.leases: dict[str, list[str]] = {}  # fetched URL of a Page -> leases it releases
        self.taken: dict[str, dict | None] = {}  # feed URL -> its validators, until requested
        self.fetched: dict[str, dict] = {}  # feed URL -> its "feed" message, until parsed
        self.last_look = Look(0, 0, 0, [])

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any):
        spider = super().from_crawler(crawler, *args, **kwargs)
        s = crawler.settings
        connect_worker(spider, s)
        spider.outbox.on_pushed = spider.poll
        spider.feed_batch = s.getint("CRAWLER_REDIS_FEED_BATCH")
        spider.redis_batch_size = spider.feed_batch
        spider.setup_redis(crawler)
        spider.max_idle_time = s.getfloat("CRAWLER_REDIS_IDLE_EXIT")
        spider.poll_period = s.getfloat("CRAWLER_REDIS_POLL")
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
        self.spider_idle_start_time = time.time()  # --idle-exit counts from here, not the start
        start_worker(self, self.look)

    def reap(self) -> None:
        self.publish_delays()
        requeue_dead(self.redis, self.keys, skip=[self.worker_id])

    def publish_delays(self) -> None:
        """This worker's AutoThrottle delays, for every worker's reservations (Keys.delays)."""
        if not self.settings.getbool("AUTOTHROTTLE_ENABLED"):
            return
        slots = self.crawler.engine.downloader.slots
        delays = {key: int(slot.delay * 1000) for key, slot in slots.items()}
        if delays:
            self.redis.hset(self.keys.delays, mapping=delays)

    def poll(self) -> None:
        """An idle Scrapy engine looks at its scheduler (here: the shared queue) only every 5 s;
        a worker looks every CRAWLER_REDIS_POLL seconds and right after it queued requests, so
        it joins in as soon as the queue fills, and stops soon after the crawl is done."""
        engine = self.crawler.engine
        slot = getattr(engine, "_slot", None)  # Scrapy has no public "look again now"
        if slot is not None and slot.closing is None:
            slot.nextcall.schedule()

    def look(self) -> None:
        """Every CRAWLER_REDIS_POLL seconds while idle, one round trip: take feeds if the shared
        queue runs low, and wake the engine only if there is something to take, or once the
        crawl has been done for CRAWLER_REDIS_IDLE_EXIT seconds (the engine's own idle check
        comes only every 5 s). A busy worker does not look: its pops say how long the queue is
        and take feeds when it runs low."""
        engine = self.crawler.engine
        queue = getattr(getattr(getattr(engine, "_slot", None), "scheduler", None), "queue", None)
        if engine.downloader.active or not engine.scraper.slot.is_idle() or \
                (queue is not None and queue.popped):
            self.spider_idle_start_time = time.time()  # busy: idle time counts from its end
            return
        self.schedule_next_requests()
        if self.last_look.busy:
            self.spider_idle_start_time = time.time()
            if self.last_look.queued or self.last_look.feeds:
                self.poll()
        elif self.max_idle_time:
            left = self.spider_idle_start_time + self.max_idle_time - time.time()
            if left <= 0:
                self.poll()  # spider_idle closes the spider
            elif left < self.poll_period:  # on time, not up to a period late at the next look
                from twisted.internet import reactor

                reactor.callLater(left + 0.01, self.poll)

    def deregister(self, spider=None, reason: str = "") -> None:
        stop_worker(self)
        self.outbox.flush()
        self.crawler.stats.set_value("redis/round_trips", round_trips())
        left = release_own(self.redis, self.keys, self.worker_id, requeue=reason != "finished")
        if left:
            logger.warning("Worker %s stopped (%s) holding %d requests: %s", self.worker_id,
                           reason, left, "back in the queue" if reason != "finished"
                           else "given up (their processing failed)")

    # ------------------------------------------------------------ feeds from Redis

    async def start(self) -> AsyncIterator[Any]:
        for request in self.next_requests():
            yield request

    def next_requests(self):
        """Feeds from Keys.start, a batch at a time while the shared queue runs low (fewer
        than two requests per slot of this worker): each is leased until its request is
        queued, so a killed worker loses none."""
        below = 2 * self.settings.getint("CONCURRENT_REQUESTS")
        self.last_look = seen = look(self.redis, self.keys, self.worker_id, self.feed_batch,
                                     below)
        queue = getattr(self.crawler.engine, "_slot", None)
        queue = getattr(getattr(queue, "scheduler", None), "queue", None)
        if queue is not None:
            queue.queued = seen.queued
        if not seen.feeds:
            return
        entries = [(lease, feed_url_of(data)) for lease, data in seen.feeds]
        urls = [url for _, url in entries]
        states = self.redis.hmget(self.keys.feeds, urls)
        for (lease, url), state in zip(entries, states):
            self.taken[url] = json.loads(state) if state else None
            self.feeds_taken += 1
            request = self.feed_request(url)
            request.meta[LEASES] = [lease]
            yield request

    def saw_feed(self, url: str | None) -> None:
        """A feed some worker was given: the user's start for its requests (UrlSafetyMiddleware
        judges private addresses by it)."""
        if url and url not in self.known_feeds:
            self.known_feeds.add(url)
            self.feed_urls.append(url)

    def spider_idle(self):
        """Close after CRAWLER_REDIS_IDLE_EXIT seconds (0: never) with nothing left anywhere:
        no feeds, no queued requests and no other worker holding leases."""
        self.outbox.flush()
        self.give_up_leftovers()
        self.schedule_next_requests()
        if self.last_look.busy:
            self.spider_idle_start_time = time.time()
        if self.max_idle_time and time.time() - self.spider_idle_start_time >= self.max_idle_time:
            return
        raise DontCloseSpider

    def give_up_leftovers(self) -> None:
        """An idle worker holds no request in progress: a lease it still holds is a request
        whose processing ended without releasing it (a dropped item, a callback that failed).
        Given up now, as a finished worker gives them up: two idle workers each holding one
        waited for each other's and never stopped."""
        with self.redis.pipeline() as pipe:
            left = pipe.hkeys(self.keys.inflight(self.worker_id)) \
                .delete(self.keys.inflight(self.worker_id)).execute()[0]
        self.leases.clear()
        if left:
            logger.warning("Worker %s gave up %d requests it held while idle: %s",
                           self.worker_id, len(left), b", ".join(left[:5]).decode())

    # ------------------------------------------------------------ bookkeeping -> the writer

    def stored_feed(self, url: str) -> dict | None:
        if url in self.taken:
            return self.taken.pop(url)
        state = self.redis.hget(self.keys.feeds, url)
        return json.loads(state) if state else None

    def feed_fetched(self, url: str, **fields: Any) -> None:
        """A feed that parsed is reported when its entries are queued (with how many: the
        writer's schedule), a failed or unchanged one at once."""
        if fields.get("error") is None and fields.get("status") != 304:
            self.fetched[url] = fields
        else:
            self.outbox.send("feed", url=url, n_new=0, **fields)

    def feed_validators(self, url: str, etag: str | None, last_modified: str | None,
                        body_hash: str | None = None) -> None:
        """Sent as soon as the feed's article requests are queued: unlike a local crawl's, they
        survive a killed worker (leases), so a 304 (or the same body) next time loses nothing.
        ``body_hash``: the digest of the body read, so an unchanged body is not parsed again."""
        self.outbox.send("validators", url=url, etag=etag, last_modified=last_modified,
                         body_hash=body_hash)

    def stored_urls(self, urls: list[str]) -> set[str]:
        """None here: whether some worker requested an article already is asked when its
        request is queued (the shared seen-set, in the same batched script); if so, the
        writer gets this feed's link to it instead."""
        return set()

    def article_sent(self, page) -> None:
        """Its URL is in the seen-set since its request was queued."""

    def record_failure(self, kind: str, url: str, reason: str, error: str,
                       status: int | None = None, feed_url: str | None = None) -> None:
        self.outbox.send("failure", what=kind, url=url, reason=reason, error=error,
                         status=status, feed_url=feed_url)
        self.crawler.stats.inc_value(f"news/reason/{reason}")
        if kind == "article" and url.startswith(("http://", "https://")):
            # as in a local crawl, the next feed that lists it tries again
            self.outbox.command("SREM", self.keys.seen,
                                self.seen.request_fingerprint(scrapy.Request(url)))

    # ------------------------------------------------------------ releasing leases

    def parse_feed(self, response):
        feed_url = response.meta["feed_url"]
        queued = 0
        for item in super().parse_feed(response):
            queued += isinstance(item, scrapy.Request)
            yield item
        # its article requests are queued now (earlier in the same batch)
        fields = self.fetched.pop(feed_url, None)
        if fields is not None:
            self.outbox.send("feed", url=feed_url, n_new=queued, **fields)
        validators = self.validators.pop(feed_url, None)
        if validators:
            self.feed_validators(feed_url, *validators,
                                 body_hash=self.body_hashes.pop(feed_url, None))
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
        """A request the scheduler dropped: its leases are released."""
        self.outbox.release(leases_of(request))

    def given_up(self, failure=None, response=None, spider=None, item=None) -> None:
        """A callback or pipeline raised: the page is lost here, as in a local crawl."""
        if response is not None:
            self.leases.pop(response.url, None)
            self.outbox.release(leases_of(response.request))

    # ------------------------------------------------------------ progress

    def progress_line(self, stats: dict, elapsed: float) -> str:
        """What a worker does: pages fetched, results sent to the writer, Redis round trips."""
        pages = stats.get("response_received_count", 0)
        sent = stats.get("news/articles_sent", 0)
        return (f"[{elapsed:5.0f}s] worker: {pages} pages fetched "
                f"({pages / max(elapsed, 1e-9):.1f}/s), {sent} articles sent to the writer, "
                f"{self.outbox.sent} results in all · {self.feeds_taken} feeds taken · "
                f"Redis {round_trips() / max(pages, 1):.2f} round trips per page")


def feed_url_of(data: bytes) -> str:
    """A feed pushed by ``crawler enqueue``: ``{"url": ...}`` (or a bare URL)."""
    text = data.decode("utf-8")
    return json.loads(text)["url"] if text.lstrip().startswith("{") else text.strip()
