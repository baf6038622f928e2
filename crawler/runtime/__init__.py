"""Runtime: the process machinery that runs a crawl and wires the steps together.

The crawl itself (Scrapy's CrawlerProcess and its summary), the item pipelines that send pages
through extract -> sketch -> cluster -> store, the extraction workers' fork server and its
warm-up, the reactor monitor and the progress line.
"""
