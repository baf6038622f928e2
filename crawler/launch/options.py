"""What a crawl is asked to do, checked before anything starts: shared by the CLI and the API.

``crawler crawl``/``crawler scrape`` and ``crawler.crawl_feeds()``/``crawler.scrape_sites()``
turn their options into the same settings and spider options here, so a bad value is the same
clear UserError from either, raised before anything is fetched.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crawler.errors import UserError


def crawl_settings(*, keep_html: bool = False, refresh: bool = False, resume: bool = False,
                   workers: int | None = None, ignore_robots: bool = False,
                   quiet: bool = False, verbose: bool = False,
                   overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Settings for a crawl (crawler.settings names), ``overrides`` last."""
    settings: dict[str, Any] = {
        "CRAWLER_KEEP_HTML": keep_html,
        "CRAWLER_REFRESH": refresh,
        "LOG_LEVEL": "INFO" if verbose else "WARNING",
        "CRAWLER_VERBOSE": verbose,
        "CRAWLER_RESUME": resume,
    }
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise UserError(f"workers must be a whole number, 0 or more, not {workers!r}")
        settings["CRAWLER_EXTRACT_WORKERS"] = workers
    if ignore_robots:
        settings["ROBOTSTXT_OBEY"] = False
    if quiet:
        settings["CRAWLER_PROGRESS_INTERVAL"] = 0
    settings.update(overrides or {})
    return settings


def scrape_options(sites: str | Iterable[str], *, max_pages: int = 0, max_depth: int = 3,
                   since: str | None = None, include: Iterable[str] = (),
                   exclude: Iterable[str] = (), subdomains: bool = False,
                   follow_links: bool = False) -> tuple[list[str], dict[str, Any]]:
    """The sites' home URLs, each once, and the site spider's options (crawler.runtime.crawl.
    scrape_sites); the options apply to each site on its own."""
    from crawler.fetch.spiders.sites import parse_since, site_list, url_patterns

    if isinstance(include, str) or isinstance(exclude, str):
        raise UserError("include and exclude are lists of patterns, not one string")
    include, exclude = list(include), list(exclude)
    urls = site_list([sites] if isinstance(sites, str) else [str(site) for site in sites])
    if not urls:
        raise UserError("no site given")
    for name, value in (("max pages", max_pages), ("max depth", max_depth)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(f"{name} must be a whole number, 0 or more, not {value!r}")
    if since:  # bad dates and patterns are user errors before anything starts
        parse_since(since)
    url_patterns(include + exclude)
    return urls, {"max_pages": max_pages or None, "max_depth": max_depth, "since": since,
                  "include": "\n".join(include), "exclude": "\n".join(exclude),
                  "subdomains": subdomains or None, "follow_links": follow_links or None}
