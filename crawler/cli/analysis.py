"""Subcommands for analysis: stories, story, sites, site, search, export, report, serve.

``crawler.cli`` calls ``register(subparsers, Formatter)``. Every command opens the database
read-only, so it works while a crawl is writing to it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from crawler.errors import UserError

DEFAULT_DB = "storage/news.db"
#: ``crawler sites --sort`` keys (crawler.analysis.sites.SORTS; not imported, to parse fast).
SITE_SORTS = ("articles", "stories", "first", "first-share", "copies", "copy-share", "lag",
              "site")


def register(sub: argparse._SubParsersAction, formatter: type) -> None:
    class Formatter(formatter):
        """The CLI's formatter, without "(default: None)" on options that have no default."""

        def _get_help_string(self, action: argparse.Action) -> str:
            if action.default in (None, False, True) or action.const is not None:
                return action.help
            return super()._get_help_string(action)

    def add(name: str, help: str, description: str, examples: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help, description=description,
                                epilog="Examples:\n" + examples, formatter_class=Formatter)
        parser.add_argument("--db", default=DEFAULT_DB, help="SQLite database (read-only)")
        return parser

    p = add("stories", "list stories, newest first",
            "List stories (copies of one news story merged), newest first: title, first "
            "published, first site, copies, sites, and spread (first to last copy).",
            "  crawler stories --since 7d --min-sites 3\n"
            "  crawler stories --site spiegel.de --language de --search Schüler\n"
            "  crawler stories --json --limit 0 > stories.json")
    _filter_options(p, "stories first published", "stories with a copy")
    p.add_argument("--min-sites", type=int, default=1, help="only stories on this many sites")
    p.add_argument("--search", metavar="TEXT", help="only stories with a copy containing TEXT")
    _listing_options(p, limit=50)
    p.set_defaults(func=cmd_stories)

    p = add("story", "one story's timeline: every copy, flagged",
            "Show every copy of a story in time order: site, published, first seen, "
            "similarity to the canonical article (≈: via other copies), flags (first source, "
            "re-dated, teaser, updated with the figures it changed) and URL. An article id "
            "shows the article's story.",
            "  crawler story 42\n  crawler story 42 --json | jq '.copies[].url'")
    p.add_argument("story_id", type=int, metavar="ID", help="story id (or an article id)")
    p.add_argument("--redated-days", type=float, default=None,
                   help="flag copies dated more than this many days from the first "
                        "publication (default 30)")
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p.set_defaults(func=cmd_story)

    p = add("sites", "sites: who publishes first, who copies, how fast",
            "One row per site: its articles and stories, how many of its shared stories it "
            "published first (FIRST%: of the stories also on another site), how many of its "
            "stories are copies of another site's (COPY%), the median and 90th-percentile lag "
            "of its copies behind the first copy, re-dated copies, teasers, updated versions "
            "(UPD: extra copies of one story), languages and the name the site gives itself. "
            "First publisher: the earliest copy by published date (first seen where a page "
            "gave none), re-dated copies never first, ties to the copy seen first.",
            "  crawler sites\n"
            "  crawler sites --since 30d --language de --min-articles 20 --sort copy-share\n"
            "  crawler sites --json > sites.json")
    p.add_argument("--since", help="only stories first published on or after: a date "
                                   "(2025-03-01), a date-time or an age (36h, 7d, 2w)")
    p.add_argument("--language", help="only copies in this language (de, en, ...)")
    p.add_argument("--min-articles", type=int, default=1, metavar="N",
                   help="only sites with at least N articles")
    p.add_argument("--sort", default="articles", choices=list(SITE_SORTS),
                   help="order: counts and shares largest first, lag shortest first")
    _listing_options(p, limit=0)
    p.set_defaults(func=cmd_sites)

    p = add("site", "one site: whom it copies, who copies it",
            "Show one site's statistics, the sites it copies stories from and the sites that "
            "copy its stories (stories in common, median lag), with a few recent example "
            "stories and the URLs of both copies.",
            "  crawler site klartext.example\n  crawler site 127.0.0.14 --json")
    p.add_argument("host", metavar="HOST", help="the site's host, as `crawler sites` lists it")
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p.set_defaults(func=cmd_site)

    p = add("search", "full-text search over articles (German and English)",
            "Search titles and texts (SQLite FTS5). Every word must occur; case is ignored, "
            "umlauts and accents are not (Schüler never matches Schuler). The index is built "
            "on first use when the database is writable, and kept current by triggers.",
            "  crawler search Schüler Prüfung\n"
            "  crawler search --fts '\"neues Schulgesetz\" OR Schul*'\n"
            "  crawler search harbour --language en --json")
    p.add_argument("query", nargs="+", metavar="WORD")
    p.add_argument("--fts", action="store_true",
                   help="QUERY is FTS5 syntax: \"phrases\", prefix*, OR, NOT, NEAR(a b)")
    _filter_options(p, "articles published", "articles")
    _listing_options(p, limit=20)
    p.set_defaults(func=cmd_search)

    p = add("export", "stream articles or stories as JSON Lines or CSV; the copy network",
            "Write every row of articles (default) or stories, as stored, to stdout or a file. "
            "Rows are streamed, so any size works; large exports to a terminal show a progress "
            "bar on stderr. The page HTML column is left out. --network writes the copy "
            "network instead: an edge from each story's first publisher to every other site "
            "carrying it, weighted by stories, with the median lag (CSV: source, target, "
            "stories, median_lag_seconds; GraphML for networkx and Gephi, site statistics as "
            "node attributes; JSON in networkx's node-link form).",
            "  crawler export --format jsonl > articles.jsonl\n"
            "  crawler export --stories --format csv -o stories.csv\n"
            "  crawler export --since 2025-03-01 --language de -o recent.jsonl\n"
            "  crawler export --network --format graphml -o copies.graphml")
    p.add_argument("--format", choices=("jsonl", "csv", "graphml", "json"), default=None,
                   help="output format (default: from -o's suffix, else jsonl; --network: "
                        "csv). graphml and json are for --network")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--articles", dest="table", action="store_const", const="articles",
                       help="export articles (the default)")
    which.add_argument("--stories", dest="table", action="store_const", const="stories",
                       help="export stories")
    which.add_argument("--network", dest="table", action="store_const", const="network",
                       help="export the copy network (takes --since and --language)")
    _filter_options(p, "rows published (stories: first published)",
                    "articles (stories: with a copy)")
    p.add_argument("--story", type=int, metavar="ID", help="only this story")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", action="store_true", default=None,
                     help="always show the progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false",
                     help="never show it")
    p.set_defaults(func=cmd_export, table="articles")

    p = add("report", "one story, or all sites, as a self-contained HTML page",
            "Write a single HTML file (no scripts, nothing loaded from elsewhere) with the "
            "story's propagation chart (sites against time) and the list of its copies; with "
            "--sites, a drawing of the copy network (sites sized by articles, arrows from first "
            "publisher to copier, as thick as the stories they share) and the sites table.",
            "  crawler report 42 -o story.html\n  crawler report 42   # writes story-42.html\n"
            "  crawler report --sites -o sites.html")
    p.add_argument("story_id", type=int, metavar="STORY_ID", nargs="?")
    p.add_argument("--sites", action="store_true", help="the sites report instead of a story")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="HTML file (default story-ID.html, or sites.html)")
    p.set_defaults(func=cmd_report)

    p = add("serve", "browse the database in Datasette",
            "Open the database in Datasette (install the extra: pip install "
            "'news-crawler[serve]'): tables and columns described, facets on site, language "
            "and story, canned queries (stories seen on most sites, re-dated copies, who "
            "published first), full-text search on articles.",
            "  crawler serve\n  crawler serve --db storage/demo.db --port 8080 --open")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8001, help="port to listen on")
    p.add_argument("--open", action="store_true", help="open a browser")
    p.set_defaults(func=cmd_serve)


# ---------------------------------------------------------------- helpers


def _filter_options(p: argparse.ArgumentParser, when: str, which: str) -> None:
    p.add_argument("--since", help=f"only {when} on or after: a date (2025-03-01), a date-time "
                                   f"(2025-03-01T12:00) or an age (36h, 7d, 2w)")
    p.add_argument("--site", help=f"only {which} on this site (a host, or a domain and its "
                                  f"subdomains)")
    p.add_argument("--language", help=f"only {which} in this language (de, en, ...)")


def _listing_options(p: argparse.ArgumentParser, limit: int) -> None:
    p.add_argument("--limit", type=int, default=limit, help="at most this many (0: all)")
    p.add_argument("--json", action="store_true", help="a JSON array for scripts")


def _open(path: str):
    from crawler.analysis.access import open_readonly

    return open_readonly(path)


def _since(value: str | None) -> str | None:
    from crawler.analysis.times import parse_since

    return parse_since(value) if value else None


def _limit(value: int) -> int | None:
    if value < 0:
        raise UserError("--limit must be 0 (all) or more")
    return value or None


def _table(headers: list[str], rows: list[list[str]], right: set[int],
           flex: int | None = None) -> str:
    """Plain aligned columns; on a terminal, column ``flex`` is cut to fit its width."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    if flex is not None and sys.stdout.isatty():
        total = shutil.get_terminal_size((120, 24)).columns
        fixed = sum(w for i, w in enumerate(widths) if i != flex) + 2 * (len(widths) - 1)
        widths[flex] = max(min(widths[flex], total - fixed), 20)

    def line(cells: list[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            if len(cell) > widths[i]:
                cell = cell[:widths[i] - 1] + "…"
            out.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    return "\n".join([line(headers)] + [line(r) for r in rows])


def _json(data) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=1, default=str)
    sys.stdout.write("\n")


# ---------------------------------------------------------------- commands


def cmd_stories(args: argparse.Namespace) -> int:
    from crawler.analysis.search import require_fts
    from crawler.analysis.stories import list_stories
    from crawler.analysis.times import show_duration, show_time

    db = _open(args.db)
    if args.search:
        require_fts(db, args.db)
    stories = list_stories(db, since=_since(args.since), site=args.site, language=args.language,
                           min_sites=args.min_sites, search=args.search,
                           limit=_limit(args.limit))
    if args.json:
        _json([{**asdict(s), "spread": show_duration(s.spread) or None,
                "spread_seconds": None if s.spread is None else s.spread.total_seconds()}
               for s in stories])
        return 0
    if not stories:
        print("no stories match", file=sys.stderr)
        return 0
    rows = [[str(s.id), show_time(s.first_published or s.first_seen), s.first_site or "",
             str(s.n_articles), str(s.n_sites), show_duration(s.spread), s.title or ""]
            for s in stories]
    print(_table(["ID", "FIRST PUBLISHED", "FIRST SITE", "COPIES", "SITES", "SPREAD", "TITLE"],
                 rows, right={0, 3, 4, 5}, flex=6))
    return 0


def cmd_story(args: argparse.Namespace) -> int:
    from crawler.analysis.stories import REDATED_DAYS, load_story
    from crawler.analysis.times import show_duration, show_time

    days = REDATED_DAYS if args.redated_days is None else args.redated_days
    story = load_story(_open(args.db), args.story_id, redated_days=days)
    if story.id != args.story_id:
        print(f"article {args.story_id} belongs to story {story.id}", file=sys.stderr)
    if args.json:
        data = asdict(story)
        data["spread_seconds"] = None if story.spread is None else story.spread.total_seconds()
        for copy, out in zip(story.copies, data["copies"]):
            out["flags"] = copy.flags
            out["article"].pop("text", None)
        _json(data)
        return 0
    first = story.copies[0] if story.copies else None
    print(f"Story {story.id}: {story.title or ''}")
    print(f"  {len(story.copies)} copies on {len(story.sites)} sites"
          + (f" · first {show_time(first.time)} UTC on {first.article.site}" if first else "")
          + (f" · spread {show_duration(story.spread)}" if story.spread is not None else "")
          + f" · canonical article {story.canonical_article_id}")
    print()
    rows = []
    for c in story.copies:
        sim = "" if c.similarity is None else \
            (f"{c.similarity:.2f}" if c.similarity_direct else f"≈{c.similarity:.2f}")
        rows.append([str(c.article.id), c.article.site or "", show_time(c.article.published),
                     show_time(c.article.first_seen), sim,
                     ", ".join(c.flags + (["canonical"] if c.is_canonical else [])),
                     c.article.url])
    print(_table(["ARTICLE", "SITE", "PUBLISHED", "FIRST SEEN", "SIM", "FLAGS", "URL"], rows,
                 right={0, 4}))  # URLs whole, to copy them
    return 0


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _open_sites(path: str):
    from crawler.analysis.sites import require_site_stats

    db = _open(path)
    require_site_stats(db, path)
    return db


def cmd_sites(args: argparse.Namespace) -> int:
    from crawler.analysis.sites import list_sites
    from crawler.analysis.times import show_duration

    if args.min_articles < 1:
        raise UserError("--min-articles must be 1 or more")
    sites = list_sites(_open_sites(args.db), since=_since(args.since), language=args.language,
                       min_articles=args.min_articles, sort=args.sort, limit=_limit(args.limit))
    if args.json:
        _json([asdict(s) for s in sites])
        return 0
    if not sites:
        print("no sites match", file=sys.stderr)
        return 0
    rows = [[s.site, s.name or "", str(s.articles), str(s.stories), str(s.shared_stories),
             _share(s.first_share), _share(s.copy_share), show_duration(s.median_lag_seconds),
             show_duration(s.p90_lag_seconds), str(s.redated), str(s.teasers), str(s.updates),
             " ".join(f"{k or '?'}:{v}" for k, v in s.languages.items())] for s in sites]
    print(_table(["SITE", "NAME", "ARTICLES", "STORIES", "SHARED", "FIRST%", "COPY%",
                  "LAG MEDIAN", "LAG P90", "RE-DATED", "TEASERS", "UPD", "LANGUAGES"],
                 rows, right=set(range(2, 12)), flex=1))
    return 0


def cmd_site(args: argparse.Namespace) -> int:
    from crawler.analysis.sites import load_site
    from crawler.analysis.times import show_duration

    site = load_site(_open_sites(args.db), args.host)
    if args.json:
        _json(asdict(site))
        return 0
    s = site.stats
    print(f"{s.site}" + (f" ({s.name})" if s.name else ""))
    print(f"  {s.articles} articles in {s.stories} stories, {s.shared_stories} shared with "
          f"other sites: first on {s.first_stories} ({_share(s.first_share) or '-'}), a copy in "
          f"{s.copied_stories} ({_share(s.copy_share) or '-'})")
    if s.median_lag_seconds is not None:
        print(f"  its copies follow the first copy after {show_duration(s.median_lag_seconds)} "
              f"(median), {show_duration(s.p90_lag_seconds)} (90th percentile)")
    print(f"  {s.redated} re-dated, {s.teasers} teasers, {s.updates} updated versions; "
          + " ".join(f"{k or '?'}:{v}" for k, v in s.languages.items()))
    for title, neighbours in (("copies from", site.copies_from), ("copied by", site.copied_by)):
        print()
        if not neighbours:
            print(f"{title.capitalize()}: no site")
            continue
        print(f"{title.capitalize()}:")
        print(_table(["SITE", "NAME", "STORIES", "LAG MEDIAN"],
                     [[n.site, n.name or "", str(n.stories), show_duration(n.median_lag_seconds)]
                      for n in neighbours], right={2, 3}))
        for n in neighbours:
            for ex in n.examples:
                print(f"  {n.site} · story {ex.story_id} · {ex.title or ''}"
                      + (f" · +{show_duration(ex.lag_seconds)}" if ex.lag_seconds is not None
                         else ""))
                print(f"      first: {ex.source_url or '?'}")
                print(f"      copy:  {ex.copy_url or '?'}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from crawler.analysis.search import require_fts, search
    from crawler.analysis.times import show_time

    db = _open(args.db)
    require_fts(db, args.db)
    hits = search(db, " ".join(args.query), raw=args.fts, limit=_limit(args.limit),
                  site=args.site, language=args.language, since=_since(args.since))
    if args.json:
        _json([asdict(h) for h in hits])
        return 0
    if not hits:
        print("no articles match", file=sys.stderr)
        return 0
    for hit in hits:
        print(f"story {hit.story_id} · article {hit.article_id} · {hit.site} · "
              f"{show_time(hit.published or hit.first_seen)} · {hit.title or ''}")
        print(f"    {' '.join(hit.snippet.split())}")
        print(f"    {hit.url}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from crawler.analysis.export import (PROGRESS_MIN_ROWS, ProgressBar, count_rows,
                                         export_columns, iter_rows, write_rows)

    fmt = args.format
    if args.table == "network":
        return _export_network(args)
    if fmt in ("graphml", "json"):
        raise UserError(f"--format {fmt} is for the copy network: add --network")
    if fmt is None:
        fmt = "csv" if args.output and args.output.lower().endswith(".csv") else "jsonl"
    db = _open(args.db)
    filters = dict(since=_since(args.since), site=args.site, language=args.language,
                   story_id=args.story)
    progress = None
    show = args.progress
    if show is None:
        show = sys.stderr.isatty()
    if show:
        total = count_rows(db, args.table, **filters)
        if args.progress or total >= PROGRESS_MIN_ROWS:
            progress = ProgressBar(total, args.table)
    rows = iter_rows(db, args.table, **filters)
    columns = export_columns(db, args.table)
    if args.output:
        path = Path(args.output)
        newline = "" if fmt == "csv" else None
        try:
            out = open(path, "w", encoding="utf-8", newline=newline)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror}") from None
        with out:
            n = write_rows(rows, out, fmt, columns, progress)
        print(f"{n} {args.table} -> {path}", file=sys.stderr)
    else:
        try:
            write_rows(rows, sys.stdout, fmt, columns, progress)
            sys.stdout.flush()
        except BrokenPipeError:  # `crawler export | head`: the reader has all it wants
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _export_network(args: argparse.Namespace) -> int:
    from crawler.analysis.network import FORMATS, write_network
    from crawler.analysis.sites import copy_network

    if args.site or args.story is not None:
        raise UserError("--network takes --since and --language, not --site or --story")
    fmt = args.format
    if fmt is None:
        suffix = Path(args.output).suffix.lower().lstrip(".") if args.output else ""
        fmt = suffix if suffix in FORMATS else "csv"
    if fmt not in FORMATS:
        raise UserError(f"--network --format {fmt}: expected one of {', '.join(FORMATS)}")
    network = copy_network(_open_sites(args.db), since=_since(args.since),
                           language=args.language)
    if args.output:
        path = Path(args.output)
        try:
            out = open(path, "w", encoding="utf-8", newline="" if fmt == "csv" else None)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror}") from None
        with out:
            write_network(network, out, fmt)
        print(f"copy network: {len(network.nodes)} sites, {len(network.edges)} edges -> {path}",
              file=sys.stderr)
    else:
        try:
            write_network(network, sys.stdout, fmt)
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _write_html(path: Path, html: str) -> None:
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def cmd_report(args: argparse.Namespace) -> int:
    if args.sites:
        if args.story_id is not None:
            raise UserError("report: give a STORY_ID or --sites, not both")
        return _report_sites(args)
    if args.story_id is None:
        raise UserError("report: give a STORY_ID (crawler stories lists them) or --sites")
    from crawler.analysis.report import render_report
    from crawler.analysis.stories import load_story

    story = load_story(_open(args.db), args.story_id)
    path = Path(args.output or f"story-{story.id}.html")
    _write_html(path, render_report(story, source=str(args.db)))
    print(f"story {story.id}: {len(story.copies)} copies on {len(story.sites)} sites -> {path}")
    return 0


def _report_sites(args: argparse.Namespace) -> int:
    from crawler.analysis.sites import copy_network, list_sites
    from crawler.analysis.sites_report import render_sites_report

    db = _open_sites(args.db)
    sites, network = list_sites(db), copy_network(db)
    path = Path(args.output or "sites.html")
    _write_html(path, render_sites_report(sites, network, source=str(args.db)))
    print(f"{len(sites)} sites, {len(network.edges)} copy edges -> {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from crawler.analysis.search import require_fts
    from crawler.analysis.serve import datasette_available, serve

    db = _open(args.db)
    if not datasette_available():
        raise UserError("Datasette is not installed: pip install 'news-crawler[serve]'")
    try:
        require_fts(db, args.db)  # gives the articles table a search box
    except UserError as exc:
        print(f"crawler: note: {exc}", file=sys.stderr)
    db.close()
    return serve(args.db, host=args.host, port=args.port, open_browser=args.open)
