"""Run a crawl in this process with Scrapy's CrawlerProcess, and sum it up.

One crawl per process: Twisted's reactor cannot be restarted, so callers that need several
crawls (tests, the scheduler) run each in a fresh process.
"""
from __future__ import annotations

import logging
import resource
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawler import schedule, store
from crawler.store.errors import fatal_database_error
from crawler.dedup import DedupParams
from crawler.dedup.index import Index
from crawler.errors import UserError
from crawler.fetch.connections import idle_seconds
from crawler.fetch.feedlist import describe_feeds
from crawler.fetch.jobs import Job
from crawler.store.lock import CrawlLock
from crawler.store.staging import StagedFeeds


def project_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """The crawler's settings module, then ``overrides`` on top (as the command line would)."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


def run_spider(spider: str, db_path: str, kind: str, args: dict,
               settings: dict[str, Any] | None = None, **spider_kwargs: Any) -> dict:
    """Crawl with ``spider`` into ``db_path``; record the run in `crawls`; return its summary.

    Holds the database's crawl lock (crawler.store.lock) for the whole run. A database that cannot be
    written (disk full, read-only) ends the crawl with a one-line UserError; what was stored
    before stays intact (crawler.store.errors).
    """
    wait = project_settings(settings).getfloat("CRAWLER_LOCK_WAIT")
    try:
        for name in ("CRAWLER_IDLE_CONNECTION_SECONDS", "CRAWLER_REVALIDATE_IDLE_SECONDS"):
            idle_seconds(project_settings(settings), name)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    with CrawlLock(db_path, wait=wait):
        try:
            summary = _run_spider(spider, db_path, kind, args, settings, **spider_kwargs)
        except (sqlite3.Error, OSError) as exc:
            message = fatal_database_error(exc, str(db_path))
            if message is None:
                raise
            raise UserError(message) from exc
    if summary.get("database_error"):
        raise UserError(summary["database_error"])
    return summary


def raise_open_files_limit() -> int:
    """Let this process open as many files as the system allows it (the soft limit up to the
    hard one), as servers do: a pass over thousands of hosts keeps a few keep-alive sockets
    open for each host it is still fetching, past the common default of 1,024, and each
    connection over it failed ("Too many open files"). Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _run_spider(spider: str, db_path: str, kind: str, args: dict,
                settings: dict[str, Any] | None = None, **spider_kwargs: Any) -> dict:
    raise_open_files_limit()
    db = store.open_db(db_path)
    # The dedup index's tables too, before Scrapy starts: a full or read-only disk shows here
    # as one clear error rather than inside the engine's start-up.
    Index(db, DedupParams.from_settings(project_settings(settings)))
    crawl_id = store.start_crawl(db, kind, args)
    overrides = {"CRAWLER_DB": str(db_path), "CRAWLER_CRAWL_ID": crawl_id, **(settings or {})}
    job = Job.for_crawl(project_settings(overrides), db_path, kind, args)
    job_outcome = job.begin(project_settings(overrides).getbool("CRAWLER_RESUME")) if job else None
    overrides.update(job.scrapy_settings() if job else {})
    process = CrawlerProcess(project_settings(overrides))
    quiet_noisy_loggers(process.settings)
    crawler = process.create_crawler(spider)
    started = time.monotonic()
    status = "failed"
    crawl_errors: list = []
    try:
        # A component that cannot start (a bad setting) fails this Deferred: its message is
        # the error, not a traceback that Twisted logs when the Deferred is collected.
        process.crawl(crawler, **spider_kwargs).addErrback(crawl_errors.append)
        process.start()
        if crawl_errors:
            if crawl_errors[0].check(sqlite3.Error, OSError):
                crawl_errors[0].raiseException()  # worded by run_spider
            raise UserError(f"the crawl failed: {crawl_errors[0].getErrorMessage()}")
        status = "finished" if crawler.stats.get_value("finish_reason") == "finished" else \
            str(crawler.stats.get_value("finish_reason") or "interrupted")
    finally:
        summary = summarize(db, crawl_id, crawler.stats.get_stats() if crawler.stats else {},
                            time.monotonic() - started)
        store.finish_crawl(db, crawl_id, status, summary["counts"])
        summary["status"] = status
        if job:  # kept for --resume unless the crawl finished (crawler.fetch.jobs)
            job.end(status == "finished", status)
            summary["job"] = {"outcome": job_outcome, "folder": str(job.folder),
                              "kept": status != "finished"}
        db.close()
    return summary


def quiet_noisy_loggers(settings) -> None:
    """Failures are recorded and summarised once; outside -v, Scrapy's tracebacks are noise."""
    if settings.get("LOG_LEVEL") != "DEBUG" and not settings.getbool("CRAWLER_VERBOSE"):
        for name in ("scrapy.downloadermiddlewares.robotstxt",):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def crawl_feeds(feeds: Sequence[str] | StagedFeeds, db_path: str,
                settings: dict[str, Any] | None = None, due_only: bool = False) -> dict:
    """Crawl feed URLs (already read from files: see crawler.fetch.feedlist) into ``db_path``, then
    schedule each feed's next fetch (crawler.schedule). ``due_only``: only the feeds whose
    next fetch has come (``crawler crawl --due`` / ``--every``)."""
    crawled = feeds
    if due_only:
        crawled = due_feeds(db_path, feeds)
        if not crawled:
            return {"status": "finished", "nothing_due": True, "feeds": len(feeds)}
    args = {"feeds": describe_feeds(feeds), **({"due_only": True} if due_only else {})}
    summary = run_spider("feeds", db_path, "feeds", args, settings, feeds=crawled)
    if summary["status"] == "finished":
        schedule_feeds(db_path, summary["crawl_id"], crawled, settings)
    return summary


def due_feeds(db_path: str, feeds: Iterable[str]) -> StagedFeeds:
    db = store.open_db(db_path)
    try:
        return StagedFeeds(store.iter_due_feeds(db, feeds, store.utcnow()))
    finally:
        db.close()


def schedule_feeds(db_path: str, crawl_id: int, feeds: Iterable[str],
                   settings: dict[str, Any] | None = None) -> None:
    """Set each crawled feed's next fetch from what this crawl brought (crawler.schedule)."""
    from datetime import datetime, timezone

    policy = schedule.Policy.from_settings(project_settings(settings))
    db = store.open_db(db_path, cache_kb=store.BOOKKEEPING_CACHE_KB)
    try:
        now = datetime.now(timezone.utc)
        with store.transaction(db):  # a chunk of feeds at a time: memory flat in their number
            for outcomes in store.iter_feed_outcomes(db, crawl_id, feeds):
                store.update_feeds(db, schedule.plan_updates(outcomes, policy, now))
    finally:
        db.close()


def scrape_site(site: str, db_path: str, settings: dict[str, Any] | None = None,
                **options: Any) -> dict:
    """Scrape one site (crawler.fetch.spiders.sites) into ``db_path``; ``options`` are the site
    spider's (max_pages, max_depth, since, include, exclude, subdomains, follow_links)."""
    return scrape_sites([site], db_path, settings, **options)


def scrape_sites(sites: list[str], db_path: str, settings: dict[str, Any] | None = None,
                 **options: Any) -> dict:
    """Scrape sites, all in one crawl, into ``db_path``; ``options`` as ``scrape_site``'s, each
    applying to every site on its own. The summary's ``sites`` says, per site, how many
    articles this crawl stored and how many of its pages failed."""
    from crawler.fetch.spiders.sites import Site

    options = {k: v for k, v in options.items() if v not in (None, [], "")}
    # one site keeps the job folder (--resume) of the one-site command it always was
    inputs = {"site": sites[0]} if len(sites) == 1 else {"sites": list(sites)}
    summary = run_spider("sites", db_path, "scrape", {**inputs, **options}, settings,
                         sites=list(sites), **options)
    scopes = [Site(url, subdomains=bool(options.get("subdomains"))) for url in sites]
    db = store.open_db(db_path)
    try:
        articles, failures = store.crawl_urls(db, summary["crawl_id"])
    finally:
        db.close()
    per_site = {url: {"new": 0, "failed": 0} for url in sites}
    for urls, key in ((articles, "new"), (failures, "failed")):
        for url in urls:
            owner = next((site for site in scopes if site.contains(url)), None)
            if owner is not None:
                per_site[owner.url][key] += 1
    summary["sites"] = per_site
    return summary


def summarize(db, crawl_id: int, stats: dict, elapsed: float) -> dict:
    """Counts and reasons of one crawl, from Scrapy's stats and the `failures` table."""
    get = lambda key: int(stats.get(f"news/{key}", 0))  # noqa: E731
    counts = {
        "n_feeds": get("feeds_done"), "n_feeds_failed": get("feeds_failed"),
        "n_pages": int(stats.get("response_received_count", 0)),
        "n_new": get("articles_new"), "n_known": get("articles_known"),
        "n_failed": get("articles_failed"),
    }
    reasons = {k.split("/", 2)[2]: v for k, v in stats.items() if k.startswith("news/reason/")}
    failed_feeds = [dict(zip(("url", "reason", "error"), row)) for row in db.execute(
        "SELECT url, reason, error FROM failures WHERE crawl_id = ? AND kind = 'feed'",
        [crawl_id])]
    return {"crawl_id": crawl_id, "elapsed": round(elapsed, 2), "counts": counts,
            "feeds_unchanged": get("feeds_unchanged"), "feeds_same": get("feeds_same"),
            "reasons": reasons,
            "database_error": stats.get("news/database_error"),
            "news": {k.split("/", 1)[1]: v for k, v in stats.items() if k.startswith("news/")},
            "failed_feeds": failed_feeds, "db": str(db.conn.execute("PRAGMA database_list")
                                                    .fetchone()[2])}
