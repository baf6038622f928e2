"""Canonical URLs: one spelling per article, so a story reached twice is stored once.

The heavy lifting is w3lib's ``canonicalize_url`` (sorted query, normalised percent-encoding,
dot segments, IDN to punycode, no fragment) and Scrapy's ``strip_url`` (default port,
credentials). This module adds what they leave to the caller: which query parameters are
tracking noise, which schemes a crawler may follow, and what "the site" of a URL is.

courlan (trafilatura's URL helper) has a tracker filter too, but it matches by substring and
so also drops real parameters such as ``game``, ``gallery`` or ``keyword``; the list below is
explicit instead.
"""
from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from scrapy.utils.url import strip_url
from w3lib.url import canonicalize_url, url_query_cleaner

#: Query parameters that only say where a click came from; compared case-insensitively.
TRACKING_PARAMS: frozenset[str] = frozenset({
    # ad click ids (Google, Facebook, Microsoft, Twitter/X, Yandex, Instagram, TikTok)
    "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "fbclid", "msclkid", "twclid",
    "yclid", "ysclid", "igshid", "igsh", "ttclid", "li_fat_id",
    # Mailchimp, HubSpot, Marketo, Google linker
    "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "_ga", "_gl",
    # referral markers used by news sites and social buttons
    "ref", "ref_src", "ref_url", "referrer", "smid", "cmp", "cmpid", "ocid", "ncid",
    "soc_src", "soc_trk", "ito", "xtor", "sr_share", "share_source", "__twitter_impression",
    # Webtrekk (German publishers: wt_mc, wt_zmc)
    "wt_mc", "wt_zmc", "wtmc",
})

#: Parameter-name prefixes of tracking families (utm_source, pk_campaign, ns_mchannel, ...).
TRACKING_PREFIXES: tuple[str, ...] = (
    "utm_", "pk_", "mtm_", "matomo_", "itm_", "hsa_", "oly_", "vero_", "ns_", "at_", "wt.",
)

CRAWLABLE_SCHEMES = frozenset({"http", "https"})

# WHATWG URL parsing: tab and newline anywhere are dropped, C0 controls and space trimmed.
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_QUERY_NAME = re.compile(r"(?:^|&)([^&=]*)")


def is_tracking_param(name: str) -> bool:
    """True for query parameters that are click tracking, not content."""
    name = name.lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def _drop_tracking(url: str) -> str:
    query = urlsplit(url).query
    if not query:
        return url
    names = {n for n in _QUERY_NAME.findall(query) if n and is_tracking_param(n)}
    if not names:
        return url
    return url_query_cleaner(url, sorted(names), remove=True, unique=False, keep_fragments=False)


def canonicalize(url: str, base: str | None = None) -> str:
    """The one spelling of ``url`` used as the article key.

    Relative URLs are resolved against ``base``. Scheme and host lower-case, default port,
    credentials and fragment dropped, tracking parameters removed, query sorted,
    percent-encoding and IDN host (punycode) normalised. Non-http(s) URLs get only the
    whitespace clean-up and resolution: they are not crawled anyway (see ``is_crawlable``).
    """
    url = _TAB_NEWLINE.sub("", url).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c"
                                          "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18"
                                          "\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
    if base:
        url = urljoin(base, url)
    if not is_crawlable(url):
        return url
    url = canonicalize_url(url, keep_fragments=False)
    url = strip_url(url, strip_credentials=True, strip_default_port=True, strip_fragment=True)
    url = _drop_tracking(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host.endswith("."):  # "example.com." is the same host as "example.com"
        url = url.replace(parts.netloc, parts.netloc.replace(host, host.rstrip("."), 1), 1)
    return url


def is_crawlable(url: str) -> bool:
    """Only http(s) URLs with a host are followed (no file:, ftp:, javascript:, data:, mailto:)."""
    try:
        parts = urlsplit(url.strip())
        return parts.scheme.lower() in CRAWLABLE_SCHEMES and bool(parts.hostname)
    except ValueError:  # e.g. an invalid IPv6 literal
        return False


def site_of(url: str) -> str:
    """The site a URL belongs to: its host, lower-case, punycode, without a leading "www."."""
    try:
        host = (urlsplit(_TAB_NEWLINE.sub("", url).strip()).hostname or "").rstrip(".")
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return ""
    return host[4:] if host.startswith("www.") else host
