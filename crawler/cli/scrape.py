"""``crawler scrape SITE_URL...``: the sites' articles, from their sitemaps, feeds or links."""
from __future__ import annotations

import argparse

from crawler.errors import UserError


def register(sub, formatter) -> None:
    scrape = sub.add_parser(
        "scrape", formatter_class=formatter, help="scrape whole news sites",
        description="Find each site's articles in its sitemaps (robots.txt Sitemap: lines, "
                    "/sitemap.xml, indexes, gzip, Google News) and its feeds (<link "
                    "rel=\"alternate\"> on the home page), or by following its links when it has "
                    "neither; store them like `crawler crawl` does. Section, tag and index pages "
                    "are recognised and not stored. Several sites are scraped at once, in one "
                    "crawl: each keeps its own politeness budget (delay, AutoThrottle, "
                    "concurrency), and --max-pages, --since, --include and --exclude apply to "
                    "each site on its own.",
        epilog="Examples:\n"
               "  crawler scrape https://www.example.org/ --since 2024-01-01\n"
               "  crawler scrape example.org --max-pages 500 --include '/20[0-9][0-9]/' "
               "--exclude '/video/'\n"
               "  crawler scrape https://a.example/ https://b.example/ --sites more-sites.txt")
    scrape.add_argument("sites", nargs="*", metavar="SITE_URL",
                        help="home page of a site (https:// is assumed when left out)")
    scrape.add_argument("--sites", dest="sites_file", metavar="FILE",
                        help="a file of site URLs, one a line (# comments), scraped with the "
                             "SITE_URLs")
    from crawler.cli import add_crawl_options, add_db_option

    add_db_option(scrape)
    add_site_options(scrape)
    add_crawl_options(scrape)
    scrape.set_defaults(func=cmd_scrape)


def add_site_options(parser) -> None:
    """The options of a site scrape, each applied to every site on its own (``crawler
    scrape`` and ``crawler enqueue --site``); ``site_options`` reads them."""
    parser.add_argument("--max-pages", type=int, default=0, metavar="N",
                        help="fetch at most N pages of each site (articles and, when "
                             "following links, listing pages; 0: no limit)")
    parser.add_argument("--max-depth", type=int, default=3, metavar="N",
                        help="when following links: at most N clicks from the home page")
    parser.add_argument("--since", metavar="DATE",
                        help="skip sitemap and feed entries older than DATE (2024-03-01, or an "
                             "age such as 7d)")
    parser.add_argument("--include", action="append", default=[], metavar="REGEX",
                        help="only store pages whose URL matches (repeatable)")
    parser.add_argument("--exclude", action="append", default=[], metavar="REGEX",
                        help="never fetch pages whose URL matches (repeatable)")
    parser.add_argument("--subdomains", action="store_true",
                        help="also pages on the site's subdomains (news.example.org ...)")
    parser.add_argument("--follow-links", action="store_true",
                        help="follow links even when sitemaps or feeds were found")


def site_options(args: argparse.Namespace, sites: list[str]) -> tuple[list[str], dict]:
    """The sites' home URLs, each once, and their options, checked (UserError if bad)."""
    from crawler.launch.options import scrape_options

    return scrape_options(
        sites, max_pages=args.max_pages, max_depth=args.max_depth, since=args.since,
        include=args.include, exclude=args.exclude, subdomains=args.subdomains,
        follow_links=args.follow_links)


def cmd_scrape(args: argparse.Namespace) -> int:
    from crawler.cli import crawl_settings, print_summary

    settings = crawl_settings(args)
    from crawler.runtime.crawl import scrape_sites
    from crawler.fetch.spiders.sites import read_site_list

    sites = list(args.sites) + (read_site_list(args.sites_file) if args.sites_file else [])
    if not sites:
        raise UserError("no site given: SITE_URL... or --sites FILE")
    sites, options = site_options(args, sites)
    summary = scrape_sites(sites, args.db, settings, **options)
    print_summary(summary)
    print(scrape_lines(summary.get("news") or {}))
    if len(sites) > 1:
        print(site_lines(summary, sites))
    return 0 if summary["status"] == "finished" else 1


def site_lines(summary: dict, sites: list[str]) -> str:
    """Per site: articles stored, failures, and what its discovery found."""
    news = summary.get("news") or {}
    lines = ["Per site:"]
    for site in sites:
        own = {k[len(f"site/{site}/"):]: v for k, v in news.items()
               if k.startswith(f"site/{site}/")}
        stored = (summary.get("sites") or {}).get(site, {})
        lines.append(f"{site}: {stored.get('new', 0)} new articles, "
                     f"{stored.get('failed', 0)} failed")
        lines.append(scrape_lines(own, indent="    "))
    return "\n".join(lines)


def scrape_lines(s: dict, indent: str = "  ") -> str:
    """What discovery found: sitemaps, sitemap entries, listing pages, what was skipped."""
    get = lambda key: s.get(key, 0)  # noqa: E731
    lines = [f"sitemaps: {get('sitemaps_done')} read, {get('sitemap_urls')} entries"
             + (f", {get('sitemap_urls_too_old')} older than --since"
                if get("sitemap_urls_too_old") else "")
             + (f", {get('sitemaps_failed')} failed" if get("sitemaps_failed") else "")]
    if get("link_mode"):
        lines.append("no sitemap or feed: followed the site's links")
    lines.append(f"pages:    {get('pages_scheduled')} fetched as article candidates, "
                 f"{get('listing_pages')} were listing pages (not stored)")
    skipped = {k.split("/", 1)[1]: v for k, v in s.items() if k.startswith("skipped/")}
    if skipped:
        lines.append("not fetched: " + ", ".join(f"{k} {v}" for k, v in sorted(
            skipped.items(), key=lambda kv: -kv[1])))
    return "\n".join(indent + line for line in lines)
