"""Article page or listing page? Section, tag, author and index pages must not be stored as
articles when a whole site is scraped.

Four kinds of evidence, each adding to or taking from a score (``classify_page`` returns the
verdict with its reasons, so a surprising decision can be explained):

1. URL patterns: the site root, /tag/, /category/, /thema/, /autor/, /page/2, ?page=2 ... say
   listing; a date in the path (/2024/03/05/), a long slug (three or more words joined by
   hyphens) or a long numeric id say article.
2. Metadata: og:type "article", a JSON-LD Article/NewsArticle/BlogPosting, or
   article:published_time say article; og:type "website" and JSON-LD CollectionPage/ItemList/
   WebSite say listing.
3. Text length: the words in paragraphs outside links. An article has a long run of prose; a
   listing has headlines and one-line teasers.
4. Link density and teasers: the share of the visible text that sits inside links, and how
   many headlines are links (teaser blocks) or <article> elements a page holds.

A page is an article when the score is positive. ``url_hint`` is the URL part alone, used to
skip obvious listing URLs from sitemaps before fetching them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import lxml.etree

#: First or any path segment that names a listing (English and German CMS conventions).
LISTING_SEGMENTS = {
    "tag", "tags", "topic", "topics", "thema", "themen", "schlagwort", "schlagworte",
    "category", "categories", "kategorie", "kategorien", "rubrik", "ressort", "section",
    "sections", "author", "authors", "autor", "autoren", "archive", "archives", "archiv",
    "search", "suche", "page", "seite", "feed", "feeds", "index", "uebersicht", "overview",
    "liveblog-index", "dossier", "dossiers", "video", "videos", "galerie", "galleries",
}
LISTING_QUERY = {"page", "paged", "seite", "s", "q", "query", "tag", "category", "cat"}
ARTICLE_JSONLD = {"article", "newsarticle", "blogposting", "reportagenewsarticle",
                  "analysisnewsarticle", "opinionnewsarticle", "reviewnewsarticle",
                  "backgroundnewsarticle", "liveblogposting", "report", "scholarlyarticle",
                  "techarticle", "socialmediaposting"}
LISTING_JSONLD = {"collectionpage", "itemlist", "website", "searchresultspage", "profilepage",
                  "webpage-listing"}
DATE_IN_PATH = re.compile(r"/(19|20)\d\d[/-](0?[1-9]|1[0-2])([/-]|$)|/(19|20)\d\d(0[1-9]|1[0-2])\d\d")
LONG_ID = re.compile(r"\d{5,}")
PAGE_NUMBER = re.compile(r"/(page|seite)[/-]?\d+/?$|[/-]p\d{1,3}/?$")
BOILERPLATE = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form",
               "template", "svg", "iframe", "button", "select")
DROP = " | ".join(f"//{tag}" for tag in BOILERPLATE)
PARSER = lxml.etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True,
                               recover=True)


def parse_html(html: bytes | str):
    """A plain lxml tree of the page (no lxml.html element classes: twice as fast), or None."""
    try:
        root = lxml.etree.fromstring(html, PARSER)
    except (ValueError, lxml.etree.ParserError, lxml.etree.XMLSyntaxError):
        return None
    return root


def _text(el) -> str:
    return "".join(el.itertext())


@dataclass
class Verdict:
    kind: str                      # "article" or "listing"
    score: float
    reasons: list[str] = field(default_factory=list)
    words: int = 0                 # words of paragraph prose outside links
    link_density: float = 0.0

    @property
    def is_article(self) -> bool:
        return self.kind == "article"


def url_hint(url: str) -> tuple[float, list[str]]:
    """Score and reasons from the URL alone (positive: article-like, negative: listing-like)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    segments = [s for s in path.lower().split("/") if s]
    reasons: list[str] = []
    score = 0.0
    query = {k.lower(): v for k, v in parse_qsl(parts.query)}
    if not segments or segments in (["index.html"], ["index.php"], ["home"], ["start"]):
        if query.get("p", "").isdigit():  # WordPress: /?p=123 is a post
            return 1.0, ["url: post id"]
        return -4.0, ["url: site root"]
    if any(s in LISTING_SEGMENTS for s in segments[:-1]) or segments[0] in LISTING_SEGMENTS:
        score -= 2
        reasons.append("url: listing segment")
    if PAGE_NUMBER.search(path.lower()):
        score -= 2
        reasons.append("url: page number")
    if set(query) & LISTING_QUERY:
        score -= 1.5
        reasons.append("url: listing query")
    last = re.sub(r"\.(s?html?|php|aspx?|jsp)$", "", segments[-1])
    words = [w for w in re.split(r"[-_]+", last) if w and not w.isdigit()]
    if DATE_IN_PATH.search(path):
        score += 1.5
        reasons.append("url: date in path")
    if len(words) >= 3:
        score += 1.5
        reasons.append("url: long slug")
    elif LONG_ID.search(last):
        score += 1
        reasons.append("url: long id")
    if len(segments) == 1 and len(words) <= 2 and not LONG_ID.search(last) and score <= 0:
        score -= 1
        reasons.append("url: short top-level path")
    return score, reasons


def _jsonld_types(doc) -> set[str]:
    types: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            t = node.get("@type")
            for value in (t if isinstance(t, list) else [t]):
                if isinstance(value, str):
                    types.add(value.lower())
            for key in ("@graph", "mainEntity"):
                if key in node:
                    walk(node[key])
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for script in doc.xpath('//script[@type="application/ld+json"]'):
        try:
            walk(json.loads(_text(script) or "null"))
        except (ValueError, TypeError):
            continue
    return types


def _meta(doc, prop: str) -> str:
    values = doc.xpath(f'//meta[@property="{prop}" or @name="{prop}"]/@content')
    return values[0].strip().lower() if values else ""


def classify_page(url: str, html) -> Verdict:
    """Article or listing, with the reasons; see the module docstring for the rules.

    ``html`` is the page (bytes or str) or a tree from ``parse_html`` (which this changes: the
    page's navigation, header, footer and forms are taken out)."""
    score, reasons = url_hint(url)
    doc = parse_html(html) if isinstance(html, (bytes, str)) else html
    if doc is None:
        return Verdict("listing", score - 5, reasons + ["no html"])

    og_type = _meta(doc, "og:type")
    if og_type == "article" or og_type.startswith("article"):
        score += 2
        reasons.append("og:type article")
    elif og_type == "website":
        score -= 1
        reasons.append("og:type website")
    types = _jsonld_types(doc)
    if types & ARTICLE_JSONLD:
        score += 2
        reasons.append("json-ld article")
    elif types & LISTING_JSONLD and not types & ARTICLE_JSONLD:
        score -= 1.5
        reasons.append("json-ld listing")
    if _meta(doc, "article:published_time"):
        score += 1
        reasons.append("published_time")

    n_articles = len(doc.xpath("//article"))
    for bad in doc.xpath(DROP):
        parent = bad.getparent()
        if parent is not None:
            parent.remove(bad)
    body = doc.find("body") if doc.find("body") is not None else doc
    text = " ".join(_text(body).split())
    link_text = sum(len(" ".join(_text(a).split())) for a in body.iter("a"))
    density = link_text / max(len(text), 1)
    prose, teaser_prose, teasers = _prose(body)
    main = prose - teaser_prose

    if main >= 250:
        score += 2.5
        reasons.append(f"text: {main} words of prose")
    elif main >= 120:
        score += 1.5
        reasons.append(f"text: {main} words of prose")
    elif main < 50:
        score -= 2
        reasons.append(f"text: only {main} words of prose")
    if density > 0.5 and main < 250:
        score -= 2
        reasons.append(f"link density {density:.2f}")
    elif density > 0.33 and main < 120:
        score -= 1
        reasons.append(f"link density {density:.2f}")
    elif density < 0.15 and main >= 50:
        score += 0.5
        reasons.append(f"link density {density:.2f}")
    if teasers >= 3 and teaser_prose >= main:
        score -= 2.5
        reasons.append(f"{teasers} teasers hold most of the text")
    if n_articles >= 3 and main < 120:
        score -= 1.5
        reasons.append(f"{n_articles} <article> elements")
    kind = "article" if score > 0 else "listing"
    return Verdict(kind, round(score, 2), reasons, main, round(density, 3))


CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
HEADLINE_LINK = ".//h2//a | .//h3//a | .//h4//a | .//a//h2 | .//a//h3 | .//a//h4"


def _units(text: str) -> int:
    """Words, with CJK characters counted as half a word each (no spaces between words)."""
    cjk = len(CJK.findall(text))
    return len(CJK.sub(" ", text).split()) + cjk // 2


def _prose(body) -> tuple[int, int, int]:
    """(prose words, of which in teasers, number of teasers). Prose is every run of text of 8
    words or more outside links (paragraphs, or text between <br>s); a teaser is a small block
    (under 120 words) holding a linked headline: what home and section pages are made of."""
    prose = teaser_prose = 0
    teasers: set = set()
    holders: set = set()  # elements holding a linked headline
    for link in body.xpath(HEADLINE_LINK.replace(".//", "//")):
        holders.update(link.iterancestors())
    size: dict = {}
    for el in body.iter():
        if not isinstance(el.tag, str) or el.tag == "a" or next(el.iterancestors("a"), None) \
                is not None:
            continue
        pieces = [el.text or ""] + [child.tail or "" for child in el]
        units = _units(" ".join(pieces))
        if units < 8:
            continue
        prose += units
        for anc in [el, *list(el.iterancestors())[:3]]:
            if anc not in holders:
                continue
            if anc not in size:
                size[anc] = _units(_text(anc))
            if size[anc] < 120:
                teaser_prose += units
                teasers.add(anc)
                break
    return prose, teaser_prose, len(teasers)
