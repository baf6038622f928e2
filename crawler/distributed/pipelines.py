"""The worker's last pipeline: send each extracted article to the writer instead of SQLite."""
from __future__ import annotations

import dataclasses
from typing import Any

from crawler.items import FeedLink


class RedisPushPipeline:
    """Takes StorePipeline's place in a worker (after ExtractPipeline): one stream entry per
    article, sent together with the release of its request's lease."""

    def __init__(self, crawler, keep_html: bool):
        self.crawler = crawler
        self.keep_html = keep_html

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, crawler.settings.getbool("CRAWLER_KEEP_HTML"))

    def process_item(self, item: Any) -> Any:
        spider = self.crawler.spider
        if isinstance(item, FeedLink):
            spider.outbox.send("link", url=item.url, feed_url=item.feed_url)
        elif isinstance(item, dict) and "article" in item:
            page = item["page"]
            if not self.keep_html:
                page = dataclasses.replace(page, body=b"")
            spider.outbox.send("article", done=spider.leases.pop(page.fetched_url, ()),
                               page=page, article=item["article"],
                               feeds=sorted(spider.feeds_of.get(page.url, ())))
            spider.article_sent(page)
            self.crawler.stats.inc_value("news/articles_sent")
        return item
