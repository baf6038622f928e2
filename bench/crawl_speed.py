"""How fast does a crawl go on this machine, and what bounds it?

A news-site simulator on loopback (``LocalWeb``: N sites on 127.0.0.20+, each with RSS feeds)
serves M distinct article pages made from the real pages of ``../shared/corpus/``
(extraction-benchmark and news-pages, gunzipped into memory). To reach M distinct URLs the
pages are repeated with their body text re-lettered (a permutation of the letters of each
script per copy, in every text node of ``<body>`` but ``<time>``: markup, metadata and dates
stay, while the article texts differ and are separate stories; re-lettered text costs more to
extract than the original, 47 against 38 ms of CPU a page);
``--dup-share`` of the URLs are instead near-identical copies of an original page, which dedup
must merge. The pages are written to a temporary folder before the crawls, so the simulator
serves each with a file read: it shares the machine's CPU with the crawl it measures, where a
real site's server would run elsewhere. Reported in one run:

(a) the ceiling: pages/s of ``extract_article`` alone over the same pages with a process pool on
    every core, half of them (the even-numbered) right before each crawl and the other half
    right after it: the machine's speed drifts (other virtual machines on the host), and the
    two halves bracket the crawl's own time while every page is extracted once (a sample,
    ``--ceiling-pages``, is quicker but biased: page costs are heavy-tailed); also extract +
    sketch, the workers' whole job;
(b) the crawler end to end (``python -m crawler crawl`` in a subprocess, politeness off for the
    loopback sites: fetch, extract, dedup, store) on each ``--sizes`` number of pages;
(c) peak memory of the crawl process and of it with its extraction workers (from /proc);
(d) the share of time the reactor was busy and blocked (crawler/reactor_monitor.py), and CPU
    per page of the crawl's main process, its workers and the simulator.

Usage: python bench/crawl_speed.py [--sizes 1000,10000] [--sites 20] [--inline]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import random
import re
import shutil
import signal
import sqlite3
import string
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.demo.server import LocalWeb, Resource, Site  # noqa: E402
from crawler.runtime.workers import usable_cores  # noqa: E402

CORPUS = Path(os.environ.get("CRAWLER_CORPUS", ROOT.parent / "shared" / "corpus"))
OUT = ROOT / "bench" / "out" / "crawl_speed"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- the pages


def corpus_pages(corpus: Path) -> list[bytes]:
    """Every real article page of the corpus, gunzipped, in a fixed order."""
    files = sorted(corpus.glob("extraction-benchmark/html/*.html.gz")) + \
        sorted(corpus.glob("news-pages/*/*.html.gz"))
    if not files:
        sys.exit(f"no pages under {corpus} (set CRAWLER_CORPUS)")
    return [gzip.decompress(f.read_bytes()) for f in files]


_MARKUP = re.compile(rb"(<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->|<[^>]*>"
                     rb"|&#?\w{1,12};)", re.S | re.I)
_BODY_OPEN = re.compile(rb"<body[\s>]", re.I)
_TIME_OPEN = re.compile(rb"<time[\s>]", re.I)
_TIME_CLOSE = re.compile(rb"</time\s*>", re.I)


class Template:
    """A page cut into fixed pieces and body-text pieces, to make copies of it fast.

    The text of <head> (title, metadata) and of <time> elements stays, so dates and metadata
    are found as on the original page; every other text node of <body> is re-lettered."""

    def __init__(self, page: bytes):
        self.pieces: list[bytes] = []
        self.text_at: list[int] = []   # indices of the pieces that are body text
        try:
            page.decode("utf-8")
            self.utf8 = True
        except UnicodeDecodeError:
            self.utf8 = False  # a legacy charset: only its ASCII letters are re-lettered
        in_body = in_time = False
        fixed: list[bytes] = []
        for i, part in enumerate(_MARKUP.split(page)):
            if i % 2:  # markup, an entity, a script or a comment
                if _BODY_OPEN.match(part):
                    in_body = True
                elif _TIME_OPEN.match(part):
                    in_time = True
                elif _TIME_CLOSE.match(part):
                    in_time = False
                fixed.append(part)
            elif in_body and not in_time and part.strip():
                self.pieces.append(b"".join(fixed))
                fixed = []
                self.text_at.append(len(self.pieces))
                self.pieces.append(part)
            else:
                fixed.append(part)
        self.pieces.append(b"".join(fixed))

    def copy(self, variant: int) -> bytes:
        """Variant 0 is the page itself; variant k re-letters its body text with permutation k
        (other words, same lengths and markup: another story that costs the same to extract)."""
        if variant == 0:
            return b"".join(self.pieces)
        table = letter_table(variant)
        pieces = self.pieces.copy()
        for i in self.text_at:
            text = pieces[i].translate(table)
            if self.utf8 and not text.isascii():
                text = text.decode("utf-8").translate(letter_map(variant)).encode("utf-8")
            pieces[i] = text
        return b"".join(pieces)


_TABLES: dict[int, bytes] = {}
_MAPS: dict[int, dict[int, int]] = {}
#: Scripts whose letters are re-lettered beyond ASCII: Latin-1 and Latin Extended, Greek,
#: Cyrillic, Hebrew, Arabic, Thai, kana, CJK ideographs, Hangul syllables.
_LETTER_BLOCKS = [(0x00C0, 0x024F), (0x0370, 0x03FF), (0x0400, 0x04FF), (0x05D0, 0x05EA),
                  (0x0620, 0x064A), (0x0E01, 0x0E2E), (0x3041, 0x30FA), (0x4E00, 0x9FFF),
                  (0xAC00, 0xD7A3)]


def letter_table(variant: int) -> bytes:
    if variant not in _TABLES:
        letters = list(string.ascii_lowercase)
        random.Random(variant).shuffle(letters)
        mixed = "".join(letters)
        _TABLES[variant] = bytes.maketrans((string.ascii_lowercase + string.ascii_uppercase)
                                           .encode(), (mixed + mixed.upper()).encode())
    return _TABLES[variant]


def letter_map(variant: int) -> dict[int, int]:
    """A permutation of the non-ASCII letters of each script, within their Unicode category
    (lower case stays lower case), for ``str.translate``."""
    if variant not in _MAPS:
        rng, mapping = random.Random(variant), {}
        for start, end in _LETTER_BLOCKS:
            by_category: dict[str, list[int]] = {}
            for c in range(start, end + 1):
                if chr(c).isalpha() and unicodedata.normalize("NFKC", chr(c)) == chr(c):
                    by_category.setdefault(unicodedata.category(chr(c)), []).append(c)
            for letters in by_category.values():
                shuffled = letters.copy()
                rng.shuffle(shuffled)
                mapping.update(zip(letters, shuffled))
        _MAPS[variant] = mapping
    return _MAPS[variant]


class PageSet:
    """Page number i -> its bytes: made on demand, or read from the file :meth:`render` wrote
    (10,000 pages would be 2 GB in memory)."""

    def __init__(self, templates: list[Template], dup_share: float, seed: int = 7):
        self.templates = templates
        self.dup_share = dup_share
        self.seed = seed
        self.rendered = 0
        self.folder: tempfile.TemporaryDirectory | None = None

    def render(self, count: int) -> None:
        """Write pages 0..count-1 to a temporary folder (removed at exit), so serving one costs
        a file read, not its making: 0.6 ms of CPU a page, which the simulator took from the
        crawl it measures (a real site's server runs on another machine)."""
        if count <= self.rendered:
            return
        self.folder = self.folder or tempfile.TemporaryDirectory(prefix="crawl_speed-pages-")
        for i in range(self.rendered, count):
            Path(self.folder.name, f"{i}.html").write_bytes(self.make(i))
        self.rendered = count

    def source(self, i: int) -> tuple[int, int, bool]:
        """(template, variant, is_copy): a copy repeats an original page with a marker."""
        n = len(self.templates)
        if i >= n and random.Random(self.seed * 1_000_003 + i).random() < self.dup_share:
            return i % n, 0, True
        return i % n, i // n, False

    def body(self, i: int) -> bytes:
        if i < self.rendered:
            return Path(self.folder.name, f"{i}.html").read_bytes()
        return self.make(i)

    def make(self, i: int) -> bytes:
        template, variant, is_copy = self.source(i)
        page = self.templates[template].copy(variant)
        if is_copy:  # the syndicated copy: the same article, other bytes
            page = page.replace(b"</head>", f"<!-- republished copy {i} --></head>".encode(), 1)
        return page


# ---------------------------------------------------------------- the simulator


def build_web(pages: PageSet, sizes: list[int], n_sites: int, feed_items: int
              ) -> tuple[LocalWeb, dict[int, list[str]]]:
    """N sites on 127.0.0.20+; a feed list per crawl size (feeds of `feed_items` articles)."""
    pages.render(max(sizes))
    sites = [Site(f"site{s}", f"127.0.0.{20 + s}") for s in range(n_sites)]
    web = LocalWeb(sites).start()
    for s, site in enumerate(sites):
        site.routes["/robots.txt"] = Resource("User-agent: *\nDisallow: /private/\n",
                                              "text/plain")
        for i in range(s, max(sizes), n_sites):
            site.routes[f"/news/{i}.html"] = _page_route(pages, i)
    feeds: dict[int, list[str]] = {}
    for size in sizes:
        feeds[size] = []
        for s, site in enumerate(sites):
            numbers = list(range(s, size, n_sites))
            for k in range(0, len(numbers), feed_items):
                path = f"/feeds/{size}-{k // feed_items}.xml"
                site.routes[path] = Resource(  # ETag: a second crawl gets 304
                    rss_feed(site, numbers[k:k + feed_items]), "application/rss+xml",
                    etag=f'"{size}-{k}"')
                feeds[size].append(site.url(path))
    return web, feeds


def _page_route(pages: PageSet, i: int):
    def route(handler) -> Resource:
        return Resource(pages.body(i), "text/html")
    return route


def rss_feed(site: Site, numbers: list[int]) -> str:
    items = "".join(
        f"<item><title>Article {i}</title><link>{site.url(f'/news/{i}.html')}</link>"
        f"<guid>{site.url(f'/news/{i}.html')}</guid>"
        f"<pubDate>Tue, 04 Mar 2025 07:{i % 60:02d}:00 GMT</pubDate>"
        f"<description>Summary of article {i}</description></item>" for i in numbers)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{site.name}</title><link>{site.base}/</link><description>bench</description>"
            f"{items}</channel></rss>")


# ---------------------------------------------------------------- (a) the ceiling


def _extract_one(args) -> float:
    from crawler.extract.article import extract_article
    body, url = args
    started = time.process_time()
    extract_article(body, url)
    return time.process_time() - started


def _analyse_one(args) -> float:
    from crawler.dedup import DedupParams
    from crawler.runtime.pipelines import analyse_page
    body, url = args
    started = time.process_time()
    analyse_page(body, url, None, DedupParams())
    return time.process_time() - started


def ceiling(pages: PageSet, numbers: list[int], processes: int, func) -> tuple[float, float]:
    """Pages/s of `func` over these pages in a pool of `processes` (warm, as in a crawl), and
    its CPU ms per page. The pages are made before the clock starts: making them in this
    process while the pool runs would take CPU from the pool."""
    bodies = [(pages.body(i), f"http://127.0.0.1/news/{i}.html") for i in numbers]
    with get_context("forkserver").Pool(processes) as pool:
        pool.map(func, bodies[:processes * 2], chunksize=1)  # imports, caches
        started = time.perf_counter()
        cpu = sum(pool.imap_unordered(func, bodies, chunksize=2))
        return len(bodies) / (time.perf_counter() - started), 1000 * cpu / len(bodies)


def ceiling_sample(size: int, limit: int) -> list[int]:
    """The pages of a crawl of `size` pages, or a random `limit` of them (fixed seed; 0: all).
    A sample of 1,000 of 10,000 pages cost 6% more to extract than all of them: a few corpus
    pages take ten times the median, and the sample held 473 of the 545."""
    if not limit or size <= limit:
        return list(range(size))
    return sorted(random.Random(size).sample(range(size), limit))


def bracketed_crawl(pages: PageSet, feeds: list[str], size: int, args: argparse.Namespace,
                    label: str, extract_workers: int | None, settings: tuple[str, ...] = ()
                    ) -> dict:
    """A crawl with the ceiling over half its pages measured right before it and over the
    other half right after it; the ceiling is all those pages over the time of both."""
    sample = ceiling_sample(size, args.ceiling_pages)
    halves = sample[0::2], sample[1::2]  # pages i and i + 545 (odd) share a corpus page
    before = ceiling(pages, halves[0], args.cores, _extract_one)
    result = crawl(feeds, size, args, label, extract_workers, settings,
                   keep=label == f"crawl-{size}" and size == min(args.size_list))
    after = ceiling(pages, halves[1], args.cores, _extract_one)
    seconds = len(halves[0]) / before[0] + len(halves[1]) / after[0]
    result["ceiling"] = {
        "pages": len(sample), "before": before, "after": after,
        "pages_per_s": len(sample) / seconds,
        "cpu_ms": (before[1] * len(halves[0]) + after[1] * len(halves[1])) / len(sample)}
    print(f"(a) ceiling over {len(sample)} of its {size} pages: "
          f"{result['ceiling']['pages_per_s']:.1f} pages/s ({result['ceiling']['cpu_ms']:.1f} ms "
          f"CPU a page); the half before the crawl {before[0]:.1f} pages/s ({before[1]:.1f} ms), "
          f"the half after {after[0]:.1f} ({after[1]:.1f} ms)", flush=True)
    print_crawl(result)
    return result


def pickling_cost(pages: PageSet, n: int = 200) -> dict:
    """What sending a page to a worker costs: pickling its arguments, size on the pipe."""
    from crawler.dedup import DedupParams
    params = DedupParams()
    args = [(pages.body(i), f"http://127.0.0.1/news/{i}.html", None, params) for i in range(n)]
    started = time.perf_counter()
    sizes = [len(pickle.dumps(a, protocol=pickle.HIGHEST_PROTOCOL)) for a in args]
    seconds = time.perf_counter() - started
    return {"us_per_page": round(1e6 * seconds / n, 1), "kb_per_page": round(sum(sizes) / n / 1024)}


# ---------------------------------------------------------------- (c) memory and CPU from /proc


class ProcessWatch(threading.Thread):
    """Samples RSS/PSS and CPU time of a process and its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_main_rss = self.peak_total_rss = self.peak_total_pss = 0
        self.samples: list[tuple[int, int]] = []  # (main RSS, all PSS) every interval
        self.cpu: dict[int, float] = {}  # pid -> last seen CPU seconds
        self.stopped = threading.Event()
        self.own_cpu = 0.0  # this thread's CPU time, not the simulator's

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.sample()
        self.own_cpu = time.thread_time()

    def stop(self) -> None:
        self.stopped.set()
        self.join()

    def sample(self) -> None:
        pids = [self.pid] + descendants(self.pid)
        total_rss = total_pss = rss_of_main = 0
        for pid in pids:
            rss, pss, cpu = proc_figures(pid)
            if cpu is None:
                continue
            self.cpu[pid] = cpu
            total_rss += rss
            total_pss += pss
            if pid == self.pid:
                rss_of_main = rss
                self.peak_main_rss = max(self.peak_main_rss, rss)
        self.peak_total_rss = max(self.peak_total_rss, total_rss)
        self.peak_total_pss = max(self.peak_total_pss, total_pss)
        self.samples.append((rss_of_main, total_pss))

    def by_tenths(self) -> list[tuple[float, float]]:
        """The highest (main RSS, all PSS) in MB in each tenth of the run: flat or growing?"""
        n = len(self.samples)
        tenths = [self.samples[n * i // 10:max(n * (i + 1) // 10, n * i // 10 + 1)]
                  for i in range(10)] if n else []
        return [(max(m for m, _ in part) / 2**20, max(p for _, p in part) / 2**20)
                for part in tenths]

    def cpu_split(self) -> tuple[float, float]:
        """CPU seconds of the main process and of all its helpers (forkserver, workers)."""
        main = self.cpu.get(self.pid, 0.0)
        return main, sum(self.cpu.values()) - main


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def proc_figures(pid: int) -> tuple[int, int, float | None]:
    """(RSS bytes, PSS bytes, CPU seconds) of one process, or CPU None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        rss = int(fields[21]) * PAGE_SIZE
        pss = rss
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
                break
        return rss, pss, cpu
    except (OSError, IndexError, ValueError):
        return 0, 0, None


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


# ---------------------------------------------------------------- (b) the crawl


def crawl(feeds: list[str], size: int, args: argparse.Namespace, label: str,
          extract_workers: int | None, settings: tuple[str, ...] = (), fresh: bool = True,
          keep: bool = False) -> dict:
    """Run `python -m crawler crawl` over the feeds into a (fresh) database; its figures."""
    run_dir = OUT / label
    if fresh:
        shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "feeds.txt").write_text("\n".join(feeds) + "\n")
    db_path, report_path = run_dir / "crawl.db", run_dir / "reactor.json"
    command = [
        sys.executable, "-m", "crawler", "crawl", str(run_dir / "feeds.txt"), "--db", str(db_path),
        "-q", "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "RETRY_TIMES=0",
        "-s", f"CONCURRENT_REQUESTS={args.concurrency}",
        "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={args.per_site}",
        "-s", "CRAWLER_REACTOR_MONITOR=True", "-s", f"CRAWLER_REACTOR_MONITOR_FILE={report_path}",
        *(["--workers", str(extract_workers)] if extract_workers is not None else []),
        *[x for s in [*args.set, *settings] for x in ("-s", s)],
    ]
    server_cpu = own_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    watch = ProcessWatch(process.pid)
    watch.start()
    out, err = process.communicate()
    wall = time.perf_counter() - started
    watch.stop()
    server_cpu = own_cpu() - server_cpu - watch.own_cpu
    if process.returncode != 0:
        sys.exit(f"crawl failed ({process.returncode}):\n{out}\n{err[-3000:]}")
    db = sqlite3.connect(db_path)
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    failed = db.execute("SELECT count(*) FROM failures WHERE kind = 'article'").fetchone()[0]
    last = db.execute("SELECT n_pages, n_known, n_feeds FROM crawls ORDER BY id DESC LIMIT 1"
                      ).fetchone()
    db.close()
    reactor = json.loads(report_path.read_text())
    pages = articles + failed
    main_cpu, helper_cpu = watch.cpu_split()
    if not (args.keep or keep):
        shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "responses": last[0], "known": last[1], "feeds": last[2], "stdout": out,
        "label": label, "size": size, "pages": pages, "articles": articles, "stories": stories,
        "failed": failed, "wall": round(wall, 2), "crawl_seconds": reactor["elapsed"],
        "pages_per_s": pages / wall, "pages_per_s_crawling": pages / reactor["elapsed"],
        "peak_main_rss_mb": watch.peak_main_rss / 2**20,
        "peak_total_rss_mb": watch.peak_total_rss / 2**20,
        "peak_total_pss_mb": watch.peak_total_pss / 2**20,
        "memory_by_tenths_mb": watch.by_tenths(),
        "reactor_busy": reactor["busy_share"], "reactor_blocked": reactor["blocked_share"],
        "slowest_callbacks": reactor["slowest"][:3],
        "main_ms_per_page": 1000 * reactor["cpu_seconds"] / max(pages, 1),  # after start-up
        "main_startup_cpu_s": main_cpu - reactor["cpu_seconds"],
        "workers_ms_per_page": 1000 * helper_cpu / max(pages, 1),
        "server_ms_per_page": 1000 * server_cpu / max(pages, 1),
    }


# ---------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000",
                        help="article pages per crawl, comma-separated")
    parser.add_argument("--sites", type=int, default=20, help="simulated news sites")
    parser.add_argument("--feed-items", type=int, default=50, help="articles per feed")
    parser.add_argument("--dup-share", type=float, default=0.2,
                        help="share of pages that are near-identical copies of another page")
    parser.add_argument("--ceiling-pages", type=int, default=0,
                        help="extract only a random sample of this many of a crawl's pages for "
                             "its ceiling (quicker, biased; default: all of them)")
    parser.add_argument("--cores", type=int, default=len(usable_cores()),
                        help="processes of the ceiling's pool")
    parser.add_argument("--extract-workers", type=int, default=None,
                        help="the crawl's CRAWLER_EXTRACT_WORKERS (default: one per core)")
    parser.add_argument("--workers", default="1",
                        help="crawl processes sharing one Redis frontier, e.g. 1,2,4 (anything "
                             "but 1 runs bench/redis_speed.py on the first size)")
    parser.add_argument("--concurrency", type=int, default=32, help="CONCURRENT_REQUESTS")
    parser.add_argument("--per-site", type=int, default=8, help="CONCURRENT_REQUESTS_PER_DOMAIN")
    parser.add_argument("--inline", action="store_true",
                        help="also crawl the smallest size with extraction inline (workers 0)")
    parser.add_argument("--without-jobs", action="store_true",
                        help="also crawl the smallest size with CRAWLER_JOBS=False (no resume "
                             "cache), to show what the cache costs")
    parser.add_argument("--kill-after", type=float, default=0, metavar="SECONDS",
                        help="also kill -9 a crawl of the smallest size after this long, then "
                             "re-run it: what is lost, what is fetched again")
    parser.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                        help="extra setting for the crawls")
    parser.add_argument("--keep", action="store_true", help="keep the crawled databases")
    parser.add_argument("--json", type=Path, default=OUT.parent / "crawl_speed.json")
    parser.add_argument("--serve", type=float, default=0, metavar="SECONDS",
                        help="only run the simulator this long (feed lists in bench/out/"
                             "crawl_speed/feeds-SIZE.txt), e.g. to profile a crawl by hand")
    args = parser.parse_args()
    if args.workers != "1":  # several crawl processes, one Redis frontier, one writer
        from redis_speed import main as redis_speed

        return redis_speed(["--workers", args.workers, "--size", args.sizes.split(",")[0],
                            "--sites", str(args.sites), "--feed-items", str(args.feed_items),
                            "--dup-share", str(args.dup_share), "--cores", str(args.cores),
                            "--concurrency", str(args.concurrency), "--per-site",
                            str(args.per_site), *[x for s in args.set for x in ("-s", s)]])
    sizes = args.size_list = sorted(int(s) for s in args.sizes.split(","))

    templates = [Template(p) for p in corpus_pages(CORPUS)]
    pages = PageSet(templates, args.dup_share)
    print(f"{len(templates)} corpus pages; crawls of {', '.join(map(str, sizes))} pages on "
          f"{args.sites} sites, {args.dup_share:.0%} near-identical copies; "
          f"load average {os.getloadavg()[0]:.1f} on {len(usable_cores())} cores", flush=True)
    web, feeds = build_web(pages, sizes, args.sites, args.feed_items)
    if args.serve:
        serve(web, feeds, args.serve)
        return
    results: dict = {"sizes": sizes, "load_before": os.getloadavg()[0], "crawls": []}
    try:
        results["ceiling_analyse"], results["analyse_cpu_ms"] = ceiling(
            pages, list(range(300)), args.cores, _analyse_one)
        print(f"    extract + sketch (the workers' whole job), 300 pages: "
              f"{results['ceiling_analyse']:.1f} pages/s ({results['analyse_cpu_ms']:.1f} ms CPU "
              f"per page)", flush=True)
        results["pickling"] = pickling_cost(pages)
        for size in sizes:
            results["crawls"].append(bracketed_crawl(pages, feeds[size], size, args,
                                                     f"crawl-{size}", args.extract_workers))
        results["recrawl"] = recrawl(web, feeds[sizes[0]], sizes[0], args)
        if args.kill_after:
            results["kill"] = kill_test(web, feeds[sizes[0]], sizes[0], args, args.kill_after)
        if args.without_jobs:
            results["crawls"].append(bracketed_crawl(
                pages, feeds[sizes[0]], sizes[0], args, f"no-jobs-{sizes[0]}",
                args.extract_workers, ("CRAWLER_JOBS=False",)))
        if args.inline:
            results["crawls"].append(bracketed_crawl(pages, feeds[sizes[0]], sizes[0], args,
                                                     f"inline-{sizes[0]}", 0))
    finally:
        web.stop()
    results["load_after"] = os.getloadavg()[0]
    print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))


def recrawl(web: LocalWeb, feeds: list[str], size: int, args: argparse.Namespace) -> dict:
    """Crawl the first database again: unchanged feeds answer 304, known URLs are not fetched.

    Then the same articles through other feed URLs (a query string added: no stored ETag), so
    every entry is read and found stored.
    """
    label = f"crawl-{size}"
    hits = len(web.log)
    same = crawl(feeds, size, args, label, args.extract_workers, fresh=False, keep=True)
    same_pages = sum(1 for _, path, _ in web.log[hits:] if path.startswith("/news/"))
    hits = len(web.log)
    other = crawl([f"{url}?again" for url in feeds], size, args, label, args.extract_workers,
                  fresh=False)
    other_pages = sum(1 for _, path, _ in web.log[hits:] if path.startswith("/news/"))
    found = re.search(r"(\d+) unchanged \(304\)", same["stdout"])
    unchanged = int(found.group(1)) if found else None
    result = {"feeds": len(feeds), "same_feeds_304": unchanged,
              "same_feeds_pages_fetched": same_pages, "other_feeds_pages_fetched": other_pages,
              "other_feeds_known": other["known"]}
    print(f"    re-crawl of {label}: {unchanged} of {len(feeds)} feeds unchanged (304), "
          f"{same_pages} article pages fetched; the same articles via {len(feeds)} other feed "
          f"URLs: {other['known']} entries known, {other_pages} article pages fetched",
          flush=True)
    return result


def kill_test(web: LocalWeb, feeds: list[str], size: int, args: argparse.Namespace,
              after: float) -> dict:
    """SIGKILL a crawl after `after` seconds: what was fetched but not stored is lost, and a
    plain re-run fetches exactly those pages again (and the ones never fetched)."""
    run_dir = OUT / f"kill-{size}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    (run_dir / "feeds.txt").write_text("\n".join(feeds) + "\n")
    db_path = run_dir / "crawl.db"
    command = [sys.executable, "-m", "crawler", "crawl", str(run_dir / "feeds.txt"), "--db",
               str(db_path), "-q", "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False",
               "-s", "RETRY_TIMES=0", "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={args.per_site}",
               *[x for s in args.set for x in ("-s", s)]]
    hits = len(web.log)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(after)
    os.killpg(process.pid, 9)  # the crawl and its extraction workers, at once
    process.wait()
    fetched = {p for _, p, _ in web.log[hits:] if p.startswith("/news/")}
    db = sqlite3.connect(db_path)
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    stored = {u.split("/", 3)[3] for (u,) in db.execute("SELECT url FROM articles")}
    stored |= {u.split("/", 3)[3] for (u,) in db.execute(
        "SELECT url FROM failures WHERE kind = 'article'")}
    db.close()
    stored = {"/" + u for u in stored}
    hits = len(web.log)
    subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
    refetched = [p for _, p, _ in web.log[hits:] if p.startswith("/news/")]
    db = sqlite3.connect(db_path)
    total = db.execute("SELECT count(*) FROM articles").fetchone()[0] + db.execute(
        "SELECT count(DISTINCT url) FROM failures WHERE kind = 'article'").fetchone()[0]
    db.close()
    shutil.rmtree(run_dir, ignore_errors=True)
    lost = fetched - stored
    result = {"killed_after_s": after, "fetched_before_kill": len(fetched),
              "stored_before_kill": len(stored), "lost": len(lost), "integrity": integrity,
              "refetched_lost": len(lost & set(refetched)),
              "refetched_stored": len(stored & set(refetched)), "total_after_rerun": total}
    print(f"    kill -9 after {after:.0f} s: {len(fetched)} pages fetched, {len(stored)} stored, "
          f"{len(lost)} lost in flight (extraction queue + store batch + scraper); database "
          f"{integrity}; a plain re-run fetched the {result['refetched_lost']} lost ones again, "
          f"{result['refetched_stored']} stored ones again, and ended with {total} of {size}",
          flush=True)
    return result


def serve(web: LocalWeb, feeds: dict[int, list[str]], seconds: float) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size, urls in feeds.items():
        path = OUT / f"feeds-{size}.txt"
        path.write_text("\n".join(urls) + "\n")
        print(f"{size} pages: {path}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # pkill: the pages' folder goes too
    try:
        time.sleep(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        web.stop()


def cpu_ratio(r: dict) -> float:
    """Extraction's share of all the CPU a crawled page costs (main, workers, simulator): the
    end-to-end/ceiling ratio the crawl reaches on an otherwise idle machine whose cores it
    keeps busy."""
    spent = r["main_ms_per_page"] + r["workers_ms_per_page"] + r["server_ms_per_page"]
    return r["ceiling"]["cpu_ms"] / spent if spent else 0.0


def ratio(r: dict) -> float:
    """End-to-end pages/s over the ceiling's (both halves, before and after the crawl)."""
    return r["pages_per_s"] / r["ceiling"]["pages_per_s"]


def print_crawl(r: dict) -> None:
    print(f"(b) {r['label']}: {r['pages']} pages ({r['articles']} articles, {r['stories']} "
          f"stories, {r['failed']} failed) in {r['wall']:.1f} s: {r['pages_per_s']:.1f} pages/s "
          f"= {ratio(r):.1%} of the ceiling ({r['ceiling']['pages_per_s']:.1f}) "
          f"({r['pages_per_s_crawling']:.1f} pages/s after start-up)", flush=True)
    print(f"(c) peak memory: main {r['peak_main_rss_mb']:.0f} MB RSS, with workers "
          f"{r['peak_total_rss_mb']:.0f} MB RSS / {r['peak_total_pss_mb']:.0f} MB PSS", flush=True)
    print("    highest in each tenth of the crawl, main RSS / all PSS (MB): " +
          " ".join(f"{m:.0f}/{p:.0f}" for m, p in r["memory_by_tenths_mb"]), flush=True)
    print(f"(d) reactor busy {r['reactor_busy']:.1%}, blocked {r['reactor_blocked']:.1%}; CPU per "
          f"page: main {r['main_ms_per_page']:.1f} ms, workers {r['workers_ms_per_page']:.1f} ms, "
          f"simulator {r['server_ms_per_page']:.1f} ms -> extraction is "
          f"{cpu_ratio(r):.1%} of the CPU per page", flush=True)
    for slow in r["slowest_callbacks"]:
        print(f"    slow callback {slow['ms']:.0f} ms: {slow['name'][:100]}")


def print_table(results: dict) -> None:
    p = results["pickling"]
    print()
    print(f"{len(usable_cores())} cores; extract + sketch "
          f"{results['ceiling_analyse']:.1f} pages/s; pickling a page for a worker "
          f"{p['us_per_page']} us ({p['kb_per_page']} KB)")
    print(f"{'crawl':<14}{'pages':>7}{'ceiling':>9}{'pages/s':>9}{'ratio':>7}{'CPU ratio':>10}"
          f"{'crawling':>10}{'main MB':>9}{'all MB':>8}{'PSS MB':>8}{'busy':>7}{'blocked':>9}"
          f"{'main ms':>9}{'work ms':>9}{'srv ms':>8}")
    for r in results["crawls"]:
        print(f"{r['label']:<14}{r['pages']:>7}{r['ceiling']['pages_per_s']:>9.1f}"
              f"{r['pages_per_s']:>9.1f}{ratio(r):>7.1%}{cpu_ratio(r):>10.1%}"
              f"{r['pages_per_s_crawling']:>10.1f}"
              f"{r['peak_main_rss_mb']:>9.0f}{r['peak_total_rss_mb']:>8.0f}"
              f"{r['peak_total_pss_mb']:>8.0f}{r['reactor_busy']:>7.1%}{r['reactor_blocked']:>9.1%}"
              f"{r['main_ms_per_page']:>9.1f}{r['workers_ms_per_page']:>9.1f}"
              f"{r['server_ms_per_page']:>8.1f}")
    print(f"load average {results['load_before']:.1f} before, {results['load_after']:.1f} after "
          f"(other work on the machine lowers every figure; compare ratios)")


if __name__ == "__main__":
    main()
