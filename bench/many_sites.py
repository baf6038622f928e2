"""Twelve sites scraped at once (one ``crawler scrape URL...``) against one after another (a
``crawler scrape URL`` each), with the default politeness (DOWNLOAD_DELAY 0.25 s, AutoThrottle,
4 requests at a time per site).

The sites run on loopback (``LocalWeb``: 127.0.0.101 onwards, each on its own address, so each
is a download slot of its own); each has robots.txt naming a sitemap of ``--articles`` article
pages, and answers every page after ``--latency`` seconds, as a real server far away does.
Reported in one run: wall time of both ways, and the crawls' own time (the ``Crawl ... finished
in`` of each summary, without the process start-up), with their ratios, and that both stored
the same articles.

Usage: python bench/many_sites.py [--sites 12] [--articles 30] [--latency 0.1]
"""
from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler import store  # noqa: E402
from crawler.demo.server import LocalWeb, Resource, Site  # noqa: E402
from tests.pages import article_page  # noqa: E402

#: Made-up words: every article's text is its own (no two are near-duplicates that dedup must
#: verify against each other).
SYLLABLES = ("ka be ri to mu sel dan fer gol hin jor lak mon nes pra quo rus sta tur ul "
             "ver wen xa zeu bra ch sch ei au").split()


def paragraphs(site: int, i: int) -> list[str]:
    rng = random.Random(site * 10_000 + i)
    words = ["".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(150)]
    return [" ".join(words[k:k + 50]).capitalize() + "." for k in range(0, 150, 50)]


def build(n_sites: int, n_articles: int, latency: float) -> list[Site]:
    sites = []
    for s in range(n_sites):
        site = Site(f"site{s}", f"127.0.0.{101 + s}")

        def slow(resource: Resource):
            def handle(handler):
                time.sleep(latency)
                handler.send(resource)
            return handle

        for i in range(n_articles):
            site.routes[f"/2025/03/ort-{s}-meldung-{i}.html"] = slow(Resource(article_page(
                f"Ort {s}: Meldung {i}", paragraphs(s, i))))
        site.routes["/"] = slow(Resource("<!DOCTYPE html><html><head><title>Start</title>"
                                         "</head><body><h1>Start</h1></body></html>"))
        sites.append(site)
    return sites


def add_sitemaps(sites: list[Site]) -> None:
    """robots.txt and sitemap.xml, once the servers know their ports."""
    for site in sites:
        pages = [p for p in site.routes if p.startswith("/2025/")]
        locs = "".join(f"<url><loc>{site.url(p)}</loc></url>" for p in pages)
        site.routes["/robots.txt"] = Resource(
            f"User-agent: *\nDisallow:\nSitemap: {site.url('/sitemap.xml')}\n", "text/plain")
        site.routes["/sitemap.xml"] = Resource(
            '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/'
            f'schemas/sitemap/0.9">{locs}</urlset>', "application/xml")


def scrape(urls: list[str], db: Path) -> tuple[float, float]:
    """Wall seconds of one ``crawler scrape`` and its crawl's own seconds."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "crawler", "scrape", *urls, "--db", str(db),
                             "-q", "-s", "CRAWLER_ONLY_NETWORKS=127.0.0.0/8"], cwd=ROOT,
                            capture_output=True, text=True)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(result.stdout + result.stderr[-3000:])
    return wall, float(re.search(r"finished in ([\d.]+)s", result.stdout)[1])


def stored(db: Path) -> set[str]:
    conn = store.open_db(db)
    try:
        return {url for (url,) in conn.execute("SELECT url FROM articles")}
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=12)
    parser.add_argument("--articles", type=int, default=30, help="articles per site")
    parser.add_argument("--latency", type=float, default=0.1,
                        help="seconds each page takes to answer")
    args = parser.parse_args()
    sites = build(args.sites, args.articles, args.latency)
    with LocalWeb(sites) as web, tempfile.TemporaryDirectory(prefix="many-sites-") as tmp:
        add_sitemaps(sites)
        urls = [site.url("/") for site in sites]
        at_once = scrape(urls, Path(tmp) / "at-once.db")
        one_by_one = [scrape([url], Path(tmp) / "one-by-one.db") for url in urls]
        same = stored(Path(tmp) / "at-once.db") == stored(Path(tmp) / "one-by-one.db")
        n = len(stored(Path(tmp) / "at-once.db"))
        del web
    seq_wall = sum(w for w, _ in one_by_one)
    seq_crawl = sum(c for _, c in one_by_one)
    print(f"{args.sites} sites x {args.articles} articles ({n} stored, same both ways: {same}); "
          f"pages answer after {args.latency:.2f} s")
    print(f"  at once (one crawl):   {at_once[0]:7.1f} s wall, {at_once[1]:7.1f} s crawling")
    print(f"  one after another:     {seq_wall:7.1f} s wall, {seq_crawl:7.1f} s crawling")
    print(f"  at once is {seq_wall / at_once[0]:.1f}x faster (wall), "
          f"{seq_crawl / at_once[1]:.1f}x (crawling)")


if __name__ == "__main__":
    main()
