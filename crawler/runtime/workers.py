"""The extraction workers' fork server: started early, so its warm-up overlaps the crawl's.

The server imports and warms up trafilatura (``crawler.runtime.workerinit``, ~2 s of CPU) before it
forks the first worker. Started by the pipeline, when the spider opens, the first pages wait
for that; started by the command line as soon as it knows it will crawl, the warm-up runs on
the other core while the main process imports Scrapy and opens the database.
"""
from __future__ import annotations

import multiprocessing
import os
from multiprocessing import forkserver
from multiprocessing.context import BaseContext

PRELOAD = ["crawler.runtime.workerinit"]


def context() -> BaseContext:
    """The multiprocessing context the extraction pool forks its workers from."""
    forkserver_context = multiprocessing.get_context("forkserver")
    forkserver_context.set_forkserver_preload(PRELOAD)
    return forkserver_context


def start_early(settings: dict) -> None:
    """Start the fork server now, unless the crawl extracts inline (no workers)."""
    if str(settings.get("CRAWLER_EXTRACT_WORKERS", "")).strip() == "0":
        return
    context()
    forkserver.ensure_running()


def usable_cores() -> list[int]:
    """The cores this process may run on (a cpuset or ``taskset`` may allow fewer than the
    machine has); without ``sched_getaffinity`` (not Linux), all of them."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))
