"""What does each performance mechanism of a crawl gain? A/B crawls in one run.

Every arm crawls the same pages of ``crawl_speed``'s loopback news sites into a fresh database,
with one mechanism switched off (``base``: all on). The arms run in a shuffled order, round after
round, with ``base`` twice a round: the spread between the two ``base`` crawls of a round is the
noise of the machine, against which the gains are judged. Figures per arm, from the crawl
process and all its descendants (this process is their child subreaper, so it collects the
resource usage of every one of them, the fork server and the extraction workers included):

- CPU ms a page (user + system, whole crawl, start-up included);
- the main process's CPU ms a page while crawling (the reactor monitor's);
- wall seconds (on a shared machine the least reliable figure);
- the share of the crawl the reactor was blocked, and context switches a page.

Each mechanism is judged by the figure it is for (``Arm.judged_by``): its ratio off / on to the
mean of its round's two ``base`` crawls, every round. It pays when every round's ratio is above
1 and their mean exceeds 1 by more than the noise of that figure (the largest spread between
the two ``base`` crawls of a round).

Mechanisms without a setting are switched off by this script's launcher (``--launch``), which
patches them out before the command line runs.

Usage: python bench/mechanisms.py [--pages 200] [--rounds 3] [--arms warmup_off,items_100,...]
       python bench/mechanisms.py --generator-check
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

@dataclass(frozen=True)
class Arm:
    """A crawl with one mechanism switched off: by settings, or patched out by the launcher."""
    mechanism: str
    settings: tuple[str, ...] = ()
    off: tuple[str, ...] = ()
    judged_by: str = "cpu_ms"


ARMS: dict[str, Arm] = {
    "base": Arm("every mechanism on"),
    "warmup_off": Arm("the fork server imports trafilatura and extracts a page before forking "
                      "the workers (crawler.runtime.workerinit)", off=("warmup",)),
    "inline": Arm("extraction in a pool of worker processes, one per core",
                  settings=("CRAWLER_EXTRACT_WORKERS=0",), judged_by="blocked_share"),
    "items_100": Arm("CONCURRENT_ITEMS = 4", settings=("CONCURRENT_ITEMS=100",),
                     judged_by="main_crawling_ms"),
    "batch_1": Arm("articles written 50 a transaction (CRAWLER_STORE_BATCH_SIZE)",
                   settings=("CRAWLER_STORE_BATCH_SIZE=1",), judged_by="main_crawling_ms"),
    # 20 feed responses a crawl: judged by --generator-check, a cost per feed response
    "generator_check_on": Arm("WARN_ON_GENERATOR_RETURN_VALUE = False",
                              settings=("WARN_ON_GENERATOR_RETURN_VALUE=True",), judged_by=""),
}
#: The figures an arm is compared on, off / on: (key, label).
FIGURES = (("cpu_ms", "CPU a page"), ("main_crawling_ms", "main process CPU a page"),
           ("wall", "wall"), ("first_page_s", "to the first page extracted"),
           ("blocked_share", "reactor blocked"))
OUT = ROOT / "bench" / "out" / "mechanisms"


def launch(off: set[str], argv: list[str]) -> int:
    """Run the command line with the named mechanisms patched out (in the crawl process)."""
    from crawler.runtime import workers
    if "warmup" in off:
        workers.PRELOAD[:] = []  # each worker imports and warms up trafilatura itself
    first_page_timer()
    from crawler.cli import main
    return main(argv)


def first_page_timer() -> None:
    """Write the seconds from here (the crawl process's start) to the first page extracted to
    $MECHANISMS_FIRST_PAGE."""
    from crawler.runtime.pipelines import ExtractPipeline
    started, process_item = time.perf_counter(), ExtractPipeline.process_item
    path = os.environ.get("MECHANISMS_FIRST_PAGE")

    async def timed(self, item):
        result = await process_item(self, item)
        if path and isinstance(result, dict) and not os.path.exists(path):
            Path(path).write_text(str(time.perf_counter() - started))
        return result
    ExtractPipeline.process_item = timed


def become_subreaper() -> None:
    """Orphaned descendants (the fork server outlives the crawl's main process) are re-parented
    to this process, so that their resource usage reaches RUSAGE_CHILDREN when reaped."""
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            return


def children_usage() -> tuple[float, int, int]:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime, u.ru_nvcsw, u.ru_nivcsw


def crawl_arm(arm: str, feeds: list[str], args: argparse.Namespace, index: int) -> dict:
    settings, off = ARMS[arm].settings, ARMS[arm].off
    run_dir = OUT / f"{index:02d}-{arm}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    (run_dir / "feeds.txt").write_text("\n".join(feeds) + "\n")
    db_path, report_path = run_dir / "crawl.db", run_dir / "reactor.json"
    crawl_args = [
        "crawl", str(run_dir / "feeds.txt"), "--db", str(db_path), "-q",
        "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "RETRY_TIMES=0",
        "-s", "CONCURRENT_REQUESTS=32", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8",
        "-s", "CRAWLER_REACTOR_MONITOR=True", "-s", f"CRAWLER_REACTOR_MONITOR_FILE={report_path}",
        *[x for s in settings for x in ("-s", s)]]
    command = [sys.executable, str(Path(__file__).resolve()), "--launch", ",".join(off),
               "--", *crawl_args]
    reap_all()
    cpu0, vol0, invol0 = children_usage()
    started = time.perf_counter()
    first_page = run_dir / "first_page"
    process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "MECHANISMS_FIRST_PAGE": str(first_page)})
    wall = time.perf_counter() - started
    time.sleep(0.2)  # the fork server exits when the crawl's pipe to it closes
    reap_all()
    cpu1, vol1, invol1 = children_usage()
    if process.returncode != 0:
        sys.exit(f"{arm}: crawl failed ({process.returncode}):\n{process.stderr[-3000:]}")
    db = sqlite3.connect(db_path)
    pages = db.execute("SELECT count(*) FROM articles").fetchone()[0] + \
        db.execute("SELECT count(*) FROM failures WHERE kind = 'article'").fetchone()[0]
    db.close()
    reactor = json.loads(report_path.read_text())
    first_page_s = float(first_page.read_text())
    shutil.rmtree(run_dir, ignore_errors=True)
    n = max(pages, 1)
    return {"arm": arm, "pages": pages, "wall": round(wall, 2),
            "cpu_s": round(cpu1 - cpu0, 2), "cpu_ms": 1000 * (cpu1 - cpu0) / n,
            "voluntary_cs": (vol1 - vol0) / n, "involuntary_cs": (invol1 - invol0) / n,
            "main_crawling_ms": 1000 * reactor["cpu_seconds"] / n,
            "blocked_share": reactor["blocked_share"], "first_page_s": round(first_page_s, 2),
            "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--pages", type=int, default=200, help="article pages per crawl")
    parser.add_argument("--sites", type=int, default=20, help="simulated news sites")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every arm")
    parser.add_argument("--arms", default=",".join(ARMS),
                        help="arms to run (base always runs twice a round)")
    parser.add_argument("--json", type=Path, default=OUT.parent / "mechanisms.json")
    parser.add_argument("--generator-check", action="store_true",
                        help="only the CPU of Scrapy's generator-return check a feed response, "
                             "WARN_ON_GENERATOR_RETURN_VALUE on and off (a crawl of 20 feeds "
                             "hardly exercises it)")
    args = parser.parse_args()
    if args.generator_check:
        return generator_check()
    from crawl_speed import CORPUS, PageSet, Template, build_web, corpus_pages

    arms = [a for a in args.arms.split(",") if a and a != "base"]
    unknown = set(arms) - set(ARMS)
    if unknown:
        sys.exit(f"unknown arms: {', '.join(sorted(unknown))} (known: {', '.join(ARMS)})")
    become_subreaper()
    pages = PageSet([Template(p) for p in corpus_pages(CORPUS)], dup_share=0.2)
    web, feeds = build_web(pages, [args.pages], args.sites, 50)
    results: list[dict] = []
    print(f"{args.rounds} rounds of {len(arms) + 2} crawls of {args.pages} pages; load "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    try:
        for round_ in range(args.rounds):
            order = ["base", "base", *arms]
            random.Random(round_).shuffle(order)
            for arm in order:
                r = crawl_arm(arm, feeds[args.pages], args, len(results))
                r["round"] = round_
                results.append(r)
                print(f"round {round_} {arm:<20} {r['pages']} pages {r['cpu_ms']:6.1f} ms CPU/page"
                      f"  cs/page {r['voluntary_cs']:5.1f} vol {r['involuntary_cs']:5.1f} invol"
                      f"  main {r['main_crawling_ms']:5.1f} ms  wall {r['wall']:6.1f} s"
                      f"  first page {r['first_page_s']:5.2f} s  blocked {r['blocked_share']:.1%}"
                      f"  load {r['load']:.1f}", flush=True)
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(results, indent=1))
    finally:
        web.stop()
    print_summary(results)


def generator_check(calls: int = 300, rounds: int = 3) -> None:
    """CPU ms of Scrapy's check of ``parse_feed`` for a ``return`` with a value, as run for
    every feed response (a new bound method each time), with the setting on and off."""
    import warnings

    from scrapy.utils.misc import warn_on_generator_with_return_value
    from scrapy.utils.test import get_crawler

    from crawler.fetch.spiders.feeds import FeedSpider
    warnings.simplefilter("ignore")
    cost: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for on in (True, False):
            crawler = get_crawler(FeedSpider, {"WARN_ON_GENERATOR_RETURN_VALUE": on})
            spider = FeedSpider.from_crawler(crawler, feeds=["http://127.0.0.1/feed.xml"])
            started = time.process_time()
            for _ in range(calls):
                warn_on_generator_with_return_value(spider, spider.parse_feed)
            cost[on].append(1000 * (time.process_time() - started) / calls)
    for on in (True, False):
        print(f"WARN_ON_GENERATOR_RETURN_VALUE={on}: "
              f"{', '.join(f'{x:.3f}' for x in cost[on])} ms of CPU a feed response")


def print_summary(results: list[dict]) -> None:
    """Per arm and figure: off / on against the mean of its round's two base crawls, each
    round, their mean and the worst (lowest) round; the noise; the verdict."""
    rounds = sorted({r["round"] for r in results})
    bases = {k: [r for r in results if r["round"] == k and r["arm"] == "base"] for k in rounds}
    noise = {key: max(abs(a[key] - b[key]) / statistics.mean([a[key], b[key]])
                      for a, b in bases.values()) for key, _ in FIGURES}
    print("\nnoise (largest spread between a round's two base crawls): " + ", ".join(
        f"{label} {noise[key]:.1%}" for key, label in FIGURES))
    for key, label in FIGURES:
        spreads = [abs(a[key] - b[key]) / statistics.mean([a[key], b[key]])
                   for a, b in bases.values()]
        print(f"  {label}: {', '.join(f'{x:.1%}' for x in spreads)}")
    base_of = {k: {key: statistics.mean(r[key] for r in bases[k]) for key, _ in FIGURES}
               for k in rounds}
    print(f"\n{'arm':<21}{'CPU ms/page':>12}{'main ms':>9}{'wall s':>8}{'first s':>8}"
          f"{'blocked':>8}{'vol cs':>8}{'invol cs':>9}")
    for arm in dict.fromkeys(r["arm"] for r in results):
        mine = [r for r in results if r["arm"] == arm]
        mean = lambda k: statistics.mean(r[k] for r in mine)  # noqa: E731
        print(f"{arm:<21}{mean('cpu_ms'):>12.1f}{mean('main_crawling_ms'):>9.2f}"
              f"{mean('wall'):>8.1f}{mean('first_page_s'):>8.2f}{mean('blocked_share'):>8.1%}"
              f"{mean('voluntary_cs'):>8.1f}"
              f"{mean('involuntary_cs'):>9.1f}")
    print(f"\n{'arm':<21}{'figure':<25}{'off / on, each round':>36}{'mean':>7}{'worst':>7}"
          f"  verdict")
    for arm in dict.fromkeys(r["arm"] for r in results if r["arm"] != "base"):
        mine = [r for r in results if r["arm"] == arm]
        for key, label in FIGURES:
            ratios = [r[key] / base_of[r["round"]][key] for r in mine]
            mean, worst = statistics.mean(ratios), min(ratios)
            verdict = ""
            if key == ARMS[arm].judged_by:
                verdict = "pays" if worst > 1 and mean - 1 > noise[key] else "within the noise"
            print(f"{arm:<21}{label:<25}{' '.join(f'{x:.3f}' for x in ratios):>36}"
                  f"{mean:>7.3f}{worst:>7.3f}  {verdict}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--launch":
        rest = sys.argv[2:]
        off = set(filter(None, rest[0].split(","))) if rest[0] != "--" else set()
        argv = rest[rest.index("--") + 1:]
        sys.exit(launch(off, argv))
    main()
