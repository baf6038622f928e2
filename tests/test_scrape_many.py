"""`crawler scrape SITE_URL... --sites FILE`: several sites in one crawl, over real HTTP on
loopback. Both sites are scraped in one run and proceed side by side (their request times
interleave: each site answers slowly, one request at a time), --max-pages holds per site, the
summary is per site, and an interrupted multi-site scrape resumes without fetching again what
it had."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from crawler import store
from crawler.demo.server import LocalWeb, Resource, Site
from tests.conftest import ROOT, run_cli
from tests.pages import article_page
from tests.test_resume import _count

N_ARTICLES = 8
#: One request at a time per site (a delay > 0: Scrapy 2.19 does not hold a slot to its
#: concurrency without one, tests/test_politeness.py): a site's pace is its slow answers.
FAST = ["-s", "DOWNLOAD_TIMEOUT=30", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0.05",
        "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1",
        "--workers", "0", "-q"]
SLOW = 0.15  # seconds each article page takes to answer


def _paragraphs(site: str, i: int) -> list[str]:
    return [f"Meldung {i} aus {site}: Der Gemeinderat von {site.title()}-Dorf hat am {i + 1}. "
            f"März über {i * 17 + 3} neue Parkplätze und den Umbau der Schule {i} beraten.",
            f"Die Kosten von {i * 1000 + 250} Euro trägt nach Angaben der Verwaltung von "
            f"{site.title()} zur Hälfte das Land; Anwohner {i} äußerten Bedenken.",
            f"Eine Entscheidung über Vorhaben {i} in {site.title()} soll im April fallen, hieß "
            f"es am Abend aus dem Rathaus, wo {i + 40} Zuhörer die Sitzung verfolgten."]


def _slow(resource: Resource):
    def handle(handler):
        time.sleep(SLOW)
        handler.send(resource)
        return None
    return handle


def _fill(site: Site) -> list[str]:
    paths = [f"/2025/03/{site.name}-meldung-{i}.html" for i in range(N_ARTICLES)]
    locs = "".join(f"<url><loc>{site.url(p)}</loc></url>" for p in paths)
    site.routes.update({
        "/robots.txt": Resource(f"User-agent: *\nDisallow:\nSitemap: {site.url('/sitemap.xml')}\n",
                                "text/plain"),
        "/sitemap.xml": Resource('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns='
                                 f'"http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>',
                                 "application/xml"),
        "/": Resource("<!DOCTYPE html><html><head><title>Start</title></head><body>"
                      "<h1>Start</h1></body></html>"),
    })
    for i, path in enumerate(paths):
        site.routes[path] = _slow(Resource(article_page(f"{site.name} Meldung {i}",
                                                        _paragraphs(site.name, i))))
    return paths


@pytest.fixture(scope="module")
def web():
    sites = [Site("nord", "127.0.0.81"), Site("sued", "127.0.0.82")]
    with LocalWeb(sites) as w:
        w.paths = {s.name: _fill(s) for s in sites}
        yield w


def _site_urls(web) -> dict[str, str]:
    return {name: web[name].base + "/" for name in ("nord", "sued")}


def _stored_by_site(db_path) -> dict[str, int]:
    db = store.open_db(db_path)
    try:
        return {site: n for site, n in db.execute(
            "SELECT site, count(*) FROM articles GROUP BY site")}
    finally:
        db.close()


def _article_log(web, since: float) -> list[tuple[str, str, float]]:
    return sorted(((s, p, t) for s, p, t in web.log if t >= since and "meldung" in p),
                  key=lambda r: r[2])


def test_two_sites_in_one_run_side_by_side(web, tmp_path):
    urls = _site_urls(web)
    site_file = tmp_path / "sites.txt"
    site_file.write_text(f"# the second site\n{urls['sued']}  # Süd\n\n")
    started = time.time()
    result = run_cli("scrape", urls["nord"], "--sites", site_file, "--db", tmp_path / "n.db",
                     *FAST, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _stored_by_site(tmp_path / "n.db") == {"127.0.0.81": N_ARTICLES,
                                                  "127.0.0.82": N_ARTICLES}
    # Per site summary: what each stored and found
    assert "Per site:" in result.stdout
    for url in urls.values():
        assert f"{url}: {N_ARTICLES} new articles, 0 failed" in result.stdout
    assert "sitemaps: 2 read, 16 entries" in result.stdout  # both sites
    assert result.stdout.count("sitemaps: 1 read, 8 entries") == 2  # each site
    # Side by side: one at a time, each site alone would take 8 x SLOW; in one run their
    # requests alternate instead of one site's all coming after the other's.
    log = _article_log(web, started)
    order = [s for s, _, _ in log]
    assert len(order) == 2 * N_ARTICLES
    switches = sum(1 for a, b in zip(order, order[1:]) if a != b)
    assert switches >= N_ARTICLES, order  # one after another would switch once
    first_sued = next(t for s, _, t in log if s == "sued")
    last_nord = max(t for s, _, t in log if s == "nord")
    assert first_sued < last_nord


def test_max_pages_is_per_site(web, tmp_path):
    urls = _site_urls(web)
    result = run_cli("scrape", urls["nord"], urls["sued"], "--max-pages", "3", "--db",
                     tmp_path / "m.db", *FAST, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _stored_by_site(tmp_path / "m.db") == {"127.0.0.81": 3, "127.0.0.82": 3}
    assert "max_pages 10" in result.stdout  # both sites together
    assert result.stdout.count("max_pages 5") == 2  # each site


def test_killed_multi_site_scrape_resumes(web, tmp_path):
    """Killed (SIGKILL) once a few articles of the two sites are stored, then resumed: every
    article stored, and nothing received before the kill fetched again."""
    urls = _site_urls(web)
    db = tmp_path / "r.db"
    command = ["scrape", urls["nord"], urls["sued"], "--db", str(db), *FAST,
               "-s", "CRAWLER_STORE_BATCH_SIZE=1"]
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "crawler", *command], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 90
    while _count(db) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    stored_first = _count(db)
    assert 4 <= stored_first < 2 * N_ARTICLES
    before = {(s, p) for s, p, t in web.log if t >= started}
    resumed_at = time.time()
    second = run_cli(*command, "--resume", timeout=180)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resumed an interrupted crawl" in second.stdout
    assert _stored_by_site(db) == {"127.0.0.81": N_ARTICLES, "127.0.0.82": N_ARTICLES}
    again = [(s, p) for s, p, t in web.log if t >= resumed_at]
    # robots.txt, sitemaps and home pages came from the job's cache
    assert not [p for _, p in again if "meldung" not in p], again
    # nothing received before the kill was fetched again: only what was in flight, one
    # request a site at most
    refetched = [x for x in again if x in before]
    assert len(refetched) <= 2, refetched
    assert len(again) <= 2 * N_ARTICLES - stored_first + len(refetched)


def test_bad_site_list_is_a_user_error(tmp_path):
    sites = tmp_path / "sites.txt"
    sites.write_text("http://127.0.0.81/\n# a comment\nftp://127.0.0.82/\n")
    result = run_cli("scrape", "--sites", sites, "--db", tmp_path / "x.db")
    assert result.returncode == 2
    assert f"{sites}, line 3" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("scrape", "--db", tmp_path / "x.db")
    assert result.returncode == 2 and "no site given" in result.stderr
