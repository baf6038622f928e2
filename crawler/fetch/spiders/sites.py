"""The site spider: scrape one news site, finding its articles in its sitemaps and feeds, or by
following its links when it has neither.

``scrapy crawl sites -a site=https://example.org/ [-a max_pages=500 -a since=2024-01-01 ...]``
or ``crawler scrape URL``. Discovery, in order:

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


class SiteSpider(FeedSpider, SitemapSpider):
    """``scrapy crawl sites -a site=URL`` (options: max_pages, max_depth, since, include,
    exclude, subdomains, follow_links)."""

    name = "sites"

    def __init__(self, site: str | None = None, max_pages: int | str = 0,
                 max_depth: int | str = 3, since: str | None = None,
                 include: str | list[str] | None = None, exclude: str | list[str] | None = None,
                 subdomains: bool | str = False, follow_links: bool | str = False, **kwargs: Any):
        super(FeedSpider, self).__init__(**kwargs)  # FeedSpider's own __init__ wants feeds
        if not site:
            raise UserError("no site given (e.g. https://example.org/)")
        self.site_url = site_url_of(site)
        self.host = (urlsplit(self.site_url).hostname or "").lower()
        self.subdomains = str(subdomains).lower() in ("1", "true", "yes")
        self.base_domain = self.host[4:] if self.host.startswith("www.") else self.host
        self.max_pages = _int(max_pages, "max_pages")
        self.max_depth = _int(max_depth, "max_depth")
        self.since = parse_since(since) if isinstance(since, str) else since
        self.include = url_patterns(include)
        self.exclude = url_patterns(exclude)
        self.force_links = str(follow_links).lower() in ("1", "true", "yes")
        self.feed_urls: list[str] = []
        self.start_urls = [self.site_url]  # where the crawl started (crawler.fetch.middlewares)
        self.pages_scheduled = 0
        self.pending = 0              # discovery requests (robots, sitemaps, home, feeds) open
        self.sources = 0              # sitemaps and feeds that answered
        self.link_mode = False
        self.home_response: Response | None = None
        self.seen_sitemaps: set[str] = set()
        self.budget_warned = False

    # ------------------------------------------------------------ discovery

    async def start(self) -> AsyncIterator[Any]:
        self.feeds_of.setdefault(canonicalize(self.site_url), set())  # home is fetched once
        self.pending += 1
        yield scrapy.Request(urljoin(self.site_url, "/robots.txt"), callback=self.parse_robots,
                             errback=self.robots_failed, dont_filter=True,
                             meta={"dont_obey_robotstxt": True, "handle_httpstatus_all": True})

    def parse_robots(self, response: Response):
        sitemaps = []
        if response.status == 200:
            sitemaps = list(sitemap_urls_from_robots(response.body, base_url=response.url))
        yield from self.after_robots(sitemaps)

    def robots_failed(self, failure):
        yield from self.after_robots([])

    def after_robots(self, sitemaps: list[str]):
        """Read the sitemaps robots.txt names (else /sitemap.xml), and the home page.

        Sequenced after robots.txt on purpose: Scrapy's robots.txt middleware then finds the
        file fetched (and, in a resumable job, cached) instead of fetching it a second time.
        """
        guessed = not sitemaps
        for url in sitemaps or [urljoin(self.site_url, "/sitemap.xml")]:
            request = self.sitemap_request(url, guessed=guessed)
            if request is not None:
                yield request
        self.pending += 1
        yield scrapy.Request(self.site_url, callback=self.parse_home, errback=self.home_failed,
                             dont_filter=True, meta={"link_depth": 0})
        yield from self.discovery_step_done()

    def sitemap_request(self, url: str, guessed: bool = False) -> scrapy.Request | None:
        if url in self.seen_sitemaps or not is_crawlable(url):
            return None
        self.seen_sitemaps.add(url)
        self.pending += 1
        return scrapy.Request(url, callback=self.parse_sitemap, errback=self.sitemap_failed,
                              dont_filter=True, meta={"guessed": guessed, "feed_url": url})

    def discovery_step_done(self):
        """One discovery request answered; when none is left and no sitemap or feed gave
        anything, fall back to following the site's links from its home page."""
        self.pending -= 1
        if self.pending == 0 and not self.link_mode and self.home_response is not None \
                and (self.force_links or not self.sources):
            self.link_mode = True
            self.count("link_mode")
            self.logger.info("No sitemap or feed on %s: following its links (depth %d)",
                             self.site_url, self.max_depth)
            yield from self.follow_links(self.home_response, 0)

    # ------------------------------------------------------------ sitemaps

    def parse_sitemap(self, response: Response):
        yield from self.read_sitemap(response)
        yield from self.discovery_step_done()

    def read_sitemap(self, response: Response):
        if response.body[:3] == b"\x1f\x8b\x08" and type(response) is not Response:
            # gzip served under an .xml name without Content-Encoding: Scrapy takes it for
            # XML and would hand back the compressed bytes; read it as the gzip file it is.
            response = Response(response.url, status=response.status,
                                headers=response.headers, body=response.body,
                                request=response.request)
        body = self._get_sitemap_body(response)
        if body is None and response.body[:2] == b"\x1f\x8b":  # gunzip stopped at the size cap
            self.sitemap_error(response.url, "too_large", "inflates beyond DOWNLOAD_MAXSIZE",
                               response.status, response.meta.get("guessed"))
            return
        if body is None and response.body[:200].lstrip()[:1] not in (b"<", b""):
            body = response.body  # a plain-text sitemap (one URL a line), served as text/plain
        if not body:
            self.sitemap_error(response.url, "not_a_sitemap", "no sitemap XML or URL list",
                               response.status, response.meta.get("guessed"))
            return
        self.count("sitemaps_done")
        if body.lstrip()[:1] != b"<":
            self.sources += 1
            urls = [line.strip() for line in body.decode("utf-8", "replace").splitlines()]
            entries = [{"loc": u.lstrip("\ufeff")} for u in urls
                       if u.lstrip("\ufeff").startswith(("http://", "https://"))]
            yield from self.sitemap_pages(entries, response.url)
            return
        sitemap = NewsSitemap(body)
        if sitemap.type == "sitemapindex":
            self.sources += 1
            for entry in sitemap:
                when = parse_when(entry.get("lastmod"))
                if self.since and when and when < self.since:
                    self.count("sitemaps_too_old")
                    continue
                request = self.sitemap_request(urljoin(response.url, entry["loc"]))
                if request is not None:
                    yield request
        elif sitemap.type == "urlset":
            self.sources += 1
            yield from self.sitemap_pages(sitemap, response.url)
        elif sitemap.type in ("rss", "feed", "RDF"):
            self.sources += 1  # a feed named as a sitemap: read it as the feed it is
            yield from super().parse_feed(response.replace(body=body))
        else:
            self.sitemap_error(response.url, "not_a_sitemap", f"root element <{sitemap.type}>",
                               response.status, response.meta.get("guessed"))

    def sitemap_pages(self, entries: Iterable[dict], sitemap_url: str):
        for entry in entries:
            self.count("sitemap_urls")
            published = parse_when(entry.get("news_publication_date"))
            when = published or parse_when(entry.get("lastmod"))
            if self.since and when and when < self.since:
                self.count("sitemap_urls_too_old")
                continue
            fields = {}
            if published:
                fields["feed_published"] = published.isoformat(timespec="seconds")
            if entry.get("news_title"):
                fields["feed_title"] = entry["news_title"]
            request = self.article_request(urljoin(sitemap_url, entry["loc"]), None, fields,
                                           source=sitemap_url, news="news_title" in entry
                                           or "news_publication_date" in entry)
            if request is not None:
                yield request

    def sitemap_failed(self, failure):
        request = failure.request
        reason, status = failure_reason(failure)
        self.sitemap_error(request.url, reason, failure.getErrorMessage(), status,
                           request.meta.get("guessed"))
        yield from self.discovery_step_done()

    def sitemap_error(self, url, reason, error, status=None, guessed=False):
        if guessed:  # /sitemap.xml was a guess: its absence is no failure
            self.logger.info("No sitemap at %s (%s)", url, reason)
            return
        self.count("sitemaps_failed")
        self.logger.warning("Sitemap %s gave nothing: %s (%s)", url, reason, error)
        self.record_failure("sitemap", url, reason, error, status=status)

    # ------------------------------------------------------------ home page and its feeds

    def parse_home(self, response: Response):
        self.home_response = response
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
                self.pending += 1
                yield self.feed_request(url)
        yield from self.discovery_step_done()

    def home_failed(self, failure):
        reason, status = failure_reason(failure)
        self.record_failure("site", failure.request.url, reason, failure.getErrorMessage(),
                            status=status)
        yield from self.discovery_step_done()

    def parse_feed(self, response: Response):
        if response.status == 304 or response.status == 200:
            self.sources += 1
        yield from super().parse_feed(response)
        yield from self.discovery_step_done()

    def feed_failed(self, failure):
        super().feed_failed(failure)
        yield from self.discovery_step_done()

    # ------------------------------------------------------------ which pages to fetch

    def on_site(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        if host == self.host:
            return True
        if not self.subdomains:
            return False
        return host == self.base_domain or host.endswith("." + self.base_domain)

    def refusal(self, url: str, from_links: bool, news: bool = False) -> str | None:
        """Why ``url`` is not fetched (a counter name), or None."""
        if not is_crawlable(url):
            return "bad_scheme"
        if not self.on_site(url):
            return "off_site"
        if any(p.search(url) for p in self.exclude):
            return "excluded"
        if from_links:
            if urlsplit(url).path.lower().endswith(SKIP_EXTENSIONS):
                return "not_a_page"
            return None  # include patterns and URL hints are applied after the fetch
        if self.include and not any(p.search(url) for p in self.include):
            return "not_included"
        if not news and url_hint(url)[0] <= LISTING_URL_SCORE:  # a news sitemap says: article
            return "listing_url"
        return None

    def article_request(self, link: str, feed_url: str | None, entry: dict | None,
                        source: str | None = None, depth: int | None = None, news: bool = False):
        """A request for a page of the site, or None (scheduled or stored already, refused,
        or over ``max_pages``)."""
        canonical = canonicalize(link)
        feeds = self.feeds_of.get(canonical)
        if feeds is not None:
            if feed_url:
                feeds.add(feed_url)
            return None
        reason = self.refusal(link, from_links=depth is not None, news=news)
        when = parse_when((entry or {}).get("feed_published"))
        if reason is None and self.since and when and when < self.since:
            reason = "too_old"
        if reason:
            self.count(f"skipped/{reason}")
            return None
        if self.max_pages and self.pages_scheduled >= self.max_pages:
            if not self.budget_warned:
                self.budget_warned = True
                self.logger.warning("max_pages=%d reached: no more pages are fetched",
                                    self.max_pages)
            self.count("skipped/max_pages")
            return None
        self.feeds_of[canonical] = {feed_url} if feed_url else set()
        if not self.refresh and self.stored_urls([canonical, link]):
            self.count("articles_known")
            return None
        self.pages_scheduled += 1
        self.count("pages_scheduled")
        return scrapy.Request(
            link, callback=self.parse_article, errback=self.article_failed,
            meta={"feed_url": feed_url or source, "entry": entry, "canonical": canonical,
                  "link_depth": depth, "from_feed": bool(feed_url), "seed_url": self.site_url,
                  "news": news})

    # ------------------------------------------------------------ pages

    def parse_article(self, response: Response):
        depth = response.meta.get("link_depth")
        doc = parse_html(response.body) if hasattr(response, "text") else None
        if doc is not None and self.link_mode and depth is not None and depth < self.max_depth:
            yield from self.follow_links(response, depth, doc)
        if doc is None or response.meta.get("news"):  # a news sitemap lists articles only
            yield from self.store_page(response)
            return
        verdict = classify_page(response.url, doc)
        if not verdict.is_article:
            self.count("listing_pages")
            self.crawler.stats.inc_value("news/reason/listing_page")
            self.logger.debug("Listing page %s: %s", response.url, ", ".join(verdict.reasons))
            return
        if self.include and not any(p.search(response.url) for p in self.include):
            self.count("skipped/not_included")
            return
        yield from self.store_page(response)

    def store_page(self, response: Response):
        """The feed spider's checks (HTML? which charset?) and the Page item."""
        meta = response.meta
        if not meta.get("from_feed"):
            meta["feed_url"] = None  # a sitemap or a link is no feed to link the article to
        yield from super().parse_article(response)

    def follow_links(self, response: Response, depth: int, doc=None):
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
            request = self.article_request(url, None, None, source=None, depth=depth + 1)
            if request is not None:
                yield request
