"""Thin item pipelines: extract (and sketch) off the reactor, then store and cluster in batches.

``ExtractPipeline`` sends each fetched page to a process pool, so trafilatura's CPU time uses
every core and never stalls downloads. ``StorePipeline`` writes articles in short batched
transactions and gives each new article its story; a crash loses at most the batch in flight,
whose pages are not stored and so are fetched again by the next run.
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from twisted.internet import task

from crawler import settings as defaults, store
from crawler.store.errors import fatal_database_error
from crawler.dedup import DedupParams
from crawler.dedup.sketch import fingerprint
from crawler.dedup.stories import StoryAssigner
from crawler.items import FeedLink, Page
from crawler.fetch.jobs import discard_cached, resume_cache_dir
from crawler.fetch.middlewares import stop_for_database
from crawler.fetch.urls import canonicalize, site_of
from crawler.runtime.workers import context as workers_context, usable_cores


def analyse_page(body: bytes, url: str, encoding: str | None, params: DedupParams,
                 keep_html: bool = False) -> dict:
    """Extract the article of a page and sketch its text; runs in a worker process.

    With ``keep_html`` the page is also gzipped here (``html_gz``): compressing a 200 KB page
    takes milliseconds that the main process, which runs the reactor, should not spend.
    """
    from crawler.extract.article import extract_article  # trafilatura: imported by the workers only
    article = extract_article(body, url, encoding=encoding)
    if article.get("text"):
        article["fingerprint"] = fingerprint(article["text"], title=article.get("title"),
                                             params=params)
    if keep_html:
        article["html_gz"] = gzip.compress(body)
    return article


class ExtractPipeline:
    """Page -> article fields + text fingerprint, computed in a pool of worker processes."""

    def __init__(self, crawler, workers: int, params: DedupParams, queue_per_worker: int,
                 keep_html: bool):
        self.crawler = crawler
        self.workers = workers
        self.params = params
        self.keep_html = keep_html
        self.pool: ProcessPoolExecutor | None = None
        self.started: asyncio.Future | None = None
        # Pages handed to the pool at once: enough that every worker still has pages queued
        # while the reactor writes a batch (up to ~0.3 s late in a 10,000-page crawl), few
        # enough that memory stays flat when pages arrive faster than they are extracted.
        # Pages beyond it wait in Scrapy's scraper, which stops downloading above
        # SCRAPER_SLOT_MAX_ACTIVE_SIZE bytes.
        self.slots = asyncio.Semaphore(max(2, queue_per_worker * workers))

    @staticmethod
    def pool_size(settings) -> tuple[int, int]:
        """Extraction processes and pages handed to each at once, from the settings."""
        workers = settings.get("CRAWLER_EXTRACT_WORKERS")
        workers = len(usable_cores()) if workers is None else int(workers)
        return workers, settings.getint("CRAWLER_EXTRACT_QUEUE", defaults.CRAWLER_EXTRACT_QUEUE)

    @classmethod
    def slots_for(cls, settings) -> int:
        """Pages the pool takes at once (the semaphore's size)."""
        workers, queue = cls.pool_size(settings)
        return max(2, queue * workers)

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        workers, queue = cls.pool_size(s)
        return cls(crawler, workers, DedupParams.from_settings(s), queue,
                   s.getbool("CRAWLER_KEEP_HTML"))

    def open_spider(self) -> None:
        if self.workers > 0:
            # The workers fork from a server that imports and warms up trafilatura once
            # (crawler.runtime.workers). Until it is ready (~2 s, less when the command line started
            # it early) spawning a worker blocks: the workers are started from a thread, and
            # pages wait for it, not the reactor.
            self.pool = ProcessPoolExecutor(self.workers, mp_context=workers_context())
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # not in the reactor (tests): started with the first page
                return
            self.start_workers()

    def start_workers(self) -> asyncio.Future:
        """All workers spawned (ProcessPoolExecutor spawns one per submit, on demand)."""
        if self.started is None:
            self.started = asyncio.ensure_future(asyncio.to_thread(self._spawn))
        return self.started

    def _spawn(self) -> None:
        for future in [self.pool.submit(int) for _ in range(self.workers)]:
            future.result()

    def close_spider(self) -> None:
        if self.pool:
            self.pool.shutdown(wait=True, cancel_futures=True)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Page):
            return item
        args = (item.body, item.fetched_url, item.encoding, self.params, self.keep_html)
        if self.pool is None:
            article = analyse_page(*args)
        else:
            await self.start_workers()
            async with self.slots:
                article = await self.analyse(args)
        item.body = b""  # extracted (and gzipped if kept): the batch holds rows, not pages
        return {"page": item, "article": article}

    def analyse(self, args: tuple) -> asyncio.Future:
        return asyncio.wrap_future(self.pool.submit(analyse_page, *args))

    async def run_in_pool(self, func, *args: Any) -> Any:
        """``func(*args)`` in a worker (big feeds: crawler.fetch.feedread); needs ``self.pool``."""
        await self.start_workers()
        return await asyncio.wrap_future(self.pool.submit(func, *args))


class StorePipeline:
    """Write articles in batches, link them to their feeds, give each new article its story."""

    def __init__(self, crawler, db_path: str, batch_size: int, batch_seconds: float,
                 keep_html: bool, params: DedupParams, min_words: int = 1):
        self.crawler = crawler
        self.min_words = min_words
        self.db_path = db_path
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.keep_html = keep_html
        self.params = params
        self.batch: list[dict] = []
        self.links: list[FeedLink] = []  # known articles listed by a feed, linked per batch
        self.timer: task.LoopingCall | None = None
        self.cache_dir = resume_cache_dir(crawler.settings)

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        return cls(crawler, s.get("CRAWLER_DB"), s.getint("CRAWLER_STORE_BATCH_SIZE"),
                   s.getfloat("CRAWLER_STORE_BATCH_SECONDS"), s.getbool("CRAWLER_KEEP_HTML"),
                   DedupParams.from_settings(s), s.getint("CRAWLER_MIN_WORDS"))

    def open_spider(self) -> None:
        self.db = store.open_db(self.db_path)
        self.assigner = StoryAssigner(self.db, self.params)
        self.crawl_id = self.crawler.settings.getint("CRAWLER_CRAWL_ID") or None
        self.timer = task.LoopingCall(self.flush)
        self.timer.start(self.batch_seconds, now=False)

    def close_spider(self) -> None:
        if self.timer and self.timer.running:
            self.timer.stop()
        self.flush()
        self.db.close()

    def process_item(self, item: Any) -> Any:
        if isinstance(item, FeedLink):
            self.links.append(item)
            if len(self.links) >= self.batch_size * 20:
                self.flush()
        elif isinstance(item, dict) and "article" in item:
            self.batch.append(item)
            if len(self.batch) >= self.batch_size:
                self.flush()
        return item

    @property
    def spider(self):
        return self.crawler.spider

    def count(self, key: str) -> None:
        self.crawler.stats.inc_value(f"news/{key}")

    def link_known(self, link: FeedLink) -> None:
        """A feed lists an article stored earlier: remember that this feed carries it too."""
        article_id = store.article_id_for(self.db, link.url)
        if article_id is not None:
            store.link_article_feed(self.db, article_id, link.feed_url)

    def flush(self) -> None:
        """Write the batch (and the links of known articles to their feeds) in one
        transaction: all of it lands, or none of it."""
        batch, self.batch = self.batch, []
        links, self.links = self.links, []
        if not batch and not links:
            return
        try:
            with store.transaction(self.db):
                for link in links:
                    self.link_known(link)
                stored = [done["page"].cache_key for done in batch
                          if self.store_one(done["page"], done["article"])]
        except (sqlite3.Error, OSError) as exc:  # disk full, read-only: stop, store nothing half
            self.database_failed(exc)
            return
        if self.cache_dir:
            discard_cached(self.cache_dir, self.spider.name, [key for key in stored if key])

    def database_failed(self, exc: Exception) -> None:
        """Stop the crawl if the database cannot be written any more; re-raise anything else."""
        message = fatal_database_error(exc, self.db_path)
        if message is None:
            raise exc
        stop_for_database(self.crawler, message)

    def store_one(self, page: Page, article: dict) -> bool:
        """Store one page; True if its article is in the database now."""
        feeds = self.spider.feeds_of.get(page.url, ())
        keys = store_page(self.db, self.assigner, page, article, feeds=feeds,
                          crawl_id=self.crawl_id, keep_html=self.keep_html,
                          min_words=self.min_words)
        for key in keys:
            self.count(key)
        return "articles_failed" not in keys


def store_page(db, assigner: StoryAssigner, page: Page, article: dict, *, feeds=(),
               crawl_id: int | None = None, keep_html: bool = False,
               min_words: int = 1) -> list[str]:
    """Store one extracted page (inside ``store.transaction``) and give a new article its story.

    The one write path for a page, shared by StorePipeline and the Redis writer
    (crawler.distributed.writer); idempotent, as the canonical URL is unique. Returns the
    counter keys (``news/<key>`` in the stats) of what happened.
    """
    words = len(article.get("text", "").split())
    if words < min_words:
        error = article.get("error") or (f"only {words} words of text" if words else
                                         "no article text found")
        store.record_failure(db, crawl_id=crawl_id, kind="article", url=page.fetched_url,
                             reason="no_text", error=error, feed_url=page.feed_url)
        return ["articles_failed", "reason/no_text"]
    row = article_row(page, article, keep_html)
    row["crawl_id"] = crawl_id
    article_id, is_new = store.insert_article(db, row)
    for feed_url in set(feeds) | ({page.feed_url} - {None}):
        store.link_article_feed(db, article_id, feed_url)
    if not is_new:
        return ["articles_known"]
    assigner.add(article_id, article["fingerprint"])
    return ["articles_new"]


def article_row(page: Page, article: dict, keep_html: bool) -> dict:
    """The `articles` row for a page: the page's metadata first, the feed entry's as fallback."""
    entry = page.entry
    url = page.url
    canonical = article.get("canonical_url")
    if canonical and site_of(canonical) == site_of(page.fetched_url):
        url = canonicalize(canonical)  # a republisher's canonical pointing elsewhere is ignored
    published = article.get("published")
    date_source = "page" if published else ("feed" if entry.get("feed_published") else None)
    text = article["text"]
    return {
        "url": url,
        "fetched_url": page.fetched_url,
        "site": site_of(url),
        "title": article.get("title") or entry.get("feed_title"),
        "author": article.get("author") or entry.get("feed_author"),
        "published": published or entry.get("feed_published"),
        "date_source": date_source,
        "first_seen": store.utcnow(),
        "language": article.get("language"),
        "text": text,
        "word_count": article.get("word_count") or len(text.split()),
        "description": article.get("description"),
        "sitename": article.get("sitename"),
        "categories": json.dumps(article["categories"], ensure_ascii=False)
        if article.get("categories") else None,
        "content_hash": hashlib.sha1(text.encode("utf-8")).hexdigest(),
        "html": article.get("html_gz") or (gzip.compress(page.body) if keep_html and page.body
                                           else None),
        **{k: v for k, v in entry.items() if k.startswith("feed_")},
    }
