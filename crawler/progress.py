"""Live progress on stderr during long crawls: feeds done, articles new / known / failed."""
from __future__ import annotations

import sys
import time

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task


class Progress:
    """A one-line progress report every CRAWLER_PROGRESS_INTERVAL seconds."""

    def __init__(self, crawler, interval: float):
        self.crawler = crawler
        self.interval = interval
        self.started = time.monotonic()
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler):
        interval = crawler.settings.getfloat("CRAWLER_PROGRESS_INTERVAL")
        if interval <= 0:
            raise NotConfigured
        ext = cls(crawler, interval)
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
        stats, elapsed = self.crawler.stats.get_stats(), time.monotonic() - self.started
        spider = self.crawler.spider
        own = getattr(spider, "progress_line", None)  # a spider that says what it does itself
        line = own(stats, elapsed) if own else progress_line(
            stats, elapsed, getattr(spider, "feed_urls", None))
        print(line, file=sys.stderr, flush=True)


def progress_line(stats: dict, elapsed: float, feeds: list | None = None) -> str:
    get = lambda key: stats.get(f"news/{key}", 0)  # noqa: E731
    pages = stats.get("response_received_count", 0)
    feeds_part = f"feeds {get('feeds_done')}/{len(feeds)}" if feeds else f"pages {pages}"
    return (f"[{elapsed:5.0f}s] {feeds_part} · articles {get('articles_new')} new, "
            f"{get('articles_known')} known, {get('articles_failed')} failed · "
            f"{pages / max(elapsed, 1e-9):.1f} pages/s")
