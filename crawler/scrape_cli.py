"""``crawler scrape SITE_URL``: one site's articles, from its sitemaps, feeds or links."""
from __future__ import annotations

import argparse


def register(sub, formatter) -> None:
    scrape = sub.add_parser(
        "scrape", formatter_class=formatter, help="scrape a whole news site",
        description="Find a site's articles in its sitemaps (robots.txt Sitemap: lines, "
                    "/sitemap.xml, indexes, gzip, Google News) and its feeds (<link "
                    "rel=\"alternate\"> on the home page), or by following its links when it has "
                    "neither; store them like `crawler crawl` does. Section, tag and index pages "
                    "are recognised and not stored.",
        epilog="Examples:\n"
               "  crawler scrape https://www.example.org/ --since 2024-01-01\n"
               "  crawler scrape example.org --max-pages 500 --include '/20[0-9][0-9]/' "
               "--exclude '/video/'")
    scrape.add_argument("site", metavar="SITE_URL")
    from crawler.cli import add_crawl_options, add_db_option

    add_db_option(scrape)
    scrape.add_argument("--max-pages", type=int, default=0, metavar="N",
                        help="fetch at most N pages (articles and, when following links, "
                             "listing pages; 0: no limit)")
    scrape.add_argument("--max-depth", type=int, default=3, metavar="N",
                        help="when following links: at most N clicks from the home page")
    scrape.add_argument("--since", metavar="DATE",
                        help="skip sitemap and feed entries older than DATE (2024-03-01, or an "
                             "age such as 7d)")
    scrape.add_argument("--include", action="append", default=[], metavar="REGEX",
                        help="only store pages whose URL matches (repeatable)")
    scrape.add_argument("--exclude", action="append", default=[], metavar="REGEX",
                        help="never fetch pages whose URL matches (repeatable)")
    scrape.add_argument("--subdomains", action="store_true",
                        help="also pages on the site's subdomains (news.example.org ...)")
    scrape.add_argument("--follow-links", action="store_true",
                        help="follow links even when sitemaps or feeds were found")
    add_crawl_options(scrape)
    scrape.set_defaults(func=cmd_scrape)


def cmd_scrape(args: argparse.Namespace) -> int:
    from crawler import workers
    from crawler.cli import crawl_settings, print_summary

    settings = crawl_settings(args)
    workers.start_early(settings)
    from crawler.crawl import scrape_site
    from crawler.run.options import scrape_options

    site, options = scrape_options(
        args.site, max_pages=args.max_pages, max_depth=args.max_depth, since=args.since,
        include=args.include, exclude=args.exclude, subdomains=args.subdomains,
        follow_links=args.follow_links)
    summary = scrape_site(site, args.db, settings, **options)
    print_summary(summary)
    print(scrape_lines(summary))
    return 0 if summary["status"] == "finished" else 1


def scrape_lines(summary: dict) -> str:
    """What discovery found: sitemaps, sitemap entries, listing pages, what was skipped."""
    s = summary.get("news") or {}
    get = lambda key: s.get(key, 0)  # noqa: E731
    lines = [f"  sitemaps: {get('sitemaps_done')} read, {get('sitemap_urls')} entries"
             + (f", {get('sitemap_urls_too_old')} older than --since"
                if get("sitemap_urls_too_old") else "")
             + (f", {get('sitemaps_failed')} failed" if get("sitemaps_failed") else "")]
    if get("link_mode"):
        lines.append("  no sitemap or feed: followed the site's links")
    lines.append(f"  pages:    {get('pages_scheduled')} fetched as article candidates, "
                 f"{get('listing_pages')} were listing pages (not stored)")
    skipped = {k.split("/", 1)[1]: v for k, v in s.items() if k.startswith("skipped/")}
    if skipped:
        lines.append("  not fetched: " + ", ".join(f"{k} {v}" for k, v in sorted(
            skipped.items(), key=lambda kv: -kv[1])))
    return "\n".join(lines)
