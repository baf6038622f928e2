"""Scrapy's downloader, holding every download slot to its concurrency when it has no delay.

Scrapy 2.19 on the asyncio reactor starts each download of a slot as an asyncio task and
counts it in ``slot.transferring`` only when that task first runs. ``_process_queue`` loops
while the slot has free transfer slots, so with no delay (DOWNLOAD_DELAY 0, AutoThrottle off
or down to 0) one call started every queued request of the slot at once: 31 requests in
flight to one host with CONCURRENT_REQUESTS_PER_DOMAIN = 4 (bench/feed_scale.py), and
connections opened and dropped for lack of pool room. (With a delay the loop stops after one
request, which hides it.) Counting a download when it is scheduled restores the limit.
"""
from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader as ScrapyDownloader
from scrapy.core.downloader import Slot


class Downloader(ScrapyDownloader):
    """``DOWNLOADER``: Scrapy's, a download counted as transferring from when it is scheduled."""

    def _wait_for_download(self, slot: Slot, request: Request, queue_dfd) -> Coroutine[Any, Any, None]:
        slot.transferring.add(request)  # _download adds it again (a set) and removes it
        return super()._wait_for_download(slot, request, queue_dfd)
