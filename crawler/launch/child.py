"""The process one API crawl runs in: `python -m crawler.launch.child`, started by crawler.launch.process.

Twisted's reactor runs once per process, so every crawl of the Python API runs here, in a fresh
process, through the same functions as the command line (crawler.runtime.crawl). The request comes
pickled on stdin; progress and the outcome go back as JSON lines on stdout (anything else the
crawl prints goes to stderr). stdin closing (the caller stopped, or died) stops the crawl the way
Ctrl-C does: cleanly, resumable.
"""
from __future__ import annotations

import json
import os
import pickle
import signal
import sys
import threading
import traceback
from typing import Any, TextIO

from crawler.errors import UserError

#: Where messages to the caller go: the original stdout (set by main()).
_channel: TextIO | None = None
_channel_lock = threading.Lock()


def send(message: dict[str, Any]) -> None:
    with _channel_lock:
        _channel.write(json.dumps(message, default=str) + "\n")
        _channel.flush()


def send_progress(stats: dict, elapsed: float, spider) -> None:
    """CRAWLER_PROGRESS_SINK of the child: the counters of crawler.launch.results.CrawlProgress."""
    feeds = getattr(spider, "feed_urls", None)
    get = lambda key: int(stats.get(f"news/{key}", 0))  # noqa: E731
    send({"type": "progress", "progress": {
        "elapsed": round(elapsed, 3), "pages": int(stats.get("response_received_count", 0)),
        "feeds_done": get("feeds_done"), "feeds_total": len(feeds) if feeds else None,
        "articles_new": get("articles_new"), "articles_known": get("articles_known"),
        "articles_failed": get("articles_failed")}})


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Run the requested crawl with the command line's functions; return its summary."""

    settings = dict(request["settings"])
    if request.get("progress_interval"):
        settings["CRAWLER_PROGRESS_INTERVAL"] = request["progress_interval"]
        settings["CRAWLER_PROGRESS_SINK"] = f"{__name__}.send_progress"
    else:
        settings["CRAWLER_PROGRESS_INTERVAL"] = 0
    from crawler.runtime import crawl

    if request["kind"] == "feeds":
        return crawl.crawl_feeds(request["feeds"], request["db"], settings,
                                 due_only=request.get("due_only", False))
    return crawl.scrape_sites(request["sites"], request["db"], settings, **request["options"])


def _stop_when_stdin_closes() -> None:
    """The caller closes stdin to stop the crawl (or dies): stop as Ctrl-C would. (Unbuffered
    reads: a daemon thread blocked in a buffered reader aborts the interpreter's shutdown.)"""
    while os.read(sys.stdin.fileno(), 4096):
        pass
    os.kill(os.getpid(), signal.SIGINT)


def main() -> int:
    global _channel
    _channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not break the channel
    request = pickle.load(sys.stdin.buffer)
    threading.Thread(target=_stop_when_stdin_closes, daemon=True).start()
    try:
        send({"type": "summary", "summary": run(request)})
    except UserError as exc:
        send({"type": "user_error", "message": str(exc)})
    except KeyboardInterrupt:
        send({"type": "interrupted"})
        return 130
    except Exception as exc:  # reported to the caller, who raises it as a CrawlError
        send({"type": "error", "message": f"{type(exc).__name__}: {exc}",
              "traceback": traceback.format_exc()})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
