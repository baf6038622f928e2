"""Page bytes -> article dict: robust decoding, one parse, trafilatura for text and metadata.

``extract_article`` is pure and module-level, so the pipeline can run it in worker processes.
The page is decoded here (valid UTF-8 wins over wrong labels; legacy charsets from the HTTP hint
or <meta>; detection when unlabelled), parsed once by lxml with trafilatura's parser settings,
and that tree feeds both trafilatura's metadata steps and its main-text extraction.

Settings, measured on the 181 pages of the article-extraction benchmark (see
``bench/extraction_quality.py``): trafilatura's ``fast`` mode (no fallback extractors) without
reader comments is both faster and more precise than its defaults; the time saved pays for the
metadata. Two cleaning rules on the extracted blocks then remove what is never article body in
a news crawler: the headline (stored as ``title`` already, and any heading block before the first
paragraph: kicker, headline, dateline) and heading blocks with nothing after them (the label of
a link list that was cut away).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import trafilatura
from lxml.etree import ParserError
from lxml.html import HtmlElement, document_fromstring
from htmldate import find_date
from trafilatura.metadata import (META_URL, examine_meta, extract_author, extract_meta_json,
                                  extract_sitename, extract_title, extract_url)
from trafilatura.settings import Document
from trafilatura.utils import HTML_PARSER
from trafilatura.xml import xmltotxt
from w3lib.encoding import html_to_unicode

from crawler.fetch.urls import canonicalize, is_crawlable

#: trafilatura options: fast = no readability/jusText fallback; no comment section. The
#: metadata comes from ``page_metadata`` on the same parsed tree.
TRAFILATURA_OPTIONS: dict[str, Any] = {
    "fast": True,
    "include_comments": False,
    "include_tables": True,
    "output_format": "txt",  # the text is rendered here, block by block: skip trafilatura's
}

#: htmldate: earliest (publication, not modification) date, extensive search, with time when
#: the page gives one (a date-only find is rendered with T00:00:00 and no offset).
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"

ARTICLE_KEYS = ("text", "title", "author", "published", "language", "canonical_url",
                "sitename", "description", "categories", "word_count")

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: The same as bytes, minus ESC (ISO-2022 needs it); safe to delete before decoding in every
#: ASCII-compatible charset, where these bytes are never part of a multi-byte character.
_CONTROL_BYTES = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0e, 0x1b)) + \
    bytes(range(0x1c, 0x20)) + b"\x7f"
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_WORD = re.compile(r"\w+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
#: A text none of whose lines is this long is a menu, a tag cloud or button labels, not an
#: article (trafilatura's last-resort "baseline" returns such page furniture).
MIN_LONGEST_LINE = 60
_TITLE_SEPARATOR = re.compile(r"(\s+[|\-–—·•:]\s+|\s*\|\s*)")
_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_LANG_SUBTAG = re.compile(r"\s*([A-Za-z]{2})(?:[-_\s,;]|$)")
_LANGUAGE_META = {"content-language", "og:locale", "language", "dc.language"}
#: Not text: a body starting like this is a PDF, an image or an archive behind an HTML link.
_BINARY_SIGNATURES = (b"%PDF-", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"PK\x03\x04",
                      b"\x1f\x8b", b"RIFF", b"OggS", b"ID3")
#: Language codes that name the same language as the code used for it by detectors.
_LANG_ALIASES = {"nb": "no", "nn": "no", "iw": "he", "in": "id", "ji": "yi"}


def empty_article() -> dict:
    """The article dict with every key and nothing found."""
    return {"text": "", "title": None, "author": None, "published": None, "language": None,
            "canonical_url": None, "sitename": None, "description": None, "categories": [],
            "word_count": 0}


def extract_article(body: bytes, url: str, *, encoding: str | None = None) -> dict:
    """Main text (paragraphs separated by a blank line) and metadata of one fetched page.

    ``encoding`` is the HTTP charset hint. Returns the keys of ``ARTICLE_KEYS``; ``text`` is ""
    when the page has no article text (the caller records "no text"). Never raises on bad
    bytes.
    """
    article = empty_article()
    if not body or body.lstrip()[:8].startswith(_BINARY_SIGNATURES):
        return article
    tree = parse_html(utf8_html(body, encoding))
    if tree is None:
        return article
    try:
        meta = page_metadata(tree, url)
        doc = trafilatura.bare_extraction(tree, url=url, **TRAFILATURA_OPTIONS)
    except Exception:  # trafilatura and lxml raise a variety of errors on pathological input
        doc = None
    if doc is None:
        return article
    text = article_text(doc.body, meta.title)
    if not any(len(line) >= MIN_LONGEST_LINE for line in text.splitlines()):
        text = ""
    labels = (meta.categories or []) + (meta.tags or [])  # "a, b, c" keyword strings split
    categories = list(dict.fromkeys(p.strip() for c in labels for p in c.split(",") if p.strip()))
    article.update(
        text=text,
        title=clean_title(meta.title, meta.sitename, url),
        author=meta.author or None,
        published=normalize_published(meta.date),
        language=page_language(tree) or detect_language(text),
        canonical_url=canonical_url(meta.url, url),
        sitename=meta.sitename or None,
        description=meta.description or None,
        categories=categories,
        word_count=len(text.split()),
    )
    return article


# --- decoding -----------------------------------------------------------------------------

def decode_html(body: bytes, encoding: str | None = None) -> str:
    """Bytes -> str, whatever the labels say: BOM, valid UTF-8, HTTP hint, <meta>, detection.

    Valid UTF-8 with non-ASCII bytes is taken as UTF-8 even when labelled otherwise (a legacy
    text is practically never valid UTF-8, mislabelled UTF-8 pages are common). Declared
    charsets follow the browsers' aliases (iso-8859-1 is read as windows-1252). A page labelled
    UTF-8 that is not is re-read with a detected charset. NULs and other control characters
    are dropped (lxml would cut the document at a NUL).
    """
    return utf8_html(body, encoding).decode("utf-8")


def utf8_html(body: bytes, encoding: str | None = None) -> bytes:
    """The page as clean UTF-8 bytes (see ``decode_html``); UTF-8 pages are not re-encoded."""
    header = f"text/html; charset={encoding}" if encoding else None
    if body.startswith(_UTF16_32_BOMS):  # the only pages where NUL bytes are text
        return _CONTROL_CHARS.sub("", html_to_unicode(header, body)[1]).encode("utf-8")
    body = body.translate(None, _CONTROL_BYTES)
    if body.isascii():
        enc, text = html_to_unicode(header, body)
        # ASCII reads the same in every ASCII-compatible charset; only 7-bit ones (ISO-2022-JP)
        # differ. A UTF-16 label on ASCII bytes is wrong and ignored.
        return text.encode("utf-8") if "2022" in enc or enc in ("utf-7", "hz") else body
    try:
        body.decode("utf-8")
        return body[3:] if body.startswith(b"\xef\xbb\xbf") else body
    except UnicodeDecodeError as error:
        if error.start >= len(body) - 3:  # a download cut inside the last character
            return body[:error.start]
        text = body.decode("utf-8", "replace")
        if text.count("\ufffd") < 0.5 * len(_NON_ASCII.findall(text)):
            return text.encode("utf-8")  # UTF-8 with a few broken bytes, not a legacy charset
    enc, text = html_to_unicode(header, body, auto_detect_fun=_detect_encoding)
    if enc.replace("_", "-").lower() in ("utf-8", "utf8"):  # labelled UTF-8, but is not
        text = body.decode(_detect_encoding(body) or "cp1252", errors="replace")
    return text.encode("utf-8", "replace")


def parse_html(data: bytes) -> HtmlElement | None:
    """One lxml parse of UTF-8 bytes with trafilatura's parser settings; trafilatura then works
    on a copy, and this tree stays intact for the language lookup."""
    data = data.replace(b"\xef\xbf\xbe", b"").replace(b"\xef\xbf\xbf", b"")  # not XML chars
    try:
        return document_fromstring(data, parser=HTML_PARSER)
    except (ParserError, ValueError):  # empty or whitespace-only document
        return None


def _detect_encoding(body: bytes) -> str | None:
    """Statistical guess for unlabelled or mislabelled legacy pages (charset-normalizer)."""
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    return best.encoding if best is not None else None


# --- text ---------------------------------------------------------------------------------

def article_text(body, title: str | None = None) -> str:
    """trafilatura's output tree -> text, one block (paragraph, heading, list, table) per
    paragraph, blank line between blocks; headline and dangling headings removed."""
    if body is None:
        return ""
    blocks: list[tuple[str, str]] = []
    if body.text and body.text.strip():
        blocks.append(("p", body.text.strip()))
    for element in body:
        block = xmltotxt(element, False).strip()
        if block:
            blocks.append((element.tag, block))
    title_key = _tokens(title) if title else None
    if blocks and title_key and _tokens(blocks[0][1]) == title_key:
        blocks.pop(0)  # the headline, already in `title`
    while len(blocks) > 1 and blocks[0][0] == "head":
        blocks.pop(0)  # kicker / headline / dateline before the first paragraph
    while len(blocks) > 1 and blocks[-1][0] == "head":
        blocks.pop()  # a heading that heads nothing
    return "\n\n".join(block for _, block in blocks)


def _tokens(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


# --- metadata -----------------------------------------------------------------------------

def page_metadata(tree: HtmlElement, url: str) -> Document:
    """trafilatura's metadata extraction (``trafilatura.metadata.extract_metadata``), step by
    step with its own functions, without its two costliest searches that a news crawler does
    not need: the licence and categories/tags guessed from link patterns in the page (together
    about 15% of the extraction time). Categories come from JSON-LD (articleSection) and
    <meta> (article:section, article:tag, keywords) instead; the tree is not modified."""
    meta = examine_meta(tree)
    if meta.author and " " not in meta.author:  # as trafilatura: a single word is no name
        meta.author = None
    try:
        meta = extract_meta_json(tree, meta)
    except Exception:  # trafilatura's JSON-LD parsing has edge-case bugs; as it does, go on
        pass
    meta.title = meta.title or extract_title(tree)
    meta.author = meta.author or extract_author(tree)
    meta.url = meta.url or extract_url(tree, url)
    meta.date = find_date(tree, url=meta.url, **_date_params())
    sitename = (meta.sitename or extract_sitename(tree) or "").lstrip("@")
    if not sitename and meta.url:
        match = META_URL.match(meta.url)
        sitename = match[1] if match else ""
    meta.sitename = sitename or None
    if not meta.categories:
        head = tree.find("head")
        meta.categories = [m.get("content").strip() for m in head.iterfind("meta[@content]")
                           if (m.get("property") or m.get("name") or "").lower()
                           in ("article:section", "section")] if head is not None else []
    meta.clean_and_trim()
    return meta


def _date_params() -> dict:
    return {"original_date": True, "extensive_search": True,
            "max_date": datetime.now().strftime("%Y-%m-%d"), "outputformat": _DATE_FORMAT}


def clean_title(title: str | None, sitename: str | None, url: str) -> str | None:
    """The headline without the "| Site" / "- Site.de" / "– DW – 13.06.2023" tail of <title>
    and og:title: trailing parts that name the site or its host, or are a date, are cut."""
    if not title:
        return None
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    names = {_tokens(n) for n in (sitename, host, host.rsplit(".", 1)[0]) if n}
    parts = _TITLE_SEPARATOR.split(title.strip())
    while len(parts) > 2:
        tail = parts[-1].strip()
        tail_key = _tokens(tail)
        if not tail_key or tail_key in names or _tokens(tail.removeprefix("www.")) in names \
                or _DATE_LIKE.fullmatch(tail) or (host and tail.lower() == host.lower()):
            parts = parts[:-2]  # the tail and its separator
        else:
            break
    return "".join(parts).strip() or title.strip()


def normalize_published(value: str | None) -> str | None:
    """htmldate's output -> "YYYY-MM-DD" (date only, or time without offset) or an ISO 8601
    UTC datetime "YYYY-MM-DDTHH:MM:SS+00:00" (time with offset)."""
    if not value:
        return None
    try:
        moment = datetime.strptime(value, _DATE_FORMAT)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    if moment.tzinfo is None:  # date only, or a local time of unknown zone: keep the date
        return moment.date().isoformat()
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def page_language(tree: HtmlElement) -> str | None:
    """The page's declared language (<html lang>, Content-Language, og:locale) as ISO 639-1."""
    declared = [tree.get("lang"), tree.get("xml:lang")]
    head = tree.find("head")
    for meta in head.iterfind("meta[@content]") if head is not None else ():
        key = (meta.get("http-equiv") or meta.get("property") or meta.get("name") or "").lower()
        if key in _LANGUAGE_META:
            declared.append(meta.get("content"))
    for value in declared:
        code = _LANG_SUBTAG.match(value or "")
        if code:
            code = code.group(1).lower()
            return _LANG_ALIASES.get(code, code)
    return None


def detect_language(text: str) -> str | None:
    """Language of the text when the page declares none (py3langid, about 0.5 ms a page)."""
    if len(text) < 20:
        return None
    try:
        import py3langid
    except ImportError:  # optional: without it an unlabelled page has no language
        return None
    code, _ = py3langid.classify(text[:1000])
    return _LANG_ALIASES.get(code, code)


def canonical_url(declared: str | None, fetched_url: str) -> str:
    """rel=canonical / og:url (as found by trafilatura), absolute and canonicalised; the fetched
    URL when none is declared or the declared one cannot be right (not http(s), or the site's
    home page for a page that is not)."""
    fetched = canonicalize(fetched_url)
    if not declared or declared == fetched_url:
        return fetched
    candidate = canonicalize(declared, base=fetched_url)
    if not is_crawlable(candidate):
        return fetched
    if urlsplit(candidate).path in ("", "/") and urlsplit(fetched).path not in ("", "/"):
        return fetched
    return candidate
