"""Scrapy's HTTP/1.1 download handler with a bound on idle keep-alive connections.

Scrapy keeps up to CONCURRENT_REQUESTS_PER_DOMAIN connections open per host for reuse, and
Twisted's pool closes an idle one only after 240 s. A pass over many feeds moves from host to
host: the connections of hosts it is done with stayed open for four minutes, so their number
(file descriptors, and memory in the crawl process) grew with the speed of the pass and the
number of hosts. CRAWLER_IDLE_CONNECTION_SECONDS closes them sooner; connections to a host that
is still being fetched are reused as before.
"""
from __future__ import annotations

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler


def idle_seconds(settings, name: str = "CRAWLER_IDLE_CONNECTION_SECONDS") -> float:
    """An idle-connection bound (``name``), checked: ValueError unless a positive number.
    (Scrapy turns a handler that fails to start into "Unsupported URL scheme" for every
    request, so the crawl checks it before it starts: crawler.runtime.crawl.)"""
    value = settings.get(name)
    try:
        idle = float(value)
    except (TypeError, ValueError):
        idle = 0.0
    if not idle > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return idle


class IdleBoundedHTTP11DownloadHandler(HTTP11DownloadHandler):
    """``DOWNLOAD_HANDLERS`` for http and https: Scrapy's, idle connections closed after
    CRAWLER_IDLE_CONNECTION_SECONDS."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self._pool.cachedConnectionTimeout = idle_seconds(crawler.settings)
