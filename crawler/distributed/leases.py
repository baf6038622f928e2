"""scrapy-redis's request queue with leases, per-site order and one politeness budget per site.

scrapy-redis pops a request by deleting it from the shared queue: if the worker dies before the
page is fetched and its result sent, that URL is lost (and the shared seen-filter keeps every
other worker from fetching it). ``LeasedQueue`` pops atomically *into a lease*: a hash per
worker (``Keys.inflight``) that holds the serialized request until the worker has sent its
result (the Outbox deletes the lease in the MULTI/EXEC that sends the result). Each worker keeps
a heartbeat key alive; any worker that finds another worker's heartbeat gone moves that
worker's leases back into the queue (``requeue_dead``). Redelivery is harmless: the writer's
writes are idempotent.

Four things make it fast and polite (docs/decisions.md):

- one pop takes several requests (a round trip per batch, not per page);
- a worker takes requests only while the pages it holds (downloading or waiting for its
  extraction processes) are fewer than its extraction slots plus one batch: pages it cannot
  extract soon are left to a worker that can, instead of queueing behind its own extraction
  (a worker holding 100 pages at the end of a crawl kept one core busy alone for a minute);
- a request's score is its site's running count (within its priority), so the queue hands out
  the sites in turn instead of one site after another (the serialized request, scrapy-redis's
  member, sorts by URL: one site at a time, held to its per-site concurrency);
- the pop reserves each request's start time on its site's shared slot
  (``Keys.slot``: the next time a request of the site may start, the delay after it from
  ``Keys.delays``, the workers' AutoThrottle), and the worker waits until then
  (``SharedSlotMiddleware``): all workers together keep one crawl's pace per site.
"""
from __future__ import annotations

import itertools
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Iterable

from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue

from . import Keys

logger = logging.getLogger(__name__)

LEASES = "redis_leases"  # request.meta key: the lease ids this request releases when done
NOT_BEFORE = "redis_not_before"  # request.meta key: time.monotonic() its site's slot is ours
FEED_LEASE = "feed."  # lease ids of feeds taken from Keys.start (they go back there)
SITE_LEASE = "site."  # lease ids of sites taken from Keys.sites (they go back there)
SEP = b"\0"  # queue member: site, SEP, serialized request
PRIORITY_STEP = 1e12  # score = -priority * PRIORITY_STEP + the site's running count
WAKE_TTL_MS = 60_000  # a wake-up no writer took is dropped after this (Keys.wake)

# Pop up to ARGV[1] members into leases ARGV[5..]; reserve each one's start on its site's slot.
# Answers the requests left in the queue, the feeds waiting (KEYS[4]), then member, wait, ...
_POP = """
local items = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #items - 1) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {redis.call('ZCARD', KEYS[1]), redis.call('LLEN', KEYS[4])}
for i, item in ipairs(items) do
  redis.call('HSET', KEYS[2], ARGV[4 + i], item)
  local site = string.sub(item, 1, string.find(item, '\\0', 1, true) - 1)
  local delay = tonumber(redis.call('HGET', KEYS[3], site) or ARGV[2])
  local slot = ARGV[3] .. site
  local at = math.max(now, tonumber(redis.call('GET', slot) or 0))
  redis.call('SET', slot, at + delay, 'PX', at + delay - now + 60000)
  out[#out + 1] = item
  out[#out + 1] = at - now
end
return out
"""

# Reserve a start on a site's slot (ARGV[1] site, ARGV[2] delay ms, ARGV[3] pause ms): the wait.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0))
local pause = tonumber(ARGV[3])
if pause > 0 then
  at = math.max(at, now + pause)
  redis.call('SET', KEYS[1], at, 'PX', at - now + 60000)
  return at - now
end
local delay = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or ARGV[2])
redis.call('SET', KEYS[1], at + delay, 'PX', at + delay - now + 60000)
return at - now
"""

# Push ARGV[3] for site ARGV[1] at priority base ARGV[2] unless its fingerprint ARGV[4] was seen
# (then send the link message ARGV[5], if any, to the writer); release the leases ARGV[6..].
_PUSH = """
local added = 1
if ARGV[4] ~= '' and redis.call('SADD', KEYS[2], ARGV[4]) == 0 then
  added = 0
  if ARGV[5] ~= '' then redis.call('XADD', KEYS[4], '*', 'm', ARGV[5]) end
else
  local base = tonumber(ARGV[2])
  local n = redis.call('HINCRBY', KEYS[5], ARGV[1], 1)
  local head = redis.call('ZRANGEBYSCORE', KEYS[1], base, '(' .. (base + 1e12),
                          'WITHSCORES', 'LIMIT', 0, 1)
  if head[2] and base + n < tonumber(head[2]) then
    n = tonumber(head[2]) - base  -- a site that was quiet joins at the head, not before it
    redis.call('HSET', KEYS[5], ARGV[1], n)
  end
  redis.call('ZADD', KEYS[1], base + n, ARGV[1] .. '\\0' .. ARGV[3])
end
for i = 6, #ARGV do redis.call('HDEL', KEYS[3], ARGV[i]) end
return added
"""

# A worker's look at the crawl, in one round trip: take up to ARGV[1] feeds from the start list
# into feed leases (ids ARGV[4..]) if fewer than ARGV[2] requests are queued; then say how many
# requests are queued, feeds and sites (KEYS[5]) wait and leases other workers (not ARGV[3])
# hold.
_LOOK = """
local queued = redis.call('ZCARD', KEYS[2])
local feeds = {}
if queued < tonumber(ARGV[2]) then
  feeds = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
  if #feeds > 0 then
    redis.call('LTRIM', KEYS[1], #feeds, -1)
    for i, feed in ipairs(feeds) do redis.call('HSET', KEYS[3], ARGV[3 + i], feed) end
  end
end
local held = 0
for _, worker in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if worker ~= ARGV[3] then held = held + redis.call('HLEN', ARGV[4 + tonumber(ARGV[1])] .. worker) end
end
return {queued, redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[5]), held, feeds}
"""

_REQUEUE = """
local items = redis.call('HGETALL', KEYS[1])
for i = 1, #items, 2 do
  if string.sub(items[i], 1, 5) == 'feed.' then
    redis.call('LPUSH', KEYS[4], items[i + 1])
  elseif string.sub(items[i], 1, 5) == 'site.' then
    redis.call('LPUSH', KEYS[5], items[i + 1])
  else
    redis.call('ZADD', KEYS[2], 0, items[i + 1])
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
return #items / 2
"""


class SeenInQueue(RFPDupeFilter):
    """``DUPEFILTER_CLASS``: the shared seen-set is checked by the queue's push, inside the
    batched write that queues the request (one script, no round trip of its own)."""

    def request_seen(self, request) -> bool:
        return False


class LeasedQueue(PriorityQueue):
    """``SCHEDULER_QUEUE_CLASS``: pop leases the request to this worker until it is done."""

    def __init__(self, server, spider, key, serializer=None):
        super().__init__(server, spider, key, serializer)
        s = spider.settings
        self.keys = Keys(s.get("CRAWLER_REDIS_PREFIX"))
        self.worker = spider.worker_id
        self.tag = uuid.uuid4().hex[:8]  # lease ids are unique across workers and restarts
        self.inflight_key = self.keys.inflight(self.worker)
        self._pop = server.register_script(_POP)
        self._ids = itertools.count(1)
        self.outbox = spider.outbox
        self.outbox.queue = self
        self.popped: list[tuple] = []  # (member, wait ms, lease) taken and not handed out yet
        self.batch = max(1, min(s.getint("CRAWLER_REDIS_POP_BATCH"),
                                s.getint("CONCURRENT_REQUESTS")))
        # An empty queue is asked again only after this pause (or once this worker queued
        # requests): Scrapy asks the scheduler after every response.
        self.empty_pause = s.getfloat("CRAWLER_REDIS_EMPTY_PAUSE")
        self.empty_until = 0.0
        self.slot_by = s.get("CRAWLER_SLOT_BY", "domain")
        from crawler.runtime.pipelines import ExtractPipeline

        self.max_held = ExtractPipeline.slots_for(s) + self.batch

    def __len__(self) -> int:
        """Requests taken and not handed out, and the shared queue's size as last seen (the
        spider's looks keep it current): asking Redis each time the engine wonders whether it
        is idle cost a round trip per response."""
        return len(self.popped) + self.queued

    queued = 0

    def lease_ids(self, n: int) -> list[str]:
        return [f"{self.tag}.{next(self._ids)}" for _ in range(n)]

    def push(self, request) -> None:
        """Queued through the Outbox's next batch; a request that comes back (a retry, a
        redirect) releases the leases it carried in the same script: it is safe in the queue
        again, whoever takes it."""
        leases = request.meta.pop(LEASES, None) or []
        request.meta.pop(NOT_BEFORE, None)
        fingerprint = "" if request.dont_filter else \
            self.spider.seen.request_fingerprint(request)
        link = b""
        if fingerprint and request.meta.get("canonical") and request.meta.get("feed_url"):
            from .messages import FIELD, encode

            link = encode("link", url=request.meta["canonical"],
                          feed_url=request.meta["feed_url"])[FIELD]
        self.outbox.push(site_of_request(request, self.slot_by),
                         -request.priority * PRIORITY_STEP, self._encode_request(request),
                         fingerprint, link, leases)
        self.empty_until = 0.0

    def pop(self, timeout=0):
        if not self.popped:
            if time.monotonic() < self.empty_until or self.waiting() or \
                    self.held() >= self.max_held:
                return None
            self.fetch()
            if not self.popped:
                self.empty_until = time.monotonic() + self.empty_pause
                self.queued = 0
                return None
        member, wait_ms, lease = self.popped.pop(0)
        request = self._decode_request(member.split(SEP, 1)[1])
        request.meta[LEASES] = [*request.meta.get(LEASES, ()), lease]
        request.meta[NOT_BEFORE] = time.monotonic() + max(wait_ms, 0) / 1000
        self.spider.saw_feed(request.meta.get("feed_url"))
        return request

    def waiting(self) -> int:
        """Requests this worker holds that are not downloading yet (waiting for robots.txt,
        their site's slot or its concurrency): it takes more only when all it holds are
        downloading, so it does not hoard requests that another worker could start now."""
        engine = self.spider.crawler.engine
        if engine is None:
            return 0
        downloader = engine.downloader
        transferring = sum(len(slot.transferring) for slot in downloader.slots.values())
        return len(downloader.active) - transferring

    def held(self) -> int:
        """Pages this worker holds: downloading, or downloaded and not yet through the item
        pipelines (extraction). The engine asks again as each one finishes."""
        engine = self.spider.crawler.engine
        if engine is None or engine.scraper.slot is None:
            return 0
        slot = engine.scraper.slot
        return len(engine.downloader.active) + len(slot.queue) + len(slot.active)

    def fetch(self) -> None:
        """One round trip for a batch: the engine takes them one by one as slots free up."""
        engine = self.spider.crawler.engine
        n = self.batch
        leases = self.lease_ids(n)
        delay_ms = int(self.spider.crawler.settings.getfloat("DOWNLOAD_DELAY") * 1000)
        if engine is not None:
            delay_ms = int(getattr(engine.downloader, "_delay", delay_ms / 1000) * 1000)
        answer = self._pop(keys=[self.key, self.inflight_key, self.keys.delays,
                                 self.keys.start],
                           args=[n, delay_ms, self.keys.slot(""), 0, *leases])
        self.queued, feeds_waiting = int(answer[0]), int(answer[1])
        for i in range(2, len(answer), 2):
            self.popped.append((answer[i], int(answer[i + 1]), leases[i // 2 - 1]))
        if feeds_waiting and self.queued < 2 * self.spider.settings.getint(
                "CONCURRENT_REQUESTS"):  # the queue runs low: take feeds now, not at a look
            from twisted.internet import reactor

            reactor.callLater(0, self.spider.schedule_next_requests)


def site_of_request(request, slot_by: str = "domain") -> str:
    """The politeness slot of a request: its download slot, as PublisherSlotMiddleware and
    Scrapy name it (registered domain, or host with CRAWLER_SLOT_BY = "host")."""
    from scrapy.utils.httpobj import urlparse_cached

    from crawler.fetch.politeness import publisher_key

    if request.meta.get("download_slot"):
        return request.meta["download_slot"]
    host = urlparse_cached(request).hostname or ""
    return publisher_key(host) if slot_by == "domain" else host


def leases_of(request) -> list[str]:
    """The lease ids a finished request releases."""
    return list(request.meta.get(LEASES, ()))


@dataclass
class Look:
    """What one look at the crawl saw (and the feeds it took)."""

    queued: int  # requests in the shared queue
    feeds_waiting: int  # feeds in Keys.start and sites in Keys.sites
    held_elsewhere: int  # leases other workers hold (their pages may add requests)
    feeds: list[tuple[str, bytes]]  # (lease, data) of the feeds taken

    @property
    def busy(self) -> bool:
        """Could work still come: requests or feeds queued, or another worker busy?"""
        return bool(self.queued or self.feeds_waiting or self.held_elsewhere or self.feeds)


def look(server, keys: Keys, worker: str, count: int, below: int) -> Look:
    """One round trip: take up to ``count`` feeds from ``Keys.start``, each leased (a dead
    worker's go back to the list), if fewer than ``below`` requests are queued; and how busy
    the crawl is."""
    leases = [f"{FEED_LEASE}{uuid.uuid4().hex[:12]}" for _ in range(count)]
    queued, waiting, held, feeds = server.register_script(_LOOK)(
        keys=[keys.start, keys.requests, keys.inflight(worker), keys.workers, keys.sites],
        args=[count, below, worker, *leases, keys.inflight("")])
    return Look(int(queued), int(waiting), int(held), list(zip(leases, feeds)))


def reserve(server, keys: Keys, site: str, delay: float, pause: float = 0.0) -> float:
    """Reserve a start on ``site``'s shared slot (or, with ``pause``, hold the slot that long):
    seconds to wait before it."""
    wait = server.register_script(_RESERVE)(
        keys=[keys.slot(site), keys.delays], args=[site, int(delay * 1000), int(pause * 1000)])
    return int(wait) / 1000


def _requeue(server, keys: Keys, worker: str) -> int:
    return server.register_script(_REQUEUE)(
        keys=[keys.inflight(worker), keys.requests, keys.workers, keys.start, keys.sites],
        args=[worker])


def requeue_dead(server, keys: Keys, skip: Iterable[str] = ()) -> int:
    """Move the leases of every registered worker whose heartbeat expired back to the queue."""
    workers = [w.decode() for w in server.smembers(keys.workers)]
    workers = [w for w in workers if w not in set(skip)]
    if not workers:
        return 0
    with server.pipeline(transaction=False) as pipe:
        for worker in workers:
            pipe.exists(keys.alive(worker))
        alive = pipe.execute()
    moved = 0
    for worker, is_alive in zip(workers, alive):
        if not is_alive:
            n = _requeue(server, keys, worker)
            moved += n
            if n:
                logger.warning("Worker %s stopped beating: %d requests back in the queue",
                               worker, n)
    return moved


def release_own(server, keys: Keys, worker: str, requeue: bool) -> int:
    """A worker that stops cleanly deregisters; what it still holds goes back to the queue
    (``requeue``: downloads cancelled by a shutdown) or is given up (an idle worker's leftovers
    are requests whose processing failed: another worker would fail the same way)."""
    with server.pipeline(transaction=False) as pipe:
        pipe.delete(keys.alive(worker)).lpush(keys.wake, worker).pexpire(keys.wake, WAKE_TTL_MS)
        pipe.execute()
    if requeue:
        return _requeue(server, keys, worker)
    with server.pipeline() as pipe:
        pipe.hlen(keys.inflight(worker)).delete(keys.inflight(worker)).srem(keys.workers, worker)
        return pipe.execute()[0]
