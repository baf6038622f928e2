"""One crawl per database: an exclusive lock on a file beside it (``news.db.lock``).

SQLite would let two crawls write the same file in turns, but they would fetch the same pages
twice and race on which copy of a story comes first. ``fcntl.flock`` is released by the kernel
when the holder dies, even by SIGKILL, so a killed crawl never leaves a stale lock behind.
Readers (``crawler stories`` and the other analysis commands) take no lock: WAL lets them read
while a crawl writes.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from crawler.store.errors import MESSAGES, classify
from crawler.errors import UserError


def lock_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.lock")


class CrawlLock:
    """``with CrawlLock(db_path, wait=0):`` hold the database for one crawl.

    A second crawl on the same database waits up to ``wait`` seconds for the first to end,
    then refuses with a UserError that names the holder.
    """

    def __init__(self, db_path: str | Path, wait: float = 0.0):
        self.db_path = Path(db_path)
        self.path = lock_path(db_path)
        self.wait = wait
        self.fd: int | None = None

    def acquire(self) -> "CrawlLock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only or full disk shows here first
            kind = classify(exc)
            raise UserError(MESSAGES[kind].format(path=self.db_path, error=exc.strerror) if kind
                            else f"cannot create the lock file {self.path}: {exc}") from exc
        deadline = time.monotonic() + max(0.0, self.wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    waited = f" after waiting {self.wait:g}s" if self.wait > 0 else ""
                    raise UserError(
                        f"the database {self.db_path} is in use by another crawl{holder}{waited}; "
                        f"wait for it to finish (or set CRAWLER_LOCK_WAIT) or use another --db"
                    ) from None
                time.sleep(0.2)
        try:  # who holds it, for the other crawl's message; the lock itself is the flock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        except OSError:
            pass  # a full disk must not stop us from holding the lock; the DB write will say so
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "CrawlLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        pid, _, started = os.pread(fd, 200, 0).decode("utf-8", "replace").strip().partition(" ")
    except OSError:
        return ""
    return f" (pid {pid}, started {started})" if pid.isdigit() else ""
