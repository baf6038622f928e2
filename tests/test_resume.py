"""`crawler crawl --resume`: a crawl killed with SIGKILL (or stopped with Ctrl-C) halfway and
resumed ends with exactly the rows of an uninterrupted crawl, and no page is fetched twice.

The pages count what they really served (a response written to the end). At the interruption
the server holds every request after the first few: those are in flight, never answered, and
must be fetched after the resume; everything answered before must not be fetched again.
"""
from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from crawler import store
from crawler.demo.server import LocalWeb, Resource, Site
from tests.conftest import ROOT, run_cli
from tests.pages import article_page, rss

N_ARTICLES = 36
FAST = ["-s", "DOWNLOAD_TIMEOUT=5", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0",
        "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=2",
        "-s", "CONCURRENT_REQUESTS=4",  # what Ctrl-C lets finish: the downloader's queue
        "--workers", "0", "-q"]
#: Small batches on a long timer: at the kill some fetched pages are stored, some are not yet.
BATCHES = ["-s", "CRAWLER_STORE_BATCH_SIZE=5", "-s", "CRAWLER_STORE_BATCH_SECONDS=30"]

WORDS = ("Stadtrat Haushalt Brücke Schule Hafen Energie Bahn Klinik Museum Wetter Polizei Markt "
         "Theater Gericht Verein Feuerwehr Ernte Flughafen Bibliothek Kita").split()


def _paragraphs(i: int) -> list[str]:
    """Text of article ``i``: distinct enough that no two articles merge into one story."""
    a, b, c = WORDS[i % len(WORDS)], WORDS[(i * 7 + 3) % len(WORDS)], WORDS[(i * 11 + 5) % 20]
    return [f"Meldung {i}: In der Sache {a} hat die Verwaltung am {i % 28 + 1}. März "
            f"{1990 + i} eine Entscheidung über {b} getroffen, die {i * 13} Menschen betrifft.",
            f"Die Kosten für {c} belaufen sich nach Angaben der Stadt auf {i * 1000 + 17} Euro; "
            f"Kritiker sprechen von einer verpassten Chance Nummer {i}.",
            f"Eine Entscheidung über {a} und {c} soll im Ausschuss {i % 5 + 1} fallen, hieß es "
            f"am Abend aus dem Rathaus von Beispielstadt-{i}."]


class Gate:
    """Article pages that count what they served and, while closed, hold every request after
    the first ``allow`` ones (they are in flight when the crawler is killed)."""

    def __init__(self):
        self.served: Counter = Counter()
        self.passed = 0
        self.allow: int | None = None
        self.open = threading.Event()
        self.open.set()
        self.lock = threading.Lock()

    def route(self, resource: Resource):
        def handle(handler):
            with self.lock:  # exactly `allow` answers go out before the gate opens
                held = self.allow is not None and self.passed >= self.allow
                self.passed += 1
            if held:
                self.open.wait(30)
                time.sleep(0.2)
                if _peer_closed(handler.connection):  # the client was killed meanwhile
                    return None
            try:
                handler.send(resource)
                handler.wfile.flush()
            except OSError:
                return None
            with self.lock:
                self.served[handler.path] += 1
            return None
        return handle


def _peer_closed(conn) -> bool:
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


@pytest.fixture(scope="module")
def web():
    gate = Gate()
    site = Site("lokal", "127.0.0.31")
    with LocalWeb([site]) as w:
        base = site.base
        items = []
        for i in range(N_ARTICLES):
            path = f"/2025/meldung-{i}-aus-beispielstadt.html"
            site.routes[path] = gate.route(Resource(article_page(f"Meldung Nummer {i}",
                                                                 _paragraphs(i))))
            items.append({"title": f"Meldung {i}", "link": base + path})
        site.routes["/alle.xml"] = gate.route(Resource(rss("Alle", items), "application/rss+xml",
                                                       etag='"alle-1"'))
        site.routes["/auswahl.xml"] = gate.route(Resource(rss("Auswahl", items[::3]),
                                                          "application/rss+xml",
                                                          last_modified=time.time() - 3600))
        site.routes["/robots.txt"] = gate.route(Resource("User-agent: *\nDisallow:\n",
                                                         "text/plain"))
        w.gate = gate
        yield w


def _feeds(web) -> list[str]:
    return [web["lokal"].url("/alle.xml"), web["lokal"].url("/auswahl.xml")]


def _rows(db_path) -> dict:
    db = store.open_db(db_path)
    try:
        rows = {r["url"]: (r["title"], r["text"], r["author"], r["published"], r["word_count"])
                for r in db["articles"].rows}
        stories = {frozenset(u for (u,) in db.execute(
            "SELECT url FROM articles WHERE story_id = ?", [sid]))
            for (sid,) in db.execute("SELECT DISTINCT story_id FROM articles")}
        links = {(a, f) for a, f in db.execute(
            "SELECT a.url, f.url FROM article_feeds af JOIN articles a ON a.id = af.article_id "
            "JOIN feeds f ON f.id = af.feed_id")}
        return {"articles": rows, "stories": stories, "links": links}
    finally:
        db.close()


def _count(db_path) -> int:
    if not os.path.exists(db_path):
        return 0
    import sqlite3
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _interrupt(web, db_path, sig: int, allow: int, stored_at_least: int) -> subprocess.Popen:
    """Start a crawl, let ``allow`` pages through, wait until some are stored, send ``sig``."""
    gate = web.gate
    gate.allow = allow
    gate.passed = 0
    gate.open.clear()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler", "crawl", *_feeds(web), "--db", str(db_path), *FAST,
         *BATCHES], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if sum(gate.served.values()) >= allow and _count(db_path) >= stored_at_least:
            break
        if proc.poll() is not None:
            pytest.fail(f"crawl ended before the interruption: {proc.stderr.read()}")
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the crawl never reached the interruption point")
    time.sleep(0.5)  # every answer sent has arrived; only the held requests are in flight
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.send_signal(sig)
    return proc


@pytest.fixture(scope="module")
def uninterrupted(web, tmp_path_factory):
    db_path = tmp_path_factory.mktemp("whole") / "news.db"
    result = run_cli("crawl", *_feeds(web), "--db", db_path, *FAST, *BATCHES, timeout=120)
    assert result.returncode == 0, result.stderr
    return _rows(db_path)


def test_sigkill_halfway_then_resume_equals_uninterrupted(web, uninterrupted, tmp_path):
    assert len(uninterrupted["articles"]) == N_ARTICLES
    db_path = tmp_path / "news.db"
    gate = web.gate
    gate.served.clear()
    proc = _interrupt(web, db_path, signal.SIGKILL, allow=3 + 14, stored_at_least=10)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    stored_before = _count(db_path)
    assert 10 <= stored_before < N_ARTICLES  # killed halfway: some stored, the rest not
    job = list((tmp_path / "jobs").glob("feeds-*"))
    assert len(job) == 1 and (job[0] / "httpcache").exists()
    # The cache keeps the feeds, robots.txt and the pages not stored yet; a stored article's
    # page is dropped from it (its URL is skipped on resume).
    cached = list((job[0] / "httpcache").glob("*/*/*.pickle"))
    assert 3 <= len(cached) <= 3 + (3 + 14 - stored_before)
    status = run_cli("status", "--db", db_path)
    assert "Interrupted feeds crawl, killed" in status.stdout and "--resume" in status.stdout
    gate.open.set()
    gate.allow = None

    resumed = run_cli("crawl", *_feeds(web), "--db", db_path, *FAST, *BATCHES, "--resume",
                      timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed an interrupted crawl" in resumed.stdout
    assert _rows(db_path) == uninterrupted
    fetched_twice = {path: n for path, n in gate.served.items() if n > 1}
    assert fetched_twice == {}
    assert sum(gate.served.values()) == N_ARTICLES + 3  # every page once: articles, feeds, robots
    assert not (tmp_path / "jobs").exists() or not list((tmp_path / "jobs").iterdir())


def test_ctrl_c_then_resume_equals_uninterrupted(web, uninterrupted, tmp_path):
    db_path = tmp_path / "news.db"
    gate = web.gate
    gate.served.clear()
    proc = _interrupt(web, db_path, signal.SIGINT, allow=3 + 8, stored_at_least=5)
    time.sleep(0.5)
    gate.open.set()  # let the requests in flight finish: Scrapy waits for them on Ctrl-C
    out, err = proc.communicate(timeout=60)
    gate.allow = None
    assert proc.returncode == 1, err
    assert "--resume to continue" in out
    assert _count(db_path) < N_ARTICLES
    resumed = run_cli("crawl", *_feeds(web), "--db", db_path, *FAST, *BATCHES, "--resume",
                      timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert _rows(db_path) == uninterrupted
    assert {path: n for path, n in gate.served.items() if n > 1} == {}


def test_rerun_without_resume_after_kill_still_loses_nothing(web, uninterrupted, tmp_path):
    """No --resume: the job is discarded and pages are fetched afresh, but the feeds' ETag and
    Last-Modified were not stored by the killed crawl, so no 304 hides unfetched articles."""
    db_path = tmp_path / "news.db"
    web.gate.served.clear()
    proc = _interrupt(web, db_path, signal.SIGKILL, allow=3 + 14, stored_at_least=10)
    proc.wait(10)
    web.gate.open.set()
    web.gate.allow = None
    again = run_cli("crawl", *_feeds(web), "--db", db_path, *FAST, *BATCHES, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "interrupted crawl of this command was discarded" in again.stdout
    assert "0 unchanged (304)" in again.stdout
    assert _rows(db_path) == uninterrupted
