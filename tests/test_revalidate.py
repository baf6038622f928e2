"""The revalidation fast path (crawler/fetch/revalidate.py), over real HTTP on loopback into real
SQLite files: feeds that answered 304 last time are asked again outside Scrapy's engine, with
the same request, robots.txt, URL guard and politeness budget, and the same bookkeeping; every
other answer goes to Scrapy."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from crawler import store
from crawler.demo.server import LocalWeb, Resource, Site
from tests.conftest import ROOT, run_cli
from tests.loopback_resolver import NAMES
from tests.pages import LOREM_DE, article_page, rss
from tests.test_politeness import InFlight

QUICK = ["-s", "DOWNLOAD_TIMEOUT=5", "-s", "RETRY_TIMES=0", "-s", "AUTOTHROTTLE_ENABLED=False",
         "-s", "DOWNLOAD_DELAY=0.02", "--workers", "0", "-q",
         "-s", "CRAWLER_ROBOTS_MAX_AGE=0"]  # robots.txt read anew each crawl: it changes below
OFF = ["-s", "CRAWLER_FEED_REVALIDATE=False"]
N_STEADY = 4  # feeds that answer 304 every time after the first


def _feed(site: Site, name: str, articles: list[str], etag: str) -> Resource:
    for path in articles:
        site.routes.setdefault(path, Resource(article_page(f"Meldung {path}",
                                                           [path, *LOREM_DE])))
    return Resource(rss(name, [{"title": p, "link": site.url(p)} for p in articles]),
                    "application/rss+xml", etag=etag)


def _crawl(feeds, db, *extra, web=None):
    start = len(web.log) if web else 0
    result = run_cli("crawl", *feeds, "--db", db, *QUICK, *extra)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    return result, (web.log[start:], web.request_headers[start:]) if web else None


def _feeds_line(result) -> str:
    return next(line for line in result.stdout.splitlines() if line.strip().startswith("feeds:"))


def _rows(db_path) -> dict[str, dict]:
    db = store.open_db(db_path)
    try:
        return {r["url"]: r for r in db["feeds"].rows}
    finally:
        db.close()


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Four steady feeds, one that changes after its 304, one that robots.txt disallows after
    its 304; crawled by Scrapy twice (200, then 304), then three more times."""
    site = Site("fast", "127.0.0.71")
    tmp = tmp_path_factory.mktemp("revalidate")
    db = tmp / "news.db"
    with LocalWeb([site]) as web:
        site.routes["/robots.txt"] = Resource("User-agent: *\nDisallow: /private/\n",
                                              "text/plain")
        steady = [site.url(f"/f{i}.xml") for i in range(N_STEADY)]
        for i in range(N_STEADY):
            site.routes[f"/f{i}.xml"] = _feed(site, f"F{i}", [f"/2025/f{i}-a.html"], f'"f{i}"')
        site.routes["/wechsel.xml"] = _feed(site, "Wechsel", ["/2025/w-1.html"], '"w1"')
        site.routes["/intern/feed.xml"] = _feed(site, "Intern", ["/2025/i-1.html"], '"i1"')
        feeds = [*steady, site.url("/wechsel.xml"), site.url("/intern/feed.xml")]
        out = {"web": web, "db": db, "feeds": feeds}
        out["first"] = _crawl(feeds, db, web=web)
        out["second"] = _crawl(feeds, db, web=web)
        out["rows_second"] = _rows(db)
        # the changing feed has new entries; robots.txt now disallows /intern/
        site.routes["/wechsel.xml"] = _feed(site, "Wechsel", ["/2025/w-1.html", "/2025/w-2.html"],
                                            '"w2"')
        site.routes["/robots.txt"] = Resource("User-agent: *\nDisallow: /intern/\n", "text/plain")
        out["third"] = _crawl(feeds, db, web=web)
        out["rows_third"] = _rows(db)
        out["fourth"] = _crawl(feeds, db, web=web)
        out["rows_fourth"] = _rows(db)
        out["off"] = _crawl(feeds, db, *OFF, web=web)
        out["rows_off"] = _rows(db)
        yield out


def test_scrapy_path_before_the_fast_path(history):
    assert "6 unchanged (304)" in history["second"][0].stdout
    assert "fast path" not in history["second"][0].stdout  # last status was 200: not asked
    assert all(r["last_status"] == 304 for r in history["rows_second"].values())


def test_unchanged_feeds_take_the_fast_path_with_scrapy_s_request(history):
    third, (log, headers) = history["third"]
    assert f"{N_STEADY} revalidated on the fast path" in third.stdout
    scrapy_headers = {p: h for _, p, h in history["second"][1][1]}
    fast = [(path, sent) for _, path, sent in headers if path.startswith("/f")]
    assert len(fast) == N_STEADY
    for path, sent in fast:
        # the very request Scrapy makes: User-Agent, Accept*, the validator
        assert sent["If-None-Match"] == f'"{path[1:3]}"'
        assert {k.lower(): v for k, v in sent.items() if k.lower() != "host"} == \
            {k.lower(): v for k, v in scrapy_headers[path].items() if k.lower() != "host"}


def test_fast_path_keeps_the_same_bookkeeping_and_schedule(history):
    fourth, off = history["fourth"][0], history["off"][0]
    # the changed feed answered 200 last time: Scrapy asks it (and gets a 304)
    assert f"{N_STEADY} revalidated on the fast path" in fourth.stdout
    assert "fast path" not in off.stdout
    assert _feeds_line(fourth).split(" (")[0] == _feeds_line(off).split(" (")[0] == \
        "  feeds:    6 tried, 1 failed, 5 unchanged"
    before, fast, scrapy = history["rows_third"], history["rows_fourth"], history["rows_off"]
    for url, row in fast.items():
        assert row["n_fetches"] == before[url]["n_fetches"] + 1
        assert row["next_fetch"] > before[url]["next_fetch"]
        for column in ("last_status", "error", "disabled", "etag"):
            assert row[column] == scrapy[url][column], (url, column)
        # the schedule moved on the same way: an unchanged feed's interval grows alike
        assert row["interval_seconds"] / before[url]["interval_seconds"] == \
            pytest.approx(scrapy[url]["interval_seconds"] / row["interval_seconds"], rel=0.01)
    db = store.open_db(history["db"])
    crawls = list(db["crawls"].rows)
    assert crawls[-2]["n_feeds"] == crawls[-1]["n_feeds"] == 6
    assert crawls[-2]["n_pages"] == crawls[-1]["n_pages"]


def test_changed_feed_goes_to_scrapy_and_its_new_articles_are_stored(history):
    third, (log, _) = history["third"]
    assert [p for _, p, _ in log].count("/wechsel.xml") == 2  # fast 200 (not read), Scrapy 200
    assert "articles: 1 new" in third.stdout
    db = store.open_db(history["db"])
    assert db.execute("SELECT count(*) FROM articles WHERE url LIKE '%/w-2.html'").fetchone()[0]
    assert history["rows_third"][history["web"]["fast"].url("/wechsel.xml")]["etag"] == '"w2"'


def test_robots_txt_disallowing_a_fast_feed_is_recorded_as_scrapy_records_it(history):
    third, (log, _) = history["third"]
    assert "/intern/feed.xml" not in [p for _, p, _ in log]
    assert "robots_txt 1" in third.stdout
    intern = history["rows_third"][history["web"]["fast"].url("/intern/feed.xml")]
    assert intern["error"].startswith("robots_txt")
    assert [p for _, p, _ in log].count("/robots.txt") == 1  # once, through Scrapy


# ---------------------------------------------------------------- politeness


@pytest.fixture(scope="module")
def publisher(tmp_path_factory):
    """example.com on two host names: 6 feeds answering 304 slowly (0.3 s) and one that never
    has a validator (a Scrapy request every time), all in one download slot."""
    sites = [Site(name, address) for name, address in NAMES.items() if "example.com" in name]
    flight = InFlight()
    with LocalWeb(sites) as web:
        feeds = []
        for site in sites:
            host = site.name
            site.routes["/robots.txt"] = Resource("User-agent: *\n", "text/plain")
            for n in range(3):
                path = f"/{host.split('.')[0]}-{n}.xml"
                site.routes[path] = flight.slow(_feed(site, host, [f"/2025/{n}.html"],
                                                      f'"{host}-{n}"'))
                feeds.append(f"http://{host}:{site.port}{path}")
        www = sites[0]
        site_feed = Resource(rss("ohne", [{"title": "x", "link": www.url("/2025/0.html")}]),
                             "application/rss+xml")
        www.routes["/ohne.xml"] = flight.slow(site_feed)
        feeds.append(f"http://{www.name}:{www.port}/ohne.xml")
        web.flight, web.feeds, web.db = flight, feeds, tmp_path_factory.mktemp("pol") / "n.db"
        yield web


def test_fast_path_and_scrapy_share_one_budget_per_site(publisher):
    polite = ["-s", "DNS_RESOLVER=tests.loopback_resolver.LoopbackResolver",
              "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=2", "-s", "DOWNLOAD_DELAY=0.2",
              "-s", "DOWNLOAD_DELAY_JITTER=0"]
    for _ in range(2):  # 200, then 304 through Scrapy
        _crawl(publisher.feeds, publisher.db, *polite)
    publisher.flight.reset()
    result, (log, _) = _crawl(publisher.feeds, publisher.db, *polite, web=publisher)
    assert "6 revalidated on the fast path" in result.stdout
    assert [p for _, p, _ in log].count("/ohne.xml") == 1  # Scrapy's, in the same slot
    flight = publisher.flight
    assert len(flight.starts) == 7
    assert flight.peak == 2  # never more than CONCURRENT_REQUESTS_PER_DOMAIN, fast or not
    gaps = [b - a for a, b in zip(flight.starts, flight.starts[1:])]
    assert min(gaps) >= 0.2 - 0.02, gaps  # DOWNLOAD_DELAY between any two starts


# ---------------------------------------------------------------- safety, switch, Ctrl-C


def test_refused_address_is_not_fetched_and_recorded_by_scrapy(tmp_path):
    site = Site("guarded", "127.0.0.72")
    with LocalWeb([site]) as web:
        site.routes["/feed.xml"] = _feed(site, "G", ["/2025/g.html"], '"g1"')
        feeds, db = [site.url("/feed.xml")], tmp_path / "news.db"
        _crawl(feeds, db)
        _crawl(feeds, db)
        start = len(web.log)
        result, _ = _crawl(feeds, db, "-s", "CRAWLER_ONLY_NETWORKS=127.0.0.99/32", "-v")
        assert web.log[start:] == []  # neither path asked the refused address
    assert "outside_networks 1" in result.stdout and "fast path" not in result.stdout
    assert "'news/refused/outside_networks': 1," in result.stderr  # counted once
    assert _rows(db)[feeds[0]]["error"].startswith("outside_networks")


def test_ctrl_c_during_a_fast_pass_ends_the_crawl(tmp_path):
    site = Site("hangs", "127.0.0.73")
    hang, release = threading.Event(), threading.Event()
    resource = _feed(site, "H", ["/2025/h.html"], '"h1"')

    def feed(handler):
        if hang.is_set():
            release.wait(30)
        return resource

    with LocalWeb([site]) as web:
        for n in range(3):
            site.routes[f"/h{n}.xml"] = feed
        feeds, db = [site.url(f"/h{n}.xml") for n in range(3)], tmp_path / "news.db"
        _crawl(feeds, db)
        _crawl(feeds, db)
        hang.set()
        start = len(web.log)
        proc = subprocess.Popen([sys.executable, "-m", "crawler", "crawl", *feeds, "--db",
                                 str(db), *QUICK], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while len([p for _, p, _ in web.log[start:] if p.startswith("/h")]) < 3:
            assert time.time() < deadline and proc.poll() is None, "fast requests never came"
            time.sleep(0.05)
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        took = time.monotonic() - interrupted
        release.set()
    assert took < 10, err[-2000:]  # the held requests were cancelled, not waited for
    assert "Traceback" not in err
    assert proc.returncode == 1 and "--resume to continue" in out
    assert all(row["n_fetches"] == 2 for row in _rows(db).values())  # nothing recorded


def test_switched_off_nothing_goes_the_fast_path(history):
    _, (log, _) = history["off"]
    assert "fast path" not in history["off"][0].stdout
    assert [p for _, p, _ in log].count("/wechsel.xml") == 1


def test_fast_path_idle_connections_close_after_the_bound(tmp_path):
    """CRAWLER_REVALIDATE_IDLE_SECONDS bounds the fast path's keep-alive connections: the one
    to a host it is done with closes while another host still answers."""
    done, slow = Site("done", "127.0.0.74"), Site("slowly", "127.0.0.75")
    done.routes["/feed.xml"] = Resource(rss("Fertig", []), "application/rss+xml", etag='"d"')
    delay = [0.0]

    def slow_feed(handler):
        time.sleep(delay[0])
        return Resource(rss("Langsam", []), "application/rss+xml", etag='"s"')

    slow.routes["/feed.xml"] = slow_feed
    with LocalWeb([done, slow]) as web:
        feeds, db = [done.url("/feed.xml"), slow.url("/feed.xml")], tmp_path / "news.db"
        _crawl(feeds, db)
        _crawl(feeds, db)
        delay[0] = 4.0
        web.log.clear()
        web.closed.clear()
        result, _ = _crawl(feeds, db, "-s", "CRAWLER_REVALIDATE_IDLE_SECONDS=1",
                           "-s", "CRAWLER_IDLE_CONNECTION_SECONDS=1")  # Scrapy's, robots.txt
    assert "2 revalidated on the fast path" in result.stdout
    last_done = max(t for s, _, t in web.log if s == "done")
    slow_answered = min(t for s, p, t in web.log if s == "slowly" and p == "/feed.xml") + 4.0
    closes = [t for s, t in web.closed if s == "done"]
    assert closes and all(last_done + 1 - 0.2 <= t < slow_answered for t in closes), \
        (last_done, closes, slow_answered)


def test_fast_path_holds_to_concurrent_requests(tmp_path):
    """At most CONCURRENT_REQUESTS fast requests at once, over all sites: three sites, one slow
    feed each, CONCURRENT_REQUESTS=2."""
    sites = [Site(f"s{n}", f"127.0.0.{76 + n}") for n in range(3)]
    flight, slow = InFlight(), [False]
    for site in sites:
        resource = _feed(site, site.name, [], f'"{site.name}"')
        site.routes["/feed.xml"] = lambda handler, r=resource: \
            flight.slow(r, 0.5 if slow[0] else 0)(handler)
    with LocalWeb(sites) as web:
        feeds, db = [site.url("/feed.xml") for site in sites], tmp_path / "news.db"
        _crawl(feeds, db)
        _crawl(feeds, db)
        flight.reset()
        slow[0] = True
        result, _ = _crawl(feeds, db, "-s", "CONCURRENT_REQUESTS=2", web=web)
    assert "3 revalidated on the fast path" in result.stdout
    assert len(flight.starts) == 3 and flight.peak == 2


def test_retry_after_hold_of_a_site_holds_its_fast_requests(tmp_path):
    """A 429 with Retry-After: 2 to a Scrapy request holds the whole site for the fast path
    too: no request of the site starts in the hold."""
    site = Site("held", "127.0.0.79")
    busy = [False]

    def moody(handler):
        if busy[0]:
            busy[0] = False
            return Resource("slow down", "text/plain", status=429, headers={"Retry-After": "2"})
        return Resource(rss("Ohne", []), "application/rss+xml")  # no validator: Scrapy's

    site.routes["/ohne.xml"] = moody
    for n in range(4):
        site.routes[f"/f{n}.xml"] = _feed(site, f"F{n}", [], f'"f{n}"')
    with LocalWeb([site]) as web:
        feeds = [site.url("/ohne.xml")] + [site.url(f"/f{n}.xml") for n in range(4)]
        db = tmp_path / "news.db"
        _crawl(feeds, db)
        _crawl(feeds, db)
        busy[0] = True
        result, (log, _) = _crawl(feeds, db, "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1",
                                  "-s", "DOWNLOAD_DELAY=0.3", "-s", "RETRY_TIMES=2", web=web)
    assert "4 revalidated on the fast path" in result.stdout
    starts = [(p, t) for _, p, t in log if p != "/robots.txt"]
    told = next(t for p, t in starts if p == "/ohne.xml")
    after = [(p, round(t - told, 2)) for p, t in starts if t > told]
    assert len(after) >= 2, starts  # the retry and at least one fast request came after it
    assert all(gap >= 2 - 0.1 for _, gap in after), after
