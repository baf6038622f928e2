"""Incremental and scheduled crawls: the interval policy, conditional requests (a 304 costs no
parsing), known articles not fetched again, feeds that change between crawls, failing feeds
backed off and disabled, `--due`, `--every`, `crawler status`."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from crawler import store
from crawler.demo.server import LocalWeb, Resource, Site
from crawler.cli.every import pass_argv
from crawler.schedule import (Outcome, Policy, format_duration, is_due, next_interval,
                              parse_duration, plan_updates)
from tests.conftest import run_cli
from tests.pages import LOREM_DE, article_page, atom, rss

FAST = ["-s", "DOWNLOAD_TIMEOUT=3", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0",
        "-s", "AUTOTHROTTLE_ENABLED=False", "--workers", "0", "-q"]
POLICY = Policy(base=900, minimum=300, maximum=86400, max_failures=4)


# ---------------------------------------------------------------- the policy, on its own


def test_durations_read_and_written():
    assert [parse_duration(t) for t in ("90", "90s", "15m", "2h", "1d", "1h30m")] == \
        [90, 90, 900, 7200, 86400, 5400]
    for bad in ("", "soon", "-5m", "0"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert [format_duration(s) for s in (45, 900, 5400, 90000)] == ["45s", "15m", "1h30m", "1d1h"]


def test_first_fetch_keeps_the_base_interval():
    assert next_interval(None, Outcome(n_new=20, first_fetch=True), POLICY).interval == 900


def test_busy_feeds_are_fetched_more_often_quiet_ones_less():
    busy = next_interval(900, Outcome(n_new=5), POLICY)
    steady = next_interval(900, Outcome(n_new=1), POLICY)
    quiet = next_interval(900, Outcome(n_new=0), POLICY)
    assert busy.interval == 450            # at most halved per fetch
    assert steady.interval == 900          # one new article per fetch keeps the pace
    assert quiet.interval == 1350          # nothing new: 1.5x
    assert not (busy.disabled or steady.disabled or quiet.disabled)


def test_interval_stays_within_bounds():
    interval = 900
    for _ in range(30):
        interval = next_interval(interval, Outcome(n_new=0), POLICY).interval
    assert interval == 86400
    for _ in range(30):
        interval = next_interval(interval, Outcome(n_new=50), POLICY).interval
    assert interval == 300


def test_failing_feed_backs_off_then_is_disabled():
    steps = [next_interval(900, Outcome(failed=True, n_errors=n), POLICY) for n in (1, 2, 3, 4)]
    assert [s.interval for s in steps] == [900, 1800, 3600, 7200]
    assert [s.disabled for s in steps] == [False, False, False, True]


def test_plan_updates_and_due():
    now = datetime(2025, 3, 4, 12, 0, tzinfo=timezone.utc)
    updates = plan_updates({
        "a": {"n_new": 3, "newest": "2025-03-04T11:59:00+00:00", "n_fetches": 5,
              "interval_seconds": 1200, "error": None, "n_errors": 0},
        "b": {"n_new": 0, "n_fetches": 1, "error": "http_500: boom", "n_errors": 4},
    }, POLICY, now)
    assert updates["a"] == {"interval_seconds": 600, "disabled": 0,
                            "next_fetch": "2025-03-04T12:10:00+00:00",
                            "last_new_article": "2025-03-04T11:59:00+00:00"}
    assert updates["b"]["disabled"] == 1
    assert is_due(updates["a"]["next_fetch"], 0, now + timedelta(minutes=10))
    assert not is_due(updates["a"]["next_fetch"], 0, now + timedelta(minutes=9))
    assert not is_due(None, 1, now)


def test_every_pass_drops_the_loop_options():
    argv = ["crawl", "f.txt", "--every", "15m", "--db", "x.db", "--passes=3", "-q"]
    assert pass_argv(argv, 900) == ["crawl", "f.txt", "--db", "x.db", "-q", "--due", "-s",
                                    "CRAWLER_INTERVAL=900"]


# ---------------------------------------------------------------- crawls over HTTP


def _items(base: str, numbers) -> list[dict]:
    return [{"title": f"Meldung {n}", "link": f"{base}/artikel/meldung-{n}.html"} for n in numbers]


@pytest.fixture(scope="module")
def web():
    site = Site("zeitung", "127.0.0.41")
    broken = Site("kaputt", "127.0.0.42")
    with LocalWeb([site, broken]) as w:
        for n in range(1, 8):
            site.routes[f"/artikel/meldung-{n}.html"] = Resource(article_page(
                f"Meldung {n}: Fernwärme", [f"Folge {n}.", *LOREM_DE]))
        w.set_feeds = lambda etag_items, lm_items, version: _set_feeds(site, etag_items,
                                                                        lm_items, version)
        w.set_feeds([1, 2], [3], 1)
        broken.routes["/feed.xml"] = Resource("kaputt", "text/plain", status=500)
        yield w


def _set_feeds(site: Site, etag_items, lm_items, version: int) -> None:
    """An RSS feed answering with ETag, an Atom feed with Last-Modified; both change with
    ``version``."""
    site.routes["/rss.xml"] = Resource(rss("Zeitung", _items(site.base, etag_items)),
                                       "application/rss+xml", etag=f'"v{version}"')
    site.routes["/atom.xml"] = Resource(atom("Zeitung Atom", _items(site.base, lm_items)),
                                        "application/atom+xml",
                                        last_modified=1_700_000_000 + version * 3600)


def _feeds(web) -> list[str]:
    return [web["zeitung"].url("/rss.xml"), web["zeitung"].url("/atom.xml"),
            web["kaputt"].url("/feed.xml")]


def _hits(web, path):
    return web.hits("zeitung", path)


@pytest.fixture(scope="module")
def crawls(web, tmp_path_factory):
    """Four crawls of the same feeds: first, unchanged, changed, --refresh."""
    db = tmp_path_factory.mktemp("schedule") / "news.db"
    limits = ["-s", "CRAWLER_MAX_FAILURES=3", "-s", "CRAWLER_MIN_INTERVAL=60"]
    out = {"db": db}
    out["first"] = run_cli("crawl", *_feeds(web), "--db", db, *FAST, *limits)
    out["hits_after_first"] = {p: _hits(web, p) for p in ("/artikel/meldung-1.html",
                                                          "/artikel/meldung-3.html")}
    out["unchanged"] = run_cli("crawl", *_feeds(web), "--db", db, *FAST, *limits)
    out["headers"] = [h for s, p, h in web.request_headers if p in ("/rss.xml", "/atom.xml")]
    web.set_feeds([4, 1, 2], [5, 3], 2)
    out["changed"] = run_cli("crawl", *_feeds(web), "--db", db, *FAST, *limits)
    out["hits_after_changed"] = {p: _hits(web, p) for p in ("/artikel/meldung-1.html",
                                                            "/artikel/meldung-4.html")}
    out["refresh"] = run_cli("crawl", web["zeitung"].url("/rss.xml"), "--db", db, "--refresh",
                             *FAST, *limits)
    out["status"] = run_cli("status", "--db", db)
    out["status_json"] = run_cli("status", "--db", db, "--json")
    return out


def test_conditional_requests_send_stored_validators(crawls):
    assert crawls["first"].returncode == 0, crawls["first"].stderr
    second = crawls["headers"][2:]  # the first crawl's two feed requests had no validators
    assert any(h.get("If-None-Match") == '"v1"' for h in second)
    assert any("If-Modified-Since" in h for h in second)


def test_a_304_costs_no_parsing_and_no_article_fetch(crawls):
    unchanged = crawls["unchanged"]
    assert unchanged.returncode == 0, unchanged.stderr
    assert "2 unchanged (304)" in unchanged.stdout
    assert "articles: 0 new, 0 already known" in unchanged.stdout  # the entries were never read
    db = store.open_db(crawls["db"])
    counts = [r["n_new"] for r in db["crawls"].rows_where(order_by="id")]
    assert counts[:2] == [3, 0]


def test_changed_feed_fetches_only_the_new_articles(crawls):
    changed = crawls["changed"]
    assert changed.returncode == 0, changed.stderr
    assert "articles: 2 new, 3 already known" in changed.stdout
    assert crawls["hits_after_first"]["/artikel/meldung-1.html"] == 1
    assert crawls["hits_after_changed"] == {"/artikel/meldung-1.html": 1,
                                            "/artikel/meldung-4.html": 1}


def test_refresh_fetches_known_articles_again(crawls, web):
    assert crawls["refresh"].returncode == 0, crawls["refresh"].stderr
    assert _hits(web, "/artikel/meldung-1.html") == 2
    assert "0 unchanged (304)" in crawls["refresh"].stdout  # --refresh skips validators too


def test_feeds_are_scheduled_and_failing_one_disabled(crawls):
    db = store.open_db(crawls["db"])
    feeds = {f["url"].rsplit("/", 1)[1]: f for f in db["feeds"].rows}
    rss_feed, bad = feeds["rss.xml"], feeds["feed.xml"]
    assert rss_feed["next_fetch"] > rss_feed["last_fetch"]
    assert rss_feed["last_new_article"] and not rss_feed["disabled"]
    assert feeds["atom.xml"]["interval_seconds"] >= 60
    assert bad["n_errors"] == 3 and bad["disabled"] == 1  # CRAWLER_MAX_FAILURES=3
    assert bad["interval_seconds"] == 3600                 # 900, 1800, 3600


def test_status_shows_feed_health(crawls):
    status = crawls["status"]
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].split()[:3] == ["state", "last", "fetch"]
    bad = next(line for line in lines if line.endswith("/feed.xml"))
    assert bad.startswith("disabled") and " 3 " in bad and "never" in bad
    assert any(line.startswith(("ok", "due")) and line.endswith("/rss.xml") for line in lines)
    assert "http_500" in status.stdout
    rows = [json.loads(line) for line in crawls["status_json"].stdout.splitlines()]
    by_url = {r["url"].rsplit("/", 1)[1]: r for r in rows}
    assert by_url["feed.xml"]["state"] == "disabled"
    assert by_url["rss.xml"]["n_articles"] == 3  # items 4, 1, 2


def test_due_pass_fetches_only_due_feeds(crawls, web):
    db = crawls["db"]
    rss_hits, atom_hits = web.hits("zeitung", "/rss.xml"), web.hits("zeitung", "/atom.xml")
    nothing = run_cli("crawl", *_feeds(web), "--db", db, "--due", *FAST)
    assert nothing.returncode == 0, nothing.stderr
    assert "Nothing due" in nothing.stdout
    conn = store.open_db(db)
    with store.transaction(conn):
        conn.execute("UPDATE feeds SET next_fetch = '2000-01-01T00:00:00+00:00' "
                     "WHERE url LIKE '%/rss.xml' OR url LIKE '%/feed.xml'")
    conn.close()
    due = run_cli("crawl", *_feeds(web), "--db", db, "--due", *FAST)
    assert due.returncode == 0, due.stderr
    assert web.hits("zeitung", "/rss.xml") == rss_hits + 1
    assert web.hits("zeitung", "/atom.xml") == atom_hits  # not due: not fetched
    assert web.hits("kaputt", "/feed.xml") == 3          # disabled: not fetched though due


def test_every_keeps_crawling_on_schedule(web, tmp_path):
    db = tmp_path / "news.db"
    before = web.hits("zeitung", "/rss.xml")
    started = time.time()
    result = run_cli("crawl", web["zeitung"].url("/rss.xml"), "--db", db, "--every", "2s",
                     "--passes", "2", "-s", "CRAWLER_MIN_INTERVAL=1", *FAST, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Next pass at" in result.stdout
    assert web.hits("zeitung", "/rss.xml") == before + 2
    crawls = list(store.open_db(db)["crawls"].rows)
    assert len(crawls) == 2 and all(c["status"] == "finished" for c in crawls)
    assert json.loads(crawls[0]["args"])["due_only"] is True
    assert time.time() - started >= 2  # the second pass waited for the feed to be due


def test_every_rejects_a_bad_interval(tmp_path):
    result = run_cli("crawl", "http://127.0.0.41:9/x.xml", "--db", tmp_path / "x.db",
                     "--every", "soon")
    assert result.returncode == 2 and "--every" in result.stderr
    assert "Traceback" not in result.stderr
