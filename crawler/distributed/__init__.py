"""Scale out on Redis: many crawler processes on many machines, one frontier, one SQLite writer.

``crawler worker`` processes share scrapy-redis's request queue and seen-URL filter, so each URL
is fetched once across all of them; they fetch, extract and sketch (the usual ExtractPipeline)
and send every result (article with its fingerprint, failure, feed state, feed link) into one
Redis stream. ``crawler store`` is the single writer: it reads the stream with a consumer group,
writes through the same code path as a local crawl (``crawler.runtime.pipelines.store_page``), gives
each new article its story (the story index lives with the writer, in SQLite) and acknowledges
the entries only after the SQLite commit. Nothing is lost when a process dies: a worker's
requests in flight are leased and go back to the queue when its heartbeat stops; the writer's
unacknowledged entries are claimed again by the next writer.

This package imports scrapy_redis and redis; nothing outside it does, so a plain
``crawler crawl`` needs neither.
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "crawler"


@dataclass(frozen=True)
class Keys:
    """The Redis keys of one distributed crawl; ``prefix`` lets several crawls share a server."""

    prefix: str = DEFAULT_PREFIX

    @property
    def start(self) -> str:
        """List of feeds to fetch, JSON ``{"url": ...}`` (scrapy-redis's start URLs)."""
        return f"{self.prefix}:start"

    @property
    def requests(self) -> str:
        """scrapy-redis's request queue (sorted set of serialized requests)."""
        return f"{self.prefix}:requests"

    @property
    def seen(self) -> str:
        """scrapy-redis's RFPDupeFilter set: every request fingerprint ever scheduled."""
        return f"{self.prefix}:seen"

    @property
    def sites(self) -> str:
        """List of sites to scrape, JSON ``{"url": ..., options}`` (``crawler enqueue --site``)."""
        return f"{self.prefix}:sites"

    @property
    def results(self) -> str:
        """The stream workers send results to and the writer reads (consumer group WRITER_GROUP)."""
        return f"{self.prefix}:results"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    def alive(self, worker: str) -> str:
        """A worker's heartbeat key; it expires when the worker stops beating."""
        return f"{self.prefix}:alive:{worker}"

    def inflight(self, worker: str) -> str:
        """Hash lease id -> serialized request: what the worker took and has not finished."""
        return f"{self.prefix}:inflight:{worker}"

    @property
    def writer(self) -> str:
        """The single writer's lock."""
        return f"{self.prefix}:writer"

    @property
    def wake(self) -> str:
        """List a worker pushes to as it stops: wakes the writer from its wait for a batch to
        fill, so the writer notices the end of the crawl at once."""
        return f"{self.prefix}:wake"

    @property
    def feeds(self) -> str:
        """Hash feed URL -> JSON {etag, last_modified}: conditional GETs for the workers."""
        return f"{self.prefix}:feeds"

    def slot(self, site: str) -> str:
        """A site's shared politeness slot: the time (ms) its next request may start."""
        return f"{self.prefix}:slot:{site}"

    @property
    def delays(self) -> str:
        """Hash site -> delay (ms) between its requests, as the workers' AutoThrottle sets it."""
        return f"{self.prefix}:delays"

    @property
    def site_counts(self) -> str:
        """Hash site -> requests queued so far: the queue's score, so sites take turns."""
        return f"{self.prefix}:sitecount"

    @property
    def queued(self) -> str:
        """Set of feeds queued and not yet recorded by the writer (`enqueue --due` skips them)."""
        return f"{self.prefix}:queued"

    @property
    def links(self) -> str:
        """Hash article URL -> JSON list of feeds that list it, for articles not stored yet."""
        return f"{self.prefix}:links"


WRITER_GROUP = "writer"


def connect(url: str):
    """A redis-py client for ``url`` (redis://host:port/db), checked with PING."""
    import redis

    from crawler.errors import UserError

    client = counting_client_class().from_url(url, socket_timeout=30, socket_connect_timeout=10,
                                              retry_on_timeout=True)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise UserError(f"cannot reach Redis at {url}: {exc}") from exc
    return client


def ensure_group(client, keys: Keys) -> None:
    """Create the writer's consumer group from the stream's start (idempotent)."""
    import redis

    try:
        client.xgroup_create(keys.results, WRITER_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


_COUNTING = None


def counting_client_class():
    """redis.Redis that counts its round trips (a pipeline is one) in ``round_trips``, for
    every client of the process: ours and scrapy-redis's (REDIS_PARAMS redis_cls)."""
    global _COUNTING
    if _COUNTING is None:
        import redis
        from redis.client import Pipeline

        class CountingPipeline(Pipeline):
            def execute(self, raise_on_error: bool = True):
                if self.command_stack:
                    CountingRedis.round_trips += 1
                return super().execute(raise_on_error)

        class CountingRedis(redis.Redis):
            round_trips = 0

            def execute_command(self, *args, **options):
                CountingRedis.round_trips += 1
                return super().execute_command(*args, **options)

            def pipeline(self, transaction: bool = True, shard_hint=None):
                return CountingPipeline(self.connection_pool, self.response_callbacks,
                                        transaction, shard_hint)

        _COUNTING = CountingRedis
    return _COUNTING


def round_trips() -> int:
    """Round trips to Redis made by this process so far."""
    return counting_client_class().round_trips


def __getattr__(name: str):
    if name == "CountingRedis":  # importable by path for scrapy-redis's REDIS_PARAMS
        return counting_client_class()
    raise AttributeError(name)
