"""Turn the FEED arguments of `crawler crawl` into feed URLs: URLs, text files, OPML files."""
from __future__ import annotations

import hashlib
from pathlib import Path

from lxml import etree

from crawler.errors import UserError
from crawler.fetch.urls import is_crawlable

_OPML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def read_feed_args(args: list[str]) -> list[str]:
    """Feed URLs from a mix of URLs, URL lists (one a line, ``#`` comments) and OPML files.

    Order is kept and duplicates are dropped. A bad entry raises UserError naming the file and
    line, so a typo in a list of 500 feeds is found at once.
    """
    urls: list[str] = []
    for arg in args:
        path = Path(arg)
        if "://" in arg or not path.exists():
            if "://" not in arg:
                raise UserError(f"{arg}: no such file, and not a URL (feeds start with http:// or https://)")
            urls.append(_check_url(arg, arg))
        elif _looks_like_opml(path):
            urls.extend(read_opml(path))
        else:
            urls.extend(read_url_list(path))
    return list(dict.fromkeys(urls))


#: Feed lists up to this long are recorded whole (crawls.args, the resume job's identity).
LISTED_FEEDS = 20


def describe_feeds(urls: list[str]) -> list[str] | dict:
    """What a crawl records of its feed list: the list itself, or for a long one its length,
    first feeds and digest. (A 100,000-feed list is 10 MB of JSON: it was stored in every
    crawl's row and resume job, and held as one string while it was written.)"""
    if len(urls) <= LISTED_FEEDS:
        return list(urls)
    digest = hashlib.sha1()
    for url in urls:
        digest.update(url.encode() + b"\n")
    return {"count": len(urls), "first": urls[:3], "sha1": digest.hexdigest()}


def _check_url(url: str, where: str) -> str:
    if not is_crawlable(url):
        raise UserError(f"{where}: {url!r} is not an http(s) URL")
    return url


def _looks_like_opml(path: Path) -> bool:
    head = path.open("rb").read(2048).lower()
    return path.suffix.lower() == ".opml" or b"<opml" in head


def read_url_list(path: Path) -> list[str]:
    urls = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if line and not line.startswith("#"):
            url = line.split(" #", 1)[0].strip()
            urls.append(_check_url(url, f"{path}, line {number}"))
    return urls


def read_opml(path: Path) -> list[str]:
    """Feed URLs of an OPML file (the format feed readers export), outlines nested or not."""
    try:
        tree = etree.parse(str(path), _OPML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise UserError(f"{path}, line {exc.lineno}: not valid OPML ({exc.msg})") from None
    urls = []
    for outline in tree.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if url:
            urls.append(_check_url(url.strip(), f"{path}, line {outline.sourceline}"))
    if not urls:
        raise UserError(f"{path}: OPML file lists no feeds (no outline with xmlUrl)")
    return urls
