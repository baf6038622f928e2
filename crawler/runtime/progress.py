"""Live progress during long crawls: feeds done, articles new / known / failed.

A line on stderr by default; CRAWLER_PROGRESS_SINK names a function that gets the counters
instead (the Python API's child process sends them to its caller: crawler.launch.child).
"""
from __future__ import annotations

import sys
import time

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import load_object
from twisted.internet import task


class Progress:
    """A one-line progress report every CRAWLER_PROGRESS_INTERVAL seconds."""

    def __init__(self, crawler, interval: float, sink=None):
        self.crawler = crawler
        self.interval = interval
        self.sink = sink or print_line
        self.started = time.monotonic()
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler):
        interval = crawler.settings.getfloat("CRAWLER_PROGRESS_INTERVAL")
        if interval <= 0:
            raise NotConfigured
        sink = crawler.settings.get("CRAWLER_PROGRESS_SINK")
        ext = cls(crawler, interval, load_object(sink) if sink else None)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider) -> None:
        self.started = time.monotonic()
        self.loop = task.LoopingCall(self.report)
        self.loop.start(self.interval, now=False)

    def spider_closed(self, spider, reason) -> None:
        if self.loop and self.loop.running:
            self.loop.stop()

    def report(self) -> None:
        self.sink(self.crawler.stats.get_stats(), time.monotonic() - self.started,
                  self.crawler.spider)


def print_line(stats: dict, elapsed: float, spider) -> None:
    """The default sink: a line on stderr (the spider's own, for a spider that says what it
    does itself, such as a Redis worker), and the spider's detail lines (per site, for
    ``crawler scrape``)."""
    own = getattr(spider, "progress_line", None)
    line = own(stats, elapsed) if own else progress_line(
        stats, elapsed, getattr(spider, "feed_urls", None))
    detail = getattr(spider, "progress_detail", None)
    text = detail() if callable(detail) else None
    print(line + (f"\n        {text}" if text else ""), file=sys.stderr, flush=True)


def progress_line(stats: dict, elapsed: float, feeds: list | None = None) -> str:
    get = lambda key: stats.get(f"news/{key}", 0)  # noqa: E731
    pages = stats.get("response_received_count", 0)
    feeds_part = f"feeds {get('feeds_done')}/{len(feeds)}" if feeds else f"pages {pages}"
    return (f"[{elapsed:5.0f}s] {feeds_part} · articles {get('articles_new')} new, "
            f"{get('articles_known')} known, {get('articles_failed')} failed · "
            f"{pages / max(elapsed, 1e-9):.1f} pages/s")
