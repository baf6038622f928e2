"""Reliability figures: hostile input, faults and crashes, each case run and checked.

    python bench/faults.py [--kills 20] [--only CASE ...] [--json FILE]

Every server runs on 127.0.0.x; crawls of hostile links run with CRAWLER_ONLY_NETWORKS =
127.0.0.0/8, so nothing leaves the machine. Prints one line per case:

    case, trials, survived, rows lost

"survived": the crawl ended as it should (exit 0, or the one-line error the case calls for, no
traceback), the database passes PRAGMA integrity_check, foreign_key_check and the FTS check,
no article row is half-written, and the case's own checks hold. "rows lost": article rows (or,
for the feedparser suite, feeds) missing or different compared with what an undisturbed run
stores. The read-only and full-disk cases mount a small tmpfs and need root.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.demo.server import LocalWeb, Resource, Site  # noqa: E402
from tests.conftest import CORPUS, run_cli  # noqa: E402
from tests.faults_server import (article_rows, check_db, feedparser_routes, hold,  # noqa: E402
                                 kill_group, news_site, start_crawl)
from tests.pages import rss  # noqa: E402

QUICK = ["-s", "DOWNLOAD_TIMEOUT=5", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0",
         "-s", "AUTOTHROTTLE_ENABLED=False", "-q"]
LOOPBACK_ONLY = ["-s", "CRAWLER_ONLY_NETWORKS=127.0.0.0/8"]
KILL_SITE = dict(n=40, delay=0.2, words=300)
KILL_SETTINGS = [*QUICK, "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=3",
                 "-s", "CRAWLER_STORE_BATCH_SIZE=5", "--workers", "2"]


class Case:
    """One row of the table."""

    def __init__(self, name: str):
        self.name, self.trials, self.survived, self.rows_lost, self.notes = name, 0, 0, 0, []

    def trial(self, ok: bool, lost: int = 0, note: str | None = None) -> None:
        self.trials += 1
        self.survived += bool(ok)
        self.rows_lost += lost
        if note and (not ok or lost):
            self.notes.append(note)

    def row(self) -> dict:
        return {"case": self.name, "trials": self.trials, "survived": self.survived,
                "rows_lost": self.rows_lost, "notes": self.notes}


def clean_exit(result) -> bool:
    return result.returncode == 0 and "Traceback" not in result.stderr


def one_line_error(result, words: str) -> bool:
    lines = result.stderr.strip().splitlines()
    return (result.returncode == 2 and "Traceback" not in result.stderr and bool(lines)
            and lines[-1].startswith("crawler: error: ") and words in lines[-1])


def lost_rows(got: dict, want: dict) -> int:
    return sum(1 for url, row in want.items() if got.get(url) != row) + len(set(got) - set(want))


def failures(db_path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        return dict(conn.execute("SELECT url, reason FROM failures ORDER BY id"))


# ---------------------------------------------------------------- hostile input


def case_feedparser_suite(tmp: Path, out: list) -> Case:
    import feedparser

    case = Case("feedparser test suite (one crawl)")
    routes = feedparser_routes(CORPUS)
    with LocalWeb([Site("fp", "127.0.0.41", routes)]) as web:
        urls = [web["fp"].url(p) for p in routes]
        listing = tmp / "fp.txt"
        listing.write_text("\n".join(urls))
        started = time.monotonic()
        result = run_cli("crawl", listing, "--db", tmp / "fp.db", *QUICK, *LOOPBACK_ONLY,
                         "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=32", "--workers", "1",
                         timeout=1200)
        seconds = time.monotonic() - started
        with contextlib.closing(sqlite3.connect(tmp / "fp.db")) as conn:
            outcome = {url[len(web["fp"].base):]: (err or "ok").split(":")[0]
                       for url, err in conn.execute("SELECT url, error FROM feeds")}
    differ = 0
    for path, res in routes.items():
        headers = {k.lower(): v for k, v in res.headers.items()}
        headers["content-type"] = res.content_type
        parsed = feedparser.parse(res.payload(), response_headers=headers)
        ok = bool(parsed.entries) or not (parsed.bozo or not parsed.version)
        differ += (outcome.get(path) == "ok") != ok or path not in outcome
    counts = {k: sum(1 for v in outcome.values() if v == k) for k in set(outcome.values())}
    case.trial(clean_exit(result) and not check_db(tmp / "fp.db") and not differ, differ,
               f"{differ} feeds read differently from feedparser")
    out.append(f"feedparser suite: {len(routes)} feeds in {seconds:.0f}s: "
               + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return case


def hostile_crawl(tmp: Path, out: list) -> list[Case]:
    """The trap site of tests/test_hostile.py, crawled once; one table row per kind of trap."""
    from tests.test_hostile import add_traps

    with LocalWeb([Site("h", "127.0.0.42")]) as web:
        add_traps(web["h"])
        b = web["h"].base
        db = tmp / "hostile.db"
        feeds = [web["h"].url(p) for p in ("/rss.xml", "/laughs.xml", "/xxe.xml", "/doctype.xml",
                                           "/as-html.xml", "/nul.xml", "/latin1.xml")]
        result = run_cli("crawl", *feeds, "--db", db, *QUICK, *LOOPBACK_ONLY, "--workers", "1",
                         timeout=600)
        hits = {p for _, p, _ in web.log}
    reasons = failures(db)
    got = article_rows(db)
    healthy = clean_exit(result) and not check_db(db)

    def reason_of(url):
        return next((r for u, r in reasons.items() if u == url or u.replace("file://", "file:///")
                     == url), None)

    groups = {
        "links to file:, ftp:, javascript:, data:, off-network": [
            ("file:///etc/passwd", "bad_scheme"), ("ftp://127.0.0.21/pub/x.html", "bad_scheme"),
            ("javascript:alert(1)", "bad_scheme"), ("data:text/html,<p>hallo</p>", "bad_scheme"),
            ("http://example.invalid/a", "outside_networks"), (f"{b}/to-file", "bad_scheme")],
        "compression bomb, endless and huge pages": [
            (f"{b}/bomb.html", "too_large"), (f"{b}/endless.html", "too_large"),
            (f"{b}/declared-huge.html", "too_large")],
        "redirect loops and endless redirect chains": [
            (f"{b}/loop-a", "redirect_loop"), (f"{b}/self", "redirect_loop"),
            (f"{b}/chain?n=0", "too_many_redirects")],
        "trickling server, close mid-body": [
            (f"{b}/trickle.html", "timeout"), (f"{b}/cut.html", "truncated")],
        "image served as HTML": [(f"{b}/png.html", "not_html")],
    }
    cases = []
    for name, expected in groups.items():
        case = Case(name)
        for url, reason in expected:
            case.trial(healthy and reason_of(url) == reason, 0,
                       f"{url}: {reason_of(url)} (expected {reason})")
        cases.append(case)
    stored = {
        "wrong Content-Type / charset, NUL bytes, gzip": ["/ok.html", "/small-gzip.html",
                                                          "/octet.html", "/latin1-says-utf8.html",
                                                          "/bogus-charset.html", "/nul.html"],
        "entity bomb, external entities (feeds)": ["/ok-laughs.html", "/ok-xxe.html",
                                                   "/ok-doctype.html"],
    }
    fetched_secrets = hits & {"/secret.txt", "/evil.dtd", "/doctype.dtd"}
    for name, paths in stored.items():
        case = Case(name)
        for path in paths:
            row = next((r for u, r in got.items() if u == b + path), None)
            ok = healthy and row is not None and not (fetched_secrets and "entity" in name)
            case.trial(ok, 0 if row else 1, f"{path} not stored")
        cases.append(case)
    out.append(f"hostile crawl: {len(got)} articles stored, {len(reasons)} failures recorded, "
               f"external entity URLs fetched: {sorted(fetched_secrets) or 'none'}")
    return cases


def case_sitemaps(tmp: Path, out: list) -> Case:
    """Entity tricks and a gzip bomb in sitemaps, an endless calendar: `crawler scrape`."""
    from tests.test_hostile import add_sitemap_traps

    case = Case("sitemaps: entities, gzip bomb; calendar trap")
    with LocalWeb([Site("s", "127.0.0.43")]) as web:
        site = web["s"]
        add_sitemap_traps(site)
        result = run_cli("scrape", site.url("/"), "--follow-links", "--db", tmp / "s.db",
                         *QUICK, *LOOPBACK_ONLY, "--workers", "1", timeout=300)
        paths = [p for _, p, _ in web.log]
    months = [p for p in paths if p.startswith("/calendar")]
    ok = (clean_exit(result) and not check_db(tmp / "s.db")
          and not {"/secret.txt", "/evil.dtd"} & set(paths)
          and not any("lol" in p for p in paths)
          and "too_large" in failures(tmp / "s.db").values() and len(months) <= 10)
    case.trial(ok, 0, f"paths {paths[:20]}")
    out.append(f"calendar trap: {len(months)} calendar pages fetched (--max-depth 3)")
    return case


def case_private(tmp: Path, out: list) -> Case:
    from tests.pages import article_page
    from tests.test_hostile import STORY

    case = Case("private addresses from a public start")
    pub, intranet = Site("pub", "127.0.0.44"), Site("intranet", "127.0.0.70")
    with LocalWeb([pub, intranet]) as web:
        secret = intranet.url("/admin.html")
        intranet.routes["/admin.html"] = Resource(article_page("Router", STORY))
        pub.routes["/go"] = Resource(b"", status=302, headers={"Location": secret + "?r=1"})
        lures = [secret, f"http://localhost:{intranet.port}/admin.html", pub.url("/go"),
                 "http://169.254.169.254/latest/meta-data/"]
        pub.routes["/feed.xml"] = Resource(rss("P", [{"title": str(i), "link": u}
                                                     for i, u in enumerate(lures)]))
        result = run_cli("crawl", pub.url("/feed.xml"), "--db", tmp / "p.db", *QUICK,
                         "--workers", "0", "-s",
                         "CRAWLER_PRIVATE_NETWORKS=127.0.0.64/26,127.0.0.1/32,169.254.0.0/16")
        reasons = failures(tmp / "p.db")
        for url in lures:
            case.trial(clean_exit(result) and reasons.get(url) == "private_address"
                       and web.hits("intranet") == 0, 0, f"{url}: {reasons.get(url)}")
    return case


def case_big_feed(tmp: Path, out: list, n: int = 10_000) -> Case:
    import feedparser

    case = Case(f"{n:,}-entry feed, every entry its own page")
    with LocalWeb([Site("big", "127.0.0.45")]) as web:
        site = web["big"]
        site.routes["/p"] = lambda h: Resource("gone", "text/plain", status=404)
        body = rss("Riesig", [{"title": f"Nr. {i}", "link": f"{site.base}/p?id={i}"}
                              for i in range(n)])
        site.routes["/big.xml"] = Resource(body, "application/rss+xml")
        started = time.perf_counter()
        feedparser.parse(body.encode())
        parse_seconds = time.perf_counter() - started
        started = time.monotonic()
        result = run_cli("crawl", site.url("/big.xml"), "--db", tmp / "big.db", *QUICK,
                         "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16", "--workers", "0",
                         timeout=1800)
        seconds = time.monotonic() - started
        recorded = sum(1 for r in failures(tmp / "big.db").values() if r == "http_404")
        served = sum(1 for _, p, _ in web.log if p.startswith("/p?"))
    case.trial(clean_exit(result) and not check_db(tmp / "big.db") and served == n,
               n - recorded, f"{recorded} of {n} entries recorded, {served} fetched")
    out.append(f"{n:,}-entry feed: {len(body) / 1e6:.1f} MB, feedparser {parse_seconds:.1f}s "
               f"(on the reactor), whole crawl {seconds:.0f}s, {served} pages fetched once each")
    return case


# ---------------------------------------------------------------- faults and crashes


def case_kills(tmp: Path, out: list, trials: int, seed: int = 7) -> Case:
    case = Case("SIGKILL at a random moment, then --resume")
    rng = random.Random(seed)
    with LocalWeb([Site("k", "127.0.0.46")]) as web:
        feed = news_site(web["k"], **KILL_SITE)
        full, first_row, last_row = watch_crawl(feed, tmp / "base.db")
        want = article_rows(tmp / "base.db")
        assert len(want) == KILL_SITE["n"]
        at_kill = []
        for i in range(trials):
            db = tmp / f"kill{i}.db"
            proc = start_crawl("crawl", feed, "--db", db, *KILL_SETTINGS)
            # three kills in four once a random number of articles is stored (so, while the
            # crawl writes), plus up to half a second; the rest at any moment of the run
            if i % 4 == 3:
                time.sleep(rng.uniform(0.05, 1.0) * full)
            else:
                wait_for_rows(db, rng.randint(1, KILL_SITE["n"] - 1), proc)
                time.sleep(rng.uniform(0, 0.5))
            kill_group(proc)
            problems = check_db(db) if db.exists() else []
            at_kill.append(len(article_rows(db)) if db.exists() and not problems else 0)
            resumed = run_cli("crawl", feed, "--db", db, *KILL_SETTINGS, "--resume")
            problems += check_db(db)
            lost = lost_rows(article_rows(db), want)
            case.trial(clean_exit(resumed) and not problems and not lost, lost,
                       f"trial {i}: {problems} lost {lost}")
    out.append(f"kills: uninterrupted crawl {full:.1f}s (articles stored from {first_row:.1f}s "
               f"to {last_row:.1f}s); articles stored at the kill: "
               f"min {min(at_kill)}, median {statistics.median(at_kill):g}, max {max(at_kill)} "
               f"of {KILL_SITE['n']} ({sum(0 < k < KILL_SITE['n'] for k in at_kill)} kills "
               f"mid-way)")
    return case


def watch_crawl(feed: str, db: Path) -> tuple[float, float, float]:
    """Run the crawl undisturbed: its length, and when its first and last article landed."""
    started = time.monotonic()
    proc = start_crawl("crawl", feed, "--db", db, *KILL_SETTINGS)
    seen, first, last = 0, None, None
    while proc.poll() is None:
        time.sleep(0.1)
        with contextlib.suppress(sqlite3.Error):
            count = len(article_rows(db)) if db.exists() else 0
            if count > seen:
                seen, last = count, time.monotonic() - started
                first = first if first is not None else last
    _, err = proc.communicate()
    assert proc.returncode == 0 and first is not None, err[-2000:]
    return time.monotonic() - started, first, last


def wait_for_rows(db: Path, n: int, proc) -> None:
    while proc.poll() is None:
        with contextlib.suppress(sqlite3.Error):
            if db.exists() and len(article_rows(db)) >= n:
                return
        time.sleep(0.05)


def case_lock(tmp: Path, out: list, trials: int = 3) -> Case:
    case = Case("two crawls on one database; readers meanwhile")
    with LocalWeb([Site("l", "127.0.0.47")]) as web:
        feed = news_site(web["l"], 24)
        for i in range(trials):
            db = tmp / f"lock{i}.db"
            release = hold(web["l"], f"/n/{i}.html")  # keeps the first crawl running
            first = start_crawl("crawl", feed, "--db", db, *QUICK, "--workers", "0",
                                "-s", "DOWNLOAD_TIMEOUT=600")
            wait_for_rows(db, 1, first)
            second = run_cli("crawl", feed, "--db", db, *QUICK, "--workers", "0")
            waiter = start_crawl("crawl", feed, "--db", db, *QUICK, "--workers", "0",
                                 "-s", "CRAWLER_LOCK_WAIT=600")
            reader = run_cli("stories", "--db", db)
            running = first.poll() is None
            release.set()
            first.communicate()
            w_out, _ = waiter.communicate()
            rows = article_rows(db)
            ok = (running and one_line_error(second, "in use by another crawl")
                  and reader.returncode == 0 and first.returncode == 0
                  and waiter.returncode == 0 and "0 new, 24 already known" in w_out
                  and not check_db(db))
            case.trial(ok, 24 - len(rows), f"trial {i}: running={running} "
                       f"second={second.returncode} reader={reader.returncode}")
    return case


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        raise PermissionError("mounting a tmpfs needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def case_disks(tmp: Path, out: list) -> list[Case]:
    readonly, full = Case("database read-only"), Case("disk full (tmpfs), then space freed")
    with LocalWeb([Site("d", "127.0.0.48")]) as web:
        feed = news_site(web["d"], 24, words=300)
        settings = [*QUICK, "--workers", "0", "-s", "CRAWLER_STORE_BATCH_SIZE=4"]
        base = run_cli("crawl", feed, "--db", tmp / "dbase.db", *settings, "--keep-html")
        want = article_rows(tmp / "dbase.db")
        assert clean_exit(base) and len(want) == 24
        for i, refresh in enumerate(([], ["--refresh"])):
            with tmpfs(tmp / f"ro{i}", "64m") as folder:
                db = folder / "news.db"
                run_cli("crawl", feed, "--db", db, *settings, "--keep-html")
                subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
                again = run_cli("crawl", feed, "--db", db, *settings, *refresh)
                subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)
                lost = lost_rows(article_rows(db), want)
                readonly.trial(one_line_error(again, "read-only") and not check_db(db)
                               and not lost, lost, again.stderr[-300:])
        for size in ("512k", "1m", "1152k", "1280k", "1408k", "2m"):
            with tmpfs(tmp / f"full{size}", size) as folder:
                db = folder / "news.db"
                first = run_cli("crawl", feed, "--db", db, *settings, "--keep-html")
                failed_cleanly = clean_exit(first) or one_line_error(first, "disk full")
                problems = check_db(db) if db.exists() else []
                partial = len(article_rows(db)) if db.exists() and not problems else 0
                subprocess.run(["mount", "-o", "remount,size=64m", str(folder)], check=True)
                again = run_cli("crawl", feed, "--db", db, *settings, "--keep-html")
                problems += check_db(db)
                lost = lost_rows(article_rows(db), want)
                full.trial(failed_cleanly and clean_exit(again) and not problems and not lost,
                           lost, f"{size}: {first.stderr[-300:]} {problems}")
                out.append(f"disk full at {size}: first crawl "
                           f"{'finished' if first.returncode == 0 else 'stopped'} with "
                           f"{partial} articles, the crawl after freeing space completed them")
    return [readonly, full]


CASES = ["feedparser", "hostile", "sitemaps", "private", "big", "kills", "lock", "disks"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILL trials")
    parser.add_argument("--only", nargs="*", choices=CASES, default=CASES)
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()
    if not CORPUS.exists() and "feedparser" in args.only:
        sys.exit(f"the shared corpus is not at {CORPUS}")
    cases: list[Case] = []
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp_name:
        tmp = Path(tmp_name)
        for name in args.only:
            started = time.monotonic()
            work = tmp / name
            work.mkdir()
            if name == "feedparser":
                cases.append(case_feedparser_suite(work, out))
            elif name == "hostile":
                cases.extend(hostile_crawl(work, out))
            elif name == "sitemaps":
                cases.append(case_sitemaps(work, out))
            elif name == "private":
                cases.append(case_private(work, out))
            elif name == "big":
                cases.append(case_big_feed(work, out))
            elif name == "kills":
                cases.append(case_kills(work, out, args.kills))
            elif name == "lock":
                cases.append(case_lock(work, out))
            elif name == "disks":
                if os.geteuid() != 0:
                    out.append("disks: skipped (mounting a tmpfs needs root)")
                else:
                    cases.extend(case_disks(work, out))
            print(f"[{time.monotonic() - started:5.0f}s] {name} done", file=sys.stderr,
                  flush=True)
    width = max(len(c.name) for c in cases)
    print(f"| {'case':<{width}} | trials | survived | rows lost |")
    print(f"| {'-' * width} | ------ | -------- | --------- |")
    for c in cases:
        print(f"| {c.name:<{width}} | {c.trials:>6} | {c.survived:>8} | {c.rows_lost:>9} |")
    print()
    for line in out:
        print(f"- {line}")
    for c in cases:
        for note in c.notes[:5]:
            print(f"! {c.name}: {note}")
    if args.json:
        Path(args.json).write_text(json.dumps([c.row() for c in cases], indent=1))
    return 0 if all(c.survived == c.trials and not c.rows_lost for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
