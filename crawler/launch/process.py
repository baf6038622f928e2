"""Run one crawl in a child process (crawler.launch.child) and relay what it reports.

The child runs in a session of its own, so a Ctrl-C in the terminal reaches only this process;
it then closes the child's stdin, which stops the crawl once, cleanly (a second Ctrl-C stops it
at once, as on the command line). Progress is relayed in the caller's thread, the newest only
when the caller's callback is slower than the crawl's reports.
"""
from __future__ import annotations

import json
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from crawler.errors import CrawlError, UserError
from crawler.launch.results import CrawlProgress

ProgressCallback = Callable[[CrawlProgress], Any]


def run_in_child(request: dict[str, Any], progress: ProgressCallback | None = None) -> dict:
    """The crawl's summary dict (crawler.runtime.crawl's); UserError and CrawlError as the child reports.

    An exception in the caller's thread (KeyboardInterrupt, or one raised by ``progress``)
    stops the crawl cleanly before it propagates."""
    child = subprocess.Popen([sys.executable, "-m", "crawler.launch.child"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, start_new_session=True)
    messages: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(child.stdout, messages), daemon=True).start()
    try:
        child.stdin.write(pickle.dumps(request))
        child.stdin.flush()
        outcome = _relay(messages, progress)
        child.wait()
    except BaseException:
        _stop(child)
        raise
    finally:
        child.stdin.close()
        child.stdout.close()
    return _result(outcome, child.returncode)


def _read_lines(stream: IO[bytes], messages: queue.Queue) -> None:
    for line in stream:
        messages.put(json.loads(line))
    messages.put(None)


def _relay(messages: queue.Queue, progress: ProgressCallback | None) -> dict | None:
    """Call ``progress`` for the reports; return the outcome message (None: the child died)."""
    while True:
        try:
            message = messages.get(timeout=0.2)
        except queue.Empty:  # a timeout keeps Ctrl-C responsive on every platform
            continue
        while message is not None and message["type"] == "progress" and not messages.empty():
            message = messages.get()  # the caller fell behind: only the newest counts
        if message is None or message["type"] != "progress":
            return message
        if progress is not None:
            progress(CrawlProgress(**message["progress"]))


def _stop(child: subprocess.Popen) -> None:
    """Stop the crawl as Ctrl-C stops it on the command line; a second interrupt forces it."""
    forced = False
    try:
        child.stdin.close()  # the child's watcher then sends itself SIGINT
    except OSError:
        pass
    while True:
        try:
            child.wait()
            return
        except KeyboardInterrupt:
            if forced:  # the child leads its process group: its extraction workers go too
                os.killpg(child.pid, signal.SIGKILL)
            else:
                child.send_signal(signal.SIGINT)  # Scrapy's second SIGINT: stop at once
                forced = True


def _result(outcome: dict | None, returncode: int) -> dict:
    if outcome is None:
        raise CrawlError(f"the crawl's process ended (exit status {returncode}) "
                         f"without a summary; its stderr says why")
    if outcome["type"] == "summary":
        return outcome["summary"]
    if outcome["type"] == "user_error":
        raise UserError(outcome["message"])
    if outcome["type"] == "interrupted":
        raise KeyboardInterrupt
    raise CrawlError(f"the crawl failed: {outcome['message']}\n{outcome['traceback']}")
