"""The revalidation fast path: conditional GETs of feeds that answered 304 last time, sent with
aiohttp on the crawl's own asyncio event loop, outside Scrapy's engine.

A feed request through Scrapy costs ~3 ms of CPU even when the answer is an empty 304 (the
engine, scheduler, a dozen middleware calls, the scraper, signals); aiohttp does the same GET in
~0.4 ms (docs/performance.md, feed scale). Every guarantee of a Scrapy request is kept by asking
the crawl's own Scrapy components:

- the URL safety guard (``UrlSafetyMiddleware.process_request``), and aiohttp connects to the
  very address the guard checked (``GuardResolver``);
- robots.txt (the crawl's ``RobotsTxtMiddleware.robot_parser``: fetched through Scrapy, once
  per host);
- politeness: Scrapy's own download slot of the feed's site (``SharedSlots``), so a site has
  one budget (concurrency, delay, Retry-After holds) for both paths, and at most
  CONCURRENT_REQUESTS fast requests are in flight.

Only a 304 is handled here. Any other outcome (200, redirect, error, timeout, robots.txt or
the guard saying no) hands the feed back as a normal Scrapy request, which does everything as
before (retries, redirects, reading the feed, recording the failure); a non-304 body is not
read.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from time import monotonic
from typing import Any, AsyncIterator, Iterable
from urllib.request import getproxies

from scrapy import Request, signals
from scrapy.downloadermiddlewares.httpcompression import ACCEPTED_ENCODINGS
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxt

from crawler.fetch.connections import idle_seconds
from crawler.fetch.middlewares import RefusedRequest, UrlSafetyMiddleware, ip_literal
from crawler.fetch.politeness import PublisherSlotMiddleware, RetryAfterMiddleware

logger = logging.getLogger(__name__)

#: Feeds being revalidated or waiting to be handed to Scrapy at once: memory stays flat in the
#: number of feeds (each holds an asyncio task and its stored state).
WINDOW = 500
Feed = tuple[str, Any]  # (URL, stored state)
_DONE = object()


def wants_fast_path(state: dict | None) -> bool:
    """A feed whose last fetch answered 304 to the validators it has: most likely unchanged
    again. (A feed that changes every pass, or ignores validators, has last status 200 and
    never takes the fast path: it would cost a second request.)"""
    return bool(state) and state.get("last_status") == 304 and \
        bool(state.get("etag") or state.get("last_modified"))


async def scrapy_feeds(spider, feeds: Iterable[Feed]) -> AsyncIterator[Feed]:
    """The feeds (URL, stored state) that need a Scrapy request: all of them when the fast
    path is off, else those that did not get a 304 on it."""
    revalidator = Revalidator.for_spider(spider)
    if revalidator is None:
        for feed in feeds:
            yield feed
        return
    async for feed in revalidator.run(feeds):
        yield feed


class Revalidator:
    """Runs the fast path of one crawl (see the module docstring)."""

    def __init__(self, spider, safety: UrlSafetyMiddleware,
                 robots: ScrapyRobotsTxt | None, publisher: PublisherSlotMiddleware | None):
        crawler = spider.crawler
        s = crawler.settings
        self.spider = spider
        self.crawler = crawler
        self.safety = safety
        self.robots = robots
        self.publisher = publisher
        self.robots_agent = s.get("ROBOTSTXT_USER_AGENT") or s.get("USER_AGENT")
        self.slots = SharedSlots(crawler, s.getint("CONCURRENT_REQUESTS"))
        self.headers = {**{k: v for k, v in s.getdict("DEFAULT_REQUEST_HEADERS").items()},
                        "User-Agent": s.get("USER_AGENT"),
                        "Accept-Encoding": b", ".join(ACCEPTED_ENCODINGS).decode()}
        self.timeout = s.getfloat("DOWNLOAD_TIMEOUT")
        self.per_host = s.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        self.idle = idle_seconds(s, "CRAWLER_REVALIDATE_IDLE_SECONDS")
        self.session = None
        self.window = asyncio.Semaphore(WINDOW)
        self.out: asyncio.Queue = asyncio.Queue()
        self.tasks: set[asyncio.Task] = set()
        self.producer: asyncio.Task | None = None
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def for_spider(cls, spider) -> Revalidator | None:
        """The crawl's fast path, or None where it must not run: switched off
        (CRAWLER_FEED_REVALIDATE), --refresh or --resume (the resume cache answers through
        Scrapy), a proxy (aiohttp would not use it), no URL safety guard to ask."""
        s = spider.crawler.settings
        if not s.getbool("CRAWLER_FEED_REVALIDATE") or spider.refresh \
                or s.getbool("CRAWLER_RESUME"):
            return None
        if s.getbool("HTTPPROXY_ENABLED") and {"http", "https"} & set(getproxies()):
            return None
        found = {}
        for mw in spider.crawler.engine.downloader.middleware.middlewares:
            for kind in (UrlSafetyMiddleware, ScrapyRobotsTxt, PublisherSlotMiddleware):
                if isinstance(mw, kind):
                    found[kind] = mw
        if UrlSafetyMiddleware not in found:
            return None
        return cls(spider, found[UrlSafetyMiddleware], found.get(ScrapyRobotsTxt),
                   found.get(PublisherSlotMiddleware))

    # ------------------------------------------------------------ the feeds in, Scrapy's out

    async def run(self, feeds: Iterable[Feed]) -> AsyncIterator[Feed]:
        """Revalidate the candidates among ``feeds`` as tasks (at most WINDOW at once, feeds
        and hand-backs together) while the caller yields what Scrapy must fetch, as it comes:
        the fast path does not wait for Scrapy to pull from ``start()``."""
        self.producer = asyncio.ensure_future(self._produce(feeds))
        try:
            while True:
                feed = await self.out.get()
                if feed is _DONE:
                    break
                self.window.release()
                yield feed
            if self.producer.done() and not self.producer.cancelled():
                self.producer.result()  # a failure reading the feeds' states is the crawl's
        finally:
            await self.close()

    async def _produce(self, feeds: Iterable[Feed]) -> None:
        try:
            for url, state in feeds:
                await self.window.acquire()
                if wants_fast_path(state):
                    task = asyncio.ensure_future(self._revalidate(url, state))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                else:
                    self.out.put_nowait((url, state))
            while self.tasks:
                await asyncio.wait(set(self.tasks))
        finally:
            self.out.put_nowait(_DONE)

    async def _revalidate(self, url: str, state: dict) -> None:
        try:
            unchanged = await self._conditional_get(url, state)
        except asyncio.CancelledError:
            self.window.release()
            raise
        except Exception as exc:  # noqa: BLE001 - whatever it is, Scrapy tries and records it
            logger.debug("Fast path: %s goes to Scrapy (%s: %s)", url, type(exc).__name__, exc)
            unchanged = False
        if unchanged:
            self.window.release()
            self.spider.feed_not_modified(url)
            self.crawler.stats.inc_value("news/feeds_revalidated")
            self.crawler.stats.inc_value("response_received_count")
        else:
            self.crawler.stats.inc_value("news/revalidate_handed_back")
            self.out.put_nowait((url, state))  # its window place goes with it

    async def _conditional_get(self, url: str, state: dict) -> bool:
        """True if the feed answered 304; False if Scrapy must fetch it."""
        # what the crawl's components look at: the URL (as Scrapy escapes it) and the feed
        request = Request(url, dont_filter=True, meta={"feed_url": url})
        try:
            await self.safety.process_request(request)
        except RefusedRequest as refused:  # Scrapy refuses it again, counts and records it
            self.crawler.stats.inc_value(f"news/refused/{refused.reason}", -1)
            raise
        if self.robots is not None:
            parser = await self.robots.robot_parser(request)
            if parser is not None and not parser.allowed(request.url, self.robots_agent):
                return False
        if self.publisher is not None:
            self.publisher.process_request(request)
        headers = dict(self.headers)
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
        session = self._session()
        key, slot = await self.slots.acquire(request)
        try:
            async with session.get(self.url_type(request.url, encoded=True), headers=headers,
                                   allow_redirects=False) as response:
                if response.status == 304:
                    return True
                response.close()  # not read: the connection is dropped
                return False
        finally:
            self.slots.release(key, slot, request)

    def _session(self):
        """aiohttp's session, made when the first feed needs it (importing aiohttp costs
        ~0.2 s of CPU, which a crawl without candidates does not pay)."""
        if self.session is None:
            import aiohttp
            from aiohttp.abc import AbstractResolver
            from yarl import URL

            AbstractResolver.register(GuardResolver)
            self.url_type = URL
            connector = aiohttp.TCPConnector(
                limit=0, limit_per_host=self.per_host, keepalive_timeout=self.idle, ssl=False,
                resolver=GuardResolver(self.safety), use_dns_cache=False)
            self.session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout), trust_env=False)
        return self.session

    # ------------------------------------------------------------ the end

    async def close(self) -> None:
        """Cancel what is in flight (Ctrl-C, the spider closing) and close the connections."""
        if self.producer is not None:
            self.producer.cancel()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(set(self.tasks))
        self.out.put_nowait(_DONE)  # a caller still waiting for a feed ends
        session, self.session = self.session, None
        if session is not None:
            await session.close()

    async def spider_closed(self, spider, reason) -> None:
        await self.close()


class GuardResolver:
    """aiohttp's resolver answering with the address the URL safety guard checked (its cache,
    else its own look-up through Scrapy's resolver, which it then caches): the fast path
    connects to no other address than Scrapy would."""

    def __init__(self, guard: UrlSafetyMiddleware):
        self.guard = guard

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[dict]:
        address = ip_literal(host) or await self.guard.resolve(host)
        if address is None:
            raise OSError(f"{host}: no address")
        return [{"hostname": host, "host": str(address), "port": port,
                 "family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


class SharedSlots:
    """Fast requests take turns in Scrapy's own download slots, so a site has one politeness
    budget for Scrapy's requests and the fast path together.

    This touches Scrapy 2.19's downloader internals (``Downloader._get_slot``,
    ``Downloader._process_queue``, and ``Slot.transferring``, ``Slot.active``,
    ``Slot.lastseen``, ``Slot.latercall``, ``Slot.concurrency``, ``Slot.delay``,
    ``Slot.download_delay()``), as Scrapy has no public API to take a slot's turn: a request
    starts when the slot transfers fewer than its concurrency, its delay has passed since the
    last start, and no timer holds it (Scrapy's delay timer or a Retry-After hold); it counts
    in ``transferring`` (Scrapy's concurrency check) and ``active`` (Scrapy does not collect a
    slot with active requests) while it runs, and sets ``lastseen`` (Scrapy's delay check);
    when it ends, Scrapy's queue of that slot is processed. One waiter per slot checks these
    (the others queue behind it) and sleeps the time left, or until a request of the slot
    leaves the downloader.
    """

    def __init__(self, crawler, total: int):
        self.downloader = crawler.engine.downloader
        self.total = asyncio.Semaphore(max(1, total))
        self.turns: dict[str, list] = {}  # slot key -> [lock, users]
        self.freed: dict[str, asyncio.Future] = {}
        self.holds = next((mw.held_until for mw in self.downloader.middleware.middlewares
                           if isinstance(mw, RetryAfterMiddleware)), {})
        crawler.signals.connect(self._left, signal=signals.request_left_downloader)

    async def acquire(self, request) -> tuple[str, Any]:
        """Wait for the turn of ``request``'s slot; its key and the slot, for ``release``."""
        key = self.downloader.get_slot_key(request)
        turn = self.turns.setdefault(key, [asyncio.Lock(), 0])
        turn[1] += 1
        try:
            async with turn[0]:
                while True:
                    _, slot = self.downloader._get_slot(request)
                    wait = self._wait(key, slot)
                    if wait == 0:
                        await self.total.acquire()
                        if self._wait(key, slot) == 0:
                            break
                        self.total.release()
                    elif wait is None:
                        await asyncio.wait([self._freed(key)], timeout=1.0)
                    else:
                        await asyncio.sleep(wait)
                slot.transferring.add(request)
                slot.active.add(request)
                slot.lastseen = monotonic()
                return key, slot
        finally:
            turn[1] -= 1
            if not turn[1]:
                del self.turns[key]

    def release(self, key: str, slot, request) -> None:
        slot.transferring.discard(request)
        slot.active.discard(request)
        self.total.release()
        if slot.queue:
            self.downloader._process_queue(slot)
        self._wake(key)

    def _wait(self, key: str, slot) -> float | None:
        """0: go now; None: wait for a transfer of the slot to end; else seconds to sleep."""
        now = monotonic()
        if slot.latercall is not None:  # fires by the latest jittered delay, or the hold's end
            until = max(slot.lastseen + slot.delay * (1 + slot.jitter), self.holds.get(key, 0))
            return max(until - now, 0.01)
        if len(slot.transferring) >= slot.concurrency:
            return None
        left = slot.lastseen + slot.download_delay() - now
        return left if left > 0 else 0

    def _freed(self, key: str) -> asyncio.Future:
        future = self.freed.get(key)
        if future is None or future.done():
            future = self.freed[key] = asyncio.get_running_loop().create_future()
        return future

    def _left(self, request, spider=None) -> None:
        """A Scrapy request left the downloader (its slot key is in its meta)."""
        if self.freed:
            self._wake(request.meta.get("download_slot"))

    def _wake(self, key) -> None:
        future = self.freed.pop(key, None)
        if future is not None and not future.done():
            future.set_result(None)
