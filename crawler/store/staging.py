"""A crawl's feed list on disk: the URLs in the order given, each once, in a temporary SQLite
file, read back a batch at a time.

A media monitor follows 100,000 feeds and more. Held as a Python list (plus the dict that
dropped duplicates and the lines of the file it came from) the list cost ~90 bytes a feed for
the whole crawl and three times that while it was read; here memory stays flat in the number
of feeds. The file goes with the object that made it (``close``, or the end of the process);
a copy sent to another process (pickle: the crawl's child process) reads the same file and
leaves it in place.
"""
from __future__ import annotations

import os
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from itertools import islice

#: URLs written or read per statement.
BATCH = 500


class StagedFeeds:
    """Feed URLs in a temporary SQLite file; iterable, sized, ``in`` works (indexed)."""

    def __init__(self, urls: Iterable[str] = (), folder: str | None = None):
        fd, self.path = tempfile.mkstemp(prefix="feeds-", suffix=".db", dir=folder)
        os.close(fd)
        self._remove = weakref.finalize(self, _remove, self.path)
        self._conn = _connect(self.path)
        self._conn.execute("CREATE TABLE feeds (position INTEGER PRIMARY KEY, "
                           "url TEXT NOT NULL UNIQUE)")
        self.add(urls)

    @classmethod
    def _attach(cls, path: str, count: int) -> StagedFeeds:
        """Another process's list (unpickled): read, never removed here."""
        staged = cls.__new__(cls)
        staged.path, staged._remove, staged._count = path, None, count
        staged._conn = _connect(path)
        return staged

    def __reduce__(self):
        return (StagedFeeds._attach, (self.path, len(self)))

    def add(self, urls: Iterable[str]) -> None:
        """Append the URLs not listed yet, in their order."""
        urls = iter(urls)
        with self._conn:
            while chunk := list(islice(urls, BATCH)):
                self._conn.executemany("INSERT OR IGNORE INTO feeds (url) VALUES (?)",
                                       ((u,) for u in chunk))
        self._count = self._conn.execute("SELECT count(*) FROM feeds").fetchone()[0]

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[str]:
        for batch in self.batches():
            yield from batch

    def batches(self, size: int = BATCH) -> Iterator[list[str]]:
        """The URLs in order, ``size`` at a time."""
        last = 0
        while True:
            rows = self._conn.execute("SELECT position, url FROM feeds WHERE position > ? "
                                      "ORDER BY position LIMIT ?", (last, size)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [url for _, url in rows]

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and self._conn.execute(
            "SELECT 1 FROM feeds WHERE url = ?", (url,)).fetchone() is not None

    def close(self) -> None:
        """Close the file, and remove it if this object made it."""
        self._conn.close()
        if self._remove is not None:
            self._remove()


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=OFF")  # a scratch file: nothing to recover
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-512")  # 512 KB: pages are read once, in order
    return conn


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
