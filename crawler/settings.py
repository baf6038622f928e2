"""Scrapy settings for the crawler, and the project's own settings, with their defaults.

Every behaviour is a setting: the CLI maps its options onto these names, Scrapy users override
them with ``-s NAME=VALUE``. The project's own settings are documented in the README.
"""
from __future__ import annotations

BOT_NAME = "news-crawler"
SPIDER_MODULES = ["crawler.fetch.spiders"]
NEWSPIDER_MODULE = "crawler.fetch.spiders"

# ---------------------------------------------------------------- politeness
#: Who we are; CRAWLER_CONTACT_URL is appended so site owners can reach the operator.
CRAWLER_CONTACT_URL = "https://github.com/news-crawler/news-crawler"
USER_AGENT = f"news-crawler/0.1 (+{CRAWLER_CONTACT_URL})"
ROBOTSTXT_OBEY = True
#: robots.txt rules held for at most this many hosts (the least recently used go; a host asked
#: again fetches its robots.txt again): memory bounded however many publishers a crawl has.
CRAWLER_ROBOTS_HOSTS = 10000
#: Seconds a fetched robots.txt is used, across crawls (kept in the database; 0: fetched in
#: every crawl). 24 h is the longest RFC 9309 allows.
CRAWLER_ROBOTS_MAX_AGE = 86400
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.25
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
#: What one download slot (CONCURRENT_REQUESTS_PER_DOMAIN, DOWNLOAD_DELAY, AutoThrottle) covers:
#: "domain" = one registered domain, so www., feeds. and rss. of one publisher share one budget
#: however many of its feeds a crawl lists; "host" = Scrapy's own per-host slots.
CRAWLER_SLOT_BY = "domain"
#: 429 and 503: the whole slot waits what Retry-After says (this many seconds when the header is
#: missing), then the request is retried (RETRY_TIMES); a longer wait than
#: CRAWLER_RETRY_AFTER_MAX is not waited for: the page is recorded as failed.
CRAWLER_RETRY_AFTER_DEFAULT = 5.0
CRAWLER_RETRY_AFTER_MAX = 600.0

#: Feeds that answered 304 last time are asked again with aiohttp outside Scrapy's engine
#: (under 1 ms of CPU a feed instead of ~3 ms), sharing Scrapy's download slots, robots.txt and the
#: URL safety guard; any answer but 304 goes to Scrapy as before (crawler/fetch/revalidate.py).
CRAWLER_FEED_REVALIDATE = True
#: Seconds the fast path keeps an idle keep-alive connection. It moves through hosts (~11 a
#: second in bench/feed_scale.py): a host's next feeds come seconds apart, and 60 s kept ~5,000
#: sockets of hosts it was done with open (~7 KB each, and past the usual `ulimit -n` of 1,024).
CRAWLER_REVALIDATE_IDLE_SECONDS = 5.0

# ---------------------------------------------------------------- robustness and limits
DOWNLOAD_TIMEOUT = 30                 # every request, robots.txt included
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024   # a news page or feed is far below 10 MiB
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
REDIRECT_MAX_TIMES = 10
DNS_TIMEOUT = 15
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
#: Scrapy checks every callback for a generator that returns a value, by reading its source
#: and parsing it: its cache is keyed by the bound method, a new object on every request, so it
#: re-parsed parse_feed / parse_article for every response (~1 ms each; bench/feed_scale.py).
WARN_ON_GENERATOR_RETURN_VALUE = False

# ---------------------------------------------------------------- safety (crawler/middlewares.py)
#: Only http(s) is ever fetched: Scrapy's file:, data:, ftp: and s3: handlers are switched off.
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None,
                     "http": "crawler.fetch.connections.IdleBoundedHTTP11DownloadHandler",
                     "https": "crawler.fetch.connections.IdleBoundedHTTP11DownloadHandler"}
#: Seconds an idle keep-alive connection stays open for reuse (Twisted's default: 240). Above
#: AUTOTHROTTLE_MAX_DELAY, so a throttled site keeps its connections; a pass over many hosts
#: does not keep those it is done with (crawler/fetch/connections.py).
CRAWLER_IDLE_CONNECTION_SECONDS = 60.0
#: Scrapy's downloader with per-slot concurrency held when there is no delay (crawler/fetch/downloader.py).
DOWNLOADER = "crawler.fetch.downloader.Downloader"
DOWNLOADER_MIDDLEWARES = {
    "crawler.fetch.middlewares.UrlSafetyMiddleware": 50,        # before robots.txt is fetched
    "crawler.fetch.politeness.PublisherSlotMiddleware": 60,     # slot per publisher (CRAWLER_SLOT_BY)
    # Scrapy 2.19's lets all but one request through while robots.txt downloads (politeness.py)
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.fetch.politeness.RobotsTxtMiddleware": 100,
    "crawler.fetch.politeness.RetryAfterMiddleware": 560,       # sees 429/503 before RetryMiddleware
    "crawler.fetch.middlewares.RedirectGuardMiddleware": 610,   # sees 3xx before RedirectMiddleware
    # Big feeds are read in the extraction pool (crawler/feedread.py): the last to see a
    # response, after decompression, redirects and the resume cache.
    "crawler.fetch.feedread.FeedReadMiddleware": 40,
    # What no spider here uses costs every request its call (docs/performance.md, feed
    # scale): no spider sets allowed_domains or http_user, and nothing reads the downloader's
    # byte counts (DownloaderStats renders every request as raw HTTP to count its bytes).
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    "scrapy.downloadermiddlewares.stats.DownloaderStats": None,
}
SPIDER_MIDDLEWARES = {
    "crawler.fetch.middlewares.DatabaseErrorMiddleware": 950,
    # The site spider counts its own link depth (meta["link_depth"]); DEPTH_LIMIT is unused.
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    # A development aid (warns about meta keys copied from a response); our spiders copy none.
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
#: Fetch private, loopback and link-local addresses even when the crawl started on a public host.
CRAWLER_ALLOW_PRIVATE_ADDRESSES = False
#: If set (e.g. ["127.0.0.0/8"]), only IP-literal hosts in these networks are fetched and no
#: name is ever looked up: a sandbox for tests and closed networks.
CRAWLER_ONLY_NETWORKS: list[str] = []
#: Networks treated as private (CIDR list); empty: every address that is not globally routable
#: (RFC 1918, loopback, link-local incl. 169.254.169.254, CGNAT, ULA, reserved ...).
CRAWLER_PRIVATE_NETWORKS: list[str] = []
#: Seconds a crawl waits for another crawl on the same database to end (0: refuse at once).
CRAWLER_LOCK_WAIT = 0.0

# ---------------------------------------------------------------- pipeline and extensions
#: Items of one response processed at once. Scrapy starts this many asyncio tasks for every
#: response; an article page yields one item, so its default (100) only costs main-process CPU
#: (1.19 times its CPU a page: bench/mechanisms.py).
CONCURRENT_ITEMS = 4
ITEM_PIPELINES = {
    "crawler.runtime.pipelines.ExtractPipeline": 100,
    "crawler.runtime.pipelines.StorePipeline": 800,
}
EXTENSIONS = {
    "scrapy.extensions.logstats.LogStats": None,
    "crawler.runtime.progress.Progress": 500,
    "crawler.runtime.reactor_monitor.ReactorMonitor": 510,
}

# ---------------------------------------------------------------- the project's own
#: SQLite database the crawl writes into.
CRAWLER_DB = "storage/news.db"
#: Store the fetched page (gzip) so articles can be re-extracted later.
CRAWLER_KEEP_HTML = False
#: Fetch article URLs that are stored already (normally skipped).
CRAWLER_REFRESH = False
#: Pages whose extracted text has fewer words are recorded as "no_text", not stored.
CRAWLER_MIN_WORDS = 10
#: Extraction worker processes (None: one per core this process may use); 0 extracts inline.
CRAWLER_EXTRACT_WORKERS = None
#: Pages handed to the extraction pool at once, per worker (the rest wait, bounded by Scrapy's
#: SCRAPER_SLOT_MAX_ACTIVE_SIZE, which pauses downloads). 8 pages (~0.2 s of extraction) keep
#: a worker busy while the reactor writes a long batch; with 4 the cores were idle 2.6% of a
#: 10,000-page crawl instead of 1.3%, and it ran 2% slower.
CRAWLER_EXTRACT_QUEUE = 8
#: Feed bodies of this many bytes or more are read (feedparser) in the extraction workers, not
#: in the crawl process: feedparser takes ~3 ms a KB here, and a 10,000-entry feed held the
#: reactor for seconds.
CRAWLER_FEED_POOL_BYTES = 16 * 1024
#: Articles written per SQLite transaction, and the longest an article waits for its batch.
CRAWLER_STORE_BATCH_SIZE = 50
CRAWLER_STORE_BATCH_SECONDS = 1.0
#: Seconds between progress lines on stderr (0: none).
CRAWLER_PROGRESS_INTERVAL = 5.0
#: Import path of a function ``sink(stats, elapsed, spider)`` that gets the progress instead
#: of the line on stderr ("": the line).
CRAWLER_PROGRESS_SINK = ""

# ---------------------------------------------------------------- schedule and resume
#: A feed's first interval between fetches (`crawler crawl --every` sets it); then it adapts to
#: how often the feed publishes, within [CRAWLER_MIN_INTERVAL, CRAWLER_MAX_INTERVAL] seconds.
CRAWLER_INTERVAL = 900
CRAWLER_MIN_INTERVAL = 300
CRAWLER_MAX_INTERVAL = 86400
#: Failures in a row after which a feed is disabled (a plain `crawler crawl` of it re-enables it).
CRAWLER_MAX_FAILURES = 10
#: Keep a job folder (HTTP cache of the responses received) so an interrupted crawl can resume
#: with --resume (crawler/jobs.py); deleted when the crawl finishes.
CRAWLER_JOBS = True
#: Where job folders go ("": a `jobs` folder beside the database).
CRAWLER_JOBS_DIR = ""
#: Continue the interrupted crawl of the same command (set by --resume).
CRAWLER_RESUME = False
#: Time every callback of the reactor's event loop and report the share of time it was busy and
#: blocked (callbacks longer than CRAWLER_REACTOR_MONITOR_STALL seconds); optional JSON report.
CRAWLER_REACTOR_MONITOR = False
CRAWLER_REACTOR_MONITOR_STALL = 0.02
CRAWLER_REACTOR_MONITOR_FILE = ""
