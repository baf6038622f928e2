"""``crawler worker``, ``crawler enqueue`` and ``crawler store``: a crawl spread over processes
and machines through Redis. Registered by crawler/cli.py; imports Redis only when run."""
from __future__ import annotations

import argparse
import os

from crawler.errors import UserError

from crawler.distributed import DEFAULT_PREFIX

EPILOG = """\
On one machine (or several: point every process at the same Redis):
  crawler enqueue --redis redis://10.0.0.5:6379/0 feeds.txt
  crawler worker  --redis redis://10.0.0.5:6379/0        # as many as you like, anywhere
  crawler store   --redis redis://10.0.0.5:6379/0 --db storage/news.db   # exactly one
Every site gets one crawl's pace (DOWNLOAD_DELAY, AutoThrottle, Retry-After) across all
workers together. From cron, queue only the feeds that are due:
  */5 * * * *  crawler enqueue --redis redis://10.0.0.5:6379/0 --due --db storage/news.db feeds.txt
"""


def register(sub, formatter) -> None:
    worker = sub.add_parser(
        "worker", formatter_class=formatter, help="crawl from a shared Redis queue",
        description="Fetch, extract and sketch pages from the crawl queue shared in Redis "
                    "(scrapy-redis) and send the articles to the writer (`crawler store`). Each "
                    "URL is fetched once across all workers. FEEDs given here are queued first.",
        epilog=EPILOG)
    worker.add_argument("feeds", nargs="*", metavar="FEED")
    add_redis_options(worker)
    from crawler.cli import add_crawl_options

    add_crawl_options(worker)
    worker.set_defaults(func=cmd_worker)

    enqueue = sub.add_parser(
        "enqueue", formatter_class=formatter, help="queue feeds for the Redis workers",
        description="Put feeds into the shared queue; a worker takes each one. A feed still "
                    "queued (not yet recorded by the writer) is not queued again. Without FEED, "
                    "show how far the distributed crawl is.", epilog=EPILOG)
    enqueue.add_argument("feeds", nargs="*", metavar="FEED")
    enqueue.add_argument("--due", action="store_true",
                         help="queue only the feeds whose next fetch has come, by the schedule "
                              "the writer keeps in --db (for cron or a systemd timer)")
    enqueue.add_argument("--db", metavar="PATH",
                         help="with --due: the writer's database (`crawler store --db`)")
    add_redis_options(enqueue, idle=False)
    enqueue.set_defaults(func=cmd_enqueue)

    writer = sub.add_parser(
        "store", formatter_class=formatter, help="write the Redis workers' articles to SQLite",
        description="The single writer of a distributed crawl: store the articles the workers "
                    "send, merge copies into stories, record feeds and failures. Entries are "
                    "acknowledged after the commit, so nothing is lost if it is killed.",
        epilog=EPILOG)
    from crawler.cli import add_db_option

    add_db_option(writer)
    add_redis_options(writer)
    writer.add_argument("-q", "--quiet", action="store_true", help="no progress, only the summary")
    writer.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a setting, e.g. -s CRAWLER_STORE_BATCH_SIZE=200")
    writer.set_defaults(func=cmd_store)


def add_redis_options(parser: argparse.ArgumentParser, idle: bool = True) -> None:
    env = os.environ.get("CRAWLER_REDIS_URL")
    parser.add_argument("--redis", metavar="URL", default=env, required=not env,
                        help="Redis server, e.g. redis://host:6379/0 (or set $CRAWLER_REDIS_URL)")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX,
                        help="namespace of the crawl's Redis keys")
    if idle:
        parser.add_argument("--idle-exit", type=float, default=0.0, metavar="SECONDS",
                            help="stop after SECONDS with nothing left to do anywhere "
                                 "(0: keep waiting for new feeds)")


def _feeds(args) -> list[str]:
    from crawler.fetch.feedlist import read_feed_args

    return read_feed_args(args.feeds) if args.feeds else []


def cmd_worker(args: argparse.Namespace) -> int:
    from crawler.cli import crawl_settings

    from crawler.distributed.worker import enqueue, run_worker

    if getattr(args, "resume", False):
        raise UserError("a worker needs no --resume: the crawl's state lives in Redis")
    settings = crawl_settings(args)
    if args.idle_exit < 0:
        raise UserError("--idle-exit must be 0 or more")
    settings.setdefault("CRAWLER_REDIS_IDLE_EXIT", args.idle_exit)
    from crawler.runtime import workers

    workers.start_early(settings)  # the extraction pool warms up while Scrapy starts
    feeds = _feeds(args)
    if feeds:
        enqueue(args.redis, args.prefix, feeds)
    summary = run_worker(args.redis, args.prefix, settings)
    print(f"Worker {summary['worker']} {summary['status']} in {summary['elapsed']:.1f}s: "
          f"{summary['pages']} pages, {summary['feeds']} feeds, {summary['sent']} articles "
          f"sent to the writer, {summary['failed']} failed, {summary['round_trips']} Redis "
          f"round trips")
    return 0 if summary["status"] == "finished" else 1


def cmd_enqueue(args: argparse.Namespace) -> int:
    from crawler.distributed.worker import due_feeds, enqueue, status

    feeds = _feeds(args)
    if args.due:
        if not args.db:
            raise UserError("--due needs --db: the writer's database, which holds the schedule")
        if not feeds:
            raise UserError("--due needs the feeds (URLs or a file of them)")
        due = due_feeds(args.db, feeds)
        queued = enqueue(args.redis, args.prefix, due)
        print(f"{len(due)} of {len(feeds)} feeds due; queued {queued} "
              f"({len(due) - queued} still queued from before)")
    elif feeds:
        queued = enqueue(args.redis, args.prefix, feeds)
        print(f"queued {queued} feeds" + (f" ({len(feeds) - queued} still queued from before)"
                                          if queued < len(feeds) else ""))
    else:
        enqueue(args.redis, args.prefix, [])
    print(" · ".join(f"{k}: {v}" for k, v in status(args.redis, args.prefix).items()))
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    from crawler.cli import parse_set_options, print_summary

    from crawler.distributed.settings import DEFAULTS
    from crawler.distributed.writer import run_writer

    settings = {**DEFAULTS, **parse_set_options(args.set)}
    summary = run_writer(args.redis, args.db, prefix=args.prefix, settings=settings,
                         idle_exit=args.idle_exit, quiet=args.quiet)
    print_summary(summary)
    print(f"  Redis: {summary['entries']} results written, {summary['round_trips']} round "
          f"trips; stories {summary['story_ms']:.1f} ms per new article")
    if summary["claimed"]:
        print(f"  taken over from a previous writer: {summary['claimed']} results")
    return 0 if summary["status"] == "finished" else 1
