"""Turn the FEED arguments of `crawler crawl` into feed URLs: URLs, text files, OPML files."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

from lxml import etree

from crawler.errors import UserError
from crawler.fetch.urls import is_crawlable
from crawler.store.staging import StagedFeeds


def read_feed_args(args: list[str], folder: str | None = None) -> StagedFeeds:
    """Feed URLs from a mix of URLs, URL lists (one a line, ``#`` comments) and OPML files,
    staged on disk (crawler.store.staging; ``folder``: where, default the system's temp).

    Order is kept and duplicates are dropped. A bad entry raises UserError naming the file and
    line, so a typo in a list of 500 feeds is found at once.
    """
    staged = StagedFeeds(folder=folder)
    try:
        for arg in args:
            path = Path(arg)
            if "://" in arg or not path.exists():
                if "://" not in arg:
                    raise UserError(f"{arg}: no such file, and not a URL (feeds start with "
                                    f"http:// or https://)")
                staged.add([_check_url(arg, arg)])
            elif _looks_like_opml(path):
                staged.add(read_opml(path))
            else:
                staged.add(read_url_list(path))
    except BaseException:
        staged.close()
        raise
    return staged


#: Feed lists up to this long are recorded whole (crawls.args, the resume job's identity).
LISTED_FEEDS = 20


def describe_feeds(urls: Sequence[str] | StagedFeeds) -> list[str] | dict:
    """What a crawl records of its feed list: the list itself, or for a long one its length,
    first feeds and digest. (A 100,000-feed list is 10 MB of JSON: it was stored in every
    crawl's row and resume job, and held as one string while it was written.)"""
    if len(urls) <= LISTED_FEEDS:
        return list(urls)
    digest = hashlib.sha1()
    for url in urls:
        digest.update(url.encode() + b"\n")
    return {"count": len(urls), "first": list(islice(urls, 3)), "sha1": digest.hexdigest()}


def _check_url(url: str, where: str) -> str:
    if not is_crawlable(url):
        raise UserError(f"{where}: {url!r} is not an http(s) URL")
    return url


def _looks_like_opml(path: Path) -> bool:
    head = path.open("rb").read(2048).lower()
    return path.suffix.lower() == ".opml" or b"<opml" in head


def read_url_list(path: Path) -> Iterator[str]:
    """The URLs of a text file, one a line, read a line at a time."""
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise UserError(f"{path}, line {number}: not UTF-8 text ({exc.reason})") from None
            if line and not line.startswith("#"):
                url = line.split(" #", 1)[0].strip()
                yield _check_url(url, f"{path}, line {number}")


def read_opml(path: Path) -> Iterator[str]:
    """Feed URLs of an OPML file (the format feed readers export), outlines nested or not,
    read as a stream."""
    found = False
    outlines = etree.iterparse(str(path), events=("end",), tag="outline",
                               resolve_entities=False, no_network=True, huge_tree=False)
    try:
        for _, outline in outlines:
            url = outline.get("xmlUrl") or outline.get("xmlurl")
            if url:
                found = True
                yield _check_url(url.strip(), f"{path}, line {outline.sourceline}")
            outline.clear(keep_tail=True)
    except etree.XMLSyntaxError as exc:
        raise UserError(f"{path}, line {exc.lineno}: not valid OPML ({exc.msg})") from None
    if not found:
        raise UserError(f"{path}: OPML file lists no feeds (no outline with xmlUrl)")
