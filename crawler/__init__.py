"""News crawler: feeds and sites into SQLite, syndicated copies merged into stories."""

__version__ = "0.1.0"

# The APIs, imported on first use so `import crawler` stays cheap (no sqlite-utils, no Scrapy):
# reading a crawl database (crawler.analysis.api) and running crawls (crawler.launch.api).
_LAZY = {"open_db": "crawler.analysis.api", "NewsDB": "crawler.analysis.api",
         **dict.fromkeys(["crawl_feeds", "crawl_feeds_every", "scrape_sites", "CrawlSummary",
                          "CrawlProgress"], "crawler.launch.api")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'crawler' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
