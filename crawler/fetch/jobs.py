"""Resumable crawls: every crawl keeps a job folder that lets ``--resume`` continue it after
Ctrl-C or SIGKILL, losing nothing and fetching nothing twice.

The job folder (``<db folder>/jobs/<kind>-<hash of the command>/``) holds Scrapy's HTTP cache
(HttpCacheMiddleware, DummyPolicy) of the responses the crawl received, one file each,
written atomically (``AtomicFilesystemCacheStorage``), and ``job.json`` saying how the crawl
ended. An article page's entry is dropped as soon as its article is stored
(``discard_cached``): a stored article is never fetched again, so the cache holds only feeds,
sitemaps, listing pages and the pages still on their way to the database, and needs no
compression (gzip cost the reactor ~10 ms a page). The folder is deleted when the crawl finishes.

Resuming does not replay Scrapy's scheduler queue (JOBDIR): that state is written only on a
clean close (queuelib) or buffered (requests.seen), so it is lost or stale after SIGKILL, and
requests in flight at a Ctrl-C are in neither. Instead a resumed crawl starts over from its
feeds, sitemaps and home pages, which the cache answers without touching the network:

- articles stored before the stop are skipped (the database knows their URLs);
- pages fetched but not yet stored (in the extraction pool or the batch in flight) come from
  the cache;
- only what was never received is fetched.

One path for Ctrl-C and SIGKILL, and the frontier is always complete. Without ``--resume`` a
left-over job folder is discarded and the crawl starts fresh (current pages, not cached ones).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import time
from pathlib import Path
from typing import Any

from scrapy.extensions.httpcache import FilesystemCacheStorage
from scrapy.http.headers import Headers
from scrapy.responsetypes import responsetypes
from w3lib.http import headers_dict_to_raw, headers_raw_to_dict

from crawler import store

#: Answers worth caching are the final ones: what Scrapy retries must be fetched again. A 304
#: is not kept either: asked again on resume it costs one conditional GET, while a file for
#: every unchanged feed made a pass over 100,000 feeds write (and delete) 100,000 files.
NOT_CACHED = [304, 408, 429, 500, 502, 503, 504, 522, 524]


def cache_entry(cachedir: str, spider_name: str, key: str) -> str:
    """The file of the response to the request with fingerprint ``key`` (hex). A plain string,
    not a Path: pathlib interns every part of a path, a string per page here (memray: 3.7 MB
    held by them at the peak of a 10,000-page crawl)."""
    return os.path.join(cachedir, spider_name, key[:2], f"{key}.pickle")


def resume_cache_dir(settings) -> str | None:
    """The folder of this crawl's resume cache, if it has one (CRAWLER_JOBS)."""
    if settings.getbool("HTTPCACHE_ENABLED") and \
            settings.get("HTTPCACHE_STORAGE") == "crawler.fetch.jobs.AtomicFilesystemCacheStorage":
        return settings.get("HTTPCACHE_DIR")
    return None


def read_entry(path: str) -> dict:
    """A cached response (url, status, body, headers, time); OSError if it cannot be read."""
    with open(path, "rb") as f:
        try:
            return pickle.load(f)  # noqa: S301 - our own file
        except (EOFError, pickle.UnpicklingError) as exc:
            raise OSError(f"unreadable cache entry {path}: {exc}") from None


def discard_cached(cachedir: str, spider_name: str, keys: list[str]) -> None:
    """Drop the entries of stored articles (a resumed crawl skips their URLs anyway)."""
    for key in keys:
        try:
            os.remove(cache_entry(cachedir, spider_name, key))
        except FileNotFoundError:
            pass


class AtomicFilesystemCacheStorage(FilesystemCacheStorage):
    """Scrapy's filesystem cache storage, with each response in one file written under a
    temporary name and renamed into place: a crawl killed mid-write leaves no half entry that
    a resumed crawl would read, and a page costs one file instead of Scrapy's seven."""

    def __init__(self, settings):
        super().__init__(settings)
        self._folders: set[str] = set()
        self._resuming = settings.getbool("CRAWLER_RESUME")

    def _entry(self, spider, request) -> str:
        return cache_entry(self.cachedir, spider.name, self._fingerprinter.fingerprint(request).hex())

    def store_response(self, spider, request, response) -> None:
        path = self._entry(spider, request)
        folder = os.path.dirname(path)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        data = {"url": response.url, "status": response.status, "body": response.body,
                "headers": headers_dict_to_raw(response.headers), "time": time.time()}
        part = f"{path}.part{os.getpid()}"
        with open(part, "wb") as f:
            pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(part, path)

    def retrieve_response(self, spider, request):
        if request.meta.get("read_feed") and not self._resuming:
            # A crawl that does not resume starts with an empty cache and asks each feed once:
            # its feeds are never there (the look-up was 3% of a 304 pass's profile).
            return None
        try:
            data = read_entry(self._entry(spider, request))
        except OSError:  # not cached, or unreadable: fetch the page
            return None
        headers = Headers(headers_raw_to_dict(data["headers"]))
        cls = responsetypes.from_args(headers=headers, url=data["url"], body=data["body"])
        request.meta["cache_timestamp"] = data["time"]
        return cls(url=data["url"], headers=headers, status=data["status"], body=data["body"])


class Job:
    """The job folder of one crawl command (same kind, same inputs, same database)."""

    def __init__(self, folder: Path, description: dict):
        self.folder = folder
        self.description = description
        self.previous: dict | None = None

    @classmethod
    def for_crawl(cls, settings, db_path: str, kind: str, inputs: Any) -> "Job | None":
        """The job of this crawl, or None when CRAWLER_JOBS is off."""
        if not settings.getbool("CRAWLER_JOBS"):
            return None
        db = Path(db_path).resolve()
        root = Path(settings.get("CRAWLER_JOBS_DIR") or db.parent / "jobs")
        description = {"kind": kind, "inputs": inputs, "db": str(db)}
        digest = hashlib.sha1(json.dumps(description, sort_keys=True).encode()).hexdigest()[:12]
        return cls(root.resolve() / f"{kind}-{digest}", description)

    @property
    def state_file(self) -> Path:
        return self.folder / "job.json"

    def begin(self, resume: bool) -> str:
        """Prepare the folder: 'resumed' (its cache is used), 'discarded' (a left-over job was
        thrown away: no --resume) or 'new'."""
        outcome = "new"
        if self.folder.exists():
            self.previous = read_state(self.state_file)
            if resume:
                outcome = "resumed"
            else:
                shutil.rmtree(self.folder, ignore_errors=True)
                outcome = "discarded"
        self.folder.mkdir(parents=True, exist_ok=True)
        runs = (self.previous or {}).get("runs", 0) if outcome == "resumed" else 0
        self.write_state("running", runs=runs + 1, pid=os.getpid(), started=store.utcnow())
        return outcome

    def scrapy_settings(self) -> dict[str, Any]:
        return {
            "HTTPCACHE_ENABLED": True,
            "HTTPCACHE_DIR": str(self.folder / "httpcache"),
            "HTTPCACHE_POLICY": "scrapy.extensions.httpcache.DummyPolicy",
            "HTTPCACHE_STORAGE": "crawler.fetch.jobs.AtomicFilesystemCacheStorage",
            "HTTPCACHE_EXPIRATION_SECS": 0,
            "HTTPCACHE_IGNORE_HTTP_CODES": NOT_CACHED,
        }

    def end(self, finished: bool, status: str) -> None:
        """A finished crawl needs its job no more; any other end keeps it for --resume."""
        if finished:
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            self.write_state(status, ended=store.utcnow())

    def write_state(self, status: str, **fields: Any) -> None:
        state = {**(read_state(self.state_file) or {}), **self.description,
                 "status": status, **fields}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self.state_file)


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def open_jobs(db_path: str, jobs_dir: str = "") -> list[dict]:
    """The jobs left behind by crawls of ``db_path`` that did not finish (for ``crawler
    status``): how they ended ('running' means killed, or still running), cached pages."""
    db = Path(db_path).resolve()
    root = Path(jobs_dir or db.parent / "jobs")
    jobs = []
    for folder in sorted(root.glob("*/")) if root.exists() else []:
        state = read_state(folder / "job.json")
        if not state or state.get("db") != str(db):
            continue
        cache = folder / "httpcache"
        pages = sum(1 for _ in cache.glob("*/*/*")) if cache.exists() else 0
        jobs.append({"folder": str(folder), "cached_pages": pages, **state})
    return jobs
