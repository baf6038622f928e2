"""Politeness: user agent with a contact URL, robots.txt, one download slot per publisher across
all feeds of a crawl (concurrency and delay), and Retry-After on 429 and 503."""
from __future__ import annotations

import email.utils
import threading
import time

import pytest

from crawler import store
from crawler.demo.server import LocalWeb, Resource, Site
from crawler.fetch.politeness import parse_retry_after, publisher_key, user_agent
from tests.conftest import run_cli
from tests.loopback_resolver import NAMES
from tests.pages import LOREM_DE, article_page, rss

RESOLVER = ["-s", "DNS_RESOLVER=tests.loopback_resolver.LoopbackResolver"]
QUICK = ["-s", "DOWNLOAD_TIMEOUT=5", "--workers", "0", "-q"]


def test_publisher_key_groups_hosts_of_one_registered_domain():
    assert publisher_key("www.example.com") == publisher_key("feeds.example.com") == "example.com"
    assert publisher_key("rss.bbc.co.uk") == "bbc.co.uk"
    assert publisher_key("alice.github.io") != publisher_key("bob.github.io")
    assert publisher_key("127.0.0.11") == "127.0.0.11"
    assert publisher_key("localhost") == "localhost"


def test_retry_after_values():
    now = time.time()
    assert parse_retry_after(b"120") == 120
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= parse_retry_after(date, now=now) <= 31
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_user_agent_names_the_contact_url():
    assert user_agent("news-crawler", "0.1.0", "https://ops.example.net/bot") == \
        "news-crawler/0.1.0 (+https://ops.example.net/bot)"


# ---------------------------------------------------------------- one slot per publisher


class InFlight:
    """Counts requests being answered at once, per publisher, with when each started."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.starts: list[float] = []

    def slow(self, resource: Resource, seconds: float = 0.3):
        def handle(handler):
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
                self.starts.append(time.monotonic())
            time.sleep(seconds)
            with self.lock:
                self.now -= 1
            return resource
        return handle

    def reset(self):
        self.now = self.peak = 0
        self.starts = []


@pytest.fixture(scope="module")
def publisher():
    """example.com on two hosts (www., feeds.) with three feeds; example.org beside it."""
    sites = [Site(name, address) for name, address in NAMES.items()]
    flight = {"example.com": InFlight(), "example.org": InFlight()}
    with LocalWeb(sites) as web:
        for site in sites:
            host = site.name
            counter = flight[publisher_key(host)]
            base = f"http://{host}:{site.port}"
            site.routes["/robots.txt"] = Resource("User-agent: *\nDisallow: /intern/\n",
                                                  "text/plain")
            items = []
            for n in range(3):
                path = f"/2025/{host.split('.')[0]}-meldung-{n}.html"
                site.routes[path] = counter.slow(Resource(article_page(
                    f"{host} Meldung {n}", [f"{host} {n}.", *LOREM_DE])))
                items.append({"title": f"{n}", "link": base + path})
            site.routes["/intern/geheim.html"] = Resource(article_page("Geheim", LOREM_DE))
            items.append({"title": "intern", "link": base + "/intern/geheim.html"})
            site.routes["/rss.xml"] = counter.slow(Resource(rss(host, items),
                                                            "application/rss+xml"))
            site.routes["/politik.xml"] = counter.slow(Resource(rss(host, items[:2]),
                                                                "application/rss+xml"))
        web.flight = flight
        web.feeds = [f"http://{s.name}:{s.port}{p}" for s in sites
                     for p in ("/rss.xml", "/politik.xml")]
        yield web


def _crawl(web, tmp_path, *extra):
    for counter in web.flight.values():
        counter.reset()
    start = len(web.log)
    result = run_cli("crawl", *web.feeds, "--db", tmp_path / "news.db", *RESOLVER, *QUICK,
                     "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1", "-s", "RETRY_TIMES=0", *extra)
    assert result.returncode == 0, result.stderr
    return result, web.log[start:], web.request_headers[start:]


def test_one_slot_per_publisher_across_its_hosts_and_feeds(publisher, tmp_path):
    result, log, headers = _crawl(publisher, tmp_path, "-s", "DOWNLOAD_DELAY=0.2",
                                  "-s", "AUTOTHROTTLE_ENABLED=True",
                                  "-s", "AUTOTHROTTLE_START_DELAY=0.2",
                                  "-s", "CRAWLER_CONTACT_URL=https://ops.example.net/bot")
    assert "articles: 9 new" in result.stdout
    com = publisher.flight["example.com"]
    assert com.peak == 1  # two hosts, four feeds of example.com: never two requests at once
    gaps = [b - a for a, b in zip(com.starts, com.starts[1:])]
    assert min(gaps) >= 0.3  # one after the other (each answer takes 0.3 s)
    agents = {h.get("User-Agent") for _, _, h in headers}
    assert agents == {"news-crawler/0.1.0 (+https://ops.example.net/bot)"}


def test_per_host_slots_when_asked(publisher, tmp_path):
    _crawl(publisher, tmp_path, "-s", "CRAWLER_SLOT_BY=host", "-s", "DOWNLOAD_DELAY=0.1",
           "-s", "AUTOTHROTTLE_ENABLED=False")
    assert publisher.flight["example.com"].peak == 2  # www. and feeds. in parallel


def test_a_slot_keeps_its_concurrency_without_a_delay(publisher, tmp_path):
    # Scrapy 2.19 on the asyncio reactor started every queued request of a slot at once when
    # it had no delay (crawler/fetch/downloader.py)
    result, _, _ = _crawl(publisher, tmp_path, "-s", "DOWNLOAD_DELAY=0",
                          "-s", "AUTOTHROTTLE_ENABLED=False")
    assert "articles: 9 new" in result.stdout
    assert publisher.flight["example.com"].peak == 1
    assert publisher.flight["example.org"].peak == 1


def test_robots_txt_is_obeyed_by_default(publisher, tmp_path):
    result, log, headers = _crawl(publisher, tmp_path, "-s", "DOWNLOAD_DELAY=0",
                                  "-s", "AUTOTHROTTLE_ENABLED=False")
    assert not [p for _, p, _ in log if p.startswith("/intern/")]
    assert "robots_txt 3" in result.stdout
    assert [p for _, p, _ in log].count("/robots.txt") == 3  # once per host
    default = {h.get("User-Agent") for _, _, h in headers}
    assert default == {"news-crawler/0.1.0 (+https://github.com/news-crawler/news-crawler)"}
    ignored, log, _ = _crawl(publisher, tmp_path, "--ignore-robots", "-s", "DOWNLOAD_DELAY=0",
                             "-s", "AUTOTHROTTLE_ENABLED=False")
    assert [p for _, p, _ in log].count("/intern/geheim.html") == 3


def test_robots_txt_rules_of_at_most_so_many_hosts_are_held(publisher, tmp_path):
    result, log, _ = _crawl(publisher, tmp_path, "-s", "DOWNLOAD_DELAY=0",
                            "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CRAWLER_ROBOTS_HOSTS=1",
                            "-s", "CRAWLER_ROBOTS_MAX_AGE=0",  # none kept in the database
                            "-s", "CRAWLER_JOBS=False")  # no resume cache to answer again
    assert not [p for _, p, _ in log if p.startswith("/intern/")]
    assert "robots_txt 3" in result.stdout and "articles: 9 new" in result.stdout
    assert [p for _, p, _ in log].count("/robots.txt") > 3  # three hosts, rules of one held


def test_robots_txt_is_kept_across_crawls_for_its_max_age(publisher, tmp_path):
    quick = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False"]
    first, log, _ = _crawl(publisher, tmp_path, *quick)
    assert [p for _, p, _ in log].count("/robots.txt") == 3
    again, log, _ = _crawl(publisher, tmp_path, *quick, "--refresh")
    assert [p for _, p, _ in log].count("/robots.txt") == 0  # the kept rules, obeyed:
    assert not [p for _, p, _ in log if p.startswith("/intern/")]
    assert "robots_txt 3" in again.stdout and "articles: 0 new" in again.stdout
    db = store.open_db(tmp_path / "news.db")
    assert {r["status"] for r in db["robots"].rows} == {200} and db["robots"].count == 3
    db.close()
    _, log, _ = _crawl(publisher, tmp_path, *quick, "-s", "CRAWLER_ROBOTS_MAX_AGE=0")
    assert [p for _, p, _ in log].count("/robots.txt") == 3


def test_robots_txt_binds_every_request_that_waited_for_it(tmp_path):
    """Six feeds of one host start together while its robots.txt takes 0.5 s to answer: none
    under the disallowed path is fetched (Scrapy 2.19 alone let all but one through)."""
    site = Site("slowrobots", "127.0.0.2")

    def slow_robots(handler):
        time.sleep(0.5)
        return Resource("User-agent: *\nDisallow: /intern/\n", "text/plain")

    with LocalWeb([site]) as web:
        site.routes["/robots.txt"] = slow_robots
        site.routes["/feed.xml"] = Resource(rss("offen", []), "application/rss+xml")
        feeds = [site.url(f"/intern/feed-{n}.xml") for n in range(6)] + [site.url("/feed.xml")]
        result = run_cli("crawl", *feeds, "--db", tmp_path / "news.db", *QUICK,
                         "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False",
                         "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8")
    assert result.returncode == 0, result.stderr
    paths = [p for _, p, _ in web.log]
    assert not [p for p in paths if p.startswith("/intern/")], paths
    assert paths.count("/robots.txt") == 1 and "/feed.xml" in paths
    assert "robots_txt 6" in result.stdout


# ---------------------------------------------------------------- Retry-After


class Moody:
    """Answers ``first`` once, then the page."""

    def __init__(self, first: Resource, then: Resource):
        self.first, self.then, self.calls = first, then, 0

    def __call__(self, handler):
        self.calls += 1
        first = self.first() if callable(self.first) else self.first
        return first if self.calls == 1 else self.then


@pytest.fixture(scope="module")
def busy():
    site = Site("busy", "127.0.0.54")
    with LocalWeb([site]) as web:
        base = site.base
        page = lambda n: Resource(article_page(f"Seite {n}", [f"Seite {n}.", *LOREM_DE]))  # noqa
        site.routes["/a.html"] = Moody(Resource("slow down", "text/plain", status=429,
                                                headers={"Retry-After": "2"}), page("a"))
        site.routes["/b.html"] = Moody(lambda: Resource(
            "maintenance", "text/plain", status=503,
            headers={"Retry-After": email.utils.formatdate(time.time() + 3, usegmt=True)}),
            page("b"))
        site.routes["/c.html"] = Resource("come back tomorrow", "text/plain", status=429,
                                          headers={"Retry-After": "86400"})
        for n in "def":
            site.routes[f"/{n}.html"] = page(n)
        site.routes["/rss.xml"] = Resource(rss("Busy", [{"title": n, "link": f"{base}/{n}.html"}
                                                        for n in "abcdef"]), "application/rss+xml")
        yield web


def test_retry_after_holds_the_host_then_retries(busy, tmp_path):
    started = time.time()
    result = run_cli("crawl", busy["busy"].url("/rss.xml"), "--db", tmp_path / "news.db",
                     *QUICK, "-s", "RETRY_TIMES=2", "-s", "DOWNLOAD_DELAY=0.1",
                     "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1",
                     "-s", "CRAWLER_RETRY_AFTER_MAX=60")
    assert result.returncode == 0, result.stderr
    assert time.time() - started < 60  # the 86400 s Retry-After was not waited for
    log = [(p, t) for _, p, t in busy.log]
    assert [p for p, _ in log].count("/a.html") == 2 and [p for p, _ in log].count("/b.html") == 2
    assert [p for p, _ in log].count("/c.html") == 1
    for path, wait in (("/a.html", 2), ("/b.html", 2)):
        i = next(i for i, (p, _) in enumerate(log) if p == path)
        told_at, next_request_at = log[i][1], log[i + 1][1]
        assert next_request_at - told_at >= wait - 0.3, (path, log)  # the whole host waited
    db = store.open_db(tmp_path / "news.db")
    stored = {r["url"].rsplit("/", 1)[1] for r in db["articles"].rows}
    assert stored == {"a.html", "b.html", "d.html", "e.html", "f.html"}
    reasons = {r["url"].rsplit("/", 1)[1]: r["reason"] for r in db["failures"].rows}
    assert reasons == {"c.html": "http_429"}
