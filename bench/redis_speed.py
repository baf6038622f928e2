"""Distributed crawl speed: N worker processes sharing one Redis frontier and one writer,
against one `crawler crawl` of the same feeds with the same settings, in the same run.

Against the same news-site simulator as bench/crawl_speed.py (its pages, sites and feeds), each
round crawls the feeds once locally (`crawler crawl`, the baseline) and then, for each N, with a
private redis-server: queue the feeds, start N `crawler worker` processes and one
`crawler store`. Rounds alternate baseline and Redis runs, so a drift of the machine's speed
hits both. Reported:

- the rate against the baseline: pages stored per second of wall time (first process started
  to last one stopped, so start-up and the 1 s --idle-exit of the workers and the writer count)
  of the Redis run over that of the local crawl of the same round;

- pages/s end to end (wall time from the first process started to the last one stopped, so
  process start-up counts) and while fetching (first to last article fetch in the simulator);
- pages per CPU second against the local crawl's: the CPU time of every process of the run
  (crawl or workers, writer, their extraction processes, the redis-server) per page stored;
  on a machine shared with other work the wall-time rate depends on the share of the cores
  each run gets (more processes get more), this does not;
- where the wall time goes: start-up (first process started to first article fetched),
  fetching (first to last article fetch), the end (last fetch to last process stopped);
- Redis round trips per page (counted by every client, scrapy-redis's included; a pipeline or
  MULTI/EXEC is one) and commands per page (the server's INFO commandstats before/after);
- the writer alone: articles/s it stores (stories included) from a full stream, with no worker
  running: the rate one writer can take from any number of machines.

On one machine the workers share its cores with each other and the writer, so more workers
cannot go faster than the cores allow: the figure to read is the overhead (pages/s at N workers
against 1), and the writer's rate against one machine's crawl rate. Rounds alternate which run
goes first; the summary gives the median and the worst round of each ratio.

Usage: python bench/redis_speed.py [--workers 2] [--rounds 3] [--size 1000] [--sites 20]
(also run by `python bench/crawl_speed.py --workers 1,2,4`)
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import crawl_speed as simulator  # noqa: E402

from crawler.distributed.localredis import LocalRedis  # noqa: E402
from crawler.distributed.worker import enqueue  # noqa: E402

OUT = ROOT / "bench" / "out" / "redis_speed"
FAST = ["-q", "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "RETRY_TIMES=0"]
IDLE = 1.0  # --idle-exit of every process: part of each wall time


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "crawler", *map(str, args)]


def commands_processed(client) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT (the benchmark's own left out)."""
    stats = client.info("commandstats")
    calls = {k.split("_", 1)[1]: v["calls"] for k, v in stats.items()}
    return {k: n for k, n in calls.items()
            if k not in ("info", "config|resetstat", "flushall", "config")}


def become_subreaper() -> None:
    """Orphaned descendants (a crawl's extraction fork server outlives its parent for a
    moment) become this process's children, so their CPU time can be counted (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def reap_descendants(keep: set[int], timeout: float = 30.0) -> None:
    """Wait for every child but ``keep`` (orphans re-parented here): their CPU time, and that
    of the children they waited for, then counts in RUSAGE_CHILDREN."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid in children_of(os.getpid()) if pid not in keep]
        if not left:
            return
        for pid in left:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.05)


class CpuMeter:
    """CPU seconds of every process a run starts (and their descendants), and the
    redis-server's, between ``start`` and ``stop``."""

    def __init__(self, client=None, keep: set[int] = frozenset()):
        self.client, self.keep = client, set(keep)

    def children(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def redis(self) -> float:
        if self.client is None:
            return 0.0
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def start(self) -> None:
        reap_descendants(self.keep)
        self.started = (self.children(), self.redis())

    def stop(self) -> dict:
        reap_descendants(self.keep)
        processes = self.children() - self.started[0]
        server = self.redis() - self.started[1]
        return {"cpu": round(processes + server, 2), "cpu_redis": round(server, 2)}


def run_local(feeds: list[str], args, label: str) -> dict:
    """The baseline: one `crawler crawl` of the same feeds with the same settings."""
    run_dir = OUT / label
    run_dir.mkdir(parents=True, exist_ok=True)
    db_path = run_dir / "crawl.db"
    for old in run_dir.glob("crawl.db*"):
        old.unlink()
    feed_file = run_dir / "feeds.txt"
    feed_file.write_text("\n".join(feeds) + "\n")
    args.web.log.clear()
    args.meter.start()
    started, started_at = time.perf_counter(), time.time()
    out = subprocess.run(command("crawl", feed_file, "--db", db_path,
                                 *crawl_settings(args, max(1, args.cores))),
                         cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        sys.exit(f"crawl failed:\n{out.stdout}\n{out.stderr[-3000:]}")
    figures = db_figures(db_path)
    return {"label": label, "wall": round(wall, 2), **figures, **args.meter.stop(),
            **phases(args.web.log, started_at, wall), "pages_per_s": figures["pages"] / wall}


def phases(log: list, started_at: float, wall: float) -> dict:
    """Where the wall time went: start-up to the first article fetched, fetching, the end."""
    times = [t for _, path, t in log if path.startswith("/news/")]
    if not times:
        return {"startup": None, "fetch_span": None, "tail": None}
    return {"startup": round(min(times) - started_at, 2),
            "fetch_span": round(max(times) - min(times), 2),
            "tail": round(started_at + wall - max(times), 2)}


def crawl_settings(args, extract: int) -> list[str]:
    """The settings of a crawl process with ``extract`` extraction processes."""
    return [*FAST, "-s", f"CONCURRENT_REQUESTS={args.concurrency}",
            "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={args.per_site}",
            "--workers", str(extract), *[x for s in args.set for x in ("-s", s)]]


def worker_extract(args, n_workers: int) -> int:
    """Extraction processes of each Redis worker: --extract (0: inline, in the worker's own
    process), or the cores shared out among the workers."""
    return args.extract if args.extract is not None else max(1, args.cores // n_workers)


def run(url: str, client, feeds: list[str], n_workers: int, args, label: str,
        with_writer: bool = True) -> dict:
    """N workers (and the writer) over the feeds into a fresh database; their figures."""
    client.flushall()
    client.config_resetstat()
    run_dir = OUT / label
    run_dir.mkdir(parents=True, exist_ok=True)
    db_path = run_dir / "crawl.db"
    for old in run_dir.glob("crawl.db*"):
        old.unlink()
    enqueue(url, "crawler", feeds)
    extract = worker_extract(args, n_workers)
    settings = crawl_settings(args, extract)
    args.web.log.clear()
    args.meter.start()
    started, started_at = time.perf_counter(), time.time()
    processes = [subprocess.Popen(command("worker", "--redis", url, "--idle-exit", IDLE,
                                          *settings), cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for _ in range(n_workers)]
    writer = None
    if with_writer:
        writer = subprocess.Popen(command("store", "--redis", url, "--db", db_path,
                                          "--idle-exit", IDLE, "-q"),
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
    outputs = [p.communicate() for p in processes]
    workers_done = time.perf_counter()
    writer_out = writer.communicate() if writer else ("", "")
    wall = time.perf_counter() - started
    cpu = args.meter.stop()
    for p, (out, err) in zip(processes + ([writer] if writer else []),
                             outputs + ([writer_out] if writer else [])):
        if p.returncode != 0:
            sys.exit(f"{p.args} failed:\n{out}\n{err[-3000:]}")
    trips = sum(int(re.search(r"(\d+) Redis round trips", out).group(1)) for out, _ in outputs)
    by_command = commands_processed(client)
    commands = sum(by_command.values())
    times = [t for _, path, t in args.web.log if path.startswith("/news/")]
    unique = len({(site, path) for site, path, _ in args.web.log if path.startswith("/news/")})
    result = {"label": label, "workers": n_workers, "extract_per_worker": extract,
              "wall": round(wall, 2), "workers_wall": round(workers_done - started, 2),
              **cpu, **phases(args.web.log, started_at, wall),
              "by_command": dict(sorted(by_command.items(), key=lambda kv: -kv[1])),
              "fetched": len(times), "fetched_twice": len(times) - unique,
              "worker_round_trips": trips, "commands": commands,
              "db": db_path}
    if writer:
        result.update(writer_figures(writer_out[0], db_path))
        result["round_trips"] = trips + result["writer_round_trips"]
    return result


def db_figures(db_path: Path) -> dict:
    db = sqlite3.connect(db_path)
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    failed = db.execute("SELECT count(*) FROM failures WHERE kind = 'article'").fetchone()[0]
    db.close()
    return {"articles": articles, "stories": stories, "failed": failed,
            "pages": articles + failed}


def writer_figures(out: str, db_path: Path) -> dict:
    elapsed = float(re.search(r"finished in ([\d.]+)s", out).group(1))
    return {**db_figures(db_path), "writer_elapsed": elapsed,
            "writer_round_trips": int(re.search(r"(\d+) round trips", out).group(1)),
            "story_ms": float(re.search(r"stories ([\d.]+) ms", out).group(1))}


def writer_alone(url: str, client, feeds: list[str], args) -> dict:
    """Fill the stream with every result first (workers, no writer), then time the writer."""
    filled = run(url, client, feeds, 2, args, "writer-alone", with_writer=False)
    backlog = client.xlen("crawler:results")
    db_path = filled["db"]
    started = time.perf_counter()
    out = subprocess.run(command("store", "--redis", url, "--db", db_path, "--idle-exit", IDLE,
                                 "-q"), cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        sys.exit(f"writer failed:\n{out.stdout}\n{out.stderr[-3000:]}")
    figures = writer_figures(out.stdout, db_path)
    busy = max(figures["writer_elapsed"] - IDLE, 1e-6)
    return {**figures, "backlog": backlog, "wall": round(wall, 2),
            "articles_per_s": figures["pages"] / busy,
            "ms_per_article": 1000 * busy / max(figures["pages"], 1),
            "round_trips_per_article": figures["writer_round_trips"] / max(figures["pages"], 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--workers", default="2", help="worker processes per Redis run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of (local crawl, Redis run for each --workers); even "
                             "rounds run the Redis runs first")
    parser.add_argument("--no-writer-alone", action="store_true",
                        help="skip timing the writer alone on a full stream")
    parser.add_argument("--size", type=int, default=1000, help="article pages per crawl")
    parser.add_argument("--sites", type=int, default=20, help="simulated news sites")
    parser.add_argument("--feed-items", type=int, default=50, help="articles per feed")
    parser.add_argument("--dup-share", type=float, default=0.2,
                        help="share of pages that are near-identical copies of another page")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                        help="extraction processes shared out among the workers")
    parser.add_argument("--extract", type=int, default=None,
                        help="extraction processes of each Redis worker (0: inline; default: "
                             "--cores shared out among the workers)")
    parser.add_argument("--concurrency", type=int, default=32, help="CONCURRENT_REQUESTS")
    parser.add_argument("--per-site", type=int, default=8, help="CONCURRENT_REQUESTS_PER_DOMAIN")
    parser.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--json", type=Path, default=OUT.parent / "redis_speed.json")
    args = parser.parse_args(argv)
    if LocalRedis.binary() is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    counts = [int(n) for n in args.workers.split(",")]

    templates = [simulator.Template(p) for p in simulator.corpus_pages(simulator.CORPUS)]
    pages = simulator.PageSet(templates, args.dup_share)
    web, feeds = simulator.build_web(pages, [args.size], args.sites, args.feed_items)
    args.web = web
    print(f"{args.size} pages on {args.sites} sites ({len(feeds[args.size])} feeds), workers "
          f"{counts}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
          flush=True)
    import redis

    results = {"size": args.size, "load_before": os.getloadavg()[0], "runs": [], "local": []}
    try:
        with tempfile.TemporaryDirectory() as folder, LocalRedis(folder) as url:
            client = redis.Redis.from_url(url)
            become_subreaper()
            args.meter = CpuMeter(client, keep=set(children_of(os.getpid())))
            for round_no in range(1, args.rounds + 1):
                redis_first = round_no % 2 == 0
                runs = []
                if redis_first:
                    runs = [run(url, client, feeds[args.size], n, args, f"workers-{n}")
                            for n in counts]
                local = run_local(feeds[args.size], args, "local")
                local["round"] = round_no
                results["local"].append(local)
                print(f"round {round_no}: crawler crawl: {local['pages']} pages "
                      f"({local['articles']} articles, {local['stories']} stories) in "
                      f"{local['wall']:.1f} s: {local['pages_per_s']:.1f} pages/s, "
                      f"{1000 * local['cpu'] / max(local['pages'], 1):.0f} ms CPU per page; "
                      f"{phase_line(local)}", flush=True)
                if not redis_first:
                    runs = [run(url, client, feeds[args.size], n, args, f"workers-{n}")
                            for n in counts]
                for r in runs:
                    r["round"] = round_no
                    r["order"] = "Redis first" if redis_first else "local first"
                    results["runs"].append(r)
                    print_run(r, local)
            print_summary(results, counts)
            if not args.no_writer_alone:
                results["writer"] = w = writer_alone(url, client, feeds[args.size], args)
                print(f"writer alone: {w['pages']} results from a full stream in "
                      f"{w['writer_elapsed'] - IDLE:.1f} s: {w['articles_per_s']:.0f} "
                      f"articles/s ({w['ms_per_article']:.1f} ms each, of which stories "
                      f"{w['story_ms']:.1f} ms), {w['round_trips_per_article']:.2f} round "
                      f"trips per article", flush=True)
    finally:
        web.stop()
    results["load_after"] = os.getloadavg()[0]
    print(f"load average {results['load_before']:.1f} before, {results['load_after']:.1f} after")
    for r in results["runs"]:
        r["db"] = str(r["db"])
    for r in results["local"]:
        r["db"] = str(r.get("db", ""))
    if "writer" in results:
        results["writer"]["db"] = str(results["writer"].get("db", ""))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=str))


def print_run(r: dict, local: dict) -> None:
    pages = r["pages"]
    rate = pages / r["wall"]
    fetching = pages / r["fetch_span"] if r["fetch_span"] else float("nan")
    cpu_per_page = r["cpu"] / max(pages, 1)
    r.update(pages_per_s=rate, pages_per_s_fetching=fetching,
             round_trips_per_page=r["round_trips"] / max(pages, 1),
             commands_per_page=r["commands"] / max(pages, 1),
             rate_ratio=rate / local["pages_per_s"], local_wall=local["wall"],
             cpu_ratio=(local["cpu"] / max(local["pages"], 1)) / max(cpu_per_page, 1e-9))
    print(f"round {r['round']}: {r['workers']} workers + writer ({r['extract_per_worker']} "
          f"extraction processes each): {pages} pages ({r['articles']} articles, "
          f"{r['stories']} stories, {r['fetched']} fetches, {r['fetched_twice']} twice) in "
          f"{r['wall']:.1f} s: {rate:.1f} pages/s = {r['rate_ratio']:.2f}x the local crawl's "
          f"rate; {fetching:.1f} pages/s while fetching; {1000 * cpu_per_page:.0f} ms CPU per "
          f"page (redis-server {1000 * r['cpu_redis'] / max(pages, 1):.1f}) = "
          f"{r['cpu_ratio']:.2f}x the local crawl's pages per CPU second; {phase_line(r)}; "
          f"Redis {r['round_trips_per_page']:.2f} round trips and "
          f"{r['commands_per_page']:.2f} commands per page", flush=True)


def phase_line(r: dict) -> str:
    if r.get("startup") is None:
        return "no article fetched"
    return (f"start-up {r['startup']:.1f} s, fetching {r['fetch_span']:.1f} s, "
            f"end {r['tail']:.1f} s")


def print_summary(results: dict, counts: list[int]) -> None:
    """Per N: the median and worst of the rounds' ratios, and the round trips per page."""
    for n in counts:
        runs = [r for r in results["runs"] if r["workers"] == n]
        ratios = [r["rate_ratio"] for r in runs]
        cpu = [r["cpu_ratio"] for r in runs]
        trips = [r["round_trips_per_page"] for r in runs]
        worst = min(runs, key=lambda r: r["rate_ratio"])
        summary = {"rounds": len(runs), "rate_ratio_median": statistics.median(ratios),
                   "rate_ratio_worst": min(ratios), "cpu_ratio_median": statistics.median(cpu),
                   "cpu_ratio_worst": min(cpu), "round_trips_median": statistics.median(trips),
                   "round_trips_worst": max(trips), "worst_round": worst["round"]}
        results.setdefault("summary", {})[n] = summary
        print(f"{n} workers + writer against one crawler crawl, {len(runs)} rounds: rate "
              f"{summary['rate_ratio_median']:.2f}x median, worst {min(ratios):.2f}x "
              f"(round {worst['round']}, {worst['order']}: {worst['wall']:.1f} s against "
              f"{worst['local_wall']:.1f} s); pages per CPU second "
              f"{summary['cpu_ratio_median']:.2f}x median, worst {min(cpu):.2f}x; Redis "
              f"round trips per page {summary['round_trips_median']:.2f} median, worst "
              f"{max(trips):.2f} ({max(r['commands_per_page'] for r in runs):.2f} commands)",
              flush=True)


if __name__ == "__main__":
    main()
