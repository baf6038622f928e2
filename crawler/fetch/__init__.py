"""Fetch: the Scrapy side of the crawl, up to a page's bytes in hand.

Spiders for feeds, sitemaps and whole sites; the guards between the crawl and strangers' pages
(schemes, sizes, private addresses, database errors); politeness and robots.txt; Scrapy's
downloader holding each slot to its concurrency; the revalidation fast path for unchanged
feeds; article-or-listing page kinds; feed lists and canonical URLs; job folders for --resume.
"""
