"""Python's cyclic garbage collector, set for a long crawl's processes.

With the default threshold (a collection every 700 net new container objects) the process
that runs Scrapy, the writes and story assignment collected ~2,800 times in a 10,000-page
crawl: 5.0 s of its ~80 s of CPU (gen2 collections alone 2.0 s, walking every object of the
start-up's imports). With 10,000 and the start-up's objects frozen: 241 collections, 0.3 s.
Garbage in cycles is still collected, only in fewer, larger rounds.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Net new container objects between two young-generation collections (Python's default: 700).
YOUNG_THRESHOLD = 10_000


@contextmanager
def settled_for_crawl() -> Iterator[None]:
    """Enter once start-up is done: what exists then (modules, classes, settings) is left out
    of every collection until the crawl ends; the process's own settings come back after it
    (a crawl run from a notebook or a test leaves no trace)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def settle_workers() -> None:
    """For the extraction workers' fork server, once it is warm: the workers it forks start
    with its objects (trafilatura, Scrapy, datasketch) frozen, so no collection
    walks them, nor touches their pages, which stay shared with the server (copy-on-write).
    Unfrozen, each of a worker's full collections walked them all: 70-110 ms, ~0.5 ms of CPU
    a page with its younger collections; Python's documentation advises freezing before a fork."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
