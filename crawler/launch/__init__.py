"""Launch crawls from Python: the API (``api``: crawl_feeds, scrape_sites, crawl_feeds_every), the
child process each API crawl runs in (``child``, driven by ``process``), what it reports
(``results``), and the option checks it shares with the command line (``options``)."""
