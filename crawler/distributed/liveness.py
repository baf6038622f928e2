"""A worker's liveness: its heartbeat key, kept alive from a thread, and its periodic jobs.

Both crawls of a worker process (feeds: crawler.distributed.spider, sites:
crawler.distributed.sites) register as workers of their own, each with its leases.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Iterable

from twisted.internet import task

from . import Keys

logger = logging.getLogger(__name__)


class Heartbeat:
    """``Keys.alive(worker)``, set every ``ttl / 3`` seconds while the worker runs. It beats
    from a thread: a reactor busy for seconds (an inline extraction, a long batch) is not a
    dead worker; a killed process stops beating at once."""

    def __init__(self, client, keys: Keys, worker: str, ttl: float):
        self.client, self.keys, self.worker, self.ttl = client, keys, worker, ttl
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.beat()
        self.client.sadd(self.keys.workers, self.worker)
        self.thread = threading.Thread(target=self.beat_until_stopped, daemon=True,
                                       name=f"heartbeat-{self.worker}")
        self.thread.start()

    def beat(self) -> None:
        self.client.set(self.keys.alive(self.worker), 1, px=int(self.ttl * 1000))

    def beat_until_stopped(self) -> None:
        while not self.stopped.wait(max(0.2, self.ttl / 3)):
            try:
                self.beat()
            except Exception as exc:  # noqa: BLE001 - Redis away for a moment: beat again
                logger.warning("Heartbeat failed: %s", exc)

    def stop(self) -> None:
        """Stop beating; a last beat must not land after the heartbeat key is deleted."""
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(5)


def every(jobs: Iterable[tuple[Callable[[], object], float]]) -> list[task.LoopingCall]:
    """Start each ``(call, period)`` on the reactor, first after one period."""
    loops = []
    for call, period in jobs:
        loop = task.LoopingCall(call)
        loop.start(period, now=False)
        loops.append(loop)
    return loops


def stop_all(loops: Iterable[task.LoopingCall]) -> None:
    for loop in loops:
        if loop.running:
            loop.stop()


def connect_worker(spider, settings) -> None:
    """A worker spider's Redis: its keys, client, outbox and the shared seen-set."""
    from scrapy_redis.dupefilter import RFPDupeFilter

    from . import connect
    from .outbox import Outbox

    spider.keys = Keys(settings.get("CRAWLER_REDIS_PREFIX"))
    spider.redis = connect(settings.get("REDIS_URL"))
    spider.outbox = Outbox(spider.redis, spider.keys, spider.worker_id,
                           settings.getint("CRAWLER_REDIS_FLUSH_SIZE"))
    spider.seen = RFPDupeFilter(spider.redis, spider.keys.seen)
    spider.heartbeat_ttl = settings.getfloat("CRAWLER_REDIS_HEARTBEAT")


def start_worker(spider, look: Callable[[], object]) -> None:
    """A worker spider's liveness: its heartbeat, and on the reactor its reaping of dead
    workers (``spider.reap``), its ``look`` at the queue and its outbox flushes."""
    spider.heartbeat = Heartbeat(spider.redis, spider.keys, spider.worker_id,
                                 spider.heartbeat_ttl)
    spider.heartbeat.start()
    s = spider.settings
    spider.loops = every(((spider.reap, max(0.2, spider.heartbeat_ttl / 3)),
                          (look, s.getfloat("CRAWLER_REDIS_POLL")),
                          (spider.outbox.flush, s.getfloat("CRAWLER_REDIS_FLUSH"))))


def stop_worker(spider) -> None:
    """Stop the loops and the heartbeat (the caller then releases the worker's leases)."""
    stop_all(getattr(spider, "loops", ()))
    if getattr(spider, "heartbeat", None):
        spider.heartbeat.stop()
