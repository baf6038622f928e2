"""The fork server's preload for bench/mechanisms.py: ``crawler.runtime.workerinit`` with the
mechanisms named in MECHANISMS_OFF switched off (``gc_workers``: no frozen objects, Python's
collection threshold; ``scipy``: ``scipy.integrate`` imported at once, as datasketch does)."""
import os

_OFF = set(os.environ.get("MECHANISMS_OFF", "").split(","))
if "scipy" in _OFF:
    import scipy.integrate  # noqa: F401 - the real module, before the stand-in can be made
if "gc_workers" in _OFF:
    import crawler.runtime.gcpolicy

    crawler.runtime.gcpolicy.settle_workers = lambda: None
import crawler.runtime.workerinit  # noqa: E402,F401
