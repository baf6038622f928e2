"""``crawler store``: the single SQLite writer of a distributed crawl.

Reads the results stream with a consumer group (XREADGROUP), writes each batch in one SQLite
transaction through the local crawl's own write path (``crawler.runtime.pipelines.store_page``: the
articles, their feeds, their stories), and acknowledges the entries (XACK, then XDEL) only after
the commit. A writer killed before its XACK leaves the entries pending; the next writer claims
them (XAUTOCLAIM) and writes them again, which stores nothing twice (articles.url is unique).
A Redis lock keeps writers single, so the story index (in SQLite, next to the articles) has one
owner.
"""
from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import time
import uuid
from collections import Counter
from typing import Any, Callable

from datetime import datetime, timezone

from crawler import schedule, store
from crawler.dedup import DedupParams
from crawler.dedup.stories import StoryAssigner
from crawler.errors import UserError
from crawler.runtime.pipelines import store_page

from . import WRITER_GROUP, Keys, ensure_group, round_trips
from .messages import decode

logger = logging.getLogger(__name__)

VALIDATORS = ("etag", "last_modified", "body_hash")  # what Keys.feeds holds per feed
MAX_BLPOP = 10.0  # seconds the writer's wait for a batch blocks in Redis at most

_REFRESH = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder then return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) and 1 or 0 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class WriterLock:
    """Only one writer per crawl (prefix): a Redis key with a token and a time to live that the
    holder renews; a killed writer's lock expires after ``ttl`` seconds."""

    def __init__(self, client, key: str, ttl: float):
        self.client, self.key, self.ttl_ms = client, key, int(ttl * 1000)
        self.token = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._refresh = client.register_script(_REFRESH)
        self._release = client.register_script(_RELEASE)
        self.renewed = 0.0

    def acquire(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            if time.monotonic() >= deadline:
                holder = (self.client.get(self.key) or b"?").decode()
                raise UserError(f"another writer ({holder}) is storing this crawl; "
                                f"one writer per Redis prefix")
            time.sleep(0.2)
        self.renewed = time.monotonic()

    def renew(self) -> None:
        if time.monotonic() - self.renewed < self.ttl_ms / 3000:
            return
        # a lock that expired while this writer was busy is taken back, unless another has it
        if not self._refresh(keys=[self.key], args=[self.token, self.ttl_ms]):
            holder = (self.client.get(self.key) or b"?").decode()
            raise UserError(f"another writer ({holder}) took over while this one stalled")
        self.renewed = time.monotonic()

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.token])


class TimedAssigner:
    """The story index with a stopwatch: what one writer spends on stories per article."""

    def __init__(self, assigner: StoryAssigner):
        self.assigner = assigner
        self.seconds = 0.0
        self.calls = 0

    def add(self, article_id: int, fp) -> int:
        started = time.perf_counter()
        try:
            return self.assigner.add(article_id, fp)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


class Writer:
    """Drain the results stream into one SQLite database."""

    def __init__(self, client, keys: Keys, db, params: DedupParams, *, crawl_id: int,
                 batch_size: int = 100, batch_seconds: float = 1.0, min_words: int = 1,
                 policy: schedule.Policy | None = None):
        self.client = client
        self.keys = keys
        self.db = db
        self.assigner = TimedAssigner(StoryAssigner(db, params))
        self.crawl_id = crawl_id
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.min_words = min_words
        self.policy = policy
        self.consumer = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.stats: Counter = Counter()
        self.acks = None  # the last batch's acknowledgements, sent with the next read
        self.short = False  # the last read was short: wait for a batch to fill up
        self.links: dict[str, set] = {}
        self.saw_workers = False  # a worker was alive (or sent results) during this run
        self.woken = False  # a worker stopped (Keys.wake) since the last look at the crawl

    # ------------------------------------------------------------ reading
    def claim_pending(self) -> int:
        """Take over every entry a dead writer read but never acknowledged."""
        claimed, cursor = 0, "0-0"
        while True:
            cursor, entries, *_ = self.client.xautoclaim(
                self.keys.results, WRITER_GROUP, self.consumer, min_idle_time=0,
                start_id=cursor, count=self.batch_size)
            claimed += len(entries)
            if cursor in (b"0-0", "0-0"):
                return claimed

    def read(self, pending: bool, block_ms: int) -> list[tuple[bytes, dict | None]]:
        """Entries of this consumer's own pending list (``pending``) or new ones. After a short
        batch the writer first waits CRAWLER_STORE_BATCH_SECONDS (XREADGROUP answers at the
        first entry), so a trickle of results costs one round trip (this read, carrying the
        previous batch's acknowledgements) and one transaction per batch, not per article. The
        wait is a BLPOP on ``Keys.wake`` in the same round trip as the read: a worker that stops
        ends it, so the end of a crawl is noticed at once."""
        wait = self.batch_seconds if not pending and self.short else 0.0
        if wait > MAX_BLPOP:  # the client's socket timeout (30 s) must not cut the BLPOP
            time.sleep(wait - MAX_BLPOP)
            wait = MAX_BLPOP
        entries = self._read(pending, self.batch_size, block_ms, wait)
        # an empty read has waited (blocked) already: the next one blocks at once
        self.short = 0 < len(entries) < self.batch_size
        return entries

    def _read(self, pending: bool, count: int, block_ms: int | None, wait: float = 0.0) -> list:
        pipe = self.acks if self.acks is not None else self.client.pipeline(transaction=False)
        self.acks = None
        if wait:  # a pipeline, not MULTI: the BLPOP blocks, then the read runs (at once)
            pipe.blpop([self.keys.wake], timeout=wait)
            block_ms = None
        pipe.xreadgroup(WRITER_GROUP, self.consumer,
                        {self.keys.results: "0" if pending else ">"},
                        count=count, block=None if pending else block_ms)
        pipe.lpop(self.keys.wake)  # a worker that stopped while the read blocked
        *answers, read, woken = pipe.execute()
        self.woken = self.woken or bool(woken) or bool(wait and answers[-1])
        return read[0][1] if read else []

    def flush_acks(self) -> None:
        """Send the acknowledgements still waiting for the next read."""
        if self.acks is not None:
            self.acks.execute()
            self.acks = None

    def load_links(self) -> None:
        """The links to articles not stored yet, kept in Redis for the next writer, and here
        (one writer per crawl) so a batch needs no round trip to look them up."""
        self.links = {url.decode(): set(json.loads(feeds))
                      for url, feeds in self.client.hgetall(self.keys.links).items()}

    # ------------------------------------------------------------ writing
    def write(self, entries: list[tuple[bytes, dict | None]]) -> None:
        """One SQLite transaction for the batch, then XACK: a crash in between only redoes it."""
        messages = [decode(fields) for _, fields in entries if fields]  # None: deleted entry
        articles = [m for m in messages if m["kind"] == "article"]
        links = [m for m in messages if m["kind"] == "link"]
        wanted = {m["page"].url for m in articles} | {m["url"] for m in links}
        waiting = {url: self.links[url] for url in wanted if url in self.links}
        resolved: set[str] = set()
        with store.transaction(self.db):
            for m in articles:
                page = m["page"]
                feeds = set(m["feeds"]) | set(waiting.get(page.url, ()))
                resolved.add(page.url)
                self.count(store_page(self.db, self.assigner, page, m["article"], feeds=feeds,
                                      crawl_id=self.crawl_id, keep_html=bool(page.body),
                                      min_words=self.min_words))
            for m in messages:
                if m["kind"] == "failure":
                    fields = {k: v for k, v in m.items() if k not in ("kind", "what")}
                    store.record_failure(self.db, crawl_id=self.crawl_id, kind=m["what"],
                                         **fields)
                    self.count([f"reason/{m['reason']}"]
                               + (["articles_failed"] if m["what"] == "article" else []))
                elif m["kind"] == "feed":
                    self.feed_fetched(m)
                elif m["kind"] == "validators":
                    store.update_feed(self.db, m["url"], etag=m["etag"],
                                      last_modified=m["last_modified"],
                                      body_hash=m.get("body_hash"))
            # as in a local crawl, a feed with an article that failed keeps no body hash:
            # its next fetch reads it again and retries the article
            failed = {}
            for url in {m["feed_url"] for m in messages if m["kind"] == "failure"
                        and m["what"] == "article" and m.get("feed_url")}:
                feed = store.get_feed(self.db, url)
                if feed is not None:  # not a sitemap
                    store.update_feed(self.db, url, body_hash=None)
                    failed[url] = {**{k: feed.get(k) for k in VALIDATORS}, "body_hash": None}
            unresolved = self.link_all(links, waiting, resolved)
        validators = {m["url"]: {k: m.get(k) for k in VALIDATORS}
                      for m in messages if m["kind"] == "validators"}
        for url, fields in failed.items():
            validators[url] = {**validators.get(url, fields), "body_hash": None}
        validators = {url: v for url, v in validators.items()
                      if any(v.values()) or url in failed}
        validators = {url: json.dumps(v) for url, v in validators.items()}
        ids = [entry_id for entry_id, _ in entries]
        # After the commit, sent with the next read: a writer killed before that only writes
        # the batch again (idempotent).
        pipe = self.acks if self.acks is not None else self.client.pipeline(transaction=False)
        pipe.xack(self.keys.results, WRITER_GROUP, *ids).xdel(self.keys.results, *ids)
        done = resolved & set(waiting)
        if done:
            pipe.hdel(self.keys.links, *done)
            for url in done:
                self.links.pop(url, None)
        if unresolved:
            pipe.hset(self.keys.links, mapping={u: json.dumps(sorted(f))
                                                for u, f in unresolved.items()})
            self.links.update(unresolved)
        if validators:
            pipe.hset(self.keys.feeds, mapping=validators)
        fetched = [m["url"] for m in messages if m["kind"] == "feed"]
        if fetched:  # `enqueue --due` may queue them again
            pipe.srem(self.keys.queued, *fetched)
        self.acks = pipe
        self.stats["entries"] += len(entries)

    def feed_fetched(self, m: dict) -> None:
        """Record a feed's fetch and schedule its next one as a local crawl does
        (crawler.schedule), from the new entries its worker queued."""
        fields = {k: v for k, v in m.items() if k not in ("kind", "url", "n_new")}
        store.feed_fetched(self.db, m["url"], **fields)
        if self.policy is not None:
            feed = store.get_feed(self.db, m["url"])
            n_new = m.get("n_new") or 0
            outcome = {**feed, "n_new": n_new, "newest": store.utcnow() if n_new else None}
            update = schedule.plan_updates({m["url"]: outcome}, self.policy,
                                           datetime.now(timezone.utc))
            store.update_feed(self.db, m["url"], **update[m["url"]])
        self.count(["feeds_done"] + (["feeds_unchanged"] if m.get("status") == 304 else [])
                   + (["feeds_failed"] if m.get("error") else ["feeds_ok"]))

    def link_all(self, links: list[dict], waiting: dict, resolved: set[str]) -> dict[str, set]:
        """Link known articles to one more feed; keep links to articles not stored yet (another
        worker is still on them) in Redis until their article arrives."""
        unresolved: dict[str, set] = {}
        for m in links:
            url = m["url"]
            feeds = {m["feed_url"]} | set(waiting.get(url, ())) | unresolved.pop(url, set())
            article_id = store.article_id_for(self.db, url)
            if article_id is None:
                unresolved[url] = feeds
                continue
            for feed_url in feeds:
                store.link_article_feed(self.db, article_id, feed_url)
            resolved.add(url)
            self.count(["articles_known"])
        return unresolved

    def count(self, keys: list[str]) -> None:
        for key in keys:
            self.stats[f"news/{key}"] += 1

    # ------------------------------------------------------------ the loop
    def crawl_state(self) -> tuple[int, int]:
        """Work queued (feeds, sites, requests) and workers alive, in one round trip."""
        k = self.keys
        workers = [w.decode() for w in self.client.smembers(k.workers)]
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(k.start).llen(k.sites).zcard(k.requests)
        for worker in workers:
            pipe.exists(k.alive(worker))
        answer = pipe.execute()
        return sum(answer[:3]), sum(answer[3:])

    def done(self) -> bool:
        """No result can come any more: no worker is alive and nothing is queued, or the
        workers this writer saw (alive, or by their results) have all stopped (what they left
        queued waits for the next ones; a writer that waited for it would never stop)."""
        queued, alive = self.crawl_state()
        self.woken = False  # the next worker to stop wakes the writer again
        if alive:
            self.saw_workers = True
            return False
        if queued and self.saw_workers:
            logger.warning("No worker is alive: %d feeds, sites and requests stay queued for "
                           "the next ones", queued)
        return not queued or self.saw_workers

    def run(self, lock: WriterLock, idle_exit: float = 0.0, block: float | None = None,
            progress: Callable[[str], None] | None = None, interval: float = 5.0) -> None:
        """Write until stopped (or, with ``idle_exit``, until :meth:`done`: asked at the first
        empty read after one of the workers it saw stopped (Keys.wake), as they waited
        ``idle_exit`` already, or after ``idle_exit`` seconds with nothing). An empty read blocks
        ``block`` seconds (default: 1 s, at most a quarter of ``idle_exit``), so it stops soon
        after the last worker."""
        if block is None:
            block = max(0.05, min(1.0, idle_exit / 4)) if idle_exit else 1.0  # BLOCK 0: forever
        self.stats["claimed"] = self.claim_pending()
        self.load_links()
        started = time.monotonic()
        pending, last_work, last_report = True, started, started
        while True:
            lock.renew()
            entries = self.read(pending, int(block * 1000))
            if entries:
                lock.renew()
                self.write(entries)
                last_work = time.monotonic()
                self.saw_workers = True  # results come from workers
            elif pending:
                pending = False  # own backlog done: from now on new entries
            elif idle_exit and (self.woken and self.saw_workers
                                or time.monotonic() - last_work >= idle_exit) and self.done():
                # A worker sends its last results before it deregisters: they are in the
                # stream now, unless they arrived after the empty read. One last look.
                entries = self._read(False, self.batch_size, None)
                if not entries:
                    self.flush_acks()
                    return
                self.write(entries)
                last_work = time.monotonic()
            if progress and time.monotonic() - last_report >= interval:
                last_report = time.monotonic()
                progress(self.progress_line(last_report - started))

    def progress_line(self, elapsed: float) -> str:
        """What the writer does: results stored, and the backlog still in the stream."""
        get = lambda k: self.stats.get(f"news/{k}", 0)  # noqa: E731
        backlog = self.client.xlen(self.keys.results)
        return (f"[{elapsed:5.0f}s] writer: stored {get('articles_new')} new, "
                f"{get('articles_known')} known, {get('articles_failed')} failed articles "
                f"({self.stats['entries'] / max(elapsed, 1e-9):.1f} results/s) · feeds "
                f"{get('feeds_done')} · backlog {backlog} results in the stream")


def run_writer(redis_url: str, db_path: str, *, prefix: str, settings: dict[str, Any],
               idle_exit: float = 0.0, quiet: bool = False) -> dict:
    """Open the database and the stream, write until done; returns the crawl summary."""
    from crawler.runtime.crawl import project_settings, summarize
    from crawler.store.lock import CrawlLock

    from . import connect

    s = project_settings(settings)
    client = connect(redis_url)
    keys = Keys(prefix)
    lock = WriterLock(client, keys.writer, s.getfloat("CRAWLER_REDIS_WRITER_TTL"))
    with CrawlLock(db_path, wait=s.getfloat("CRAWLER_LOCK_WAIT")):
        lock.acquire(wait=s.getfloat("CRAWLER_REDIS_WRITER_TTL") + 1)
        db = store.open_db(db_path)
        crawl_id = store.start_crawl(db, "redis", {"redis": _safe_url(redis_url),
                                                   "prefix": prefix})
        ensure_group(client, keys)
        publish_validators(client, keys, db)
        writer = Writer(client, keys, db, DedupParams.from_settings(s), crawl_id=crawl_id,
                        batch_size=s.getint("CRAWLER_STORE_BATCH_SIZE"),
                        batch_seconds=s.getfloat("CRAWLER_STORE_BATCH_SECONDS"),
                        min_words=s.getint("CRAWLER_MIN_WORDS"),
                        policy=schedule.Policy.from_settings(s))
        started, status = time.monotonic(), "interrupted"
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            writer.run(lock, idle_exit=idle_exit,
                       progress=None if quiet else lambda line: print(line, file=sys.stderr))
            status = "finished"
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            writer.flush_acks()
            lock.release()
            stats = dict(writer.stats)
            stats["response_received_count"] = stats.get("news/articles_new", 0) + \
                stats.get("news/articles_known", 0) + stats.get("news/articles_failed", 0)
            summary = summarize(db, crawl_id, stats, time.monotonic() - started)
            store.finish_crawl(db, crawl_id, status, summary["counts"])
            db.close()
    summary["status"] = status
    summary["entries"] = writer.stats["entries"]
    summary["claimed"] = writer.stats["claimed"]
    summary["round_trips"] = round_trips()
    summary["story_ms"] = 1000 * writer.assigner.seconds / max(writer.assigner.calls, 1)
    return summary


def publish_validators(client, keys: Keys, db) -> None:
    """Stored ETag, Last-Modified and body hash of every feed, for the workers' conditional
    GETs and their check for an unchanged body."""
    rows = db.execute("SELECT url, etag, last_modified, body_hash FROM feeds WHERE etag IS NOT "
                      "NULL OR last_modified IS NOT NULL OR body_hash IS NOT NULL").fetchall()
    validators = {row[0]: dict(zip(VALIDATORS, row[1:])) for row in rows}
    if validators:
        client.hset(keys.feeds, mapping={url: json.dumps(v) for url, v in validators.items()})


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _safe_url(url: str) -> str:
    """The Redis URL without its password, for the `crawls` row."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}:{parts.port or 6379}"
        return urlunsplit(parts._replace(netloc=netloc))
    return url
