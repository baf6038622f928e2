"""The extraction workers' fork server: started early, so its warm-up overlaps the crawl's.

The server imports and warms up trafilatura (``crawler.workerinit``, ~2 s of CPU) before it
forks the first worker. Started by the pipeline, when the spider opens, the first pages wait
for that; started by the command line as soon as it knows it will crawl, the warm-up runs on
the other core while the main process imports Scrapy and opens the database.

While the pool runs, the reactor's thread is a ``SCHED_BATCH`` thread (``yield_to_workers``):
it wakes up for every network event and batch, and as a normal thread each wake-up preempted
a worker at once (8 preemptions of the workers an article); as a batch thread it waits for the
scheduler's next tick (every 4 ms at 250 Hz) and then handles what arrived meanwhile in one
go (4 preemptions an article). Its share of the CPU is the same: the policy changes when it
runs, not how much.
"""
from __future__ import annotations

import multiprocessing
import os
from multiprocessing import forkserver
from multiprocessing.context import BaseContext

PRELOAD = ["crawler.workerinit"]


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


def yield_to_workers() -> int | None:
    """Make the calling thread (the reactor's) ``SCHED_BATCH``: its wake-ups no longer preempt
    the extraction workers. The threads it starts later (the pool's) inherit the policy; the
    fork server is started first, so the workers do not. Returns the policy the thread had,
    for ``restore_policy``; None where it cannot be changed (not Linux, or refused)."""
    if not hasattr(os, "SCHED_BATCH"):
        return None
    context()
    forkserver.ensure_running()
    try:
        before = os.sched_getscheduler(0)
        if before == os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
            return before
    except OSError:
        pass
    return None


def restore_policy(policy: int | None) -> None:
    """Undo ``yield_to_workers`` (when the pool closes: the process may go on with other work)."""
    if policy is None:
        return
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))
    except OSError:
        pass
