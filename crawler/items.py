"""What spiders hand to the pipelines."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Page:
    """A fetched article page, before extraction."""

    url: str                     # canonical form of the link we followed
    fetched_url: str             # the URL as fetched (after redirects)
    body: bytes
    encoding: str | None = None  # charset from the HTTP header, if any
    feed_url: str | None = None  # the feed (or site) that led here
    entry: dict = field(default_factory=dict)  # the feed entry's own fields
    status: int = 200
    cache_key: str | None = None  # its HTTP-cache entry (crawler.fetch.jobs), dropped once stored


@dataclass
class FeedLink:
    """One more feed that lists an article stored or scheduled already."""

    url: str
    feed_url: str
