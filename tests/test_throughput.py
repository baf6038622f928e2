"""Throughput plumbing: the reactor monitor measures, and the process pool changes nothing.

Nothing here is timed (bench/crawl_speed.py measures speed); these tests check that the
figures the benchmark relies on are produced, and that extracting in worker processes stores
exactly what extracting inline stores.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawler.demo.server import LocalWeb, Resource, Site
from crawler.fetch.jobs import AtomicFilesystemCacheStorage, cache_entry, discard_cached, read_entry
from crawler.dedup import DedupParams
from crawler.runtime.pipelines import ExtractPipeline, analyse_page
from crawler.runtime.reactor_monitor import ReactorMonitor
from tests.conftest import run_cli
from tests.pages import article_page, rss

FAST = ["-s", "DOWNLOAD_TIMEOUT=5", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0",
        "-s", "AUTOTHROTTLE_ENABLED=False", "-q"]


# ---------------------------------------------------------------- the monitor on its own


def _blocking_callback() -> None:
    time.sleep(0.06)  # what trafilatura inline or a long SQL batch does to the loop


def test_monitor_counts_a_blocking_callback_and_names_it():
    crawler = get_crawler(settings_dict={"CRAWLER_REACTOR_MONITOR": True,
                                         "CRAWLER_REACTOR_MONITOR_STALL": 0.03})
    monitor = ReactorMonitor.from_crawler(crawler)

    async def crawl_like() -> None:
        monitor.spider_opened(None)
        loop = asyncio.get_running_loop()
        for _ in range(20):
            loop.call_soon(lambda: None)
        loop.call_soon(_blocking_callback)
        await asyncio.sleep(0.1)
        monitor.spider_closed(None, "finished")

    asyncio.run(crawl_like())
    report = monitor.report
    assert report["stalls"] == 1
    assert report["callbacks"] >= 21
    assert 0.3 < report["blocked_share"] <= report["busy_share"] <= 1
    assert report["slowest"][0]["ms"] >= 60
    assert "_blocking_callback" in report["slowest"][0]["name"]
    assert crawler.stats.get_value("reactor/stalls") == 1


def test_monitor_is_off_unless_asked():
    from scrapy.exceptions import NotConfigured
    with pytest.raises(NotConfigured):
        ReactorMonitor.from_crawler(get_crawler(settings_dict={}))


# ---------------------------------------------------------------- pool vs inline


def _paragraphs(rng: random.Random, vocabulary: list[str], n: int) -> list[str]:
    return [" ".join(rng.choice(vocabulary) for _ in range(35)).capitalize() + "."
            for _ in range(n)]


@pytest.fixture(scope="module")
def web():
    """Two sites, 14 articles; three are copies of another site's article (one story each)."""
    rng = random.Random(3)
    vocabulary = ["".join(rng.choice("abcdefghiklmnoprstuwz") for _ in range(rng.randint(3, 9)))
                  for _ in range(4000)]
    sites = [Site("a", "127.0.0.41"), Site("b", "127.0.0.42")]
    with LocalWeb(sites) as w:
        texts = {i: _paragraphs(rng, vocabulary, 5) for i in range(11)}
        for name, numbers in (("a", range(0, 7)), ("b", range(7, 11))):
            site = w[name]
            site.routes["/robots.txt"] = Resource("User-agent: *\n", "text/plain")
            items = []
            for i in numbers:
                site.routes[f"/{i}.html"] = Resource(article_page(f"Meldung {i}", texts[i]))
                items.append({"title": f"Meldung {i}", "link": site.url(f"/{i}.html")})
            if name == "b":  # republished copies, other chrome, of three stories of site a
                for i in (1, 2, 3):
                    site.routes[f"/copy-{i}.html"] = Resource(article_page(
                        f"Kopie {i}", texts[i], chrome="republisher"))
                    items.append({"title": f"Kopie {i}", "link": site.url(f"/copy-{i}.html")})
            site.routes["/rss.xml"] = Resource(rss(name, items), "application/rss+xml")
        yield w


def _crawl(web, tmp_path, workers: int) -> tuple[sqlite3.Connection, dict]:
    db, report = tmp_path / f"w{workers}.db", tmp_path / f"reactor-{workers}.json"
    result = run_cli("crawl", web["a"].url("/rss.xml"), web["b"].url("/rss.xml"), "--db", db,
                     "--workers", workers, *FAST, "-s", "CRAWLER_REACTOR_MONITOR=True",
                     "-s", f"CRAWLER_REACTOR_MONITOR_FILE={report}")
    assert result.returncode == 0, result.stderr
    return sqlite3.connect(db), json.loads(report.read_text())


def _stored(db: sqlite3.Connection) -> dict:
    """Everything the crawl stored, independent of the order pages finished in."""
    articles = db.execute(
        "SELECT url, fetched_url, site, title, author, published, language, text, word_count, "
        "content_hash FROM articles ORDER BY url").fetchall()
    by_story: dict[int, set[str]] = {}
    for url, story in db.execute("SELECT url, story_id FROM articles"):
        by_story.setdefault(story, set()).add(url)
    feeds = db.execute("SELECT a.url, f.url FROM article_feeds af JOIN articles a "
                       "ON a.id = af.article_id JOIN feeds f ON f.id = af.feed_id "
                       "ORDER BY 1, 2").fetchall()
    links = db.execute("SELECT a.url, o.url, l.method FROM article_links l JOIN articles a "
                       "ON a.id = l.article_id JOIN articles o ON o.id = l.other_id").fetchall()
    return {"articles": articles, "stories": sorted(sorted(s) for s in by_story.values()),
            "feeds": feeds, "links": sorted(tuple(sorted(l[:2])) for l in links),
            "n_stories": db.execute("SELECT count(*) FROM stories").fetchone()[0]}


def test_pool_stores_what_inline_extraction_stores(web, tmp_path):
    pooled_db, pooled_report = _crawl(web, tmp_path, 2)
    inline_db, inline_report = _crawl(web, tmp_path, 0)
    pooled, inline = _stored(pooled_db), _stored(inline_db)
    assert len(pooled["articles"]) == 14
    assert pooled["n_stories"] == 11  # the three copies joined their originals
    assert pooled == inline
    for report in (pooled_report, inline_report):
        assert report["callbacks"] > 100
        assert 0 < report["busy_share"] <= 1 and 0 <= report["blocked_share"] <= 1
        assert report["elapsed"] > 0 and report["cpu_seconds"] > 0


def test_a_stored_articles_cache_entry_is_dropped(tmp_path):
    """Dropping a stored article's entry deletes its file: the lookups and the job's page
    count do not see it; another response is stored and reads back as itself."""
    crawler = get_crawler(settings_dict={"HTTPCACHE_DIR": str(tmp_path)})
    spider = type("Spider", (), {"name": "feeds", "crawler": crawler})()
    storage = AtomicFilesystemCacheStorage(crawler.settings)
    storage.open_spider(spider)
    page, other = Request("http://127.0.0.1/long.html"), Request("http://127.0.0.1/b")
    storage.store_response(spider, page, HtmlResponse(page.url, body=b"x" * 50_000))
    key = crawler.request_fingerprinter.fingerprint(page).hex()
    assert os.path.getsize(cache_entry(str(tmp_path), "feeds", key)) > 50_000

    discard_cached(str(tmp_path), "feeds", [key])
    assert storage.retrieve_response(spider, page) is None
    assert sum(1 for _ in tmp_path.glob("*/*/*")) == 0  # what `crawler status` counts
    storage.store_response(spider, other, HtmlResponse(other.url, body=b"<p>short</p>",
                                                       headers={"X-Test": "1"}))
    cached = storage.retrieve_response(spider, other)
    assert cached.body == b"<p>short</p>" and cached.headers["X-Test"] == b"1"
    entry = cache_entry(str(tmp_path), "feeds",
                        crawler.request_fingerprinter.fingerprint(other).hex())
    assert read_entry(entry)["body"] == b"<p>short</p>"
    assert sum(1 for _ in tmp_path.glob("*/*/*")) == 1


def test_the_fork_servers_warm_up_page_runs_every_extraction_step():
    """crawler.runtime.workerinit warms the workers up with one page: it must reach the text, the
    date search and the language model, or the workers pay for them on their first page."""
    from crawler.runtime import workerinit

    article = analyse_page(workerinit._PAGE, "http://127.0.0.1/warm-up.html", None,
                           DedupParams())
    assert "old bridge" in article["text"] and article["fingerprint"] is not None
    assert article["published"] == "2024-05-06T05:08:09+00:00"
    assert article["language"] == "en" and article["author"] == "Ann Example"


_WARM_WORKER = """
from concurrent.futures import ProcessPoolExecutor
from crawler.runtime import workers
with ProcessPoolExecutor(1, mp_context=workers.context()) as pool:
    print(pool.submit(eval, "'trafilatura' in __import__('sys').modules").result())
"""


def test_workers_fork_from_a_warm_server():
    """Workers forked from the fork server have trafilatura imported already."""
    done = subprocess.run([sys.executable, "-c", _WARM_WORKER], capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == "True", done.stderr[-2000:]


_CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


_ON_ONE_CORE = """
import os
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from scrapy.utils.test import get_crawler
from crawler.runtime.pipelines import ExtractPipeline
print(ExtractPipeline.from_crawler(get_crawler()).workers)
"""


@pytest.mark.skipif(len(_CORES) < 2, reason="needs Linux and two cores")
def test_one_worker_per_core_the_crawl_may_use():
    """A crawl allowed fewer cores than the machine has (cpuset, taskset) starts fewer
    workers, not one per core of the machine."""
    done = subprocess.run([sys.executable, "-c", _ON_ONE_CORE], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "1", done.stderr[-2000:]
