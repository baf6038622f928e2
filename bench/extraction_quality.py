"""Extraction quality and speed on the article-extraction benchmark, through the real crawler.

The 181 pages of ``../shared/corpus/extraction-benchmark/`` are served over HTTP on 127.0.0.1
(``LocalWeb``) with an RSS feed listing them all; the project's crawler (``crawl_feeds``, in a
child process: a Twisted reactor runs once per process) crawls the feed into a fresh SQLite
file, and the stored ``articles.text`` is scored against the human-annotated bodies with the
benchmark's own metric (``bench/aeb_metric.py``: 4-word shingles, precision and recall averaged
over pages, F1 from the averages). In the same run, on the same pages and in this process:
plain ``trafilatura.extract`` with its defaults (the baseline) and ``extract_article`` called
directly, timed interleaved page by page (best of ``--repeat`` runs of each, so that load from
other processes hits both alike).

``--direct`` skips the crawl (scores ``extract_article`` directly). ``--news-pages`` also scores
the full-body pages of ``../shared/corpus/news-pages/`` (fundus, newspaper4k: other languages,
other annotators), a check that the settings were not fitted to one benchmark.

Usage: python bench/extraction_quality.py [--direct] [--news-pages] [--repeat 3] [--workers N]
"""
from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
from email.utils import formatdate
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402

from bench.aeb_metric import page_counts, score  # noqa: E402
from crawler.demo.server import LocalWeb, Resource, Site  # noqa: E402
from crawler.extract.article import extract_article  # noqa: E402

CORPUS = Path(os.environ.get("CRAWLER_CORPUS", ROOT.parent / "shared" / "corpus"))
BENCH = CORPUS / "extraction-benchmark"
OUT = ROOT / "bench" / "out" / "extraction_quality.json"

#: Rows of the benchmark's published results table (its README) shown for comparison.
PUBLISHED = {
    "rs_trafilatura 9261e08 (best published)": (0.970, 0.951, 0.990),
    "go_trafilatura ae7ea06": (0.960, 0.940, 0.980),
    "trafilatura 2.0.0": (0.958, 0.938, 0.978),
    "readability_js 0.6.0": (0.947, 0.914, 0.982),
}

#: Crawl settings: politeness off for the loopback site, sandboxed to 127.0.0.0/8.
CRAWL_SETTINGS = {
    "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ROBOTSTXT_OBEY": False,
    "CONCURRENT_REQUESTS": 32, "CONCURRENT_REQUESTS_PER_DOMAIN": 32,
    "CRAWLER_ONLY_NETWORKS": ["127.0.0.0/8"], "CRAWLER_JOBS": False,
    "CRAWLER_PROGRESS_INTERVAL": 0, "LOG_LEVEL": "WARNING", "RETRY_TIMES": 0,
}


# ---------------------------------------------------------------- pages and truth

def benchmark_pages() -> list[dict]:
    """id, url, html bytes and expected body of every benchmark page."""
    if not BENCH.exists():
        sys.exit(f"no extraction benchmark at {BENCH} (set CRAWLER_CORPUS)")
    truth = json.loads((BENCH / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for path in sorted((BENCH / "html").glob("*.html.gz")):
        page_id = path.name.split(".")[0]
        pages.append({"id": page_id, "url": truth[page_id]["url"],
                      "html": gzip.decompress(path.read_bytes()),
                      "body": truth[page_id].get("articleBody") or ""})
    return pages


def news_pages_full() -> list[dict]:
    """The news-pages with a full expected body (fundus, newspaper4k)."""
    pages = []
    for path in sorted((CORPUS / "news-pages").glob("*/*.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        if truth.get("body_kind") == "full" and truth.get("body"):
            pages.append({"id": truth["id"], "url": truth["url"], "body": truth["body"],
                          "html": gzip.decompress((CORPUS / truth["html_path"]).read_bytes())})
    return pages


# ---------------------------------------------------------------- extractors

def trafilatura_defaults(html: bytes, url: str) -> str:
    """The baseline: trafilatura.extract with every option at its default."""
    return trafilatura.extract(html.decode("utf-8", "replace")) or ""


def ours(html: bytes, url: str) -> str:
    return extract_article(html, url)["text"]


def run_interleaved(pages: list[dict], extractors: dict[str, Callable], repeat: int
                    ) -> tuple[dict[str, dict[str, str]], dict[str, float]]:
    """Texts of every extractor on every page, and ms/page (best of ``repeat`` per page)."""
    texts: dict[str, dict[str, str]] = {name: {} for name in extractors}
    seconds = {name: 0.0 for name in extractors}
    for page in pages[:5]:  # warm caches and lazy imports before timing
        for fn in extractors.values():
            fn(page["html"], page["url"])
    for page in pages:
        for name, fn in extractors.items():
            best = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                text = fn(page["html"], page["url"])
                best = min(best, time.perf_counter() - start)
            texts[name][page["id"]] = text
            seconds[name] += best
    return texts, {name: 1000 * s / len(pages) for name, s in seconds.items()}


def scored(pages: list[dict], texts: dict[str, str]) -> dict[str, float]:
    return score(page_counts(page["body"], texts.get(page["id"], "")) for page in pages)


# ---------------------------------------------------------------- the crawl

def rss_feed(base: str, pages: list[dict]) -> str:
    items = "".join(
        f"<item><title>{escape(p['id'])}</title><link>{base}/{p['id']}.html</link>"
        f"<guid>{base}/{p['id']}.html</guid>"
        f"<pubDate>{formatdate(1_700_000_000 + i * 60, usegmt=True)}</pubDate></item>"
        for i, p in enumerate(pages))
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>extraction benchmark</title><link>{base}/</link>{items}</channel></rss>")


def _crawl_child(feed: str, db_path: str, settings: dict, queue) -> None:
    from crawler.runtime.crawl import crawl_feeds

    queue.put(crawl_feeds([feed], db_path, settings))


def crawl(pages: list[dict], workers: int | None) -> tuple[dict[str, str], dict, float]:
    """Serve the pages, crawl their feed into a fresh database; stored text by page id."""
    site = Site("bench", "127.0.0.1")
    with LocalWeb([site]) as web:
        base = web["bench"].base
        for page in pages:
            site.routes[f"/{page['id']}.html"] = Resource(page["html"], "text/html; charset=utf-8")
        site.routes["/feed.xml"] = Resource(rss_feed(base, pages), "application/rss+xml")
        settings = dict(CRAWL_SETTINGS)
        if workers is not None:
            settings["CRAWLER_EXTRACT_WORKERS"] = workers
        with tempfile.TemporaryDirectory() as tmp:
            db_path = str(Path(tmp) / "bench.db")
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            child = ctx.Process(target=_crawl_child, args=(f"{base}/feed.xml", db_path,
                                                           settings, queue))
            start = time.perf_counter()
            child.start()
            summary = queue.get(timeout=900)
            child.join()
            elapsed = time.perf_counter() - start
            by_url = {f"{base}/{p['id']}.html": p["id"] for p in pages}
            with sqlite3.connect(db_path) as db:
                rows = db.execute("SELECT fetched_url, text FROM articles").fetchall()
    texts = {by_url[url]: text or "" for url, text in rows if url in by_url}
    return texts, summary, elapsed


# ---------------------------------------------------------------- report

def line(name: str, s: dict, ms: float | None = None) -> str:
    timing = f"  {ms:6.1f} ms/page" if ms is not None else ""
    return (f"  {name:<46} F1 {s['f1']:.3f}  precision {s['precision']:.3f}  "
            f"recall {s['recall']:.3f}{timing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--direct", action="store_true", help="score extract_article directly, no crawl")
    parser.add_argument("--news-pages", action="store_true", help="also score news-pages (full bodies)")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per page (best is kept)")
    parser.add_argument("--workers", type=int, default=None, help="extraction workers of the crawl")
    args = parser.parse_args()

    pages = benchmark_pages()
    results: dict = {"pages": len(pages)}
    print(f"article-extraction benchmark: {len(pages)} pages, metric: 4-word shingles, "
          "P and R averaged over pages, F1 of the averages")
    extractors = {"trafilatura.extract (defaults)": trafilatura_defaults,
                  "crawler.extract.article.extract_article": ours}
    texts, ms = run_interleaved(pages, extractors, args.repeat)
    base_name, ours_name = list(extractors)
    for name in extractors:
        results[name] = {**scored(pages, texts[name]), "ms_per_page": ms[name]}

    if not args.direct:
        crawl_texts, summary, elapsed = crawl(pages, args.workers)
        stored = scored(pages, crawl_texts)
        results["crawl"] = {**stored, "stored": len(crawl_texts), "seconds": elapsed,
                            "ms_per_page_wall": 1000 * elapsed / len(pages),
                            "counts": summary.get("counts"), "reasons": summary.get("reasons")}
        print(line("crawler: stored articles.text", stored))
        print(f"    {len(crawl_texts)}/{len(pages)} pages stored; crawl {elapsed:.1f} s wall "
              f"({1000 * elapsed / len(pages):.0f} ms/page end to end: fetch, extract, sketch, "
              f"store); reasons: {summary.get('reasons') or {}}")
    print(line(ours_name + " (in process)", results[ours_name], ms[ours_name]))
    print(line(base_name, results[base_name], ms[base_name]))
    ratio = ms[ours_name] / ms[base_name]
    results["time_ratio"] = ratio
    print(f"  time per page, extract_article / trafilatura defaults: {ratio:.2f} "
          f"(best of {args.repeat} per page, interleaved)")
    print("  published (benchmark README, same metric):")
    for name, (f1, p, r) in PUBLISHED.items():
        print(f"    {name:<42} F1 {f1:.3f}  precision {p:.3f}  recall {r:.3f}")

    if args.news_pages:
        news = news_pages_full()
        news_texts, news_ms = run_interleaved(news, extractors, 1)
        print(f"news-pages, {len(news)} pages with a full expected body (fundus, newspaper4k):")
        for name in extractors:
            s = scored(news, news_texts[name])
            results[f"news-pages: {name}"] = {**s, "ms_per_page": news_ms[name]}
            print(line(name, s, news_ms[name]))

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"figures written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
