"""The fork server's preload for bench/mechanisms.py: ``crawler.workerinit`` with the
mechanisms named in MECHANISMS_OFF switched off (``gc_workers``: no frozen objects, Python's
collection threshold)."""
import os

_OFF = set(os.environ.get("MECHANISMS_OFF", "").split(","))
if "gc_workers" in _OFF:
    import crawler.gcpolicy

    crawler.gcpolicy.settle_workers = lambda: None
import crawler.workerinit  # noqa: E402,F401
