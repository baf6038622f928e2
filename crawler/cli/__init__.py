"""The `crawler` command: parse arguments, call the rest, print a summary.

User mistakes (a missing file, a bad URL, a bad option) end in one clear line on stderr and
exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crawler.errors import UserError

DEFAULT_DB = "storage/news.db"


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `crawl --every` re-runs it
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except UserError as exc:
        print(f"crawler: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crawler: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crawler", formatter_class=Formatter,
        description="Crawl news feeds and sites into SQLite; syndicated copies of one story "
                    "are merged into one story.",
        epilog="Start with `crawler demo` (offline, needs no internet). "
               "`crawler COMMAND --help` explains each command.")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    crawl = sub.add_parser(
        "crawl", formatter_class=Formatter, help="crawl RSS/Atom feeds and their articles",
        description="Fetch feeds, follow every entry to its article page, extract the article, "
                    "merge copies into stories and store everything in SQLite.",
        epilog="FEED is a feed URL, a text file of feed URLs (one a line, # comments) or an "
               "OPML file as feed readers export it.\n\nExample:\n"
               "  crawler crawl https://example.org/rss.xml feeds.txt subscriptions.opml")
    crawl.add_argument("feeds", nargs="+", metavar="FEED")
    add_db_option(crawl)
    add_crawl_options(crawl)
    crawl.add_argument("--every", metavar="INTERVAL",
                       help="keep running: crawl again and again (15m, 2h, 1d); each feed's "
                            "next fetch then adapts to how often it publishes (see --due)")
    crawl.add_argument("--due", action="store_true",
                       help="fetch only the feeds whose next fetch has come (one scheduled "
                            "pass, e.g. from cron or a systemd timer)")
    crawl.add_argument("--passes", type=int, default=0, metavar="N",
                       help="with --every: stop after N passes (0: run until interrupted)")
    crawl.set_defaults(func=cmd_crawl)

    demo = sub.add_parser(
        "demo", formatter_class=Formatter, help="crawl the bundled offline news sites",
        description="Start a few bundled news sites on 127.0.0.x, crawl their feeds into a "
                    "database and print a summary. Needs no internet.")
    demo.add_argument("--db", default="storage/demo.db", help="SQLite database to write")
    demo.set_defaults(func=cmd_demo)

    dedup = sub.add_parser(
        "dedup", formatter_class=Formatter, help="recompute stories from the stored articles",
        description="Rebuild the near-duplicate index and every story from the stored text, "
                    "e.g. after changing a DEDUP_* setting.")
    add_db_option(dedup)
    dedup.add_argument("--rebuild", action="store_true", required=True,
                       help="recompute every story (the only mode for now)")
    dedup.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                       help="override a setting, e.g. -s DEDUP_MIN_COVERAGE=0.6")
    dedup.set_defaults(func=cmd_dedup)

    for module in ("crawler.cli.analysis", "crawler.cli.scrape", "crawler.cli.status",
                   "crawler.cli.distributed"):
        try:
            __import__(module, fromlist=["register"]).register(sub, Formatter)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return parser


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=DEFAULT_DB, help="SQLite database")


def add_crawl_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-html", action="store_true",
                        help="store each fetched page (gzip) so it can be re-extracted later")
    parser.add_argument("--refresh", action="store_true",
                        help="fetch articles again even when their URL is stored already")
    parser.add_argument("--workers", type=int, default=None,
                        help="extraction processes (default: one per core; 0: inline)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted crawl of this same command (Ctrl-C or "
                             "killed): nothing stored or received before is fetched again")
    parser.add_argument("--ignore-robots", action="store_true",
                        help="do not obey robots.txt (only for sites you own)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress, only the summary")
    parser.add_argument("-v", "--verbose", action="store_true", help="Scrapy's own log (INFO)")
    parser.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override any Scrapy or crawler setting")


def crawl_settings(args: argparse.Namespace) -> dict:
    from crawler.launch.options import crawl_settings as settings_of

    return settings_of(keep_html=args.keep_html, refresh=args.refresh, resume=args.resume,
                       workers=args.workers, ignore_robots=args.ignore_robots,
                       quiet=args.quiet, verbose=args.verbose,
                       overrides=parse_set_options(args.set))


def parse_set_options(pairs: list[str]) -> dict:
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UserError(f"-s {pair!r}: expected NAME=VALUE")
        settings[name.strip()] = value
    return settings


def cmd_crawl(args: argparse.Namespace) -> int:
    settings = crawl_settings(args)
    from crawler.runtime.crawl import crawl_feeds
    from crawler.fetch.feedlist import read_feed_args

    feeds = read_feed_args(args.feeds)
    if args.every:
        from crawler.cli.every import run_every

        return run_every(args)
    summary = crawl_feeds(feeds, args.db, settings, due_only=args.due)
    if summary.get("nothing_due"):
        print(f"Nothing due: none of the {summary['feeds']} feeds is due yet "
              f"(`crawler status --db {args.db}` shows when each is).")
        return 0
    print_summary(summary)
    return 0 if summary["status"] == "finished" else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from crawler.demo import run_demo

    summary = run_demo(args.db, {"LOG_LEVEL": "WARNING"})
    demo = summary["demo"]
    print(f"Demo sites ({len(demo['sites'])} sites, {demo['feeds']} feeds): "
          + ", ".join(f"{name} {base}" for name, base in demo["sites"].items()))
    summary["stories"] = _count_stories(args.db)
    print_summary(summary)
    print(f"The demo holds {demo['articles']} articles of {demo['stories']} stories. "
          f"Look around: crawler stories --db {args.db}")
    return 0 if summary["status"] == "finished" else 1


def _count_stories(db_path: str) -> int:
    from crawler import store

    db = store.open_db(db_path, readonly=True)
    try:
        return db.execute("SELECT count(*) FROM stories").fetchone()[0]
    finally:
        db.close()


def cmd_dedup(args: argparse.Namespace) -> int:
    from crawler import store
    from crawler.runtime.crawl import project_settings
    from crawler.dedup import DedupParams
    from crawler.dedup.stories import rebuild

    if not Path(args.db).exists():
        raise UserError(f"no database at {args.db}")
    from crawler.store.lock import CrawlLock

    params = DedupParams.from_settings(project_settings(parse_set_options(args.set)))
    with CrawlLock(args.db):  # a rebuild rewrites every story: no crawl may write meanwhile
        db = store.open_db(args.db)
        result = rebuild(db, params, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(" · ".join(f"{k}: {v}" for k, v in result.items()))
    return 0


def print_summary(summary: dict) -> None:
    c = summary["counts"]
    lines = [
        f"Crawl {summary['crawl_id']} {summary['status']} in {summary['elapsed']:.1f}s "
        f"-> {summary['db']}",
        f"  feeds:    {c['n_feeds']} tried, {c['n_feeds_failed']} failed, "
        f"{summary.get('feeds_unchanged', 0)} unchanged (304)"
        + (f" ({revalidated} revalidated on the fast path)"
           if (revalidated := (summary.get("news") or {}).get("feeds_revalidated")) else "")
        + (f", {summary['feeds_same']} sent the same feed again" if summary.get("feeds_same")
           else ""),
        f"  articles: {c['n_new']} new, {c['n_known']} already known, {c['n_failed']} failed",
    ]
    if summary.get("stories") is not None:
        lines.append(f"  stories:  {summary['stories']}")
    if summary["reasons"]:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary["reasons"].items(),
                                                          key=lambda kv: -kv[1]))
        lines.append(f"  why not stored: {reasons}")
    job = summary.get("job") or {}
    if job.get("outcome") == "resumed":
        lines.append("  resumed an interrupted crawl: pages received before came from its cache")
    elif job.get("outcome") == "discarded":
        lines.append("  an interrupted crawl of this command was discarded (--resume continues one)")
    if job.get("kept"):
        lines.append(f"  interrupted: run the same command with --resume to continue "
                     f"(state in {job['folder']})")
    for feed in summary["failed_feeds"][:20]:
        lines.append(f"  feed gave nothing: {feed['url']}: {feed['reason']} ({feed['error']})")
    if c["n_feeds"] and not c["n_new"] and not c["n_known"] and not summary["reasons"]:
        if summary.get("feeds_unchanged", 0) + summary.get("feeds_same", 0) == c["n_feeds"]:
            lines.append("  nothing new: every feed is unchanged since the last crawl")
        else:
            lines.append("  nothing new: the feeds listed no entries")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
