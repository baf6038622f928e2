"""What the Python API costs over the command line: the same crawl as `crawler crawl` and as
`crawler.crawl_feeds()` (its child process, the caller's relay of progress), CPU time of each.

Crawls the demo's feeds on loopback into a fresh database each time, alternating CLI and API,
and prints the CPU time of every crawl (all processes) and of the API's caller alone, with the
API/CLI ratio of the medians. Usage: python bench/api_overhead.py [PAIRS] (default 3).
"""
from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import crawler  # noqa: E402
from crawler.demo import DEMO_SETTINGS, build_sites, feed_urls  # noqa: E402
from crawler.demo.server import LocalWeb  # noqa: E402

SETTINGS = {**DEMO_SETTINGS, "CRAWLER_EXTRACT_WORKERS": 1}


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def via_cli(feeds: list[str], db: Path) -> None:
    sets = [arg for name, value in SETTINGS.items() for arg in ("-s", f"{name}={value}")]
    subprocess.run([sys.executable, "-m", "crawler", "crawl", *feeds, "--db", str(db), "-q",
                    *sets], check=True, capture_output=True)


def via_api(feeds: list[str], db: Path) -> None:
    reports = []
    summary = crawler.crawl_feeds(feeds, db, settings=SETTINGS, progress=reports.append,
                                  progress_interval=0.2)
    assert summary.ok and summary.articles_new, summary


def measure(run, feeds: list[str], db: Path) -> tuple[float, float, float]:
    """(CPU of every process, CPU of this process, wall seconds) of one crawl."""
    children, me, wall = cpu(resource.RUSAGE_CHILDREN), cpu(resource.RUSAGE_SELF), time.time()
    run(feeds, db)
    me = cpu(resource.RUSAGE_SELF) - me
    return cpu(resource.RUSAGE_CHILDREN) - children + me, me, time.time() - wall


def main(pairs: int = 3) -> None:
    sites = build_sites()
    results: dict[str, list] = {"cli": [], "api": []}
    with LocalWeb(sites), tempfile.TemporaryDirectory() as tmp:
        feeds = feed_urls(sites)
        for i in range(pairs):
            for name, run in (("cli", via_cli), ("api", via_api)):
                results[name].append(measure(run, feeds, Path(tmp) / f"{name}{i}.db"))
    for name, rows in results.items():
        print(f"{name}: CPU per crawl " + ", ".join(f"{r[0]:.2f}" for r in rows)
              + " s; of it the caller " + ", ".join(f"{r[1]:.3f}" for r in rows)
              + " s; wall " + ", ".join(f"{r[2]:.1f}" for r in rows) + " s")
    ratio = statistics.median(r[0] for r in results["api"]) / \
        statistics.median(r[0] for r in results["cli"])
    print(f"API/CLI CPU per crawl (medians of {pairs}): {ratio:.2f}; the API's caller: "
          f"{statistics.median(r[1] for r in results['api']) * 1000:.0f} ms a crawl")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
