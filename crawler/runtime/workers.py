"""The extraction workers' fork server: started early, so its warm-up overlaps the crawl's.

The server imports and warms up trafilatura (``crawler.runtime.workerinit``, ~2 s of CPU) before it
forks the first worker. Started by the pipeline, when the spider opens, the first pages wait
for that; started by the command line as soon as it knows it will crawl, the warm-up runs on
the other core while the main process imports Scrapy and opens the database.

Each worker is pinned to a core of its own (``pinning``). A crawl runs more busy processes than
cores (the workers, the reactor's process, the web server in a benchmark): unpinned, the
scheduler moves a worker to the other core whenever one of them wakes there, and the worker
leaves its caches behind. Pinned (when there is one worker per core, the default), the
workers spent 3% less CPU a page (24.25 against 25.00 ms in three A/B pairs of 3,000-page
crawls on 2 cores), while the ceiling's pool, which has the cores to itself, extracted as
fast either way.

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


def pinning(workers: int) -> dict:
    """``ProcessPoolExecutor`` arguments that pin its ``workers`` each to its own core of those
    this process may run on, when there is one worker per core (the default); none otherwise.
    Fewer workers than cores means the machine is shared (several crawls, other work): pinned,
    every crawl's workers would crowd onto the first cores. No pinning on one core, nor without
    ``sched_setaffinity`` (not Linux)."""
    cpus = usable_cores()
    if not hasattr(os, "sched_setaffinity") or len(cpus) < 2 or workers != len(cpus):
        return {}
    started = multiprocessing.get_context("forkserver").Value("i", 0)
    return {"initializer": pin_worker, "initargs": (started, tuple(cpus))}


def pin_worker(started, cpus: tuple[int, ...]) -> None:
    """Pool initializer: the n-th worker to start runs on the n-th core only."""
    with started.get_lock():
        index = started.value
        started.value += 1
    try:
        os.sched_setaffinity(0, {cpus[index % len(cpus)]})
    except OSError:  # the core was taken away since (cpuset): run anywhere, as unpinned
        pass


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
