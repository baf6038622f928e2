"""The Python API for running crawls, used from a plain script as a user would: crawls of the
demo sites over real HTTP on 127.0.0.x into real SQLite files, several in one process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from crawler import store
from crawler.demo import COPIES, expected_urls, feed_urls
from tests.conftest import ROOT

#: The demo's settings (no politeness delays on loopback), one extraction worker.
FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
        "CRAWLER_EXTRACT_WORKERS": 1}


@pytest.fixture(scope="module")
def web(demo_web):
    return demo_web


@pytest.fixture(scope="module")
def feeds(web) -> list[str]:
    return feed_urls(list(web.sites.values()))


def run_script(tmp_path, body: str, *args, timeout: float = 300) -> dict:
    """Run ``body`` as a script of its own (``args`` in sys.argv); return what it prints as JSON
    on its last line."""
    script = tmp_path / "user_script.py"
    script.write_text("import dataclasses, json, sys, time\nimport crawler\n"
                      "from crawler.errors import UserError\n" + textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run([sys.executable, str(script), *map(str, args)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def query(db_path, sql: str, params=()) -> list[tuple]:
    db = store.open_db(db_path, readonly=True)
    try:
        return [tuple(row) for row in db.execute(sql, params).fetchall()]
    finally:
        db.close()


# ---------------------------------------------------------------- several crawls in one script

@pytest.fixture(scope="module")
def three_crawls(web, feeds, tmp_path_factory):
    """crawl_feeds twice, then scrape_sites of two sites into another database with a setting
    that makes every page too short to store: three crawls in one process."""
    tmp = tmp_path_factory.mktemp("api")
    sites = [web["netzschau"].base, web["klartext"].base]
    out = run_script(tmp, """
        feeds, settings, sites = (json.loads(arg) for arg in sys.argv[1:])
        reports = []
        first = crawler.crawl_feeds(feeds, "news.db", settings=settings,
                                    progress=reports.append, progress_interval=0.2)
        second = crawler.crawl_feeds(feeds, "news.db", settings=settings)
        scrape = crawler.scrape_sites(sites, "short.db", settings={**settings,
                                                                   "CRAWLER_MIN_WORDS": 100000})
        print(json.dumps({"summaries": [dataclasses.asdict(s) for s in (first, second, scrape)],
                          "reports": [dataclasses.asdict(r) for r in reports],
                          "reactor_here": "twisted.internet.reactor" in sys.modules},
                         default=str))
        """, json.dumps(feeds), json.dumps(FAST), json.dumps(sites))
    return out, tmp, sites


def test_first_crawl_stores_every_article_and_its_summary_equals_the_rows(three_crawls, web):
    out, tmp, _ = three_crawls
    assert not out["reactor_here"]  # the crawls ran in child processes
    first = out["summaries"][0]
    assert first["status"] == "finished" and first["crawl_id"] == 1
    assert first["db"] == str(tmp / "news.db")
    stored = {url for (url,) in query(tmp / "news.db", "SELECT url FROM articles")}
    assert stored == set(expected_urls(list(web.sites.values())))
    assert first["articles_new"] == len(COPIES) == len(stored)
    row = query(tmp / "news.db", "SELECT status, n_feeds, n_new, n_known, n_failed, n_pages "
                                 "FROM crawls WHERE id = 1")[0]
    assert row == ("finished", first["feeds"], first["articles_new"], first["articles_known"],
                   first["articles_failed"], first["pages"])
    assert first["duration"] > 0 and not first["failures"] and not first["failed_feeds"]


def test_progress_is_reported_with_counts_that_only_grow(three_crawls):
    out, _, _ = three_crawls
    reports, first = out["reports"], out["summaries"][0]
    assert len(reports) >= 2
    for field in ("elapsed", "pages", "feeds_done", "articles_new", "articles_known"):
        values = [r[field] for r in reports]
        assert values == sorted(values), field
    # one report every progress_interval (0.2 s): a late one is not followed by a burst
    assert len(reports) <= reports[-1]["elapsed"] / 0.2 + 1
    assert {r["feeds_total"] for r in reports} == {first["feeds"]}
    assert reports[-1]["articles_new"] <= first["articles_new"]
    assert reports[-1]["pages"] <= first["pages"]
    assert any(r["articles_new"] for r in reports)


def test_the_same_crawl_again_in_the_same_process_stores_nothing_new(three_crawls):
    out, tmp, _ = three_crawls
    second = out["summaries"][1]
    assert second["status"] == "finished" and second["crawl_id"] == 2
    assert second["articles_new"] == 0 and second["feeds"] == out["summaries"][0]["feeds"]
    assert query(tmp / "news.db", "SELECT count(*) FROM articles") == [(len(COPIES),)]
    assert query(tmp / "news.db", "SELECT count(*) FROM articles WHERE crawl_id = 2") == [(0,)]
    assert query(tmp / "news.db", "SELECT status FROM crawls ORDER BY id") == \
        [("finished",), ("finished",)]


def test_scrape_sites_after_two_crawls_applies_its_settings(three_crawls, web):
    out, tmp, sites = three_crawls
    scrape = out["summaries"][2]
    assert scrape["status"] == "finished" and scrape["crawl_id"] == 1
    assert query(tmp / "short.db", "SELECT kind, status FROM crawls") == [("scrape", "finished")]
    # CRAWLER_MIN_WORDS=100000: every article is too short to store, and says so
    assert scrape["articles_new"] == 0
    assert query(tmp / "short.db", "SELECT count(*) FROM articles") == [(0,)]
    rows = dict(query(tmp / "short.db", "SELECT reason, count(*) FROM failures "
                                        "WHERE crawl_id = 1 GROUP BY reason"))
    assert rows["no_text"] == scrape["failures"]["no_text"]
    # both sites in one crawl, each with its own figures
    assert list(scrape["sites"]) == [f"{site}/" for site in sites]
    for site in sites:
        articles = [u for u in expected_urls(list(web.sites.values())) if u.startswith(site)]
        failed = query(tmp / "short.db", "SELECT count(*) FROM failures WHERE crawl_id = 1 "
                                         "AND kind = 'article' AND url LIKE ?", [f"{site}/%"])
        assert scrape["sites"][f"{site}/"] == {"new": 0, "failed": len(articles)}
        assert failed == [(len(articles),)]
    assert scrape["failures"]["no_text"] == sum(s["failed"] for s in scrape["sites"].values())


# ---------------------------------------------------------------- mistakes and interruptions

def test_user_mistakes_raise_user_error_before_anything_starts(tmp_path, feeds):
    out = run_script(tmp_path, """
        feed = sys.argv[1]
        calls = {
            "ftp feed": lambda: crawler.crawl_feeds("ftp://example.org/rss", "a.db"),
            "missing file": lambda: crawler.crawl_feeds(["feeds-missing.txt"], "a.db"),
            "no feeds": lambda: crawler.crawl_feeds([], "a.db"),
            "bad site": lambda: crawler.scrape_sites("ftp://example.org/", "a.db"),
            "bad since": lambda: crawler.scrape_sites(feed, "a.db", since="gestern"),
            "bad pattern": lambda: crawler.scrape_sites(feed, "a.db", include=["("]),
            "bad workers": lambda: crawler.crawl_feeds(feed, "a.db", workers=-1),
            "too frequent": lambda: crawler.crawl_feeds(feed, "a.db", progress=print,
                                                        progress_interval=0.01),
            "bad every": lambda: next(crawler.crawl_feeds_every(feed, "a.db", every="often")),
            "database in a file": lambda: crawler.crawl_feeds(feed, "news.db/x.db"),
        }
        open("news.db", "w").close()
        errors = {}
        for name, call in calls.items():
            try:
                call()
            except UserError as exc:
                errors[name] = str(exc)
        print(json.dumps(errors))
        """, feeds[0])
    assert set(out) == {"ftp feed", "missing file", "no feeds", "bad site", "bad since",
                        "bad pattern", "bad workers", "too frequent", "bad every",
                        "database in a file"}
    assert "'ftp://example.org/rss' is not an http(s) URL" in out["ftp feed"]
    assert out["missing file"].startswith("feeds-missing.txt: no such file")
    assert "gestern" in out["bad since"] and "(" in out["bad pattern"]
    assert "news.db" in out["database in a file"]
    assert not (tmp_path / "a.db").exists()  # nothing was started, let alone fetched


def test_ctrl_c_stops_the_crawl_cleanly_and_resume_continues_it(tmp_path, feeds, web):
    slow = {**FAST, "DOWNLOAD_DELAY": 1.0, "CONCURRENT_REQUESTS_PER_DOMAIN": 1}
    out = run_script(tmp_path, """
        import os
        feeds, settings = json.loads(sys.argv[1]), json.loads(sys.argv[2])

        def is_child(pid):
            try:
                return f"PPid:\\t{os.getpid()}\\n" in open(f"/proc/{pid}/status").read()
            except OSError:  # ended meanwhile
                return False

        def interrupt(progress):
            if progress.pages >= 3:
                raise KeyboardInterrupt  # what Ctrl-C raises in the caller's thread

        try:
            crawler.crawl_feeds(feeds, "news.db", settings=settings, progress=interrupt,
                                progress_interval=0.2)
            interrupted = False
        except KeyboardInterrupt:
            interrupted = True
        children = [pid for pid in os.listdir("/proc") if pid.isdigit() and is_child(pid)]
        resumed = crawler.crawl_feeds(feeds, "news.db", settings=settings, resume=True)
        print(json.dumps({"interrupted": interrupted, "children": children,
                          "resumed": dataclasses.asdict(resumed)}, default=str))
        """, json.dumps(feeds), json.dumps(slow))
    assert out["interrupted"] and out["children"] == []
    first = query(tmp_path / "news.db", "SELECT status, ended, n_new FROM crawls WHERE id = 1")[0]
    assert first[0] == "shutdown" and first[1] and first[2] < len(COPIES)
    resumed = out["resumed"]
    assert resumed["status"] == "finished" and resumed["resumed"] and not resumed["resumable"]
    assert resumed["articles_new"] and first[2] + resumed["articles_new"] == len(COPIES)
    stored = {url for (url,) in query(tmp_path / "news.db", "SELECT url FROM articles")}
    assert stored == set(expected_urls(list(web.sites.values())))


def test_a_crawl_whose_process_dies_raises_crawl_error(tmp_path, feeds):
    out = run_script(tmp_path, """
        import os, signal
        from crawler.errors import CrawlError
        feeds, settings = json.loads(sys.argv[1]), json.loads(sys.argv[2])

        def kill_the_crawl(progress):
            for pid in os.listdir("/proc"):
                try:
                    if f"PPid:\\t{os.getpid()}\\n" in open(f"/proc/{pid}/status").read():
                        os.killpg(int(pid), signal.SIGKILL)  # with its extraction workers
                except OSError:
                    pass

        try:
            crawler.crawl_feeds(feeds, "news.db", settings=settings, progress=kill_the_crawl,
                                progress_interval=0.2)
            print(json.dumps("no error"))
        except CrawlError as exc:
            print(json.dumps(str(exc)))
        """, json.dumps(feeds), json.dumps({**FAST, "DOWNLOAD_DELAY": 1.0}))
    assert out.startswith("the crawl's process ended (exit status -9) without a summary")


def test_crawl_feeds_every_crawls_again_when_the_feeds_are_due(tmp_path, feeds):
    quick = {**FAST, "CRAWLER_MIN_INTERVAL": 1, "CRAWLER_MAX_INTERVAL": 2}
    out = run_script(tmp_path, """
        feeds, settings = json.loads(sys.argv[1]), json.loads(sys.argv[2])
        passes = [(dataclasses.asdict(s), time.monotonic()) for s in
                  crawler.crawl_feeds_every(feeds, "news.db", every="2s", passes=2,
                                            settings=settings)]
        print(json.dumps(passes, default=str))
        """, json.dumps(feeds), json.dumps(quick))
    (first, _), (second, _) = out
    assert [first["crawl_id"], second["crawl_id"]] == [1, 2]
    assert first["articles_new"] == len(COPIES) and second["articles_new"] == 0
    assert second["feeds_unchanged"] == second["feeds"] == len(feeds)  # 304: fetched again
    rows = query(tmp_path / "news.db", "SELECT count(*) FROM feeds WHERE next_fetch IS NOT NULL")
    assert rows == [(len(feeds),)]
