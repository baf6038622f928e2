"""What an API crawl reports: its progress while it runs, its summary when it ends."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CrawlProgress:
    """The counters of a running crawl, as the progress line on stderr shows them."""

    elapsed: float  #: seconds since the spider opened
    pages: int  #: responses received (feeds, sitemaps, articles, listing pages)
    feeds_done: int
    feeds_total: int | None  #: None when the crawl has no feed list (a scrape before discovery)
    articles_new: int
    articles_known: int
    articles_failed: int

    @property
    def pages_per_second(self) -> float:
        return self.pages / max(self.elapsed, 1e-9)


@dataclass(frozen=True)
class FailedFeed:
    url: str
    reason: str
    error: str


@dataclass(frozen=True)
class CrawlSummary:
    """What `crawler crawl` / `crawler scrape` print at the end, as fields.

    ``status`` is "finished" when the crawl ran to its end; "shutdown" when it was stopped
    (resumable: ``resume=True``); "nothing due" when ``due_only`` found no feed due (then
    ``crawl_id`` is None and nothing was fetched).
    """

    crawl_id: int | None
    status: str
    db: Path
    duration: float  #: seconds
    feeds: int  #: feeds fetched
    feeds_failed: int
    feeds_unchanged: int  #: answered 304 Not Modified
    pages: int  #: responses received
    articles_new: int
    articles_known: int  #: already stored: not fetched again
    articles_failed: int
    failures: dict[str, int] = field(default_factory=dict)  #: why pages were not stored
    failed_feeds: tuple[FailedFeed, ...] = ()
    resumed: bool = False  #: continued an interrupted crawl of the same request
    resumable: bool = False  #: interrupted: the same call with ``resume=True`` continues it
    counters: dict[str, int] = field(default_factory=dict)  #: every news/ statistic of Scrapy
    #: scrape_sites: each site's articles stored by this crawl and pages failed,
    #: {"https://example.org/": {"new": 12, "failed": 1}}
    sites: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("finished", "nothing due")

    @classmethod
    def from_dict(cls, summary: dict[str, Any], db: str | Path) -> CrawlSummary:
        """From the dict crawler.runtime.crawl returns (the one the CLI prints)."""
        if summary.get("nothing_due"):
            return cls(None, "nothing due", Path(db), 0.0, 0, 0, 0, 0, 0, 0, 0)
        c = summary["counts"]
        job = summary.get("job") or {}
        return cls(
            crawl_id=summary["crawl_id"], status=summary["status"], db=Path(summary["db"]),
            duration=summary["elapsed"], feeds=c["n_feeds"], feeds_failed=c["n_feeds_failed"],
            feeds_unchanged=summary.get("feeds_unchanged", 0), pages=c["n_pages"],
            articles_new=c["n_new"], articles_known=c["n_known"], articles_failed=c["n_failed"],
            failures=dict(summary["reasons"]),
            failed_feeds=tuple(FailedFeed(**f) for f in summary["failed_feeds"]),
            resumed=job.get("outcome") == "resumed", resumable=bool(job.get("kept")),
            counters=dict(summary.get("news") or {}), sites=dict(summary.get("sites") or {}))
