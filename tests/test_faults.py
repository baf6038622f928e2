"""Faults and crashes: SIGKILL at random moments, two crawls on one database, readers during a
crawl, a read-only database, a full disk. Nothing is corrupted, nothing is lost.

The long series (20+ kills) is bench/faults.py; here a few trials each. A read-only file system
and a full disk are real: a small tmpfs mounted for the test (root only; skipped elsewhere,
except the read-only case, which non-root users get with chmod).
"""
from __future__ import annotations

import contextlib
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from crawler.demo.server import LocalWeb, Site
from tests.conftest import run_cli
from tests.faults_server import (article_rows, check_db, hold, kill_group, news_site,
                                 start_crawl)

N = 24
FAST = ["-s", "DOWNLOAD_TIMEOUT=10", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0",
        "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=2",
        "-s", "CRAWLER_STORE_BATCH_SIZE=4", "--workers", "1", "-q"]
#: Extraction inline (no worker process to start) where the pool is not what is tested.
INLINE = [*FAST[:-3], "--workers", "0", "-q"]


@pytest.fixture(scope="module")
def web():
    with LocalWeb([Site("k", "127.0.0.26"), Site("slow", "127.0.0.27")]) as w:
        w.feed = news_site(w["k"], N, delay=0.15, words=300)
        w.slow_feed = news_site(w["slow"], N, words=300)
        yield w


@pytest.fixture(scope="module")
def baseline(web, tmp_path_factory):
    """The rows of an uninterrupted crawl, and how long it takes."""
    db = tmp_path_factory.mktemp("baseline") / "base.db"
    started = time.monotonic()
    result = run_cli("crawl", web.feed, "--db", db, *FAST)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = article_rows(db)
    assert len(rows) == N
    return {"rows": rows, "seconds": time.monotonic() - started}


def _wait_for_crawl_row(db: Path, timeout: float = 30) -> None:
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.Error):
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            with contextlib.closing(conn):
                if conn.execute("SELECT count(*) FROM crawls").fetchone()[0]:
                    return
        time.sleep(0.1)
    raise AssertionError("the crawl never started")


def test_sigkill_at_random_moments_then_resume(web, baseline, tmp_path):
    rng = random.Random(20251123)
    for trial in range(2):
        db = tmp_path / f"killed{trial}.db"
        proc = start_crawl("crawl", web.feed, "--db", db, *FAST)
        time.sleep(rng.uniform(0.3, 0.9) * baseline["seconds"])
        kill_group(proc)
        if db.exists():
            assert check_db(db) == [], f"trial {trial}"
        resumed = run_cli("crawl", web.feed, "--db", db, *FAST, "--resume")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert check_db(db) == []
        assert article_rows(db) == baseline["rows"], f"trial {trial}"


def test_second_crawl_is_refused_and_readers_work_meanwhile(web, tmp_path):
    db = tmp_path / "busy.db"
    release = hold(web["slow"], "/n/0.html")  # the first crawl runs until we release it
    first = start_crawl("crawl", web.slow_feed, "--db", db, *INLINE, "-s", "DOWNLOAD_TIMEOUT=300")
    try:
        _wait_for_crawl_row(db)
        second = run_cli("crawl", web.slow_feed, "--db", db, *INLINE, timeout=60)
        waiting = start_crawl("crawl", web.slow_feed, "--db", db, *INLINE,
                              "-s", "CRAWLER_LOCK_WAIT=300")
        reader = run_cli("stories", "--db", db, timeout=60)
        still_running = first.poll() is None
    finally:
        release.set()
        out, err = first.communicate(timeout=300)
    assert still_running
    assert second.returncode == 2
    assert f"is in use by another crawl (pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1
    assert reader.returncode == 0, reader.stderr
    assert first.returncode == 0, err[-2000:]
    w_out, w_err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, w_err[-2000:]
    # waited, then found the feed the first crawl had read, its articles all stored
    assert "articles: 0 new" in w_out and "1 sent the same feed again" in w_out
    assert len(article_rows(db)) == N
    assert check_db(db) == []


# ---------------------------------------------------------------- read-only and full disks


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A small file system of its own (root only), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a tmpfs")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


@contextlib.contextmanager
def read_only(folder: Path):
    """Make ``folder`` (and the database in it) read-only: a read-only remount as root, chmod
    otherwise (root ignores file modes)."""
    if os.geteuid() == 0:
        _remount(folder, "ro")
        try:
            yield
        finally:
            _remount(folder, "rw")
    else:
        modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def _one_clear_line(result, words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("crawler: error: ") and words in last, last


def test_read_only_database_is_a_clear_error(web, baseline, tmp_path):
    folder = tmp_path / "ro"
    with contextlib.ExitStack() as stack:
        if os.geteuid() == 0:
            stack.enter_context(tmpfs(folder, "64m"))
        folder.mkdir(exist_ok=True)
        db = folder / "news.db"
        assert run_cli("crawl", web.feed, "--db", db, *INLINE).returncode == 0
        with read_only(folder):
            again = run_cli("crawl", web.feed, "--db", db, *INLINE, "--refresh")
        _one_clear_line(again, "read-only")
        assert check_db(db) == []
        assert article_rows(db) == baseline["rows"]


def test_full_disk_is_a_clear_error_and_nothing_is_lost(web, baseline, tmp_path):
    with tmpfs(tmp_path / "small", "320k") as folder:
        db = folder / "news.db"
        full = run_cli("crawl", web.feed, "--db", db, *INLINE, "--keep-html")
        _one_clear_line(full, "disk full")
        assert check_db(db) == []
        stored = article_rows(db)
        assert len(stored) < N
        assert all(stored[url] == baseline["rows"][url] for url in stored)
        _remount(folder, "size=64m")  # space freed: the same crawl again completes the rows
        again = run_cli("crawl", web.feed, "--db", db, *INLINE, "--keep-html")
        assert again.returncode == 0, again.stderr[-2000:]
        assert check_db(db) == []
        assert article_rows(db) == baseline["rows"]
