"""Is the reactor ever blocked? Time every event-loop callback while a crawl runs.

Scrapy runs on Twisted's asyncio reactor: downloads, timers, pipelines and the spider all run
as short callbacks of one asyncio loop. A callback that runs long (trafilatura inline, a big
SQL batch, a huge feed parsed) blocks every download meanwhile. With ``CRAWLER_REACTOR_MONITOR``
on, this extension times each callback of the loop (a wrapper around asyncio's ``Handle._run``,
the accounting that asyncio's debug mode does for slow callbacks, without debug mode's cost)
and reports at the end of the crawl:

- ``busy_share``: share of the crawl's wall time the loop spent running callbacks (the rest it
  waited for the network or the extraction workers);
- ``blocked_share``: share of wall time spent in callbacks longer than
  ``CRAWLER_REACTOR_MONITOR_STALL`` seconds, i.e. time during which the crawl could not react;
  ``blocked_cpu_share`` counts the CPU time of those callbacks only: much less than
  ``blocked_share`` means the process waited for a core (a busy machine), not for its own code;
- ``cpu_share``: CPU time of the main process (all its threads) over wall time;
- the slowest callbacks, by name, to find what blocks.

The figures go into Scrapy's stats (``reactor/...``), the log, and a JSON file if
``CRAWLER_REACTOR_MONITOR_FILE`` is set (the benchmark reads it).
"""
from __future__ import annotations

import asyncio
import heapq
import json
import logging
import resource
import time
from asyncio import events, format_helpers
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import NotConfigured

logger = logging.getLogger(__name__)

_SLOWEST_KEPT = 5


class ReactorMonitor:
    """Scrapy extension: callback timing of the reactor's asyncio loop (opt-in)."""

    def __init__(self, crawler, stall: float, report_path: str | None):
        self.crawler = crawler
        self.stall = stall
        self.report_path = report_path
        self.busy = 0.0
        self.blocked = 0.0
        self.blocked_cpu = 0.0
        self.stalls = 0
        self.callbacks = 0
        self.slowest: list[tuple] = []  # min-heap of (seconds, seq, name, cpu seconds)
        self.started = self.cpu_started = 0.0
        self.report: dict | None = None
        self._original_run = None

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        if not settings.getbool("CRAWLER_REACTOR_MONITOR"):
            raise NotConfigured
        ext = cls(crawler, settings.getfloat("CRAWLER_REACTOR_MONITOR_STALL", 0.02),
                  settings.get("CRAWLER_REACTOR_MONITOR_FILE") or None)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    # ------------------------------------------------------------ start and stop
    def spider_opened(self, spider) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            logger.warning("reactor monitor: the reactor is not asyncio-based; not measuring")
            return
        self.started = time.monotonic()
        self.cpu_started = _cpu_seconds()
        self._install()

    def spider_closed(self, spider, reason) -> None:
        if self._original_run is None:
            return
        self._uninstall()
        self.report = self.summary(time.monotonic() - self.started,
                                   _cpu_seconds() - self.cpu_started)
        stats = self.crawler.stats
        for key in ("busy_share", "blocked_share", "blocked_cpu_share", "cpu_share", "stalls",
                    "longest_ms"):
            stats.set_value(f"reactor/{key}", self.report[key])
        logger.info("reactor: busy %.1f%%, blocked %.1f%% (%d callbacks over %.0f ms), "
                    "main process CPU %.1f%%, longest callback %.0f ms (%s)",
                    100 * self.report["busy_share"], 100 * self.report["blocked_share"],
                    self.stalls, 1000 * self.stall, 100 * self.report["cpu_share"],
                    self.report["longest_ms"], self.report["slowest"][0]["name"]
                    if self.report["slowest"] else "-")
        if self.report_path:
            path = Path(self.report_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.report, indent=1))

    def _install(self) -> None:
        original = self._original_run = events.Handle._run
        record = self.record

        def timed_run(handle, _run=original, _clock=time.perf_counter, _cpu=time.thread_time):
            callback = handle._callback  # before the run: a finished handle may drop it
            started, cpu_started = _clock(), _cpu()
            try:
                _run(handle)
            finally:
                record(_clock() - started, _cpu() - cpu_started, callback, handle._args)

        events.Handle._run = timed_run  # TimerHandle inherits it

    def _uninstall(self) -> None:
        events.Handle._run = self._original_run
        self._original_run = None

    # ------------------------------------------------------------ accounting
    def record(self, seconds: float, cpu: float, callback, args) -> None:
        self.callbacks += 1
        self.busy += seconds
        if seconds < self.stall:
            return
        self.stalls += 1
        self.blocked += seconds
        self.blocked_cpu += cpu
        if len(self.slowest) < _SLOWEST_KEPT:
            heapq.heappush(self.slowest, (seconds, self.stalls, callback_name(callback, args),
                                          cpu))
        elif seconds > self.slowest[0][0]:
            heapq.heapreplace(self.slowest, (seconds, self.stalls,
                                             callback_name(callback, args), cpu))

    def summary(self, elapsed: float, cpu: float) -> dict:
        elapsed = max(elapsed, 1e-9)
        slowest = sorted(self.slowest, reverse=True)
        return {
            "elapsed": round(elapsed, 3),
            "callbacks": self.callbacks,
            "busy_share": round(self.busy / elapsed, 4),
            "blocked_share": round(self.blocked / elapsed, 4),
            "blocked_cpu_share": round(self.blocked_cpu / elapsed, 4),
            "stall_seconds": self.stall,
            "stalls": self.stalls,
            "cpu_seconds": round(cpu, 3),
            "cpu_share": round(cpu / elapsed, 4),
            "longest_ms": round(1000 * slowest[0][0], 1) if slowest else 0.0,
            "slowest": [{"ms": round(1000 * s, 1), "cpu_ms": round(1000 * cpu, 1), "name": name}
                        for s, _, name, cpu in slowest],
        }


def callback_name(callback, args) -> str:
    """What a slow callback was: the coroutine of a task step, else the callback itself."""
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        return f"task {getattr(coro, '__qualname__', coro)}"
    try:
        return format_helpers._format_callback_source(callback, args)[:200]
    except Exception:  # a name is a nicety; never let it break the crawl
        return repr(callback)[:200]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
