"""Scale-out on Redis: workers share one frontier, one writer stores, nothing is lost on a kill.

A real redis-server (Debian's; .ci/run installs it) runs on a free port of 127.0.0.1 with no
persistence; the workers and the writer are real `crawler` processes crawling the demo's five
news sites over loopback HTTP; the results are compared with a local `crawler crawl` of the
same sites.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest

from crawler.demo import build_sites, feed_urls
from crawler.demo.server import LocalWeb, Resource, Site
from crawler.demo.sites import all_pages
from tests.conftest import ROOT, run_cli

try:
    import redis
    import scrapy_redis  # noqa: F401
except ImportError as exc:  # the test extra installs both: under CI their absence is a failure
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"{exc.name} is not installed (pip install '.[redis]')", allow_module_level=True)

FAST = ["-s", "DOWNLOAD_TIMEOUT=20", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0",
        "-s", "AUTOTHROTTLE_ENABLED=False", "-q"]
INLINE = ["--workers", "0"]  # extract in the worker process: three pools would crowd 2 cores
#: Short liveness periods, so a killed process is noticed within seconds.
QUICK = ["-s", "CRAWLER_REDIS_HEARTBEAT=2", "-s", "CRAWLER_REDIS_WRITER_TTL=4"]
ARTICLE_PATHS = {page.path for page in all_pages()}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A private redis-server on 127.0.0.1 (skipped without one, but never under CI=true)."""
    from crawler.distributed.localredis import LocalRedis

    if LocalRedis.binary() is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with LocalRedis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def client(redis_url):
    """The server, emptied for each test."""
    connection = redis.Redis.from_url(redis_url)
    connection.flushall()
    return connection


@pytest.fixture(scope="module")
def web():
    with LocalWeb(build_sites()) as running:
        yield running


def all_feeds(web) -> list[str]:
    """The demo's feeds and one that is missing (a failure both crawls must record)."""
    return [*feed_urls(list(web.sites.values())), web["rheinblick"].url("/feed/gone.xml")]


@pytest.fixture(scope="module")
def local_db(web, tmp_path_factory):
    """The same sites crawled by one local process, the reference."""
    path = tmp_path_factory.mktemp("local") / "local.db"
    result = run_cli("crawl", *all_feeds(web), "--db", path, *FAST, *INLINE)
    assert result.returncode == 0, result.stderr
    return path


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "crawler", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: float = 90) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"{process.args}\n{out}\n{err}"
    return out


def read(db_path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def stories(db_path) -> set[frozenset[str]]:
    """The stories as sets of article URLs (story ids differ between databases)."""
    groups: dict[int, set[str]] = {}
    for url, story in read(db_path, "SELECT url, story_id FROM articles"):
        groups.setdefault(story, set()).add(url)
    return {frozenset(urls) for urls in groups.values()}


def feed_links(db_path) -> set[tuple[str, str]]:
    return set(read(db_path, "SELECT a.url, f.url FROM article_feeds af JOIN articles a ON "
                             "a.id = af.article_id JOIN feeds f ON f.id = af.feed_id"))


def article_hits(web) -> Counter:
    paths = ((site, path.split("?")[0]) for site, path, _ in web.log)
    return Counter((site, path) for site, path in paths if path in ARTICLE_PATHS)


def test_three_workers_fetch_each_url_once_and_store_what_one_process_stores(
        web, local_db, client, redis_url, tmp_path):
    feeds = all_feeds(web)
    web.log.clear()
    db_path = tmp_path / "redis.db"
    queued = run_cli("enqueue", "--redis", redis_url, *feeds)
    assert queued.returncode == 0, queued.stderr
    assert f"feeds queued: {len(feeds)}" in queued.stdout

    # 4 download slots each: 25 articles are more than one worker takes at once
    workers = [start("worker", "--redis", redis_url, "--idle-exit", "2", *FAST, *INLINE,
                     *QUICK, "-s", "CONCURRENT_REQUESTS=4") for _ in range(3)]
    writer = start("store", "--redis", redis_url, "--db", db_path, "--idle-exit", "2", "-q",
                   *QUICK)
    outputs = [finish(w) for w in workers]
    summary = finish(writer)

    hits = article_hits(web)
    assert set(path for _, path in hits) == ARTICLE_PATHS
    assert max(hits.values()) == 1, [k for k, n in hits.items() if n > 1]  # once in total
    feed_hits = Counter(path for _, path, _ in web.log if path.split("?")[0]
                        not in ARTICLE_PATHS and path != "/robots.txt")
    assert max(feed_hits.values()) == 1 and sum(feed_hits.values()) == len(feeds)
    pages = [int(out.split(" pages")[0].rsplit(" ", 1)[1]) for out in outputs]
    assert sum(1 for n in pages if n) >= 2, outputs  # the work was shared

    assert f"{len(ARTICLE_PATHS)} new" in summary, summary
    assert stories(db_path) == stories(local_db)
    assert feed_links(db_path) == feed_links(local_db)  # an article of two feeds: both linked
    sql = "SELECT url, etag, last_modified, body_hash, n_fetches, n_errors FROM feeds ORDER BY url"
    assert read(db_path, sql) == read(local_db, sql)
    assert read(db_path, "SELECT count(*) FROM feeds WHERE body_hash IS NOT NULL")[0][0] >= 5
    published = [json.loads(v) for v in client.hvals("crawler:feeds")]  # for the next pass
    assert sum(1 for v in published if v["body_hash"]) >= 5
    sql = "SELECT kind, url, reason, status FROM failures ORDER BY url"
    assert read(db_path, sql) == read(local_db, sql) == [
        ("feed", feeds[-1], "http_404", 404)]
    assert read(db_path, "SELECT kind, status FROM crawls") == [("redis", "finished")]
    assert client.xlen("crawler:results") == 0  # every result written and acknowledged
    assert client.llen("crawler:start") == client.zcard("crawler:requests") == 0


def test_a_worker_takes_no_more_pages_than_it_can_extract_soon(web, client, redis_url,
                                                                tmp_path):
    """Pages a worker holds (downloading or waiting for extraction) stay below its extraction
    slots plus one pop: here 2 (inline) + 1, although CONCURRENT_REQUESTS allows 8; the rest
    waits in the shared queue for a worker that can take it."""
    import threading

    lock, now, peak = threading.Lock(), [0], [0]
    saved = {}
    for site in web.sites.values():
        for path, route in list(site.routes.items()):
            if path in ARTICLE_PATHS:
                saved[(site.name, path)] = route

                def counted(handler, route=route):
                    with lock:
                        now[0] += 1
                        peak[0] = max(peak[0], now[0])
                    time.sleep(0.3)
                    with lock:
                        now[0] -= 1
                    return route(handler) if callable(route) else route
                site.routes[path] = counted
    try:
        assert run_cli("enqueue", "--redis", redis_url, *all_feeds(web)).returncode == 0
        worker = start("worker", "--redis", redis_url, "--idle-exit", "1", *FAST, *INLINE,
                       *QUICK, "-s", "CONCURRENT_REQUESTS=8", "-s", "CRAWLER_REDIS_POP_BATCH=1")
        out = finish(worker)
    finally:
        for (name, path), route in saved.items():
            web[name].routes[path] = route
    assert f" {len(ARTICLE_PATHS)} articles sent" in out, out  # every page, one worker
    assert 2 <= peak[0] <= 3, peak[0]


def slow_articles(web, seconds: float):
    """Make every article page answer after ``seconds``, so a crawl can be killed halfway."""
    saved = {}
    for site in web.sites.values():
        for path, route in list(site.routes.items()):
            if path in ARTICLE_PATHS and isinstance(route, Resource):
                saved[(site.name, path)] = route

                def slow(handler, route=route):
                    time.sleep(seconds)
                    return route
                site.routes[path] = slow
    return saved


def test_a_killed_worker_and_a_killed_writer_lose_nothing(
        web, local_db, client, redis_url, tmp_path):
    saved = slow_articles(web, 0.6)
    try:
        web.log.clear()
        db_path = tmp_path / "redis.db"
        feeds = feed_urls(list(web.sites.values()))
        one = ["-s", "CONCURRENT_REQUESTS=2", *FAST, *INLINE, *QUICK]
        victim = start("worker", "--redis", redis_url, "--idle-exit", "2", *one, *feeds)
        survivor = start("worker", "--redis", redis_url, "--idle-exit", "2", *one)
        writer = start("store", "--redis", redis_url, "--db", db_path, "--idle-exit", "2", "-q",
                       *QUICK)

        deadline = time.monotonic() + 60
        while sum(article_hits(web).values()) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        leased = sum(client.hlen(key) for key in client.keys(f"crawler:inflight:*-{victim.pid}-*"))
        victim.send_signal(signal.SIGKILL)  # halfway: requests leased, pages being extracted
        victim.wait()
        while not (db_path.exists() and read(db_path, "SELECT count(*) FROM articles")[0][0]
                   >= 3) and time.monotonic() < deadline:
            time.sleep(0.05)
        writer.send_signal(signal.SIGKILL)  # between reading the stream and acknowledging
        writer.wait()
        assert survivor.poll() is None, "the crawl ended before the kills: slow the pages"
        stored_before = read(db_path, "SELECT count(*) FROM articles")[0][0]
        assert stored_before < len(ARTICLE_PATHS)

        restarted = start("store", "--redis", redis_url, "--db", db_path, "--idle-exit", "2",
                          "-q", *QUICK)
        finish(survivor)
        summary = finish(restarted)
    finally:
        for (name, path), route in saved.items():
            web.sites[name].routes[path] = route

    urls = [url for (url,) in read(db_path, "SELECT url FROM articles")]
    assert len(urls) == len(set(urls)) == len(ARTICLE_PATHS)  # all of them, each once
    hits = article_hits(web)
    assert {p for _, p in hits} == ARTICLE_PATHS
    refetched = sum(n - 1 for n in hits.values())
    assert refetched <= leased + 2  # only what the dead worker held is fetched again
    assert stories(db_path) == stories(local_db)
    assert client.xlen("crawler:results") == 0
    assert not client.xpending("crawler:results", "writer")["pending"]
    assert not [k for k in client.keys("crawler:inflight:*")]  # every lease released
    assert "new" in summary


def test_a_new_writer_takes_over_unacknowledged_results_and_stores_nothing_twice(
        web, client, redis_url, tmp_path):
    """A writer died after reading a batch (XREADGROUP) and before its XACK; every result came
    twice (a worker that died after sending redid its page): all stored once."""
    import urllib.request

    from crawler.runtime.crawl import project_settings
    from crawler.dedup import DedupParams
    from crawler.distributed import WRITER_GROUP, Keys, ensure_group
    from crawler.distributed.messages import encode
    from crawler.items import Page
    from crawler.runtime.pipelines import analyse_page
    from crawler.fetch.urls import canonicalize

    keys = Keys()
    ensure_group(client, keys)
    params = DedupParams.from_settings(project_settings())
    site = web["harbourherald"]
    paths = sorted(p for p in site.routes if p in ARTICLE_PATHS)[:4]
    for path in paths:
        url = site.url(path)
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
        page = Page(url=canonicalize(url), fetched_url=url, body=b"", feed_url=None)
        message = encode("article", page=page, article=analyse_page(body, url, None, params),
                         feeds=[site.url("/feeds/latest.atom")])
        client.xadd(keys.results, message)
        client.xadd(keys.results, message)
    taken = client.xreadgroup(WRITER_GROUP, "dead-writer", {keys.results: ">"}, count=100)
    assert len(taken[0][1]) == 2 * len(paths)

    db_path = tmp_path / "takeover.db"
    result = run_cli("store", "--redis", redis_url, "--db", db_path, "--idle-exit", "0.5", "-q")
    assert result.returncode == 0, result.stderr
    assert f"taken over from a previous writer: {2 * len(paths)} results" in result.stdout
    assert f"{len(paths)} new, {len(paths)} already known" in result.stdout
    assert sorted(u for (u,) in read(db_path, "SELECT fetched_url FROM articles")) == \
        sorted(site.url(p) for p in paths)
    assert len(read(db_path, "SELECT * FROM article_feeds")) == len(paths)
    assert client.xlen(keys.results) == 0
    assert client.xpending(keys.results, WRITER_GROUP)["pending"] == 0


# ---------------------------------------------------------------- one politeness budget per site

DELAY = 0.4  # seconds between two requests to the site: one crawl's pace
WINDOW = 2.0


def peak(times: list[float], window: float = WINDOW) -> int:
    """The most requests the site saw within any ``window`` seconds."""
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t < start + window)
                for i, start in enumerate(times)), default=0)


@pytest.fixture(scope="module")
def paced_site():
    """One site with 16 articles in one feed; the server notes when each request came."""
    from tests.pages import LOREM_DE, article_page, rss

    site = Site("paced", "127.0.0.61")
    items = []
    for n in range(16):
        path = f"/2025/meldung-{n}.html"
        site.routes[path] = Resource(article_page(f"Meldung {n}", [f"Meldung Nummer {n}.",
                                                                    *LOREM_DE]))
        items.append({"title": f"Meldung {n}", "link": f"http://{site.host}:{{port}}{path}"})
    site.routes["/robots.txt"] = Resource("User-agent: *\nAllow: /\n", "text/plain")
    with LocalWeb([site]) as web:
        for item in items:
            item["link"] = item["link"].format(port=site.port)
        site.routes["/rss.xml"] = Resource(rss("Paced", items), "application/rss+xml")
        web.feed = site.url("/rss.xml")
        yield web


PACED = ["-s", f"DOWNLOAD_DELAY={DELAY}", "-s", "AUTOTHROTTLE_ENABLED=False",
         "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=4", "-s", "DOWNLOAD_TIMEOUT=20",
         "-s", "RETRY_TIMES=0", "-q", *INLINE]


@pytest.fixture(scope="module")
def one_crawl_peak(paced_site, tmp_path_factory):
    """The most requests one local crawl sends the site within WINDOW seconds."""
    start_at = len(paced_site.log)
    local = run_cli("crawl", paced_site.feed, "--db", tmp_path_factory.mktemp("paced") / "l.db",
                    *PACED)
    assert local.returncode == 0, local.stderr
    times = [t for _, _, t in paced_site.log[start_at:]]
    assert len(times) == 18  # robots.txt, the feed, 16 articles
    return peak(times)


@pytest.mark.parametrize("n_workers", [1, 2, 4])
def test_workers_share_one_politeness_budget_per_site(paced_site, one_crawl_peak, client,
                                                      redis_url, tmp_path, n_workers):
    """However many workers, the site never sees more than one crawl's rate: one request per
    DOWNLOAD_DELAY (robots.txt included: every worker asks for it)."""
    bound = int(WINDOW / DELAY) + 1
    assert one_crawl_peak <= bound

    start_at = len(paced_site.log)
    workers = [start("worker", "--redis", redis_url, "--idle-exit", "10", *PACED)
               for _ in range(n_workers)]
    deadline = time.monotonic() + 120
    while len([w for w in client.smembers("crawler:workers") if not w.endswith(b"-sites")]) \
            < n_workers and time.monotonic() < deadline:
        time.sleep(0.1)  # all of them ready (their feed crawls): each could take the work
    from crawler.distributed.worker import enqueue

    assert enqueue(redis_url, "crawler", [paced_site.feed]) == 1  # at once: no process start
    writer = start("store", "--redis", redis_url, "--db", tmp_path / "redis.db",
                   "--idle-exit", "2", "-q")
    outputs = [finish(w, timeout=240) for w in workers]
    summary = finish(writer, timeout=240)
    times = sorted(t for _, _, t in paced_site.log[start_at:])
    paths = [p for _, p, _ in paced_site.log[start_at:]]
    offsets = [(p, round(t - times[0], 2)) for p, t in zip(paths, times)]
    assert 18 <= len(times) <= 17 + n_workers, offsets  # robots.txt: once per worker at most
    assert "16 new" in summary
    assert peak(times) <= max(bound, one_crawl_peak), offsets
    if n_workers > 1:
        fetched = [int(out.split(" pages")[0].rsplit(" ", 1)[1]) for out in outputs]
        assert sum(1 for n in fetched if n) >= 2, (outputs, offsets)  # shared, one pace


# ---------------------------------------------------------------- the schedule in Redis mode


def test_writer_keeps_the_schedule_and_enqueue_due_queues_only_due_feeds(
        web, client, redis_url, tmp_path):
    feeds = feed_urls(list(web.sites.values()))
    db_path = tmp_path / "redis.db"
    assert run_cli("enqueue", "--redis", redis_url, *feeds).returncode == 0
    worker = start("worker", "--redis", redis_url, "--idle-exit", "2", *FAST, *INLINE, *QUICK)
    writer = start("store", "--redis", redis_url, "--db", db_path, "--idle-exit", "2", "-q",
                   *QUICK, "-s", "CRAWLER_INTERVAL=900")
    finish(worker, timeout=180)
    finish(writer, timeout=180)

    rows = read(db_path, "SELECT url, next_fetch, interval_seconds FROM feeds")
    assert {url for url, _, _ in rows} == set(feeds)
    assert all(next_fetch and interval == 900 for _, next_fetch, interval in rows)  # 1st fetch
    status = run_cli("status", "--db", db_path)
    assert status.returncode == 0, status.stderr
    assert f"{len(feeds)} feeds: {len(feeds)} ok" in status.stdout
    assert re.search(r"in 1[45]m", status.stdout)  # 900 s from the fetch

    due = run_cli("enqueue", "--redis", redis_url, "--due", "--db", db_path, *feeds)
    assert due.returncode == 0, due.stderr
    assert f"0 of {len(feeds)} feeds due; queued 0" in due.stdout
    assert client.llen("crawler:start") == 0

    with sqlite3.connect(db_path) as conn:  # one feed's time has come
        conn.execute("UPDATE feeds SET next_fetch = '2000-01-01T00:00:00+00:00' WHERE url = ?",
                     [feeds[0]])
    due = run_cli("enqueue", "--redis", redis_url, "--due", "--db", db_path, *feeds)
    assert f"1 of {len(feeds)} feeds due; queued 1" in due.stdout
    again = run_cli("enqueue", "--redis", redis_url, "--due", "--db", db_path, *feeds)
    assert "queued 0 (1 still queued from before)" in again.stdout  # cron came round again
    assert client.lrange("crawler:start", 0, -1) == [f'{{"url": "{feeds[0]}"}}'.encode()]

    missing = run_cli("enqueue", "--redis", redis_url, "--due", *feeds)
    assert missing.returncode == 2 and "--due needs --db" in missing.stderr


# ---------------------------------------------------------------- site scrapes in Redis mode


@pytest.fixture(scope="module")
def two_sites():
    """A site with a sitemap of 8 articles and one without (its home page links 4 articles
    and a section page): both discovery paths of `crawler scrape`."""
    from tests.test_scrape_many import _paragraphs
    from tests.pages import article_page

    mapped, linked = Site("karten", "127.0.0.83"), Site("verweise", "127.0.0.84")
    with LocalWeb([mapped, linked]) as running:
        paths = [f"/2025/03/karten-meldung-{i}.html" for i in range(8)]
        locs = "".join(f"<url><loc>{mapped.url(p)}</loc></url>" for p in paths)
        mapped.routes.update({
            "/robots.txt": Resource(f"User-agent: *\nSitemap: {mapped.url('/sitemap.xml')}\n",
                                    "text/plain"),
            "/sitemap.xml": Resource('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http'
                                     f'://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>',
                                     "application/xml"),
            "/": Resource("<html><head><title>Karten</title></head><body></body></html>"),
            **{p: Resource(article_page(f"Karten Meldung {i}", _paragraphs("karten", i)))
               for i, p in enumerate(paths)}})
        linked_paths = [f"/2025/03/verweise-meldung-{i}.html" for i in range(4)]
        links = "".join(f'<li><a href="{p}">Meldung {i}</a></li>'
                        for i, p in enumerate(linked_paths))
        linked.routes.update({
            "/robots.txt": Resource("User-agent: *\nAllow: /\n", "text/plain"),
            "/": Resource("<html><head><title>Verweise</title></head><body><ul>"
                          f'{links}<li><a href="/politik">Politik</a></li></ul></body></html>'),
            "/politik": Resource(f"<html><head><title>Politik</title></head><body><ul>{links}"
                                  "</ul></body></html>"),
            **{p: Resource(article_page(f"Verweise Meldung {i}", _paragraphs("verweise", i)))
               for i, p in enumerate(linked_paths)}})
        running.site_urls = [mapped.base + "/", linked.base + "/"]
        yield running


def test_workers_scrape_queued_sites_as_one_local_scrape_does(two_sites, client, redis_url,
                                                              tmp_path):
    options = ["--max-pages", "6", "--exclude", "meldung-7"]
    local_db = tmp_path / "local.db"
    local = run_cli("scrape", *two_sites.site_urls, "--db", local_db, *options, *FAST, *INLINE)
    assert local.returncode == 0, local.stderr

    sites_file = tmp_path / "sites.txt"
    sites_file.write_text(f"# two sites\n{two_sites.site_urls[1]}  # links only\n")
    queued = run_cli("enqueue", "--redis", redis_url, "--site", two_sites.site_urls[0],
                     "--sites", sites_file, *options)
    assert queued.returncode == 0, queued.stderr
    assert "queued 2 sites" in queued.stdout and "sites queued: 2" in queued.stdout
    start_at = len(two_sites.log)
    db_path = tmp_path / "redis.db"
    workers = [start("worker", "--redis", redis_url, "--idle-exit", "2", *FAST, *INLINE, *QUICK)
               for _ in range(2)]
    writer = start("store", "--redis", redis_url, "--db", db_path, "--idle-exit", "2", "-q",
                   *QUICK)
    outputs = [finish(w, timeout=180) for w in workers]
    finish(writer, timeout=180)

    sql = "SELECT url, title FROM articles ORDER BY url"
    stored = read(db_path, sql)
    assert stored == read(local_db, sql)
    assert len([u for u, _ in stored if "karten" in u]) == 6  # --max-pages, per site
    assert len([u for u, _ in stored if "verweise" in u]) == 4  # found by following links
    assert not [u for u, _ in stored if "meldung-7" in u]  # --exclude
    hits = Counter(path for _, path, _ in two_sites.log[start_at:] if "meldung" in path)
    assert max(hits.values()) == 1, hits  # each page fetched once across the workers
    assert sum(int(re.search(r"(\d+) sites", out)[1]) for out in outputs) == 2, outputs
    assert client.llen("crawler:sites") == 0
    assert not [k for k in client.keys("crawler:inflight:*")]  # the sites' leases released

    again = run_cli("enqueue", "--redis", redis_url, "--site", two_sites.site_urls[0],
                    *options)
    assert again.returncode == 0
    start_at = len(two_sites.log)
    rerun = run_cli("worker", "--redis", redis_url, "--idle-exit", "1", *FAST, *INLINE, *QUICK)
    assert rerun.returncode == 0, rerun.stderr
    # the six stored are known; as a local scrape again, the budget reaches one more
    assert [p for _, p, _ in two_sites.log[start_at:] if "meldung" in p] == \
        ["/2025/03/karten-meldung-6.html"]


def test_enqueue_site_errors(redis_url, client):
    bad = run_cli("enqueue", "--redis", redis_url, "--site", "ftp://example.org/")
    assert bad.returncode == 2 and "not a site URL" in bad.stderr
    due = run_cli("enqueue", "--redis", redis_url, "--site", "example.org", "--due",
                  "--db", "x.db")
    assert due.returncode == 2 and "--due is for feeds" in due.stderr
    assert client.llen("crawler:sites") == 0


def test_a_dead_workers_sites_go_back_to_the_site_list(client):
    from crawler.distributed import Keys
    from crawler.distributed.leases import requeue_dead

    keys = Keys()
    site = b'{"url": "http://127.0.0.83/", "max_pages": 6}'
    client.sadd(keys.workers, "gone", "alive")
    client.set(keys.alive("alive"), 1)
    client.hset(keys.inflight("gone"), mapping={"site.1": site, "feed.1": b'{"url": "f"}'})
    client.hset(keys.inflight("alive"), mapping={"site.2": b'{"url": "http://127.0.0.84/"}'})
    assert requeue_dead(client, keys) == 2
    assert client.lrange(keys.sites, 0, -1) == [site]
    assert client.lrange(keys.start, 0, -1) == [b'{"url": "f"}']
    assert client.hlen(keys.inflight("alive")) == 1 and client.smembers(keys.workers) == {b"alive"}


def test_the_writer_stops_when_its_workers_are_gone_though_requests_are_left(
        client, redis_url, tmp_path):
    """Workers that stopped (or died) leaving requests queued: the writer that got their
    results stops after --idle-exit instead of waiting for workers that will not come."""
    from crawler.distributed import Keys, ensure_group
    from crawler.distributed.messages import encode

    keys = Keys()
    ensure_group(client, keys)
    client.zadd(keys.requests, {b"127.0.0.83\0left over": 1})
    client.xadd(keys.results, encode("failure", what="article", url="http://127.0.0.83/a",
                                     reason="http_404", error="gone", status=404,
                                     feed_url=None))
    started = time.monotonic()
    result = run_cli("store", "--redis", redis_url, "--db", tmp_path / "w.db", "--idle-exit",
                     "0.5", "-q", timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30
    assert "1 feeds, sites and requests stay queued" in result.stderr, result.stderr
    assert client.zcard(keys.requests) == 1  # left for the next workers


def test_an_idle_worker_stops_both_its_crawls_soon_after_idle_exit(client, redis_url):
    """A worker's feed crawl and site crawl stop together: with nothing to do, the process ends
    about --idle-exit after it started looking, not when the other crawl's own idle check comes
    round (Scrapy's engine looks every 5 s; the crawls finished 5 s or more after opening)."""
    result = run_cli("worker", "--redis", redis_url, "--idle-exit", "0.5", *FAST, *INLINE,
                     *QUICK, timeout=60)
    assert result.returncode == 0, result.stderr
    elapsed = float(re.search(r"finished in ([\d.]+)s", result.stdout).group(1))
    assert elapsed < 4.0, result.stdout
    assert client.scard("crawler:workers") == 0  # both crawls deregistered


def test_the_writer_stops_as_soon_as_its_workers_have_stopped(web, client, redis_url, tmp_path):
    """The workers waited out their --idle-exit already: the writer stops right after the last
    one deregisters, not --idle-exit after its last write (here 8 s), and a worker that stops
    ends the writer's wait for a batch to fill (here 6 s): either wait alone made it stop 5 s
    or more after the worker."""
    assert run_cli("enqueue", "--redis", redis_url, *all_feeds(web)).returncode == 0
    writer = start("store", "--redis", redis_url, "--db", tmp_path / "w.db", "--idle-exit", "8",
                   "-q", *QUICK, "-s", "CRAWLER_STORE_BATCH_SECONDS=6")
    worker = start("worker", "--redis", redis_url, "--idle-exit", "0.5", *FAST, *INLINE, *QUICK)
    finish(worker)
    worker_stopped = time.monotonic()
    summary = finish(writer, timeout=60)
    assert time.monotonic() - worker_stopped < 4.0, summary
    assert f"{len(ARTICLE_PATHS)} new" in summary, summary
    assert client.xlen("crawler:results") == 0


def test_an_empty_site_list_is_looked_at_every_site_poll_seconds(client, redis_url):
    """Each look at the site list is a round trip: once it was empty, a worker looks again
    after CRAWLER_REDIS_SITE_POLL seconds (2), not at every CRAWLER_REDIS_POLL (0.5)."""
    client.config_resetstat()
    result = run_cli("worker", "--redis", redis_url, "--idle-exit", "4", *FAST, *INLINE, *QUICK,
                     timeout=60)
    assert result.returncode == 0, result.stderr
    takes = client.info("commandstats")["cmdstat_lpop"]["calls"]  # the take script's LPOP
    assert 2 <= takes <= 5, takes  # 4 s idle: the look at the start, every 2 s, the end
