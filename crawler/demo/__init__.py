"""The bundled offline demo: five small news sites on 127.0.0.11-15, crawled into SQLite.

``crawler demo`` calls ``run_demo()``. The sites (``build_sites``) also serve tests and the
site-scrape demo: feeds in RSS 2.0, Atom and RDF, sitemaps (index, Google News, gzip), robots.txt,
and German and English stories republished the way republishers do it (``sites.COPIES``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .render import make_sites
from .server import LocalWeb, Site
from .sites import COPIES, IN_TWO_FEEDS, MUST_STAY_APART, STYLES, all_pages, expected_stories

__all__ = ["build_sites", "feed_urls", "run_demo", "expected_urls", "expected_stories",
           "COPIES", "MUST_STAY_APART", "IN_TWO_FEEDS", "DEMO_PORT", "DEMO_SETTINGS"]

#: The demo binds this port on each site's address, so its URLs, and thus the stored articles,
#: are the same from run to run (a second run finds every article known). 0 if taken.
DEMO_PORT = 8411

#: The demo's sites are local and tiny: no politeness delays, so it finishes in seconds.
DEMO_SETTINGS: dict[str, Any] = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "CRAWLER_PROGRESS_INTERVAL": 0,
}


def build_sites(port: int = 0) -> list[Site]:
    """The demo's five sites, ready for ``LocalWeb`` (``port`` 0: any free port)."""
    return make_sites(all_pages(), port=port)


def feed_urls(sites: list[Site]) -> list[str]:
    """Every feed of the (started) sites: what the demo crawls."""
    by_name = {s.name: s for s in sites}
    return [by_name[name].url(path)
            for name, style in STYLES.items() for path, _ in style.feeds.values()]


def expected_urls(sites: list[Site]) -> dict[str, str]:
    """Canonical URL of every article page -> its story key (what a crawl must store)."""
    by_name = {s.name: s for s in sites}
    return {by_name[p.style.name].url(p.path): p.copy.story for p in all_pages()}


def _start(port: int) -> tuple[LocalWeb, list[Site]]:
    sites = build_sites(port)
    web = LocalWeb(sites)
    try:
        web.start()
    except OSError:  # the fixed port is taken (another demo running): take free ones
        web.stop()
        if not port:
            raise
        return _start(0)
    return web, sites


def run_demo(db_path: str | Path = "storage/demo.db", settings: dict | None = None,
             port: int = DEMO_PORT) -> dict:
    """Serve the demo sites, crawl their feeds into ``db_path``, stop the sites.

    Returns the crawl's summary (``crawler.runtime.crawl.crawl_feeds``) with a ``demo`` entry saying
    what the demo holds, so the summary can be read against it.
    """
    from crawler.runtime.crawl import crawl_feeds  # Scrapy is only needed when the demo really runs

    web, sites = _start(port)
    try:
        feeds = feed_urls(sites)
        summary = crawl_feeds(feeds, str(db_path), {**DEMO_SETTINGS, **(settings or {})})
    finally:
        web.stop()
    summary = dict(summary or {})
    summary["demo"] = {
        "sites": {s.name: s.base for s in sites},
        "feeds": len(feeds),
        "articles": len(COPIES),
        "stories": len(expected_stories()),
        "db": str(db_path),
    }
    return summary
