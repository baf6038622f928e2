"""The fork server's preload for bench/mechanisms.py: ``crawler.runtime.workerinit`` with the
mechanisms named in MECHANISMS_OFF switched off (``gc_workers``: no frozen objects, Python's
collection threshold)."""
import os

_OFF = set(os.environ.get("MECHANISMS_OFF", "").split(","))
if "gc_workers" in _OFF:
    import crawler.runtime.gcpolicy

    crawler.runtime.gcpolicy.settle_workers = lambda: None
import crawler.runtime.workerinit  # noqa: E402,F401
