"""Run crawls from Python: the two commands as functions, with progress and a summary.

>>> import crawler
>>> summary = crawler.crawl_feeds(["https://example.org/rss.xml", "feeds.opml"], "news.db",
...                               progress=lambda p: print(p.articles_new, "new"))
>>> summary.articles_new, summary.failures
>>> crawler.scrape_sites(["example.org", "example.com"], "news.db", max_pages=500, since="7d")
>>> for summary in crawler.crawl_feeds_every("feeds.txt", "news.db", every="15m"):
...     print(summary.crawl_id, summary.articles_new)

Each crawl runs in a child process of its own (crawler.launch.child): Twisted's reactor, which
Scrapy runs on, cannot be started twice in one process, so this is what lets a script or a
notebook crawl again and again. Mistakes in the arguments raise crawler.errors.UserError before
the child starts; a crawl that ends early says so in its summary's ``status``; Ctrl-C stops the
crawl cleanly (``resume=True`` continues it) and raises KeyboardInterrupt.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from crawler.errors import UserError
from crawler.launch.options import crawl_settings, scrape_options
from crawler.launch.process import ProgressCallback, run_in_child
from crawler.launch.results import CrawlProgress, CrawlSummary, FailedFeed

__all__ = ["crawl_feeds", "crawl_feeds_every", "scrape_sites", "CrawlProgress", "CrawlSummary",
           "FailedFeed"]

DEFAULT_DB = "storage/news.db"
#: The shortest period between two progress reports, in seconds.
MIN_PROGRESS_INTERVAL = 0.2


def crawl_feeds(feeds: str | Path | Iterable[str | Path], db: str | Path = DEFAULT_DB, *,
                progress: ProgressCallback | None = None, progress_interval: float = 1.0,
                keep_html: bool = False, refresh: bool = False, resume: bool = False,
                workers: int | None = None, ignore_robots: bool = False,
                due_only: bool = False, verbose: bool = False,
                settings: Mapping[str, Any] | None = None) -> CrawlSummary:
    """Crawl feeds and their articles into ``db``, as ``crawler crawl FEED...`` does.

    ``feeds``: feed URLs, text files of feed URLs (one a line) and OPML files, as on the command
    line. ``progress`` is called with a CrawlProgress every ``progress_interval`` seconds.
    ``due_only``: only the feeds whose next fetch has come (``crawler crawl --due``).
    ``settings``: any Scrapy or crawler setting, e.g. ``{"CRAWLER_EXTRACT_WORKERS": 1}`` (it wins
    over the options); the other options are those of ``crawler crawl`` (``workers=0`` extracts
    in the crawl's process).
    """
    urls = _read_feeds(feeds)
    if not urls:
        raise UserError("no feeds given")
    request = {"kind": "feeds", "feeds": urls, "due_only": due_only, **_common(
        db, progress, progress_interval, keep_html=keep_html, refresh=refresh, resume=resume,
        workers=workers, ignore_robots=ignore_robots, verbose=verbose, settings=settings)}
    return CrawlSummary.from_dict(run_in_child(request, progress), request["db"])


def scrape_sites(sites: str | Iterable[str], db: str | Path = DEFAULT_DB, *,
                 max_pages: int = 0, max_depth: int = 3, since: str | None = None,
                 include: Iterable[str] = (), exclude: Iterable[str] = (),
                 subdomains: bool = False, follow_links: bool = False,
                 progress: ProgressCallback | None = None, progress_interval: float = 1.0,
                 keep_html: bool = False, refresh: bool = False, resume: bool = False,
                 workers: int | None = None, ignore_robots: bool = False, verbose: bool = False,
                 settings: Mapping[str, Any] | None = None) -> CrawlSummary:
    """Scrape whole sites into ``db``, as ``crawler scrape SITE_URL...`` does: their articles
    from their sitemaps and feeds, or by following their links; all sites in one crawl, each
    with its own politeness budget, so they proceed side by side.

    ``sites``: a site's URL or domain ("example.org"), or several. ``since``: a date
    ("2024-03-01") or an age ("7d"); ``include``/``exclude``: regular expressions on URLs;
    ``max_pages``: at most this many pages of each site (0: no limit). The other options are
    those of ``crawl_feeds``. The summary's ``sites`` has each site's new and failed articles.
    """
    urls, options = scrape_options(
        sites if isinstance(sites, str) else list(sites), max_pages=max_pages,
        max_depth=max_depth, since=since, include=include, exclude=exclude,
        subdomains=subdomains, follow_links=follow_links)
    request = {"kind": "scrape", "sites": urls, "options": options, **_common(
        db, progress, progress_interval, keep_html=keep_html, refresh=refresh, resume=resume,
        workers=workers, ignore_robots=ignore_robots, verbose=verbose, settings=settings)}
    return CrawlSummary.from_dict(run_in_child(request, progress), request["db"])


def crawl_feeds_every(feeds: str | Path | Iterable[str | Path], db: str | Path = DEFAULT_DB,
                      *, every: str = "15m", passes: int = 0,
                      **options: Any) -> Iterator[CrawlSummary]:
    """Crawl the feeds again and again, as ``crawler crawl --every`` does: yields each pass's
    summary, then sleeps until the next feed is due; each feed's next fetch adapts to how
    often it publishes. ``every``: the first interval ("15m", "2h", "1d"); ``passes``: stop
    after that many (0: never; break out of the loop to stop). ``options``: crawl_feeds's.
    Ends when every feed is disabled after repeated failures (``crawler status`` says why)."""
    from crawler.cli.every import seconds_until_next
    from crawler.schedule import parse_duration

    try:
        interval = parse_duration(every)
    except ValueError as exc:
        raise UserError(f"every: {exc}") from None
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 0:
        raise UserError(f"passes must be a whole number, 0 or more, not {passes!r}")
    if "due_only" in options:
        raise UserError("crawl_feeds_every fetches only the feeds that are due: no due_only")
    urls = _read_feeds(feeds)
    settings = {**(options.pop("settings", None) or {}), "CRAWLER_INTERVAL": interval}
    done = 0
    while True:
        yield crawl_feeds(urls, db, due_only=True, settings=settings, **options)
        done += 1
        if passes and done >= passes:
            return
        wait = seconds_until_next(str(db), urls, interval)
        if wait is None:
            return
        time.sleep(max(wait, 1.0))


def _read_feeds(feeds: Any):
    """The feed list on disk (crawler.store.staging), read from URLs and files once."""
    from crawler.fetch.feedlist import read_feed_args
    from crawler.store.staging import StagedFeeds

    return feeds if isinstance(feeds, StagedFeeds) else \
        read_feed_args([str(f) for f in _as_list(feeds)])


def _as_list(value: Any) -> list:
    return [value] if isinstance(value, (str, Path)) else list(value)


def _common(db: str | Path, progress: ProgressCallback | None, progress_interval: float,
            settings: Mapping[str, Any] | None, **options: Any) -> dict[str, Any]:
    if progress is not None and not callable(progress):
        raise UserError(f"progress must be a function of one CrawlProgress, not {progress!r}")
    if not progress_interval >= MIN_PROGRESS_INTERVAL:
        raise UserError(f"progress_interval must be {MIN_PROGRESS_INTERVAL} seconds or more")
    if settings is not None and not isinstance(settings, Mapping):
        raise UserError("settings must be a mapping of setting names to values")
    return {"db": str(Path(db).absolute()),
            "settings": crawl_settings(overrides=settings, **options),
            "progress_interval": progress_interval if progress else 0}
