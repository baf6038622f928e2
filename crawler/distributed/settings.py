"""Settings of a distributed crawl: scrapy-redis's scheduler and filter, and our own defaults.

The defaults are documented here (and in the README); ``-s NAME=VALUE`` overrides any of them.
"""
from __future__ import annotations

from typing import Any

from . import DEFAULT_PREFIX, Keys

DEFAULTS: dict[str, Any] = {
    #: Namespace of the crawl's Redis keys (several crawls can share one server).
    "CRAWLER_REDIS_PREFIX": DEFAULT_PREFIX,
    #: Seconds a worker's heartbeat lives; a worker silent this long is dead and the requests it
    #: held go back to the queue (it beats three times per period).
    "CRAWLER_REDIS_HEARTBEAT": 30.0,
    #: A worker (and `crawler store --idle-exit`) stops after this many seconds with nothing
    #: left to do anywhere; 0: keep waiting for new feeds (a service).
    "CRAWLER_REDIS_IDLE_EXIT": 0.0,
    #: Seconds between an idle worker's looks at the shared queue (Scrapy alone: 5).
    "CRAWLER_REDIS_POLL": 0.5,
    #: Seconds a worker that found the shared queue empty waits before asking it again.
    "CRAWLER_REDIS_EMPTY_PAUSE": 0.2,
    #: Requests a worker takes from the shared queue in one round trip; they are leased to it
    #: until done.
    "CRAWLER_REDIS_POP_BATCH": 8,
    #: Feeds a worker takes from the feed list at once, when fewer than two requests per
    #: CONCURRENT_REQUESTS are queued.
    "CRAWLER_REDIS_FEED_BATCH": 16,
    #: Sites a worker scrapes at once (`crawler enqueue --site`); it takes one per look at the
    #: queue, so the workers share them.
    "CRAWLER_REDIS_SITES": 4,
    #: Seconds between a worker's looks at the site list once it found it empty (a look is a
    #: round trip; a site scrape is a long job that may start a second later).
    "CRAWLER_REDIS_SITE_POLL": 2.0,
    #: A worker's writes (results, released leases) go to Redis in one MULTI/EXEC every this
    #: many seconds, or at CRAWLER_REDIS_FLUSH_SIZE commands (new requests at once); a killed
    #: worker's unflushed pages are fetched again (their leases were not released).
    "CRAWLER_REDIS_FLUSH": 2.0,
    "CRAWLER_REDIS_FLUSH_SIZE": 200,
    #: A request that reaches the download this many seconds after its reserved start (it
    #: waited for robots.txt or a busy reactor) reserves a new one: it would start inside
    #: another worker's reservation, closer to it than the site's delay.
    "CRAWLER_REDIS_SLOT_LATE": 0.05,
    #: Seconds the writer's lock lives unless renewed; a restarted writer waits at most this.
    "CRAWLER_REDIS_WRITER_TTL": 15.0,
}

STORE_PIPELINE = "crawler.runtime.pipelines.StorePipeline"
PUSH_PIPELINE = "crawler.distributed.pipelines.RedisPushPipeline"


def worker_settings(redis_url: str, prefix: str, pipelines: dict[str, int],
                    middlewares: dict[str, int] | None = None) -> dict[str, Any]:
    """What turns a local crawl into a worker: scrapy-redis's Scheduler with our leased queue,
    its RFPDupeFilter as the shared seen-filter, kept between runs (SCHEDULER_PERSIST); no
    database; the results go to Redis instead of StorePipeline."""
    keys = Keys(prefix)
    middlewares = dict(middlewares or {})
    pipelines = dict(pipelines)
    order = pipelines.pop(STORE_PIPELINE, 800)
    pipelines[PUSH_PIPELINE] = order
    return {
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "SCHEDULER_QUEUE_CLASS": "crawler.distributed.leases.LeasedQueue",
        "DUPEFILTER_CLASS": "crawler.distributed.leases.SeenInQueue",
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_KEY": keys.requests,
        "SCHEDULER_DUPEFILTER_KEY": keys.seen,
        "REDIS_START_URLS_KEY": keys.start,
        "REDIS_URL": redis_url,
        # scrapy-redis's clients count their round trips like ours (crawler.distributed)
        "REDIS_PARAMS": {"redis_cls": "crawler.distributed.CountingRedis"},
        "CRAWLER_REDIS_PREFIX": prefix,
        "CRAWLER_DB": "",
        "ITEM_PIPELINES": pipelines,
        # one politeness budget per site across all workers (crawler.distributed.politeness);
        # the shared slot spaces the starts exactly, so no local random jitter on top
        "DOWNLOAD_DELAY_JITTER": 0,
        "DOWNLOADER_MIDDLEWARES": {
            **middlewares,
            "crawler.fetch.politeness.RetryAfterMiddleware": None,
            "crawler.distributed.politeness.SharedRetryAfterMiddleware": 560,
            "crawler.distributed.politeness.SharedSlotMiddleware": 990,
        },
    }


def site_worker_settings(settings):
    """The worker's site crawl (crawler.distributed.sites): the feed crawl's ``settings`` with
    Scrapy's own scheduler and filter, as a site's requests stay with the worker that took
    the site. Above the command line's priority: CrawlerProcess.crawl applies the process's
    settings (the feed crawl's scheduler) to every crawler up to that priority."""
    from scrapy.settings import default_settings

    settings = settings.copy()
    for name in ("SCHEDULER", "DUPEFILTER_CLASS"):
        settings.set(name, getattr(default_settings, name), priority=SITE_PRIORITY)
    return settings


SITE_PRIORITY = 45  # between "cmdline" (40) and nothing: Scrapy's priorities are numbers
