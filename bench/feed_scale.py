"""What a pass over many mostly-unchanged feeds costs: CPU per feed and peak memory at 10,000
and 100,000 feeds, against the same pass through Scrapy and Scrapy's own per-request floor,
measured in the same run.

A raw asyncio HTTP/1.1 server in a separate process (``--serve``; keep-alive, no framework)
serves the feeds on many loopback hosts (127.77.x.y, ``FEEDS_PER_HOST`` feeds each, one port on
every address). Each feed is a small RSS file of ``ENTRIES`` entries. The database starts as
one that has followed these feeds for a while: their articles stored, each feed's row with
the ETag and body digest its last crawl kept, and 304 as the answer its last fetch got. Every
figure is the CPU time (user + system, from ``wait4``) of one ``python -m crawler crawl
FEEDS.txt`` process minus that of the same command over a single feed (the start-up: imports,
settings, the database), divided by the number of feeds:

- ``304``: the server answers the conditional GET with 304 Not Modified: the crawl's
  revalidation fast path (aiohttp outside Scrapy's engine, crawler/fetch/revalidate.py) asks
  every feed (asserted);
- ``304-kept``: the 304 pass of a crawl run within a day of the last, which reads every host's
  robots.txt from the database (a first pass stores them, unmeasured): a scheduled crawl's
  steady state;
- ``304-scrapy``: the same with the fast path off (``CRAWLER_FEED_REVALIDATE=False``): every
  feed a Scrapy request, as before the fast path;
- ``same``: the server ignores the validators and sends the same feed again (200); the feeds'
  last answer is set to 200 first (such a feed never answers 304), so Scrapy asks them;
- ``floor``: a bare Scrapy spider (``--bare``: the same politeness settings and robots.txt,
  Scrapy's default components, a callback that does nothing) over the same feeds answering
  304: what Scrapy itself costs a request on this machine with its default components;
- ``twisted``: Twisted's HTTP client alone (``--twisted``: ``Agent`` with a persistent
  connection pool, 32 requests at once, 4 a host, the same conditional GETs, no robots.txt):
  the part of a request that is neither Scrapy's engine nor the crawler's;
- ``aiohttp``: aiohttp alone (``--aiohttp``: the same, with its pool): the floor of the fast
  path.

Peak memory is the crawl process's own high-water mark (``VmHWM``, followed while it runs).
``--big N`` also crawls one feed of N entries
(all known) with the reactor monitor on and prints the longest the reactor was blocked, with
the extraction workers (the feed is parsed in their pool) and inline (``--workers 0``).

Usage: python bench/feed_scale.py [--sizes 10000,100000]
       [--passes 304,304-scrapy,floor,twisted,aiohttp,same]
       [--big 10000]
The extraction workers are off (``--workers 0``) in the passes: nothing is extracted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FEEDS_PER_HOST = 50
ENTRIES = 5
#: Same politeness as a real crawl (settings.py), minus AutoThrottle's 0.5 s start delay, which
#: only makes the loopback passes slower. Every pass fetches every host's robots.txt, as the
#: bare spider does (a crawl within CRAWLER_ROBOTS_MAX_AGE of the last reads them from the
#: database instead).
CRAWL_SETTINGS = {"AUTOTHROTTLE_ENABLED": "False", "DOWNLOAD_DELAY": "0",
                  "CRAWLER_ONLY_NETWORKS": "127.0.0.0/8", "RETRY_TIMES": "0",
                  "CRAWLER_ROBOTS_MAX_AGE": "0"}


# ---------------------------------------------------------------- the server


def host_of(index: int) -> str:
    return f"127.77.{index // 250}.{index % 250 + 1}"


def feed_path(feed: int) -> str:
    return f"/feed/{feed}.xml"


def feed_body(host: str, port: int, feed: str, entries: int) -> bytes:
    items = "".join(
        f"<item><title>Meldung {feed}-{j}</title><link>http://{host}:{port}/a/{feed}-{j}.html"
        f"</link><guid>http://{host}:{port}/a/{feed}-{j}.html</guid>"
        f"<pubDate>Tue, 04 Mar 2025 08:{j % 60:02d}:00 GMT</pubDate>"
        f"<description>Kurzfassung der Meldung {feed}-{j}.</description></item>"
        for j in range(entries))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {feed}</title><link>http://{host}:{port}/</link>"
            f"<description>Feed {feed}</description>{items}</channel></rss>").encode()


class FeedServer(asyncio.Protocol):
    """A minimal HTTP/1.1 server: GET only, keep-alive, ETag / If-None-Match."""

    def __init__(self, server):
        self.server = server
        self.buffer = b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            path = lines[0].split(b" ")[1].decode()
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            self.transport.write(self.server.answer(path, headers))


class Server:
    def __init__(self, port: int, entries: int, not_modified: bool, big: int):
        self.port = port
        self.entries = entries
        self.not_modified = not_modified
        self.big = big

    def answer(self, path: str, headers: dict) -> bytes:
        if path == "/robots.txt":
            return response(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        if path.startswith("/feed/"):
            feed = path[6:-4]
            etag = f'"f{feed}-1"'.encode()
            if self.not_modified and headers.get(b"if-none-match") == etag:
                return response(304, b"", None, etag)
            host = headers.get(b"host", b"").decode().split(":")[0]
            entries = self.big if path.endswith("/big.xml") else self.entries
            return response(200, feed_body(host, self.port, feed, entries),
                            "application/rss+xml", etag)
        return response(404, b"not found", "text/plain")


def response(status: int, body: bytes, content_type: str | None, etag: bytes | None = None):
    reason = {200: b"OK", 304: b"Not Modified", 404: b"Not Found"}[status]
    head = [b"HTTP/1.1 %d %s" % (status, reason), b"Content-Length: %d" % len(body)]
    if content_type:
        head.append(b"Content-Type: " + content_type.encode())
    if etag:
        head.append(b"ETag: " + etag)
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def serve(hosts: int, port: int, entries: int, not_modified: bool, big: int) -> None:
    """Bind ``port`` on every host address, print 'ready', serve until killed."""
    server = Server(port, entries, not_modified, big)
    loop = asyncio.new_event_loop()
    for index in range(hosts):
        loop.run_until_complete(loop.create_server(lambda: FeedServer(server), host_of(index),
                                                   port, backlog=256))
    print("ready", flush=True)
    loop.run_forever()


def free_port(hosts: int) -> int:
    """A port free on the first and the last host address."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((host_of(0), 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s:
                s.bind((host_of(hosts - 1), port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


class Served:
    """The server process of one pass (``with Served(...)``)."""

    def __init__(self, hosts: int, port: int, not_modified: bool, big: int = 0):
        self.args = [sys.executable, __file__, "--serve", str(hosts), "--port", str(port),
                     "--entries", str(ENTRIES), "--big", str(big)] + \
            (["--not-modified"] if not_modified else [])

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"server did not start: {line!r}")
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


# ---------------------------------------------------------------- the bare spider (the floor)


def bare(feed_list: str) -> None:
    """A Scrapy spider that only fetches the feeds (conditional GET) and does nothing else."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    urls = [line.strip() for line in open(feed_list) if line.strip()]

    class Bare(scrapy.Spider):
        name = "bare"

        async def start(self):
            for url in urls:
                feed = url.rsplit("/", 1)[1][:-4]
                yield scrapy.Request(url, headers={"If-None-Match": f'"f{feed}-1"'},
                                     callback=self.parse, dont_filter=True,
                                     meta={"handle_httpstatus_list": [304]})

        def parse(self, response):
            return None

    from crawler import settings as ours

    process = CrawlerProcess({
        "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "ROBOTSTXT_OBEY": True,
        "CONCURRENT_REQUESTS": ours.CONCURRENT_REQUESTS,
        "CONCURRENT_REQUESTS_PER_DOMAIN": ours.CONCURRENT_REQUESTS_PER_DOMAIN,
        "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "RETRY_ENABLED": False,
        "EXTENSIONS": {"scrapy.extensions.logstats.LogStats": None},
    })
    process.crawl(Bare)
    process.start()


def bare_twisted(feed_list: str, concurrency: int = 32, per_host: int = 4) -> None:
    """The same conditional GETs with Twisted's HTTP client and nothing else."""
    from twisted.internet import asyncioreactor

    asyncioreactor.install()
    from twisted.internet import defer, reactor
    from twisted.web.client import Agent, HTTPConnectionPool, readBody
    from twisted.web.http_headers import Headers

    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = per_host
    agent = Agent(reactor, pool=pool)
    urls = (line.strip() for line in open(feed_list) if line.strip())
    per_host_slots: dict[str, defer.DeferredSemaphore] = {}

    @defer.inlineCallbacks
    def worker():
        for url in urls:
            slot = per_host_slots.setdefault(url.split("/")[2], defer.DeferredSemaphore(per_host))
            yield slot.acquire()
            try:
                feed = url.rsplit("/", 1)[1][:-4]
                response = yield agent.request(
                    b"GET", url.encode(), Headers({b"If-None-Match": [f'"f{feed}-1"'.encode()]}))
                yield readBody(response)
            finally:
                slot.release()

    done = defer.DeferredList([worker() for _ in range(concurrency)], consumeErrors=True)
    done.addCallback(lambda results: [r.raiseException() for ok, r in results if not ok])
    done.addBoth(lambda _: reactor.stop())
    reactor.run()


def bare_aiohttp(feed_list: str, concurrency: int = 32, per_host: int = 4) -> None:
    """The same conditional GETs with aiohttp and nothing else."""
    import aiohttp

    async def run() -> None:
        urls = iter([line.strip() for line in open(feed_list) if line.strip()])
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=per_host)
        async with aiohttp.ClientSession(connector=connector) as session:
            async def worker() -> None:
                for url in urls:
                    feed = url.rsplit("/", 1)[1][:-4]
                    async with session.get(url, headers={"If-None-Match": f'"f{feed}-1"'}) as r:
                        assert r.status == 304, r.status

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())


# ---------------------------------------------------------------- the passes


def peak_rss_kb(pid: int, peak: list[int], stop: threading.Event) -> None:
    """Follow a process's own high-water mark (``VmHWM``) until ``stop``. Not ``ru_maxrss``:
    the child's counts the image of the process that spawned it (this one, which holds the
    prefilled rows: 243 MB reported for a one-feed crawl at 100,000 feeds)."""
    while not stop.wait(0.2):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
        except (OSError, ValueError):
            pass


def run_child(args: list[str]) -> dict:
    """Run a command; its own CPU seconds (user + system, from ``wait4``), peak RSS (MB, its
    own ``VmHWM``, read every 0.2 s), wall time, output and exit code."""
    started = time.monotonic()
    out_file = tempfile.TemporaryFile()
    err_file = tempfile.TemporaryFile()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=out_file, stderr=err_file,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    peak, stop = [0], threading.Event()
    watcher = threading.Thread(target=peak_rss_kb, args=(proc.pid, peak, stop), daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    stop.set()
    watcher.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out_file.seek(0)
    err_file.seek(0)
    return {"cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": (peak[0] or usage.ru_maxrss) / 1024,
            "wall": time.monotonic() - started, "out": out_file.read().decode(),
            "err": err_file.read().decode(), "code": proc.returncode}


def crawl(feed_list: Path, db: Path, *extra: str) -> dict:
    sets = [x for k, v in CRAWL_SETTINGS.items() for x in ("-s", f"{k}={v}")]
    result = run_child([sys.executable, "-m", "crawler", "crawl", str(feed_list), "--db",
                        str(db), "-q", "--workers", "0", *sets, *extra])
    if result["code"] != 0:
        raise RuntimeError(f"crawl failed: {result['out']}\n{result['err'][-3000:]}")
    return result


def prefill(db_path: Path, feeds: list[str], port: int) -> None:
    """The state after earlier crawls of these feeds: their articles, and each feed's row with
    its ETag and the digest of its body (what a finished crawl keeps)."""
    from crawler import store
    from crawler.fetch.feedread import body_digest

    db = store.open_db(db_path)
    rows, feed_rows = [], []
    for feed, url in enumerate(feeds):
        host = host_of(feed // FEEDS_PER_HOST)
        for j in range(ENTRIES):
            page = f"http://{host}:{port}/a/{feed}-{j}.html"
            rows.append((page, page, host, f"Meldung {feed}-{j}", "Text der Meldung.", 3))
        feed_rows.append((url, f'"f{feed}-1"', body_digest(feed_body(host, port, str(feed),
                                                                       ENTRIES)),
                          store.utcnow(), 304, 3, f"Feed {feed}"))
    with store.transaction(db):
        db.conn.executemany("INSERT INTO articles (url, fetched_url, site, title, text, "
                            "word_count) VALUES (?,?,?,?,?,?)", rows)
        db.execute("UPDATE articles SET story_id = id")
        db.conn.executemany("INSERT INTO feeds (url, etag, body_hash, added, last_status, "
                            "n_fetches, title) VALUES (?,?,?,?,?,?,?)", feed_rows)
    db.close()


PASSES = ("304", "304-kept", "304-scrapy", "floor", "twisted", "aiohttp", "same")
SCRAPY_ONLY = ("-s", "CRAWLER_FEED_REVALIDATE=False")


def measure_size(n: int, work: Path, passes: tuple[str, ...] = PASSES) -> dict:
    hosts = (n + FEEDS_PER_HOST - 1) // FEEDS_PER_HOST
    port = free_port(hosts)
    feeds = [f"http://{host_of(i // FEEDS_PER_HOST)}:{port}{feed_path(i)}" for i in range(n)]
    feed_list = work / f"feeds-{n}.txt"
    feed_list.write_text("\n".join(feeds) + "\n")
    one_feed = work / f"one-{n}.txt"
    one_feed.write_text(feeds[0] + "\n")
    db = work / f"feeds-{n}.db"
    prefill(db, feeds, port)
    out = {"feeds": n, "hosts": hosts}
    def done(kind: str, result: dict, startup: dict | None = None) -> dict:
        if startup is not None:
            result["ms_per_feed"] = 1000 * (result["cpu"] - startup["cpu"]) / n
        note(f"{n} feeds, {kind}: {result['cpu']:.1f} s CPU"
             + (f" ({result['ms_per_feed']:.2f} ms a feed)" if startup else " (start-up)")
             + f", peak {result['rss_mb']:.0f} MB, {result['wall']:.0f} s wall")
        return result

    with Served(hosts, port, not_modified=True):
        # feed 0 answers 304: one request, on the fast path (its start-up includes importing
        # aiohttp) or through Scrapy
        startup = done("start-up", crawl(one_feed, db))
        startup_scrapy = done("start-up, Scrapy only", crawl(one_feed, db, *SCRAPY_ONLY))
        out["startup_cpu"] = startup["cpu"]
        out["startup_scrapy_cpu"] = startup_scrapy["cpu"]
        if "304" in passes:
            out["304"] = done("304", crawl(feed_list, db), startup)
            assert f"{n} unchanged (304) ({n} revalidated on the fast path)" in \
                out["304"]["out"], out["304"]["out"]
        if "304-kept" in passes:
            kept = ("-s", "CRAWLER_ROBOTS_MAX_AGE=86400")
            crawl(feed_list, db, *kept)  # keeps every host's robots.txt
            out["304-kept"] = done("304-kept", crawl(feed_list, db, *kept), startup)
            assert f"({n} revalidated on the fast path)" in out["304-kept"]["out"]
        if "304-scrapy" in passes:
            out["304-scrapy"] = done("304-scrapy", crawl(feed_list, db, *SCRAPY_ONLY),
                                     startup_scrapy)
            assert f"{n} unchanged (304)\n" in out["304-scrapy"]["out"], out["304-scrapy"]["out"]
        for kind, flag in (("floor", "--bare"), ("twisted", "--twisted"),
                           ("aiohttp", "--aiohttp")):
            if kind in passes:
                base = run_child([sys.executable, __file__, flag, str(one_feed)])
                out[f"{kind}_startup"] = base
                out[kind] = done(kind, run_child([sys.executable, __file__, flag,
                                                  str(feed_list)]), base)
    if "same" in passes:
        from crawler import store

        conn = store.open_db(db)
        with store.transaction(conn):
            conn.execute("UPDATE feeds SET last_status = 200")
        conn.close()
        with Served(hosts, port, not_modified=False):
            out["same"] = done("same", crawl(feed_list, db), startup_scrapy)
        assert f"{n} sent the same feed again" in out["same"]["out"], out["same"]["out"]
    for f in db.parent.glob(db.name + "*"):
        f.unlink()
    return out


def note(text: str) -> None:
    """Progress on stderr: a pass over 100,000 feeds takes many minutes."""
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def measure_big(entries: int, work: Path) -> dict:
    """One feed of ``entries`` entries (all known): the reactor's longest block, parsed in the
    extraction pool and inline."""
    port = free_port(1)
    url = f"http://{host_of(0)}:{port}/feed/big.xml"
    feed_list = work / "big.txt"
    feed_list.write_text(url + "\n")
    out = {}
    for label, workers in (("pool", "1"), ("inline", "0")):
        db = work / f"big-{label}.db"
        from crawler import store

        conn = store.open_db(db)
        rows = [(u, u, host_of(0), "t", "x", 1) for u in
                (f"http://{host_of(0)}:{port}/a/big-{j}.html" for j in range(entries))]
        with store.transaction(conn):
            conn.conn.executemany("INSERT INTO articles (url, fetched_url, site, title, text, "
                                  "word_count) VALUES (?,?,?,?,?,?)", rows)
        conn.close()
        report = work / f"reactor-{label}.json"
        with Served(1, port, not_modified=False, big=entries):
            sets = [x for k, v in CRAWL_SETTINGS.items() for x in ("-s", f"{k}={v}")]
            result = run_child([sys.executable, "-m", "crawler", "crawl", str(feed_list),
                                "--db", str(db), "-q", "--workers", workers, *sets,
                                "-s", "CRAWLER_REACTOR_MONITOR=True",
                                "-s", f"CRAWLER_REACTOR_MONITOR_FILE={report}"])
        if result["code"] != 0:
            raise RuntimeError(result["err"][-3000:])
        data = json.loads(report.read_text())
        # CPU time of the longest callbacks: their wall time includes waiting for a core
        out[label] = {"longest_ms": data["longest_ms"],
                      "longest_cpu_ms": max((s["cpu_ms"] for s in data["slowest"]), default=0),
                      "blocked_share": data["blocked_share"], "cpu": result["cpu"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--passes", default=",".join(PASSES),
                        help="which passes to run (default: all; 304 and twisted are the "
                             "quickest pair with a baseline, 304 and 304-scrapy the A/B of "
                             "the fast path)")
    parser.add_argument("--big", type=int, default=10000,
                        help="entries of the one big feed (0: skip)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "feed_scale.json")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--entries", type=int, default=ENTRIES, help=argparse.SUPPRESS)
    parser.add_argument("--not-modified", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    parser.add_argument("--twisted", help=argparse.SUPPRESS)
    parser.add_argument("--aiohttp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.entries, args.not_modified, args.big)
        return
    if args.bare:
        bare(args.bare)
        return
    if args.twisted:
        bare_twisted(args.twisted)
        return
    if args.aiohttp:
        bare_aiohttp(args.aiohttp)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    passes = tuple(p.strip() for p in args.passes.split(",") if p.strip())
    if not set(passes) <= set(PASSES):
        parser.error(f"--passes: choose from {', '.join(PASSES)}")
    rows = []
    print(f"{'feeds':>7} {'hosts':>6} {'304 ms':>7} {'304-kept ms':>11} {'304-scrapy ms':>13} "
          f"{'same ms':>8} "
          f"{'floor ms':>9} {'twisted ms':>10} {'aiohttp ms':>10} {'304/304-scrapy':>14} "
          f"{'304/aiohttp':>11} "
          f"{'peak MB 304':>11} {'304-kept':>8} {'304-scrapy':>10} {'same':>6} {'floor':>6} "
          f"{'wall 304 s':>10}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="feed-scale-") as tmp:
        for n in sizes:
            r = measure_size(n, Path(tmp), passes)
            rows.append({k: ({kk: vv for kk, vv in v.items() if kk not in ("out", "err")}
                             if isinstance(v, dict) else v) for k, v in r.items()})
            ms = lambda kind: r[kind]["ms_per_feed"] if kind in r else float("nan")  # noqa: E731
            mb = lambda kind: r[kind]["rss_mb"] if kind in r else float("nan")  # noqa: E731
            print(f"{n:>7} {r['hosts']:>6} {ms('304'):>7.2f} {ms('304-kept'):>11.2f} "
                  f"{ms('304-scrapy'):>13.2f} "
                  f"{ms('same'):>8.2f} {ms('floor'):>9.2f} {ms('twisted'):>10.2f} "
                  f"{ms('aiohttp'):>10.2f} {ms('304') / ms('304-scrapy'):>14.2f} "
                  f"{ms('304') / ms('aiohttp'):>11.2f} "
                  f"{mb('304'):>11.0f} {mb('304-kept'):>8.0f} {mb('304-scrapy'):>10.0f} "
                  f"{mb('same'):>6.0f} "
                  f"{mb('floor'):>6.0f} "
                  f"{r['304']['wall'] if '304' in r else float('nan'):>10.1f}", flush=True)
        if args.big:
            big = measure_big(args.big, Path(tmp))
            rows.append({"big_feed_entries": args.big, **big})
            print(f"one feed of {args.big} entries: the reactor's longest callback took "
                  f"{big['pool']['longest_cpu_ms']:.0f} ms of CPU with the extraction pool, "
                  f"{big['inline']['longest_cpu_ms']:.0f} ms inline (wall "
                  f"{big['pool']['longest_ms']:.0f} and {big['inline']['longest_ms']:.0f} ms)",
                  flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
