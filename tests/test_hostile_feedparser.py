"""Every feed of feedparser's own test suite, served over loopback HTTP, in one crawl.

Well-formed and ill-formed feeds, every encoding trick, entities, sanitising cases: none may
crash the crawl, and the crawl must read each one exactly as feedparser reads the file. The
crawl is confined to 127.0.0.0/8 (CRAWLER_ONLY_NETWORKS): the many links to example.org and
friends in these feeds are refused without even a DNS lookup.
"""
from __future__ import annotations

import feedparser
import pytest

from crawler import store
from crawler.demo.server import LocalWeb, Site
from tests.conftest import run_cli
from tests.faults_server import feedparser_routes

SETTINGS = ["-s", "DOWNLOAD_TIMEOUT=20", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0",
            "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=32",
            "-s", "CRAWLER_ONLY_NETWORKS=127.0.0.0/8", "-s", "CRAWLER_JOBS=False",
            "--workers", "1", "-q"]


def expected_ok(resource) -> bool:
    """What the feed spider accepts, from feedparser on the file itself with the same headers."""
    headers = {k.lower(): v for k, v in resource.headers.items()}
    headers["content-type"] = resource.content_type
    parsed = feedparser.parse(resource.payload(), response_headers=headers)
    return bool(parsed.entries) or not (parsed.bozo or not parsed.version)


@pytest.fixture(scope="module")
def suite(corpus, tmp_path_factory):
    routes = feedparser_routes(corpus)
    assert len(routes) > 2000
    tmp = tmp_path_factory.mktemp("feedparser")
    with LocalWeb([Site("fp", "127.0.0.24", routes)]) as web:
        urls = [web["fp"].url(path) for path in routes]
        listing = tmp / "feeds.txt"
        listing.write_text("\n".join(urls) + "\n")
        result = run_cli("crawl", listing, "--db", tmp / "fp.db", *SETTINGS, timeout=600)
        db = store.open_db(tmp / "fp.db")
        yield {"result": result, "db": db, "routes": routes, "urls": urls, "web": web}
        db.close()


def test_no_feed_crashes_the_crawl(suite):
    result = suite["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "Spider error" not in result.stderr
    assert f"feeds:    {len(suite['urls'])} tried" in result.stdout


def test_every_feed_is_fetched_once_and_recorded(suite):
    db = suite["db"]
    rows = {r["url"]: r for r in db["feeds"].rows}
    assert set(suite["urls"]) <= set(rows)
    assert all(rows[u]["n_fetches"] == 1 and rows[u]["last_fetch"] for u in suite["urls"])
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_crawl_reads_each_feed_as_feedparser_does(suite):
    db, routes, web = suite["db"], suite["routes"], suite["web"]
    prefix = web["fp"].base
    crawled_ok = {r["url"][len(prefix):] for r in db["feeds"].rows if r["error"] is None}
    expected = {path for path, res in routes.items() if expected_ok(res)}
    assert crawled_ok == expected
    # the counts, for the record (bench/faults.py prints them too)
    failed = {r["error"].split(":")[0] for r in db["feeds"].rows if r["error"]}
    assert failed <= {"malformed_feed", "not_a_feed"}
    assert 1800 < len(crawled_ok) < len(routes)  # 1,836 of 2,107 at feedparser 6.0.14


def test_links_off_loopback_are_refused_without_a_lookup(suite):
    reasons = dict(suite["db"].execute(
        "SELECT reason, count(*) FROM failures WHERE kind = 'article' GROUP BY reason"))
    assert reasons.get("outside_networks", 0) > 20  # example.org & co., each refused once
    assert "dns" not in reasons
