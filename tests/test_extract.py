"""Article extraction: metadata and text against the news-pages ground truth, decoding, bad bytes.

The corpus checks run on a fixed sample (every 5th German page) to stay fast; the thresholds sit
a little under the rates measured on that sample (full-corpus figures: bench/ and the README).
Hand-written pages below use the project's own text, never corpus text.
"""
from __future__ import annotations

import gzip
import json
import pickle
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from crawler.extract.article import (ARTICLE_KEYS, clean_title, decode_html, extract_article,
                             normalize_published)

SAMPLE_EVERY = 5

PARAGRAPHS = [
    "Die Stadtwerke Görlitz haben am Mittwoch angekündigt, das Fernwärmenetz bis 2030 um "
    "vierzig Kilometer zu erweitern. Die Übergabe der ersten Abschnitte ist für den Herbst geplant.",
    "„Wir wollen unabhängiger von Gas werden“, sagte Geschäftsführerin Jana Weißbach. Die "
    "Kosten von rund 85 Millionen Euro trägt zu einem Drittel der Bund. 🔥 Straße für Straße.",
    "Kritik kam vom Mieterverein: Die Anschlussgebühren seien für ältere Häuser zu hoch, "
    "heißt es dort. Eine Bürgerversammlung soll im Mai über Fördermöglichkeiten informieren.",
]
TITLE = "Görlitz baut Fernwärme aus – „ein großer Schritt“"


def page(paragraphs=PARAGRAPHS, title=TITLE, head: str = "", lang: str | None = "de",
         charset: str | None = "utf-8") -> str:
    lang_attr = f' lang="{lang}"' if lang else ""
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html{lang_attr}><head>{meta}<title>{title} | Lausitzer Bote</title>"
            f'<meta property="og:site_name" content="Lausitzer Bote">{head}</head><body>'
            '<nav><a href="/">Start</a> <a href="/politik">Politik</a></nav>'
            f"<main><article><h1>{title}</h1>{body}</article></main>"
            "<footer>© Lausitzer Bote</footer></body></html>")


# ---------------------------------------------------------------- hand-written pages

def test_result_has_every_key_and_is_picklable():
    article = extract_article(page().encode(), "https://bote.example/wirtschaft/fernwaerme")
    assert set(article) == set(ARTICLE_KEYS)
    assert pickle.loads(pickle.dumps(extract_article)) is extract_article
    assert pickle.loads(pickle.dumps(article)) == article


def test_paragraphs_title_and_german_text_survive_unchanged():
    article = extract_article(page().encode("utf-8"), "https://bote.example/a")
    assert article["text"].split("\n\n") == PARAGRAPHS  # headline removed, paragraphs kept
    assert article["title"] == TITLE  # "| Lausitzer Bote" cut
    assert article["sitename"] == "Lausitzer Bote"
    assert article["language"] == "de"
    assert article["word_count"] == sum(len(p.split()) for p in PARAGRAPHS)


@pytest.mark.parametrize("declared, hint", [("windows-1252", None), ("iso-8859-1", None),
                                            (None, "iso-8859-1"), (None, None)])
def test_legacy_charset_decodes(declared, hint):
    paragraphs = [p.replace(" 🔥", "") for p in PARAGRAPHS]  # no emoji in windows-1252
    body = page(paragraphs, charset=declared).encode("cp1252")
    article = extract_article(body, "https://bote.example/a", encoding=hint)
    assert article["text"].split("\n\n") == paragraphs
    assert article["title"] == TITLE


def test_utf8_labelled_latin1_is_read_as_utf8():
    article = extract_article(page(charset="iso-8859-1").encode("utf-8"), "https://bote.example/a",
                              encoding="iso-8859-1")
    assert article["text"].split("\n\n") == PARAGRAPHS


def test_nul_bytes_and_broken_utf8_do_not_crash():
    good = page().encode("utf-8")
    broken = good.replace("Görlitz".encode(), b"G\xf6rlitz\x00\xff\xfe").replace(b"<p>", b"<p>\x00", 1)
    article = extract_article(broken, "https://bote.example/a")
    assert "Kritik kam vom Mieterverein" in article["text"]
    assert "Straße für Straße" in article["text"] and "🔥" in article["text"]  # still UTF-8
    assert "\x00" not in article["text"]
    cut = page().encode("utf-8").replace("</html>".encode(), b"")[:-1] + "ß".encode()[:1]
    assert extract_article(cut, "https://bote.example/a")["text"].split("\n\n") == PARAGRAPHS
    for junk in [b"", b"\x00" * 100, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
                 b"\xff\xd8\xff\xe0" + b"\x00" * 50, b"   \n ", b"<html></html>", "😀".encode()[:3]]:
        result = extract_article(junk, "https://bote.example/x")
        assert set(result) == set(ARTICLE_KEYS)
        assert result["text"] == ""
    assert set(extract_article(bytes(range(256)) * 20, "https://bote.example/x")) == set(ARTICLE_KEYS)


def test_page_without_article_text_gives_empty_text():
    html = ('<html lang="de"><head><title>Übersicht</title></head><body><nav><ul>'
            + "".join(f'<li><a href="/r/{i}">Rubrik {i}</a></li>' for i in range(30))
            + "</ul></nav></body></html>")
    article = extract_article(html.encode(), "https://bote.example/")
    assert article["text"] == ""
    assert article["word_count"] == 0


def test_published_date_and_datetime():
    head = '<meta property="article:published_time" content="2024-03-05T00:30:00+01:00">'
    article = extract_article(page(head=head).encode(), "https://bote.example/a")
    assert article["published"] == "2024-03-04T23:30:00+00:00"  # converted to UTC
    head = '<meta property="article:published_time" content="2024-03-05">'
    article = extract_article(page(head=head).encode(), "https://bote.example/a")
    assert article["published"] == "2024-03-05"  # a date stays a date
    assert normalize_published("2024-03-05T10:00:00") == "2024-03-05"  # no zone: the date
    assert normalize_published("2024-03-05T10:00:00+0000") == "2024-03-05T10:00:00+00:00"
    assert normalize_published("garbage") is None and normalize_published(None) is None


def test_canonical_url():
    url = "https://www.bote.example/wirtschaft/fernwaerme?utm_source=rss#kommentare"
    article = extract_article(page().encode(), url)
    assert article["canonical_url"] == "https://www.bote.example/wirtschaft/fernwaerme"
    head = '<link rel="canonical" href="/wirtschaft/fernwaerme-goerlitz-100.html">'
    head += '<meta property="og:url" content="https://www.bote.example/x">'
    article = extract_article(page(head=head).encode(), url)
    assert article["canonical_url"] in ("https://www.bote.example/x",
                                        "https://www.bote.example/wirtschaft/fernwaerme-goerlitz-100.html")
    head = '<link rel="canonical" href="https://WWW.Bote.example:443/wirtschaft/f?fbclid=1">'
    article = extract_article(page(head=head).encode(), url)
    assert article["canonical_url"] == "https://www.bote.example/wirtschaft/f"
    head = '<link rel="canonical" href="https://www.bote.example/">'  # a CMS that points home
    article = extract_article(page(head=head).encode(), url)
    assert article["canonical_url"] == "https://www.bote.example/wirtschaft/fernwaerme"


def test_language_without_declaration_is_detected():
    pytest.importorskip("py3langid")
    article = extract_article(page(lang=None).encode(), "https://bote.example/a")
    assert article["language"] == "de"
    english = ["The council of the small harbour town voted on Tuesday to close the old ferry "
               "terminal and to build a new one further north, where the water is deeper.",
               "Residents had asked for years for a safer crossing; the new terminal should open "
               "in two years and will cost about twelve million pounds, officials said."]
    article = extract_article(page(english, title="Harbour town votes for new terminal",
                                   lang=None).encode(), "https://bote.example/b")
    assert article["language"] == "en"


def test_clean_title():
    assert clean_title("Neue Brücke eröffnet - Golem.de", None, "https://www.golem.de/n") == \
        "Neue Brücke eröffnet"
    assert clean_title("Neue Brücke eröffnet – DW – 13.06.2023", "DW", "https://www.dw.com/de/x") == \
        "Neue Brücke eröffnet"
    assert clean_title("Brücke: Bericht - Stadt dementiert", "Bote", "https://bote.example/") == \
        "Brücke: Bericht - Stadt dementiert"


def test_decode_html_handles_boms_and_hints():
    text = "<p>Grüße „aus“ Köln 😀</p>"
    assert decode_html(text.encode("utf-16")) == text
    assert decode_html("\ufeff".encode() + text.encode()) == text
    assert decode_html(b"<p>plain</p>", "utf-16") == "<p>plain</p>"  # wrong label on ASCII


# ---------------------------------------------------------------- the corpus: news-pages


def _ws(text: str | None) -> str:
    return " ".join((text or "").replace("\u00ad", "").replace("\u200b", "").split())


def _key(text: str | None) -> str:
    return re.sub(r"\W+", " ", _ws(text).lower()).strip()


def _utc_date(truth: str, ours: str) -> str:
    """The truth's date, in UTC when both it and our value carry a time zone."""
    try:
        moment = datetime.fromisoformat(truth)
    except ValueError:
        return truth[:10]
    if "T" in ours and moment.tzinfo:
        return moment.astimezone(timezone.utc).date().isoformat()
    return truth[:10]


@pytest.fixture(scope="module")
def german(corpus: Path) -> list[tuple[dict, dict]]:
    """(ground truth, extracted article) for every 5th German news page."""
    files = sorted((corpus / "news-pages" / "de").glob("*.json"))[::SAMPLE_EVERY]
    pairs = []
    for path in files:
        truth = json.loads(path.read_text(encoding="utf-8"))
        html = gzip.decompress((corpus / truth["html_path"]).read_bytes())
        pairs.append((truth, extract_article(html, truth["url"])))
    assert len(pairs) >= 50
    return pairs


def _rate(hits: list[bool]) -> float:
    assert hits
    return sum(hits) / len(hits)


def test_german_titles(german):
    exact = [_ws(a["title"]) == _ws(t["title"]) for t, a in german if t["title"]]
    near = [_key(t["title"]) in _key(a["title"]) or _key(a["title"]) in _key(t["title"])
            for t, a in german if t["title"] and a["title"]]
    assert _rate(exact) >= 0.72
    assert _rate(near) >= 0.88


def test_german_dates(german):
    hits = [bool(a["published"]) and a["published"][:10] == _utc_date(t["published"], a["published"])
            for t, a in german if t["published"]]
    assert _rate(hits) >= 0.82
    for _, a in german:
        value = a["published"]
        assert value is None or re.fullmatch(r"\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d\+00:00)?", value)


def test_german_authors(german):
    hits = [all(_key(name) in _key(a["author"]) for name in t["authors"])
            for t, a in german if t["authors"]]
    assert _rate(hits) >= 0.65


def test_german_snippets(german):
    contained = [_ws(s) in _ws(a["text"]) for t, a in german for s in t["must_contain"]]
    excluded = [_ws(s) not in _ws(a["text"]) for t, a in german for s in t["must_not_contain"]]
    assert _rate(contained) >= 0.90
    assert _rate(excluded) >= 0.86


def test_german_language_and_text(german):
    assert _rate([a["language"] == "de" for _, a in german]) >= 0.98
    assert all(a["text"] for _, a in german)
    assert _rate(["\n\n" in a["text"] for _, a in german]) >= 0.9  # paragraphs kept


def test_legacy_charset_corpus_pages(corpus: Path):
    """The 8 pages in iso-8859-1 / windows-1252 decode with their declared charset."""
    legacy = []
    for path in sorted((corpus / "news-pages").glob("*/*.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        charset = (truth.get("extra") or {}).get("html_declared_charset") or ""
        if charset.lower() in ("iso-8859-1", "windows-1252"):
            raw = gzip.decompress((corpus / truth["html_path"]).read_bytes())
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                legacy.append((truth, raw))
    assert len(legacy) >= 8
    for truth, raw in legacy:
        expected = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", raw.decode("cp1252", "replace"))
        assert decode_html(raw) == expected, truth["id"]
        article = extract_article(raw, truth["url"])
        assert article["text"], truth["id"]
        for field in (article["text"], article["title"]):
            assert "Ã" not in field and "\ufffd" not in field, truth["id"]
        assert re.search("[äöüßÄÖÜ]", article["text"]), truth["id"]
