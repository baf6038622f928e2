"""Run one worker process, and put feeds into the shared queue."""
from __future__ import annotations

import json
import time
import warnings
from typing import Any

from . import Keys, connect, ensure_group
from .settings import DEFAULTS, worker_settings


def run_worker(redis_url: str, prefix: str, settings: dict[str, Any] | None = None) -> dict:
    """Crawl from the shared queue until stopped (or idle: CRAWLER_REDIS_IDLE_EXIT): the feed
    crawl (RedisFeedSpider) and, beside it in the same process, the site crawl
    (RedisSiteSpider) for the sites queued with ``crawler enqueue --site``."""
    from scrapy import signals
    from scrapy.crawler import Crawler, CrawlerProcess

    from crawler.runtime.crawl import project_settings, quiet_noisy_loggers, \
        raise_open_files_limit

    from .settings import site_worker_settings
    from .sites import RedisSiteSpider
    from .spider import RedisFeedSpider

    # scrapy-redis 0.9 still passes spider= to the stats collector (deprecated in Scrapy 2.13)
    warnings.filterwarnings("ignore", message="Passing a 'spider' argument to StatsCollector")
    project = project_settings()
    overrides = {**DEFAULTS, **worker_settings(redis_url, prefix,
                                               project.getdict("ITEM_PIPELINES"),
                                               project.getdict("DOWNLOADER_MIDDLEWARES")),
                 **(settings or {})}
    settings = project_settings(overrides)
    raise_open_files_limit()
    process = CrawlerProcess(settings)
    quiet_noisy_loggers(process.settings)
    crawler = process.create_crawler(RedisFeedSpider)
    sites = Crawler(RedisSiteSpider, site_worker_settings(settings))
    # one process, one idle decision: when one crawl stops (idle, nothing left anywhere), so
    # does the other; else a site crawl left alone waited for feeds no feed crawl would take.
    # weak=False: the dispatcher holds receivers weakly, and nothing else holds these closures
    # (a weak one was collected at once: the other crawl stopped on its own idle check, up to
    # Scrapy's 5 s heartbeat later, and the process with it)
    for one, other in ((crawler, sites), (sites, crawler)):
        one.signals.connect(_stop_with(other), signal=signals.spider_closed, weak=False)
    started = time.monotonic()
    process.crawl(crawler)
    process.crawl(sites)
    process.start()
    stats = [c.stats.get_stats() if c.stats else {} for c in (crawler, sites)]
    reason = str(stats[0].get("finish_reason") or "interrupted")
    total = lambda key: sum(int(s.get(key, 0)) for s in stats)  # noqa: E731
    return {
        "status": "finished" if reason == "finished" else reason,
        "elapsed": round(time.monotonic() - started, 2),
        "worker": getattr(crawler.spider, "worker_id", None),
        "pages": total("response_received_count"),
        "sent": total("news/articles_sent"),
        "feeds": int(stats[0].get("news/feeds_done", 0)),
        "sites": int(stats[1].get("news/sites_taken", 0)),
        "failed": total("news/articles_failed"),
        "round_trips": max(int(s.get("redis/round_trips", 0)) for s in stats),
    }


def _stop_with(other):
    """A spider_closed handler that closes ``other``'s spider too, for the same reason."""
    from scrapy.utils.defer import deferred_from_coro

    def stop(spider=None, reason: str = "finished") -> None:
        engine = other.engine
        slot = getattr(engine, "_slot", None)  # Scrapy has no public "is it closing yet"
        if engine is not None and engine.spider is not None and slot is not None \
                and slot.closing is None:
            deferred_from_coro(engine.close_spider_async(reason=reason))
    return stop


# Queue each feed (KEYS[1] the feed list) unless it is queued and not recorded by the writer yet
# (KEYS[2]); ARGV: feed URL, its JSON entry, ... Returns how many were queued.
_ENQUEUE = """
local queued = 0
for i = 1, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[1], ARGV[i + 1])
    queued = queued + 1
  end
end
return queued
"""


def enqueue(redis_url: str, prefix: str, feeds: list[str]) -> int:
    """Queue feed URLs for the workers, each once until the writer has recorded its fetch (a
    cron job queueing the due feeds again while the last ones are still on their way adds
    nothing); returns how many were queued now."""
    client = connect(redis_url)
    keys = Keys(prefix)
    ensure_group(client, keys)  # results sent before the writer first starts are kept
    if not feeds:
        return 0
    args = [x for url in feeds for x in (url, json.dumps({"url": url}))]
    return int(client.register_script(_ENQUEUE)(keys=[keys.start, keys.queued], args=args))


def due_feeds(db_path: str, feeds: list[str]) -> list[str]:
    """Those of ``feeds`` whose next fetch has come in the writer's database (all of them
    when it does not exist yet)."""
    from pathlib import Path

    from crawler import store

    if not Path(db_path).exists():
        return feeds
    db = store.open_db(db_path, readonly=True)
    try:
        return store.due_feeds(db, feeds, store.utcnow())
    finally:
        db.close()


def status(redis_url: str, prefix: str) -> dict[str, int]:
    """How far the distributed crawl is: queued feeds and requests, leases, results waiting."""
    client = connect(redis_url)
    keys = Keys(prefix)
    workers = [w.decode() for w in client.smembers(keys.workers)]
    alive = [w for w in workers if client.exists(keys.alive(w))]
    return {
        "feeds queued": client.llen(keys.start),
        "sites queued": client.llen(keys.sites),
        "feeds not yet recorded": client.scard(keys.queued),
        "requests queued": client.zcard(keys.requests),
        "URLs seen": client.scard(keys.seen),
        "workers alive": len(alive),
        "requests in flight": sum(client.hlen(keys.inflight(w)) for w in workers),
        "results waiting": client.xlen(keys.results) if client.exists(keys.results) else 0,
    }
