"""End to end: `crawler crawl` over real HTTP on loopback into a real SQLite file."""
from __future__ import annotations

import gzip
import json
import time

import pytest

from crawler import store
from crawler.demo.server import LocalWeb, Resource, Site
from tests.conftest import run_cli
from tests.pages import LOREM_DE, article_page, atom, rdf, rss

FAST = ["-s", "DOWNLOAD_TIMEOUT=3", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0",
        "-s", "AUTOTHROTTLE_ENABLED=False", "--workers", "1", "-q"]

STORY_B = [
    "Der Landtag in Dresden hat am Donnerstag nach langer Debatte ein neues Schulgesetz "
    "beschlossen, das kleinere Klassen in den Grundschulen vorsieht.",
    "Kultusminister Peter Wendt sprach von einem „historischen Tag für Sachsens Schulen“; "
    "die Opposition kritisierte die fehlende Finanzierung der zusätzlichen Lehrerstellen.",
    "Ab dem Schuljahr 2026/27 sollen höchstens 22 Kinder in einer Klasse lernen. Bisher lag "
    "die Obergrenze bei 28 Schülerinnen und Schülern.",
]
STORY_C = [
    "The harbour authority of Kiel reported record numbers of cruise ship calls for the summer "
    "season, with 212 ships docking between April and October.",
    "Officials said shore power connections had cut emissions in the port area by a third "
    "compared with the previous year, according to preliminary measurements.",
    "Local businesses welcomed the visitors, although residents of the old town complained "
    "about crowded streets on days when three ships arrived at once.",
]
STORY_D = [
    "Im Harz ist am Wochenende der erste Schnee des Winters gefallen. Auf dem Brocken lagen "
    "am Sonntagmorgen zwölf Zentimeter, meldete der Deutsche Wetterdienst.",
    "Die Brockenbahn fuhr trotz der Witterung planmäßig. Wanderer wurden gebeten, auf den "
    "markierten Wegen zu bleiben, da mehrere Pfade vereist seien.",
    "Für die kommende Woche erwarten die Meteorologen wieder mildere Temperaturen und Regen "
    "bis in die Gipfellagen.",
]


def _sites() -> list[Site]:
    news = Site("news", "127.0.0.2")
    bad = Site("bad", "127.0.0.3")
    return [news, bad]


def _slow(handler):
    time.sleep(8)
    return Resource("<rss></rss>", "application/rss+xml")


@pytest.fixture(scope="module")
def web():
    sites = _sites()
    with LocalWeb(sites) as w:
        news, bad = w["news"], w["bad"]
        base = news.base
        news.routes.update({
            "/robots.txt": Resource("User-agent: *\nDisallow: /private/\n", "text/plain"),
            "/2025/fernwaerme.html": Resource(article_page("Fernwärme wird billiger", LOREM_DE)),
            "/2025/schulgesetz.html": Resource(article_page(
                "Landtag beschließt Schulgesetz", STORY_B, author="Bernd Muster",
                canonical=f"{base}/2025/schulgesetz.html")),
            "/en/kiel-cruise.html": Resource(article_page(
                "Kiel sees record cruise season", STORY_C, lang="en", author="Jane Example")),
            "/2025/brocken.html": Resource(article_page(
                "Erster Schnee auf dem Brocken", STORY_D, charset=None).encode("iso-8859-1"),
                "text/html"),  # legacy bytes, no charset anywhere
            "/2025/leer.html": Resource("<html><body><nav><a href='/'>Start</a></nav></body></html>"),
            "/files/bericht.pdf": Resource(b"%PDF-1.4\n%binary", "application/pdf"),
            "/img/foto.jpg": Resource(b"\xff\xd8\xff\xe0JFIF", "image/jpeg"),
            "/private/geheim.html": Resource(article_page("Geheim", STORY_B)),
        })
        news.routes["/rss.xml"] = Resource(rss("Testzeitung", [
            {"title": "Fernwärme wird billiger", "tags": ["Energie", "Görlitz"],
             "link": f"{base}/2025/fernwaerme.html?utm_source=rss&utm_medium=feed#top"},
            {"title": "Schulgesetz", "link": f"{base}/2025/schulgesetz.html"},
            {"title": "Skript", "link": "javascript:alert(1)"},
            {"title": "PDF", "link": f"{base}/files/bericht.pdf"},
            {"title": "Foto", "link": f"{base}/img/foto.jpg"},
            {"title": "Weg", "link": f"{base}/2025/gibt-es-nicht.html"},
            {"title": "Leer", "link": f"{base}/2025/leer.html"},
            {"title": "Privat", "link": f"{base}/private/geheim.html"},
        ]), "application/rss+xml", etag='"v1"')
        news.routes["/atom.xml"] = Resource(atom("Testzeitung Atom", [
            {"title": "Kiel", "link": f"{base}/en/kiel-cruise.html", "author": "Jane Example"},
            {"title": "Schulgesetz (Atom)", "link": f"{base}/2025/schulgesetz.html?fbclid=abc"},
        ]), "application/atom+xml")
        news.routes["/rdf.xml"] = Resource(rdf("Testzeitung RDF", [
            {"title": "Brocken", "link": f"{base}/2025/brocken.html"},
        ]), "application/rdf+xml")
        bad.routes.update({
            # lists an article of the RSS feed too, with the same entry fields: whichever feed
            # is parsed first supplies the article's feed_* columns
            "/malformed.xml": Resource(rss("Kaputt", [
                {"title": "Fernwärme wird billiger", "tags": ["Energie", "Görlitz"],
                 "link": f"{base}/2025/fernwaerme.html"}])[:-len("</channel></rss>")],
                "application/rss+xml"),
            "/notafeed": Resource(article_page("Startseite", ["Willkommen."])),
            "/500": Resource("boom", "text/plain", status=500),
            "/slow": _slow,
        })
        yield w


@pytest.fixture(scope="module")
def crawled(web, tmp_path_factory):
    """One crawl over every feed, good and bad; a second one to check nothing is stored twice."""
    tmp = tmp_path_factory.mktemp("crawl")
    news, bad = web["news"], web["bad"]
    listing = tmp / "feeds.txt"
    listing.write_text(f"# test feeds\n{news.url('/rss.xml')}\n\n{news.url('/atom.xml')}  # atom\n")
    opml = tmp / "subs.opml"
    opml.write_text(f'<?xml version="1.0"?><opml version="2.0"><body><outline text="x">'
                    f'<outline type="rss" xmlUrl="{news.url("/rdf.xml")}"/></outline></body></opml>')
    db_path = tmp / "news.db"
    feeds = [str(listing), str(opml), bad.url("/malformed.xml"), bad.url("/notafeed"),
             bad.url("/500"), bad.url("/slow"), "http://127.0.0.4:9/feed.xml",
             news.url("/private/feed.xml")]
    first = run_cli("crawl", *feeds, "--db", db_path, "--keep-html", *FAST)
    second = run_cli("crawl", *feeds, "--db", db_path, *FAST)
    return {"db": store.open_db(db_path), "first": first, "second": second}


def _article(db, path_end):
    rows = [r for r in db["articles"].rows if r["url"].endswith(path_end)]
    assert len(rows) == 1, f"{path_end}: {len(rows)} rows"
    return rows[0]


def test_crawl_succeeds_and_summarises(crawled):
    first = crawled["first"]
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    out = first.stdout
    assert "articles: 4 new" in out
    for reason in ("not_a_feed", "http_500", "timeout", "refused", "robots_txt", "not_html",
                   "bad_scheme", "http_404", "no_text"):
        assert reason in out, f"{reason} missing from summary:\n{out}"


def test_articles_from_rss_atom_and_rdf(crawled):
    db = crawled["db"]
    assert db["articles"].count == 4
    fern = _article(db, "/2025/fernwaerme.html")
    assert fern["title"] == "Fernwärme wird billiger"
    assert fern["author"] == "Anna Beispiel"
    assert fern["published"].startswith("2025-03-04")
    assert fern["language"] == "de"
    assert fern["site"] == "127.0.0.2"
    assert fern["feed_title"] == "Fernwärme wird billiger"
    assert json.loads(fern["feed_tags"]) == ["Energie", "Görlitz"]
    assert fern["story_id"] is not None
    kiel = _article(db, "/en/kiel-cruise.html")
    assert kiel["language"] == "en" and "212 ships" in kiel["text"]
    assert db["stories"].count >= 3


def test_german_text_is_stored_unchanged(crawled):
    text = _article(crawled["db"], "/2025/fernwaerme.html")["text"]
    assert LOREM_DE[1] in text  # „quotes“, umlauts and the emoji, byte for byte
    assert text.count("\n\n") >= 3, "paragraphs are kept"
    assert "Impressum" not in text and "Mehr zum Thema" not in text


def test_unlabelled_legacy_charset_is_decoded(crawled):
    text = _article(crawled["db"], "/2025/brocken.html")["text"]
    assert "zwölf Zentimeter" in text


def test_urls_are_canonical_and_fetched_url_kept(crawled):
    fern = _article(crawled["db"], "/2025/fernwaerme.html")
    assert "utm_" not in fern["url"] and "#" not in fern["url"]
    # fetched as the first feed parsed lists it: with the RSS feed's tracking parameters, or
    # as the malformed feed's plain link (feeds are fetched concurrently)
    assert fern["fetched_url"] in (fern["url"] + "?utm_source=rss&utm_medium=feed", fern["url"])


def test_article_in_two_feeds_is_stored_once_and_linked_to_both(crawled):
    db = crawled["db"]
    school = _article(db, "/2025/schulgesetz.html")
    feeds = {r["url"].rsplit("/", 1)[1] for r in db.query(
        "SELECT feeds.url FROM article_feeds JOIN feeds ON feeds.id = feed_id "
        "WHERE article_id = ?", [school["id"]])}
    assert feeds == {"rss.xml", "atom.xml"}


def test_malformed_feed_is_parsed_as_far_as_possible(crawled):
    db = crawled["db"]
    fern = _article(db, "/2025/fernwaerme.html")
    feeds = [r["url"] for r in db.query(
        "SELECT feeds.url FROM article_feeds JOIN feeds ON feeds.id = feed_id "
        "WHERE article_id = ?", [fern["id"]])]
    assert any(u.endswith("/malformed.xml") for u in feeds)


def test_failures_are_recorded_with_reasons(crawled):
    db = crawled["db"]
    reasons = {(r["kind"], r["reason"]) for r in db["failures"].rows}
    for expected in [("feed", "not_a_feed"), ("feed", "http_500"), ("feed", "timeout"),
                     ("feed", "refused"), ("feed", "robots_txt"), ("article", "not_html"),
                     ("article", "bad_scheme"), ("article", "http_404"), ("article", "no_text"),
                     ("article", "robots_txt")]:
        assert expected in reasons
    feed = store.get_feed(db, "http://127.0.0.4:9/feed.xml")
    assert feed["error"].startswith("refused") and feed["n_errors"] == 2


def test_keep_html_stores_the_page_compressed(crawled):
    fern = _article(crawled["db"], "/2025/fernwaerme.html")
    assert b"Fernw\xc3\xa4rme" in gzip.decompress(fern["html"])


def test_second_crawl_stores_nothing_twice(crawled, web):
    db = crawled["db"]
    second = crawled["second"]
    assert second.returncode == 0, second.stderr
    assert "articles: 0 new" in second.stdout
    assert "1 unchanged (304)" in second.stdout  # the RSS feed has an ETag
    assert db["articles"].count == 4
    crawls = list(db["crawls"].rows)
    assert [c["n_new"] for c in crawls] == [4, 0]
    assert all(c["status"] == "finished" and c["ended"] for c in crawls)
    assert (web.hits("news", "/2025/fernwaerme.html?utm_source=rss&utm_medium=feed")
            + web.hits("news", "/2025/fernwaerme.html")) == 1


def test_user_errors_are_one_line_without_traceback(tmp_path):
    bad_list = tmp_path / "feeds.txt"
    bad_list.write_text("http://127.0.0.2/ok.xml\nftp://example.org/feed\n")
    result = run_cli("crawl", bad_list, "--db", tmp_path / "x.db")
    assert result.returncode == 2
    assert "line 2" in result.stderr and "Traceback" not in result.stderr
    missing = run_cli("crawl", tmp_path / "nope.txt", "--db", tmp_path / "x.db")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
