"""The extraction workers' fork server, which imports and warms up trafilatura
(``crawler.runtime.workerinit``, ~2 s of CPU) once, before it forks the first worker.
"""
from __future__ import annotations

import multiprocessing
import os
from multiprocessing.context import BaseContext

PRELOAD = ["crawler.runtime.workerinit"]


def context() -> BaseContext:
    """The multiprocessing context the extraction pool forks its workers from."""
    forkserver_context = multiprocessing.get_context("forkserver")
    forkserver_context.set_forkserver_preload(PRELOAD)
    return forkserver_context


def usable_cores() -> list[int]:
    """The cores this process may run on (a cpuset or ``taskset`` may allow fewer than the
    machine has); without ``sched_getaffinity`` (not Linux), all of them."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))
