"""The site spider: scrape news sites, finding each one's articles in its sitemaps and feeds,
or by following its links when it has neither.

``scrapy crawl sites -a sites=https://a.example/,https://b.example/ [-a max_pages=500 ...]``
or ``crawler scrape URL...``. All sites run in one crawl: each is a download slot of its own
(its own delay, AutoThrottle and concurrency), and the scheduler hands out requests of the
sites with the fewest downloads under way first (Scrapy's DownloaderAwarePriorityQueue), so
the sites proceed side by side. Every budget and option (max_pages, max_depth, since, include,
exclude) applies to each site on its own. Discovery, per site, in order:

1. robots.txt: its ``Sitemap:`` lines (or /sitemap.xml when it names none). Sitemaps are read
   with Scrapy's own sitemap support (``SitemapSpider._get_sitemap_body`` for gzip and size
   limits, ``scrapy.utils.sitemap.Sitemap`` for urlsets and indexes); ``NewsSitemap`` adds the
   nested Google News fields (publication date, title) that Scrapy's parser drops. Plain-text
   sitemaps and RSS/Atom feeds named as sitemaps are read too.
2. The home page: its ``<link rel="alternate">`` feeds, crawled like ``crawler crawl`` does.
3. Only when neither gave anything: links inside the site, from the home page down to
   ``max_depth`` clicks.

Every page is classified (crawler.fetch.pagekind) before it is stored: section, tag and index pages
are not articles. Everything else (known URLs skipped, extraction, dedup, storage) is the feed
spider's.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Iterable
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.http import Response
from scrapy.linkextractors import IGNORED_EXTENSIONS
from scrapy.spiders import SitemapSpider
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from crawler.errors import UserError
from crawler.fetch.pagekind import classify_page, parse_html, url_hint
from crawler.schedule import parse_duration
from crawler.fetch.spiders.base import failure_reason
from crawler.fetch.spiders.feeds import FeedSpider
from crawler.fetch.urls import canonicalize, is_crawlable

FEED_LINK_TYPES = ("rss", "atom", "rdf", "feed+json")
SKIP_EXTENSIONS = tuple(f".{ext}" for ext in IGNORED_EXTENSIONS)
#: A URL whose URL alone scores this low is a listing page (site root, /tag/, /page/2) and is
#: not fetched from a sitemap or feed (link following still visits listings to find articles).
LISTING_URL_SCORE = -2


class NewsSitemap(Sitemap):
    """Scrapy's sitemap parser, plus the Google News fields nested in ``<news:news>``:
    ``news_publication_date``, ``news_title``, ``news_language``."""

    def _process_sitemap_element(self, elem):
        news = {}
        for el in elem.iter():
            tag = el.tag if isinstance(el.tag, str) else ""
            if "sitemap-news" in tag and el.text and el.text.strip():
                name = self._get_tag_name(el)
                if name in ("publication_date", "title", "language", "keywords"):
                    news[f"news_{name}"] = el.text.strip()
        entry = super()._process_sitemap_element(elem)
        if entry is not None:
            entry.pop("news", None)
            entry.update(news)
        return entry


def parse_when(text: str | None) -> datetime | None:
    """A W3C datetime as sitemaps write it ('2024-03-04', '2024-03-04T08:15:00+01:00', ...Z),
    as an aware UTC datetime; None when absent or unreadable."""
    if not text:
        return None
    text = text.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        match = re.match(r"(\d{4})-(\d\d)(?:-(\d\d))?", text)
        if not match:
            return None
        when = datetime(int(match[1]), int(match[2]), int(match[3] or 1))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def parse_since(text: str | None) -> datetime | None:
    """``--since``: a date or datetime ('2024-03-01', ISO 8601), or an age ('7d', '12h')."""
    if not text:
        return None
    when = parse_when(text)
    if when is not None and re.match(r"\d{4}-\d\d", text.strip()):
        return when
    try:
        return datetime.now(timezone.utc) - timedelta(seconds=parse_duration(text))
    except ValueError:
        raise UserError(f"--since {text!r}: expected a date (2024-03-01) or an age (7d, 12h)")


def site_url_of(text: str) -> str:
    """The site's home URL from what a user types ('example.org', 'https://example.org/x')."""
    text = text.strip()
    if "://" not in text:
        text = "https://" + text
    if not is_crawlable(text) or not urlsplit(text).hostname:
        raise UserError(f"not a site URL: {text!r} (expected http:// or https://)")
    parts = urlsplit(text)
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"


def read_site_list(path: str | Path) -> list[str]:
    """Site URLs from a file (``--sites FILE``): one a line, ``#`` comments; a bad line is a
    UserError naming the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    sites = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if line and not line.startswith("#"):
            line = line.split(" #", 1)[0].strip()
            try:
                sites.append(site_url_of(line))
            except UserError as exc:
                raise UserError(f"{path}, line {number}: {exc}") from None
    return sites


def site_list(value: str | Iterable[str] | None) -> list[str]:
    """Home URLs of the sites, in order, each once (a list, or a string of commas/newlines)."""
    if not value:
        return []
    items = re.split(r"[,\n]", value) if isinstance(value, str) else list(value)
    return list(dict.fromkeys(site_url_of(item) for item in items if item.strip()))


def url_patterns(value: str | Iterable[str] | None) -> list[re.Pattern]:
    if not value:
        return []
    items = value.split("\n") if isinstance(value, str) else list(value)
    try:
        return [re.compile(p) for p in items if p]
    except re.error as exc:
        raise UserError(f"bad URL pattern {exc.pattern!r}: {exc}")


def _int(value: Any, name: str) -> int:
    try:
        number = int(value or 0)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a whole number, not {value!r}")
    if number < 0:
        raise UserError(f"{name} must be 0 or more")
    return number


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")


@dataclass(eq=False)
class Site:
    """One site of a scrape: where it is, and how far its discovery and its budget got."""

    url: str
    subdomains: bool = False
    host: str = ""
    base_domain: str = ""
    pages_scheduled: int = 0      # article candidates requested (max_pages counts these)
    pending: int = 0              # discovery requests (robots, sitemaps, home, feeds) open
    sources: int = 0              # sitemaps and feeds that answered
    link_mode: bool = False
    home_response: Response | None = None
    seen_sitemaps: set = field(default_factory=set)
    budget_warned: bool = False
    # the scrape's options, each site its own (the spider's, unless add_site is told others)
    max_pages: int = 0
    max_depth: int = 3
    since: datetime | None = None
    include: list = field(default_factory=list)
    exclude: list = field(default_factory=list)
    force_links: bool = False

    def __post_init__(self):
        self.host = (urlsplit(self.url).hostname or "").lower()
        self.base_domain = self.host[4:] if self.host.startswith("www.") else self.host

    def contains(self, url: str) -> bool:
        """Is ``url`` on this site (its host; with ``subdomains``, any host of its domain)?"""
        host = (urlsplit(url).hostname or "").lower()
        if host == self.host:
            return True
        if not self.subdomains:
            return False
        return host == self.base_domain or host.endswith("." + self.base_domain)


class SiteSpider(FeedSpider, SitemapSpider):
    """``scrapy crawl sites -a sites=URL[,URL...]`` (or ``-a site=URL``; options: max_pages,
    max_depth, since, include, exclude, subdomains, follow_links, each per site)."""

    name = "sites"
    custom_settings = {
        # Requests of the site with the fewest downloads under way first: with one shared
        # queue, a site with a long frontier filled the downloader's 32 places with requests
        # waiting for their own slot's delay, and the other sites waited behind them.
        "SCHEDULER_PRIORITY_QUEUE": "scrapy.pqueues.DownloaderAwarePriorityQueue",
    }

    def __init__(self, site: str | None = None, max_pages: int | str = 0,
                 max_depth: int | str = 3, since: str | None = None,
                 include: str | list[str] | None = None, exclude: str | list[str] | None = None,
                 subdomains: bool | str = False, follow_links: bool | str = False,
                 sites: str | list[str] | None = None, **kwargs: Any):
        super(FeedSpider, self).__init__(**kwargs)  # FeedSpider's own __init__ wants feeds
        urls = site_list(sites) + site_list([site] if site else [])
        if not urls and not getattr(self, "sites_come_later", False):
            raise UserError("no site given (e.g. https://example.org/)")
        self.subdomains = _flag(subdomains)
        self.max_pages = _int(max_pages, "max_pages")
        self.max_depth = _int(max_depth, "max_depth")
        self.since = parse_since(since) if isinstance(since, str) else since
        self.include = url_patterns(include)
        self.exclude = url_patterns(exclude)
        self.force_links = _flag(follow_links)
        self.feed_urls: list[str] = []
        self.start_urls: list[str] = []  # where the crawl started (crawler.fetch.middlewares)
        self.sites: dict[str, Site] = {}
        self.source_sites: dict[str, Site] = {}  # sitemap or feed URL -> the site it serves
        for url in dict.fromkeys(urls):
            self.add_site(url)
        self.site_url = urls[0] if urls else None

    def add_site(self, url: str, **options: Any) -> Site:
        """Take on one more site (``start`` asks for its robots.txt: ``discover``), with the
        spider's options or, given here (a Redis worker's queued sites), its own."""
        url = site_url_of(url)
        if url not in self.sites:
            given = {k: v for k, v in options.items() if v is not None}
            self.sites[url] = Site(
                url, subdomains=_flag(given.get("subdomains", self.subdomains)),
                max_pages=_int(given.get("max_pages", self.max_pages), "max_pages"),
                max_depth=_int(given.get("max_depth", self.max_depth), "max_depth"),
                since=parse_since(given["since"]) if given.get("since") else self.since,
                include=url_patterns(given["include"]) if "include" in given else self.include,
                exclude=url_patterns(given["exclude"]) if "exclude" in given else self.exclude,
                force_links=_flag(given.get("follow_links", self.force_links)))
            self.start_urls.append(url)
        return self.sites[url]

    def site_of(self, meta: dict, url: str | None = None) -> Site:
        """The site a request or response belongs to: its ``seed_url``, else the site whose
        sitemap or feed led to it, else the site whose host ``url`` is on."""
        site = self.sites.get(meta.get("seed_url") or "") or \
            self.source_sites.get(meta.get("feed_url") or "")
        if site is None and url:
            site = next((s for s in self.sites.values() if s.contains(url)), None)
        return site or next(iter(self.sites.values()))

    def count(self, key: str, n: int = 1, site: Site | None = None) -> None:
        super().count(key, n)
        if site is not None:
            super().count(f"site/{site.url}/{key}", n)

    def progress_detail(self) -> str | None:
        """Per site, with several: pages fetched so far, out of those requested."""
        if len(self.sites) < 2:
            return None
        stats = self.crawler.stats
        return " · ".join(
            f"{site.host} {stats.get_value(f'news/site/{site.url}/pages_fetched', 0)}"
            f"/{site.pages_scheduled} pages" for site in self.sites.values())

    def on_site(self, url: str) -> bool:
        """Is ``url`` on one of the sites?"""
        return any(site.contains(url) for site in self.sites.values())

    # ------------------------------------------------------------ discovery

    async def start(self) -> AsyncIterator[Any]:
        for site in list(self.sites.values()):
            for request in self.discover(site):
                yield request

    def discover(self, site: Site):
        """A site's discovery starts with its robots.txt."""
        self.feeds_of.setdefault(canonicalize(site.url), set())  # home is fetched once
        site.pending += 1
        yield scrapy.Request(urljoin(site.url, "/robots.txt"), callback=self.parse_robots,
                             errback=self.robots_failed, dont_filter=True,
                             meta={"dont_obey_robotstxt": True, "handle_httpstatus_all": True,
                                   "seed_url": site.url})

    def parse_robots(self, response: Response):
        sitemaps = []
        if response.status == 200:
            sitemaps = list(sitemap_urls_from_robots(response.body, base_url=response.url))
        yield from self.after_robots(self.site_of(response.meta), sitemaps)

    def robots_failed(self, failure):
        yield from self.after_robots(self.site_of(failure.request.meta), [])

    def after_robots(self, site: Site, sitemaps: list[str]):
        """Read the sitemaps robots.txt names (else /sitemap.xml), and the home page.

        Sequenced after robots.txt on purpose: Scrapy's robots.txt middleware then finds the
        file fetched (and, in a resumable job, cached) instead of fetching it a second time.
        """
        guessed = not sitemaps
        for url in sitemaps or [urljoin(site.url, "/sitemap.xml")]:
            request = self.sitemap_request(site, url, guessed=guessed)
            if request is not None:
                yield request
        site.pending += 1
        yield scrapy.Request(site.url, callback=self.parse_home, errback=self.home_failed,
                             dont_filter=True, meta={"link_depth": 0, "seed_url": site.url})
        yield from self.discovery_step_done(site)

    def sitemap_request(self, site: Site, url: str,
                        guessed: bool = False) -> scrapy.Request | None:
        if url in site.seen_sitemaps or not is_crawlable(url):
            return None
        site.seen_sitemaps.add(url)
        self.source_sites[url] = site
        site.pending += 1
        return scrapy.Request(url, callback=self.parse_sitemap, errback=self.sitemap_failed,
                              dont_filter=True, meta={"guessed": guessed, "feed_url": url,
                                                      "seed_url": site.url})

    def discovery_step_done(self, site: Site):
        """One discovery request of ``site`` answered; when none is left and no sitemap or
        feed gave anything, fall back to following the site's links from its home page."""
        site.pending -= 1
        if site.pending == 0 and not site.link_mode and site.home_response is not None \
                and (site.force_links or not site.sources):
            site.link_mode = True
            self.count("link_mode", site=site)
            self.logger.info("No sitemap or feed on %s: following its links (depth %d)",
                             site.url, site.max_depth)
            yield from self.follow_links(site, site.home_response, 0)

    # ------------------------------------------------------------ sitemaps

    def parse_sitemap(self, response: Response):
        site = self.site_of(response.meta)
        yield from self.read_sitemap(site, response)
        yield from self.discovery_step_done(site)

    def read_sitemap(self, site: Site, response: Response):
        if response.body[:3] == b"\x1f\x8b\x08" and type(response) is not Response:
            # gzip served under an .xml name without Content-Encoding: Scrapy takes it for
            # XML and would hand back the compressed bytes; read it as the gzip file it is.
            response = Response(response.url, status=response.status,
                                headers=response.headers, body=response.body,
                                request=response.request)
        body = self._get_sitemap_body(response)
        if body is None and response.body[:2] == b"\x1f\x8b":  # gunzip stopped at the size cap
            self.sitemap_error(site, response.url, "too_large", "inflates beyond DOWNLOAD_MAXSIZE",
                               response.status, response.meta.get("guessed"))
            return
        if body is None and response.body[:200].lstrip()[:1] not in (b"<", b""):
            body = response.body  # a plain-text sitemap (one URL a line), served as text/plain
        if not body:
            self.sitemap_error(site, response.url, "not_a_sitemap", "no sitemap XML or URL list",
                               response.status, response.meta.get("guessed"))
            return
        self.count("sitemaps_done", site=site)
        if body.lstrip()[:1] != b"<":
            site.sources += 1
            urls = [line.strip() for line in body.decode("utf-8", "replace").splitlines()]
            entries = [{"loc": u.lstrip("\ufeff")} for u in urls
                       if u.lstrip("\ufeff").startswith(("http://", "https://"))]
            yield from self.sitemap_pages(site, entries, response.url)
            return
        sitemap = NewsSitemap(body)
        if sitemap.type == "sitemapindex":
            site.sources += 1
            for entry in sitemap:
                when = parse_when(entry.get("lastmod"))
                if site.since and when and when < site.since:
                    self.count("sitemaps_too_old", site=site)
                    continue
                request = self.sitemap_request(site, urljoin(response.url, entry["loc"]))
                if request is not None:
                    yield request
        elif sitemap.type == "urlset":
            site.sources += 1
            yield from self.sitemap_pages(site, sitemap, response.url)
        elif sitemap.type in ("rss", "feed", "RDF"):
            site.sources += 1  # a feed named as a sitemap: read it as the feed it is
            yield from super().parse_feed(response.replace(body=body))
        else:
            self.sitemap_error(site, response.url, "not_a_sitemap",
                               f"root element <{sitemap.type}>", response.status,
                               response.meta.get("guessed"))

    def sitemap_pages(self, site: Site, entries: Iterable[dict], sitemap_url: str):
        for entry in entries:
            self.count("sitemap_urls", site=site)
            published = parse_when(entry.get("news_publication_date"))
            when = published or parse_when(entry.get("lastmod"))
            if site.since and when and when < site.since:
                self.count("sitemap_urls_too_old", site=site)
                continue
            fields = {}
            if published:
                fields["feed_published"] = published.isoformat(timespec="seconds")
            if entry.get("news_title"):
                fields["feed_title"] = entry["news_title"]
            request = self.article_request(urljoin(sitemap_url, entry["loc"]), None, fields,
                                           source=sitemap_url, news="news_title" in entry
                                           or "news_publication_date" in entry, site=site)
            if request is not None:
                yield request

    def sitemap_failed(self, failure):
        request = failure.request
        site = self.site_of(request.meta)
        reason, status = failure_reason(failure)
        self.sitemap_error(site, request.url, reason, failure.getErrorMessage(), status,
                           request.meta.get("guessed"))
        yield from self.discovery_step_done(site)

    def sitemap_error(self, site, url, reason, error, status=None, guessed=False):
        if guessed:  # /sitemap.xml was a guess: its absence is no failure
            self.logger.info("No sitemap at %s (%s)", url, reason)
            return
        self.count("sitemaps_failed", site=site)
        self.logger.warning("Sitemap %s gave nothing: %s (%s)", url, reason, error)
        self.record_failure("sitemap", url, reason, error, status=status)

    # ------------------------------------------------------------ home page and its feeds

    def parse_home(self, response: Response):
        site = self.site_of(response.meta)
        site.home_response = response
        feeds = []
        for link in response.xpath('//link[@href and contains(concat(" ", normalize-space('
                                   'translate(@rel, "ALTERNATE", "alternate")), " "), '
                                   '" alternate ")]'):
            kind = (link.attrib.get("type") or "").lower()
            if any(t in kind for t in FEED_LINK_TYPES):
                feeds.append(response.urljoin(link.attrib["href"]))
        for url in dict.fromkeys(feeds):
            if is_crawlable(url):
                self.feed_urls.append(url)
                self.source_sites[url] = site
                site.pending += 1
                request = self.feed_request(url)
                request.meta["seed_url"] = site.url
                yield request
        yield from self.discovery_step_done(site)

    def home_failed(self, failure):
        site = self.site_of(failure.request.meta)
        reason, status = failure_reason(failure)
        self.record_failure("site", failure.request.url, reason, failure.getErrorMessage(),
                            status=status)
        yield from self.discovery_step_done(site)

    def parse_feed(self, response: Response):
        site = self.site_of(response.meta)
        if response.status == 304 or response.status == 200:
            site.sources += 1
        yield from super().parse_feed(response)
        yield from self.discovery_step_done(site)

    def feed_failed(self, failure):
        super().feed_failed(failure)
        yield from self.discovery_step_done(self.site_of(failure.request.meta))

    # ------------------------------------------------------------ which pages to fetch

    def refusal(self, site: Site, url: str, from_links: bool, news: bool = False) -> str | None:
        """Why ``url`` is not fetched for ``site`` (a counter name), or None."""
        if not is_crawlable(url):
            return "bad_scheme"
        if not site.contains(url):
            return "off_site"
        if any(p.search(url) for p in site.exclude):
            return "excluded"
        if from_links:
            if urlsplit(url).path.lower().endswith(SKIP_EXTENSIONS):
                return "not_a_page"
            return None  # include patterns and URL hints are applied after the fetch
        if site.include and not any(p.search(url) for p in site.include):
            return "not_included"
        if not news and url_hint(url)[0] <= LISTING_URL_SCORE:  # a news sitemap says: article
            return "listing_url"
        return None

    def article_request(self, link: str, feed_url: str | None, entry: dict | None,
                        source: str | None = None, depth: int | None = None, news: bool = False,
                        site: Site | None = None):
        """A request for a page of a site, or None (scheduled or stored already, refused,
        or over the site's ``max_pages``)."""
        if site is None:  # an entry of a feed found on a home page
            site = self.site_of({"feed_url": feed_url or source}, link)
        canonical = canonicalize(link)
        feeds = self.feeds_of.get(canonical)
        if feeds is not None:
            if feed_url:
                feeds.add(feed_url)
            return None
        reason = self.refusal(site, link, from_links=depth is not None, news=news)
        when = parse_when((entry or {}).get("feed_published"))
        if reason is None and site.since and when and when < site.since:
            reason = "too_old"
        if reason:
            self.count(f"skipped/{reason}", site=site)
            return None
        if site.max_pages and site.pages_scheduled >= site.max_pages:
            if not site.budget_warned:
                site.budget_warned = True
                self.logger.warning("max_pages=%d reached on %s: no more pages are fetched",
                                    site.max_pages, site.url)
            self.count("skipped/max_pages", site=site)
            return None
        self.feeds_of[canonical] = {feed_url} if feed_url else set()
        if not self.refresh and self.stored_urls([canonical, link]):
            del self.feeds_of[canonical]  # held for pages on their way only
            self.count("articles_known", site=site)
            return None
        site.pages_scheduled += 1
        self.count("pages_scheduled", site=site)
        return scrapy.Request(
            link, callback=self.parse_article, errback=self.article_failed,
            meta={"feed_url": feed_url or source, "entry": entry, "canonical": canonical,
                  "link_depth": depth, "from_feed": bool(feed_url), "seed_url": site.url,
                  "news": news})

    # ------------------------------------------------------------ pages

    def parse_article(self, response: Response):
        site = self.site_of(response.meta, response.url)
        self.count("pages_fetched", site=site)
        depth = response.meta.get("link_depth")
        doc = parse_html(response.body) if hasattr(response, "text") else None
        if doc is not None and site.link_mode and depth is not None and depth < site.max_depth:
            yield from self.follow_links(site, response, depth, doc)
        if doc is None or response.meta.get("news"):  # a news sitemap lists articles only
            yield from self.store_page(response)
            return
        verdict = classify_page(response.url, doc)
        if not verdict.is_article:
            self.count("listing_pages", site=site)
            self.crawler.stats.inc_value("news/reason/listing_page")
            self.logger.debug("Listing page %s: %s", response.url, ", ".join(verdict.reasons))
            return
        if site.include and not any(p.search(response.url) for p in site.include):
            self.count("skipped/not_included", site=site)
            return
        yield from self.store_page(response)

    def store_page(self, response: Response):
        """The feed spider's checks (HTML? which charset?) and the Page item."""
        meta = response.meta
        if not meta.get("from_feed"):
            meta["feed_url"] = None  # a sitemap or a link is no feed to link the article to
        yield from super().parse_article(response)

    def follow_links(self, site: Site, response: Response, depth: int, doc=None):
        """Requests for the site's links on ``response``, one click deeper."""
        if doc is None:
            doc = parse_html(response.body) if hasattr(response, "text") else None
        if doc is None:
            return
        base = response.url
        for href in doc.xpath("//base/@href")[:1]:
            base = urljoin(base, href.strip())
        for href in doc.xpath("//a/@href"):
            href = href.strip()
            if not href or href.startswith("#"):
                continue
            url = urljoin(base, href).split("#", 1)[0]
            request = self.article_request(url, None, None, source=None, depth=depth + 1,
                                           site=site)
            if request is not None:
                yield request
