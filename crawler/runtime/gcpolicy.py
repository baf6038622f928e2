"""Python's cyclic garbage collector, set for the extraction workers.

Garbage in cycles is still collected, only in fewer, larger rounds, and never walking the
objects every worker inherits from the fork server.
"""
from __future__ import annotations

import gc

#: Net new container objects between two young-generation collections (Python's default: 700).
YOUNG_THRESHOLD = 10_000


def settle_workers() -> None:
    """For the extraction workers' fork server, once it is warm: the workers it forks start
    with its objects (trafilatura, Scrapy, datasketch) frozen, so no collection
    walks them, nor touches their pages, which stay shared with the server (copy-on-write).
    Unfrozen, each of a worker's full collections walked them all: 70-110 ms, ~0.5 ms of CPU
    a page with its younger collections; Python's documentation advises freezing before a fork."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
