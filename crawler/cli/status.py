"""``crawler status``: each feed's health (last fetch, last new article, errors, next fetch),
and interrupted crawls that ``--resume`` can continue."""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

from crawler.errors import UserError
from crawler.schedule import format_duration


def register(sub, formatter) -> None:
    status = sub.add_parser(
        "status", formatter_class=formatter, help="feed health and interrupted crawls",
        description="One line per feed: state, last fetch and its HTTP status, last new "
                    "article, errors in a row, next fetch and interval, articles carried; "
                    "then the last error of failing feeds and any interrupted crawl.")
    status.add_argument("--db", default="storage/news.db", help="SQLite database")
    status.add_argument("--json", action="store_true", help="the same as JSON lines")
    status.set_defaults(func=cmd_status)


def feed_state(feed: dict, now: datetime) -> str:
    """ok / failing / disabled / new / due."""
    if feed["disabled"]:
        return "disabled"
    if feed["n_errors"]:
        return "failing"
    if not feed["last_fetch"]:
        return "new"
    if feed["next_fetch"] and datetime.fromisoformat(feed["next_fetch"]) <= now:
        return "due"
    return "ok"


def ago(when: str | None, now: datetime) -> str:
    """'3m ago' / 'in 12m' / '-'."""
    if not when:
        return "-"
    delta = (datetime.fromisoformat(when) - now).total_seconds()
    return f"in {format_duration(delta)}" if delta > 0 else f"{format_duration(-delta)} ago"


def cmd_status(args: argparse.Namespace) -> int:
    from crawler import settings as defaults
    from crawler import store
    from crawler.fetch.jobs import open_jobs

    if not Path(args.db).exists():
        raise UserError(f"no database at {args.db}")
    db = store.open_db(args.db, readonly=True)
    try:
        feeds = store.feed_health(db)
    finally:
        db.close()
    now = datetime.now(timezone.utc)
    jobs = open_jobs(args.db, defaults.CRAWLER_JOBS_DIR)
    if args.json:
        for feed in feeds:
            print(json.dumps({**feed, "state": feed_state(feed, now)}, ensure_ascii=False))
        for job in jobs:
            print(json.dumps({"interrupted_crawl": job}, ensure_ascii=False))
        return 0
    print(render(feeds, now))
    for job in jobs:
        how = "killed (or still running)" if job.get("status") == "running" else job.get("status")
        print(f"Interrupted {job['kind']} crawl, {how}, started {job.get('started')}: "
              f"{job['cached_pages']} responses kept; the same command with --resume continues it.")
    return 0


def render(feeds: list[dict], now: datetime) -> str:
    if not feeds:
        return "No feeds yet: `crawler crawl FEED...` adds them."
    header = ("state", "last fetch", "http", "last new", "errors", "next fetch", "every",
              "articles", "feed")
    rows = [header]
    for f in feeds:
        rows.append((feed_state(f, now), ago(f["last_fetch"], now), str(f["last_status"] or "-"),
                     ago(f["last_new_article"], now), str(f["n_errors"]),
                     "never" if f["disabled"] else ago(f["next_fetch"], now),
                     format_duration(f["interval_seconds"]), str(f["n_articles"]), f["url"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    counts = {}
    for f in feeds:
        state = feed_state(f, now)
        counts[state] = counts.get(state, 0) + 1
    lines.append(f"{len(feeds)} feeds: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    for f in feeds:
        if f["error"]:
            lines.append(f"  {f['url']}: {f['error'][:200]}")
    return "\n".join(lines)
