"""Feeds at scale, over real HTTP on 127.0.0.91: a feed list longer than every batch (feed
states read, fetches written, schedule updated 500 at a time), a feed that sends the same
body again (not read again), and a big feed read in the extraction pool."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from crawler import store
from crawler.demo.server import LocalWeb, Resource, Site
from crawler.fetch.feedlist import LISTED_FEEDS, describe_feeds
from crawler.fetch.spiders.base import FEED_WRITES_BATCH
from crawler.fetch.revalidate import WINDOW
from crawler.fetch.spiders.feeds import STATE_BATCH
from tests.conftest import ROOT, run_cli
from tests.pages import article_page, rss
from tests.test_resume import _paragraphs

N_FEEDS = max(STATE_BATCH, FEED_WRITES_BATCH, store.CHUNK, WINDOW) + 1
N_BIG = 60  # entries of the big feed: ~20 KB, over CRAWLER_FEED_POOL_BYTES
FAST = ["-s", "DOWNLOAD_TIMEOUT=30", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0",
        "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16"]


@pytest.fixture(scope="module")
def web():
    site = Site("viele", "127.0.0.91")
    with LocalWeb([site]) as w:
        shared = site.url("/2025/gemeinsame-meldung.html")
        site.routes["/2025/gemeinsame-meldung.html"] = Resource(
            article_page("Gemeinsame Meldung", _paragraphs(1000)))
        for i in range(N_FEEDS):  # many feeds, all listing one article, all with an ETag
            site.routes[f"/f/{i}.xml"] = Resource(
                rss(f"Feed {i}", [{"title": "Gemeinsam", "link": shared}]),
                "application/rss+xml", etag=f'"f{i}"')
        items = []
        for i in range(N_BIG):
            path = f"/2025/grosse-meldung-{i}.html"
            site.routes[path] = Resource(article_page(f"Große Meldung {i}", _paragraphs(i)))
            items.append({"title": f"Große Meldung {i}", "link": site.url(path),
                          "summary": "Eine lange Kurzfassung. " * 10})
        # no ETag, no Last-Modified: the server sends the whole feed every time
        site.routes["/gross.xml"] = Resource(rss("Groß", items), "application/rss+xml")
        yield w


@pytest.fixture(scope="module")
def crawls(web, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale")
    feeds = tmp / "feeds.txt"
    feeds.write_text("".join(web["viele"].url(f"/f/{i}.xml") + "\n" for i in range(N_FEEDS)))
    big = web["viele"].url("/gross.xml")
    db = tmp / "news.db"
    out = {"db": db, "big": big}
    for run in ("first", "second"):
        out[run] = run_cli("crawl", feeds, big, "--db", db, *FAST, "--workers", "1", "-q",
                           "-v", timeout=300)
    return out


def test_many_feeds_past_every_batch(crawls, web):
    for run in ("first", "second"):
        assert crawls[run].returncode == 0, crawls[run].stdout + crawls[run].stderr[-3000:]
    assert f"{N_FEEDS} unchanged (304)" in crawls["second"].stdout
    db = store.open_db(crawls["db"])
    feeds = store.get_feeds(db, [web["viele"].url(f"/f/{i}.xml") for i in range(N_FEEDS)])
    assert len(feeds) == N_FEEDS
    assert {f["n_fetches"] for f in feeds.values()} == {2}
    assert {f["last_status"] for f in feeds.values()} == {304}
    assert all(f["etag"] and f["next_fetch"] and f["title"] for f in feeds.values())
    # a long feed list is recorded by its length, first feeds and digest, not whole
    args = [json.loads(a) for (a,) in db.execute("SELECT args FROM crawls ORDER BY id")]
    assert args[0] == args[1] and args[0]["feeds"]["count"] == N_FEEDS + 1
    assert args[0]["feeds"]["first"][0] == web["viele"].url("/f/0.xml")
    # the one article every feed lists: fetched once, linked to every feed
    assert web.hits("viele", "/2025/gemeinsame-meldung.html") == 1
    assert db.execute("SELECT count(*) FROM article_feeds").fetchone()[0] == N_FEEDS + N_BIG


def test_same_feed_sent_again_is_not_read_again(crawls, web):
    assert "1 sent the same feed again" in crawls["second"].stdout
    assert "articles: 0 new, 0 already known" in crawls["second"].stdout  # entries not looked at
    db = store.open_db(crawls["db"])
    feed = store.get_feed(db, crawls["big"])
    assert feed["body_hash"] and feed["n_fetches"] == 2 and feed["last_status"] == 200
    for i in range(N_BIG):
        assert web.hits("viele", f"/2025/grosse-meldung-{i}.html") == 1


def test_big_feed_read_in_the_extraction_pool(crawls):
    assert f"Feed {crawls['big']} (" in crawls["first"].stderr
    assert "read in the extraction pool" in crawls["first"].stderr
    assert "articles: 61 new" in crawls["first"].stdout  # the shared one and the big feed's
    assert "read in the extraction pool" not in crawls["second"].stderr  # same body: not read


@pytest.fixture(scope="module")
def third(crawls, web):
    """A third crawl: every feed but the big one answered 304 last time."""
    return run_cli("crawl", crawls["db"].parent / "feeds.txt", crawls["big"], "--db",
                   crawls["db"], *FAST, "--workers", "1", "-q", timeout=300)


def test_fast_path_past_its_window(crawls, third, web):
    """More feeds than the fast path's window take it, with the bookkeeping of a 304."""
    assert third.returncode == 0, third.stdout + third.stderr[-3000:]
    assert f"{N_FEEDS} unchanged (304) ({N_FEEDS} revalidated on the fast path)" in third.stdout
    assert "1 sent the same feed again" in third.stdout  # the big feed: last status 200, Scrapy
    db = store.open_db(crawls["db"])
    feeds = store.get_feeds(db, [web["viele"].url(f"/f/{i}.xml") for i in range(N_FEEDS)])
    assert {f["n_fetches"] for f in feeds.values()} == {3}
    assert {f["last_status"] for f in feeds.values()} == {304}


# ---------------------------------------------------------------- idle keep-alive connections

SLOW_SECONDS = 4.0


@pytest.fixture(scope="module")
def two_hosts():
    """Host "done" answers at once; host "slow" takes SLOW_SECONDS, so the crawl is still
    running while the connection to "done" sits idle."""
    import time

    done, slow = Site("done", "127.0.0.92"), Site("slow", "127.0.0.93")
    done.routes["/feed.xml"] = Resource(rss("Fertig", []), "application/rss+xml")

    def slow_feed(handler):
        time.sleep(SLOW_SECONDS)
        return Resource(rss("Langsam", []), "application/rss+xml")

    slow.routes["/feed.xml"] = slow_feed
    with LocalWeb([done, slow]) as w:
        yield w


@pytest.mark.parametrize("idle", [1.0, None])
def test_idle_connections_close_after_the_bound(two_hosts, tmp_path, idle):
    web = two_hosts
    web.log.clear()
    web.closed.clear()
    bound = ["-s", f"CRAWLER_IDLE_CONNECTION_SECONDS={idle}"] if idle else []
    result = run_cli("crawl", web["done"].url("/feed.xml"), web["slow"].url("/feed.xml"),
                     "--db", tmp_path / "news.db", *FAST, *bound, "--workers", "0", "-q")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    last_done = max(t for s, _, t in web.log if s == "done")
    slow_answered = min(t for s, p, t in web.log if s == "slow" and p == "/feed.xml") \
        + SLOW_SECONDS
    closes = [t for s, t in web.closed if s == "done"]
    assert closes
    if idle:  # closed once idle for just past the bound, while the crawl still ran
        assert all(last_done + idle - 0.2 <= t < slow_answered for t in closes), \
            (last_done, closes, slow_answered)
    else:  # the default (60 s) keeps it for reuse until the crawl ends
        assert all(t >= slow_answered for t in closes), (closes, slow_answered)


@pytest.mark.parametrize("name", ["CRAWLER_IDLE_CONNECTION_SECONDS",
                                  "CRAWLER_REVALIDATE_IDLE_SECONDS"])
def test_idle_connection_bound_must_be_positive(tmp_path, two_hosts, name):
    two_hosts.log.clear()
    result = run_cli("crawl", two_hosts["done"].url("/feed.xml"), "--db", tmp_path / "x.db",
                     *FAST, "-s", f"{name}=0", "--workers", "0", "-q")
    assert result.returncode == 2
    assert f"{name} must be a positive number of seconds, not '0'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not two_hosts.log  # nothing fetched


def test_feed_lists_past_the_listed_length_are_described():
    urls = [f"http://127.0.0.91/f/{i}.xml" for i in range(LISTED_FEEDS + 1)]
    assert describe_feeds(urls[:-1]) == urls[:-1]
    described = describe_feeds(urls)
    assert described["count"] == LISTED_FEEDS + 1 and described["first"] == urls[:3]
    assert describe_feeds(urls[::-1])["sha1"] != described["sha1"]  # another list, another job


def test_a_crawl_may_open_as_many_files_as_the_system_allows(tmp_path, two_hosts):
    """Run with the soft limit at 256: the crawl raises it to the hard limit (sockets of
    thousands of hosts went past the usual 1,024)."""
    script = tmp_path / "limit.py"
    script.write_text(
        "import resource, sys\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from crawler.runtime.crawl import crawl_feeds, raise_open_files_limit\n"
        "crawl_feeds([sys.argv[1]], sys.argv[2], {'CRAWLER_EXTRACT_WORKERS': 0})\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard, hard)\n")
    result = subprocess.run([sys.executable, script, two_hosts["done"].url("/feed.xml"),
                             tmp_path / "x.db"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    raised, hard = result.stdout.split()
    assert raised == "True" and int(hard) > 256
