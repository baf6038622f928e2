"""``crawler crawl --every 15m FEEDS``: crawl on a schedule until interrupted.

Each pass is ``crawler crawl --due FEEDS`` in a fresh process (Twisted's reactor runs once per
process); it fetches only the feeds whose next fetch has come and then schedules each feed's
next fetch (crawler.schedule). Between passes this loop sleeps until the earliest feed is due.
Ctrl-C lets the running pass stop cleanly (resumable with --resume) and ends the loop.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timezone

from crawler import store
from crawler.errors import UserError
from crawler.fetch.feedlist import read_feed_args
from crawler.schedule import format_duration, parse_duration

#: Options of the loop itself, with how many values each takes: not passed on to a pass.
LOOP_OPTIONS = {"--every": 1, "--passes": 1, "--due": 0}


def pass_argv(argv: list[str], interval: int) -> list[str]:
    """The command line of one pass: the user's, without the loop's options, with --due and
    the interval as the feeds' base interval."""
    out, skip = [], 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        name = arg.split("=", 1)[0]
        if name in LOOP_OPTIONS:
            skip = 0 if "=" in arg else LOOP_OPTIONS[name]
            continue
        out.append(arg)
    return [*out, "--due", "-s", f"CRAWLER_INTERVAL={interval}"]


def seconds_until_next(db_path: str, feeds: Iterable[str], interval: int) -> float | None:
    """Seconds until the earliest enabled feed is due; None when every feed is disabled."""
    db = store.open_db(db_path)
    try:
        if not _any(store.iter_due_feeds(db, feeds, "9999")):  # far future: the enabled ones
            return None
        if _any(store.iter_due_feeds(db, feeds, store.utcnow())):
            return 0.0
        earliest = store.next_due(db, feeds)
    finally:
        db.close()
    if earliest is None:  # a feed was never scheduled (its pass did not finish)
        return float(interval)
    wait = (datetime.fromisoformat(earliest) - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, wait)


def run_pass(argv: list[str]) -> int:
    """One pass in a child process; Ctrl-C reaches it too and it stops cleanly: wait for it."""
    child = subprocess.Popen([sys.executable, "-m", "crawler", *argv])
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue  # the child got the same SIGINT and is closing; a second one forces it


def run_every(args: argparse.Namespace) -> int:
    try:
        interval = parse_duration(args.every)
    except ValueError as exc:
        raise UserError(f"--every: {exc}")
    if args.passes < 0:
        raise UserError("--passes must be 0 or more")
    feeds = read_feed_args(args.feeds)
    argv = pass_argv(args.argv, interval)
    done = 0
    try:
        while True:
            code = run_pass(argv)
            done += 1
            if code == 130 or code < 0:
                print("crawler: interrupted", file=sys.stderr)
                return 130
            if args.passes and done >= args.passes:
                return code
            wait = seconds_until_next(args.db, feeds, interval)
            if wait is None:
                print("Every feed is disabled after repeated failures; `crawler status` "
                      "shows why. A plain `crawler crawl` of a feed enables it again.")
                return 1
            wait = max(wait, 1.0)
            wake = datetime.fromtimestamp(time.time() + wait).strftime("%H:%M:%S")
            print(f"Next pass at {wake} (in {format_duration(wait)}); Ctrl-C stops.",
                  flush=True)
            time.sleep(wait)
    except KeyboardInterrupt:
        print("crawler: stopped", file=sys.stderr)
        return 130


def _any(items: Iterable) -> bool:
    return next(iter(items), None) is not None
