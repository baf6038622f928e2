"""scrapy-redis's priority queue with leases, so a dead worker's requests go back to the queue.

scrapy-redis pops a request by deleting it from the shared queue: if the worker dies before the
page is fetched and its result sent, that URL is lost (and the shared seen-filter keeps every
other worker from fetching it). ``LeasedQueue`` pops atomically *into a lease*: a hash per
worker (``Keys.inflight``) that holds the serialized request until the worker has sent its
result (``Outbox.send(..., done=leases)`` deletes the lease in the same MULTI/EXEC). Each worker
keeps a heartbeat key alive; any worker that finds another worker's heartbeat gone moves that
worker's leases back into the queue (``requeue_dead``), and the remaining workers, or the next
worker started, fetch them. Redelivery is harmless: the writer's writes are idempotent.
"""
from __future__ import annotations

import itertools
import logging
import time
import uuid
from typing import Iterable

from scrapy_redis.queue import PriorityQueue

from . import Keys

logger = logging.getLogger(__name__)

LEASES = "redis_leases"  # request.meta key: the lease ids this request releases when done

# ZRANGE+ZREMRANGEBYRANK is what scrapy-redis's PriorityQueue.pop does; the HSET makes it a lease.
_POP = """
local item = redis.call('ZRANGE', KEYS[1], 0, 0)
if #item == 0 then return false end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
redis.call('HSET', KEYS[2], ARGV[1], item[1])
return item[1]
"""

_REQUEUE = """
local items = redis.call('HVALS', KEYS[1])
for _, data in ipairs(items) do redis.call('ZADD', KEYS[2], 0, data) end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
return #items
"""


class LeasedQueue(PriorityQueue):
    """``SCHEDULER_QUEUE_CLASS``: pop leases the request to this worker until it is done."""

    def __init__(self, server, spider, key, serializer=None):
        super().__init__(server, spider, key, serializer)
        self.worker = spider.worker_id
        self.tag = uuid.uuid4().hex[:8]  # lease ids are unique across workers and restarts
        self.inflight_key = Keys(spider.settings.get("CRAWLER_REDIS_PREFIX")).inflight(self.worker)
        self._pop = server.register_script(_POP)
        self._ids = itertools.count(1)
        # Scrapy asks the scheduler after every response; an empty queue is asked again only
        # after this pause, which saves a round trip per page while a worker is busy.
        self.empty_pause = spider.settings.getfloat("CRAWLER_REDIS_EMPTY_PAUSE")
        self.empty_until = 0.0

    def push(self, request):
        """A request that comes back to the queue (a retry, a redirect) releases the leases it
        carried in the same MULTI/EXEC: it is safe in the queue again, whoever takes it."""
        leases = request.meta.pop(LEASES, None)
        if not leases:
            return super().push(request)
        with self.server.pipeline() as pipe:
            pipe.execute_command("ZADD", self.key, -request.priority,
                                 self._encode_request(request))
            pipe.hdel(self.inflight_key, *leases)
            pipe.execute()

    def pop(self, timeout=0):
        if time.monotonic() < self.empty_until:
            return None
        lease = f"{self.tag}.{next(self._ids)}"
        data = self._pop(keys=[self.key, self.inflight_key], args=[lease])
        if not data:
            self.empty_until = time.monotonic() + self.empty_pause
            return None
        request = self._decode_request(data)
        request.meta[LEASES] = [*request.meta.get(LEASES, ()), lease]
        return request


def leases_of(request) -> list[str]:
    """The lease ids a finished request releases."""
    return list(request.meta.get(LEASES, ()))


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
    requeue = server.register_script(_REQUEUE)
    moved = 0
    for worker, is_alive in zip(workers, alive):
        if not is_alive:
            n = requeue(keys=[keys.inflight(worker), keys.requests, keys.workers], args=[worker])
            moved += n
            if n:
                logger.warning("Worker %s stopped beating: %d requests back in the queue",
                               worker, n)
    return moved


def release_own(server, keys: Keys, worker: str, requeue: bool) -> int:
    """A worker that stops cleanly deregisters; what it still holds goes back to the queue
    (``requeue``: downloads cancelled by a shutdown) or is given up (an idle worker's leftovers
    are requests whose processing failed: another worker would fail the same way)."""
    server.delete(keys.alive(worker))
    if requeue:
        script = server.register_script(_REQUEUE)
        return script(keys=[keys.inflight(worker), keys.requests, keys.workers], args=[worker])
    with server.pipeline() as pipe:
        pipe.hlen(keys.inflight(worker)).delete(keys.inflight(worker)).srem(keys.workers, worker)
        return pipe.execute()[0]


def busy_elsewhere(server, keys: Keys, worker: str) -> bool:
    """Does another worker hold leases (its pages may add requests, or come back if it dies)?"""
    workers = [w.decode() for w in server.smembers(keys.workers)]
    workers = [w for w in workers if w != worker]
    if not workers:
        return False
    with server.pipeline(transaction=False) as pipe:
        for other in workers:
            pipe.hlen(keys.inflight(other))
        return any(pipe.execute())
