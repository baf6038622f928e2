"""Hostile and broken input: every case ends in a clear record and a crawl that goes on.

One crawl over a loopback site full of traps (bombs, endless and trickling pages, cut
connections, redirect loops, lying headers, NUL bytes, entity tricks, a 10,000-entry feed), and
one crawl that starts on a "public" host and is lured to private addresses. Confined to
127.0.0.0/8 by CRAWLER_ONLY_NETWORKS: nothing here can reach any other address.
"""
from __future__ import annotations

import ipaddress
import sqlite3
from urllib.parse import parse_qs, urlsplit

import pytest
from scrapy.utils.sitemap import Sitemap

from crawler import store
from crawler.demo.server import LocalWeb, Resource, Site
from crawler.fetch.middlewares import is_public
from tests.conftest import run_cli
from tests.faults_server import (calendar, close_mid_body, endless, gzip_bomb, gzipped,
                                 redirect, redirect_chain, trickle)
from tests.pages import article_page, rss

FAST = ["-s", "DOWNLOAD_TIMEOUT=4", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0",
        "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16",
        "--workers", "1", "-q"]
LOOPBACK_ONLY = ["-s", "CRAWLER_ONLY_NETWORKS=127.0.0.0/8"]
#: 4 MiB instead of the default 10 MiB: the same mechanism, reached sooner on a busy machine.
SMALL_PAGES = ["-s", f"DOWNLOAD_MAXSIZE={4 << 20}", "-s", f"DOWNLOAD_WARNSIZE={2 << 20}"]

STORY = [
    "Die Stadtwerke Görlitz haben am Montag angekündigt, die Preise für Fernwärme im kommenden "
    "Jahr um zwölf Prozent zu senken, weil die Einkaufskosten für Gas gefallen sind.",
    "Rund 9.000 Haushalte in der Innenstadt sind an das Netz angeschlossen; sie erhalten die "
    "neuen Abschläge mit der Jahresabrechnung im Januar.",
]
ENTITY_BOMB = """<?xml version="1.0"?>
<!DOCTYPE {root} [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE {root} [
 <!ENTITY xxe SYSTEM "{base}/secret.txt">
 <!ENTITY passwd SYSTEM "file:///etc/passwd">
 <!ENTITY % remote SYSTEM "{base}/evil.dtd"> %remote;
]>
"""
DOCTYPE_SYSTEM = '<?xml version="1.0"?>\n<!DOCTYPE {root} SYSTEM "{base}/doctype.dtd">\n'
N_BIG = 10_000


def _feed_body(prolog: str, title: str, link: str) -> str:
    return (prolog + f'<rss version="2.0"><channel><title>{title}</title><link>{link}</link>'
            f"<item><title>{title}</title><link>{link}</link></item></channel></rss>")


N_BIG_PAGES = 20


def _big(handler):
    n = parse_qs(urlsplit(handler.path).query).get("id", ["0"])[0]
    return Resource(article_page(f"Meldung {n}", STORY))


@pytest.fixture(scope="module")
def web():
    with LocalWeb([Site("h", "127.0.0.21")]) as w:
        add_traps(w["h"])
        yield w


def add_traps(site: Site) -> None:
    """Every trap of this module, on one loopback site (bench/faults.py uses it too)."""
    if True:
        b = site.base
        page = article_page("Fernwärme wird billiger", STORY)
        site.routes.update({
            "/ok.html": Resource(page),
            "/ok-laughs.html": Resource(article_page("Nach dem Gelächter", STORY)),
            "/ok-xxe.html": Resource(article_page("Nach der Entität", STORY)),
            "/ok-doctype.html": Resource(article_page("Nach dem Doctype", STORY)),
            "/secret.txt": Resource("TOP-SECRET-TOKEN", "text/plain"),
            "/evil.dtd": Resource('<!ENTITY stolen "STOLEN">', "application/xml-dtd"),
            "/doctype.dtd": Resource('<!ENTITY stolen "STOLEN">', "application/xml-dtd"),
            "/bomb.html": gzip_bomb(),
            "/small-gzip.html": gzipped(article_page("Komprimiert", STORY).encode()),
            "/endless.html": endless(),
            "/declared-huge.html": endless(declare=200 << 20),
            "/trickle.html": trickle(),
            "/cut.html": close_mid_body(page.encode() * 20),
            "/loop-a": redirect(f"{b}/loop-b"),
            "/loop-b": redirect(f"{b}/loop-a"),
            "/self": redirect("/self", 301),
            "/chain": redirect_chain("/chain"),
            "/to-file": redirect("file:///etc/passwd"),
            "/calendar": calendar(),
            "/octet.html": Resource(article_page("Falscher Typ", STORY), "application/octet-stream"),
            "/png.html": Resource(b"\x89PNG\r\n\x1a\n" + b"\0" * 400, "text/html"),
            "/latin1-says-utf8.html": Resource(
                article_page("Falscher Zeichensatz", STORY, charset=None).encode("iso-8859-1"),
                "text/html; charset=utf-8"),
            "/bogus-charset.html": Resource(
                article_page("Unbekannter Zeichensatz", STORY, charset=None).encode("utf-8"),
                "text/html; charset=x-no-such-charset"),
            "/nul.html": Resource(page.encode().replace(b"<p>", b"<p>\0\0")),
            "/big.html": _big,
        })
        site.routes.update({
            "/rss.xml": Resource(rss("Fallen", [{"title": t, "link": link} for t, link in [
                ("ok", f"{b}/ok.html"), ("file", "file:///etc/passwd"),
                ("ftp", "ftp://127.0.0.21/pub/x.html"), ("js", "javascript:alert(1)"),
                ("data", "data:text/html,<p>hallo</p>"), ("outside", "http://example.invalid/a"),
                ("bomb", f"{b}/bomb.html"), ("gz", f"{b}/small-gzip.html"),
                ("endless", f"{b}/endless.html"), ("declared", f"{b}/declared-huge.html"),
                ("trickle", f"{b}/trickle.html"), ("cut", f"{b}/cut.html"),
                ("loop", f"{b}/loop-a"), ("self", f"{b}/self"), ("chain", f"{b}/chain?n=0"),
                ("to-file", f"{b}/to-file"), ("calendar", f"{b}/calendar?m=0"),
                ("octet", f"{b}/octet.html"), ("png", f"{b}/png.html"),
                ("latin1", f"{b}/latin1-says-utf8.html"), ("bogus", f"{b}/bogus-charset.html"),
                ("nul", f"{b}/nul.html"),
            ]]), "application/rss+xml"),
            "/laughs.xml": Resource(_feed_body(ENTITY_BOMB.format(root="rss"), "Lachen &lol9;",
                                               f"{b}/ok-laughs.html"), "application/rss+xml"),
            "/xxe.xml": Resource(_feed_body(EXTERNAL.format(root="rss", base=b),
                                            "Titel &xxe; &passwd;", f"{b}/ok-xxe.html"),
                                 "application/rss+xml"),
            "/doctype.xml": Resource(_feed_body(DOCTYPE_SYSTEM.format(root="rss", base=b),
                                                "Doctype &stolen;", f"{b}/ok-doctype.html"),
                                     "application/rss+xml"),
            "/as-html.xml": Resource(rss("Als HTML", [{"title": "ok", "link": f"{b}/ok.html"}]),
                                     "text/html"),
            "/nul.xml": Resource(rss("Null\0Bytes", [{"title": "n\0", "link": f"{b}/ok.html"}])),
            "/latin1.xml": Resource(rss("Gemüse", [{"title": "Grüße", "link": f"{b}/ok.html"}])
                                    .encode("iso-8859-1"), "application/rss+xml; charset=utf-8"),
            "/big.xml": Resource(rss("Riesig", [  # 10,000 entries, 20 pages (utm_ is noise)
                {"title": f"Nr. {i}", "link": f"{b}/big.html?id={i % N_BIG_PAGES}&utm_term={i}"}
                for i in range(N_BIG)]), "application/rss+xml"),
        })


@pytest.fixture(scope="module")
def crawled(web, tmp_path_factory):
    db_path = tmp_path_factory.mktemp("hostile") / "hostile.db"
    site = web["h"]
    feeds = [site.url(p) for p in ("/rss.xml", "/laughs.xml", "/xxe.xml", "/doctype.xml",
                                   "/as-html.xml", "/nul.xml", "/latin1.xml")]
    result = run_cli("crawl", *feeds, "--db", db_path, *FAST, *LOOPBACK_ONLY, *SMALL_PAGES,
                     timeout=240)
    # The 10,000-entry feed on its own: feedparser reads it on the reactor for seconds, which
    # would eat into the other pages' timeouts.
    big = run_cli("crawl", site.url("/big.xml"), "--db", db_path, *FAST, *LOOPBACK_ONLY,
                  timeout=240)
    db = store.open_db(db_path)
    yield {"result": result, "big": big, "db": db, "base": site.base}
    db.close()


def _reason(db, url: str) -> str | None:
    rows = [r["reason"] for r in db["failures"].rows_where("url LIKE ?", [url])]
    return rows[-1] if rows else None


def _article(db, base, path):
    rows = list(db["articles"].rows_where("fetched_url = ?", [base + path]))
    return rows[0] if rows else None


def test_the_crawl_survives_everything(crawled):
    result = crawled["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "Crawl 1 finished" in result.stdout
    check = crawled["db"].execute("PRAGMA integrity_check").fetchone()[0]
    assert check == "ok"


@pytest.mark.parametrize("url, reason", [
    ("file:%/etc/passwd", "bad_scheme"), ("ftp://127.0.0.21/pub/x.html", "bad_scheme"),
    ("javascript:alert(1)", "bad_scheme"), ("data:text/html,<p>hallo</p>", "bad_scheme"),
    ("http://example.invalid/a", "outside_networks"),
    ("{b}/bomb.html", "too_large"), ("{b}/endless.html", "too_large"),
    ("{b}/declared-huge.html", "too_large"), ("{b}/trickle.html", "timeout"),
    ("{b}/cut.html", "truncated"), ("{b}/loop-a", "redirect_loop"), ("{b}/self", "redirect_loop"),
    ("{b}/chain?n=0", "too_many_redirects"), ("{b}/to-file", "bad_scheme"),
    ("{b}/png.html", "not_html"),
])
def test_refused_and_broken_links_are_recorded(crawled, url, reason):
    assert _reason(crawled["db"], url.format(b=crawled["base"])) == reason


def test_reasons_appear_in_the_summary(crawled):
    out = crawled["result"].stdout
    for reason in ("bad_scheme", "outside_networks", "too_large", "timeout", "truncated",
                   "redirect_loop", "too_many_redirects", "not_html"):
        assert reason in out, out


def test_bomb_is_cut_at_the_size_limit_not_inflated(crawled):
    row = next(crawled["db"]["failures"].rows_where(
        "url = ?", [crawled["base"] + "/bomb.html"]))
    assert "DOWNLOAD_MAXSIZE" in row["error"]  # stopped while decompressing, at 4 MiB


def test_nothing_outside_http_was_fetched(web):
    paths = {p for _, p, _ in web.log}
    assert not any(p.startswith("/pub/") for p in paths)
    assert web.hits("h", "/chain?n=11") == 0  # REDIRECT_MAX_TIMES = 10


def test_awkward_but_real_pages_are_stored(crawled):
    db, base = crawled["db"], crawled["base"]
    for path in ("/ok.html", "/small-gzip.html", "/octet.html", "/calendar?m=0",
                 "/latin1-says-utf8.html", "/bogus-charset.html", "/nul.html"):
        row = _article(db, base, path)
        assert row is not None, f"{path}: {_reason(db, base + path)}"
        assert "zwölf Prozent" in row["text"] or path == "/calendar?m=0", (path, row["text"][:200])
        assert "\0" not in row["text"] and "\0" not in (row["title"] or "")


def test_calendar_trap_is_not_followed(web):
    assert web.hits("h", "/calendar?m=0") == 1
    assert web.hits("h", "/calendar?m=1") == 0  # a feed crawl follows entries, never page links


def test_entity_bomb_is_not_expanded(crawled):
    db = crawled["db"]
    feed = store.get_feed(db, crawled["base"] + "/laughs.xml")
    assert feed["error"] is None
    assert len(feed["title"] or "") < 200
    assert _article(db, crawled["base"], "/ok-laughs.html") is not None


def test_external_entities_are_neither_fetched_nor_expanded(crawled, web):
    db = crawled["db"]
    for path in ("/secret.txt", "/evil.dtd", "/doctype.dtd"):
        assert web.hits("h", path) == 0, f"{path} was fetched"
    titles = " ".join(r["title"] or "" for r in db["feeds"].rows) + " ".join(
        r["feed_title"] or "" for r in db["articles"].rows)
    assert "TOP-SECRET" not in titles and "root:" not in titles and "STOLEN" not in titles
    for path in ("/ok-xxe.html", "/ok-doctype.html"):
        assert _article(db, crawled["base"], path) is not None, path


def test_broken_feeds_are_read_as_far_as_possible(crawled):
    db, base = crawled["db"], crawled["base"]
    for path in ("/as-html.xml", "/nul.xml", "/latin1.xml"):
        feed = store.get_feed(db, base + path)
        assert feed["error"] is None and feed["last_status"] == 200, (path, feed)
    assert "Gemüse" == store.get_feed(db, base + "/latin1.xml")["title"]
    assert store.get_feed(db, base + "/nul.xml")["title"].replace("\0", "") == "NullBytes"


def test_ten_thousand_entry_feed(crawled, web):
    """Every entry is read; each page is fetched once however many entries name it."""
    db = crawled["db"]
    assert crawled["big"].returncode == 0, crawled["big"].stderr[-2000:]
    assert f"{N_BIG - N_BIG_PAGES} already known" in crawled["big"].stdout
    n = db.execute("SELECT count(*) FROM articles WHERE url LIKE ?",
                   [crawled["base"] + "/big.html?id=%"]).fetchone()[0]
    assert n == N_BIG_PAGES
    assert sum(1 for _, p, _ in web.log if p.startswith("/big.html")) == N_BIG_PAGES
    assert store.get_feed(db, crawled["base"] + "/big.xml")["error"] is None


def test_sitemap_parser_neither_expands_nor_fetches_entities(web):
    """Scrapy's sitemap parser (lxml, resolve_entities=False) on the same tricks."""
    base = web["h"].base
    urlset = ('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
              '<url><loc>{base}/a&{ent};</loc></url></urlset>')
    before = web.hits("h")
    bomb = list(Sitemap((ENTITY_BOMB.format(root="urlset")
                         + urlset.format(base=base, ent="lol9")).encode()))
    assert all(len(u["loc"]) < 200 for u in bomb)
    for prolog in (EXTERNAL, DOCTYPE_SYSTEM):
        urls = list(Sitemap((prolog.format(root="urlset", base=base)
                             + urlset.format(base=base, ent="xxe")).encode()))
        assert all("SECRET" not in u["loc"] and "root:" not in u["loc"] for u in urls)
    assert web.hits("h") == before


# ---------------------------------------------------------------- private addresses


@pytest.fixture(scope="module")
def lured(tmp_path_factory):
    """A "public" news site (127.0.0.31) whose feed points into an "intranet" (127.0.0.70).

    CRAWLER_PRIVATE_NETWORKS declares which loopback addresses play the private network, so
    the rule is tested without leaving 127.0.0.0/8.
    """
    pub, intranet = Site("pub", "127.0.0.31"), Site("intranet", "127.0.0.70")
    with LocalWeb([pub, intranet]) as w:
        secret = intranet.url("/admin.html")
        intranet.routes.update({
            "/admin.html": Resource(article_page("Router-Verwaltung", STORY)),
            "/intra.html": Resource(article_page("Intranet-Meldung", STORY)),
            "/feed.xml": Resource(rss("Intranet", [{"title": "i",
                                                    "link": intranet.url("/intra.html")}])),
        })
        pub.routes.update({
            "/ok.html": Resource(article_page("Öffentlich", STORY)),
            "/go-private": redirect(secret + "?via=redirect"),
            "/feed.xml": Resource(rss("Öffentlich", [{"title": t, "link": link} for t, link in [
                ("ok", pub.url("/ok.html")), ("direct", secret),
                ("by-name", f"http://localhost:{intranet.port}/admin.html"),
                ("redirect", pub.url("/go-private")), ("metadata", "http://169.254.169.254/"),
            ]])),
        })
        db_path = tmp_path_factory.mktemp("lured") / "lured.db"
        result = run_cli("crawl", pub.url("/feed.xml"), intranet.url("/feed.xml"), "--db",
                         db_path, *FAST, "-s",
                         "CRAWLER_PRIVATE_NETWORKS=127.0.0.64/26,127.0.0.1/32,169.254.0.0/16")
        db = store.open_db(db_path)
        yield {"result": result, "db": db, "web": w, "secret": secret, "pub": pub,
               "intranet": intranet}
        db.close()


def test_public_start_cannot_reach_private_addresses(lured):
    db, web = lured["db"], lured["web"]
    assert lured["result"].returncode == 0, lured["result"].stderr[-2000:]
    assert web.hits("intranet", "/admin.html") == 0
    port = lured["intranet"].port
    for url in (lured["secret"], f"http://localhost:{port}/admin.html",
                lured["pub"].url("/go-private"), "http://169.254.169.254/"):
        assert _reason(db, url) == "private_address", url
    assert "private_address" in lured["result"].stdout


def test_private_start_may_fetch_private_addresses(lured):
    db = lured["db"]
    urls = {r["fetched_url"] for r in db["articles"].rows}
    assert urls == {lured["pub"].url("/ok.html"), lured["intranet"].url("/intra.html")}


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2a00:1450:4001::1", True), ("10.1.2.3", False), ("172.16.0.1", False),
    ("192.168.1.1", False), ("127.0.0.1", False), ("169.254.169.254", False), ("0.0.0.0", False),
    ("100.64.0.1", False), ("::1", False), ("fe80::1", False), ("fd00::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:8.8.8.8", True), ("224.0.0.1", False),
])
def test_what_counts_as_public(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


def test_bad_network_setting_fails_loudly(tmp_path):
    result = run_cli("crawl", "http://127.0.0.21:9/feed.xml", "--db", tmp_path / "x.db",
                     "-s", "CRAWLER_ONLY_NETWORKS=127.0.0.0/33", *FAST, timeout=60)
    assert result.returncode == 2  # a user mistake: one line, no traceback
    assert "the crawl failed: CRAWLER_ONLY_NETWORKS: '127.0.0.0/33'" in result.stderr
    assert "Traceback" not in result.stderr
    with sqlite3.connect(tmp_path / "x.db") as conn:
        assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 0


# ---------------------------------------------------------------- a hostile site, scraped


def add_sitemap_traps(site: Site) -> None:
    """Sitemaps with entity tricks and a gzip bomb, a home page leading into an endless
    calendar (bench/faults.py uses it too)."""
    b = site.base
    urlset = ('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
              '<url><loc>{b}/{page}?x=&{ent};</loc></url></urlset>')
    site.routes.update({
        "/robots.txt": Resource("User-agent: *\nAllow: /\n" + "".join(
            f"Sitemap: {b}/{name}\n" for name in ("laughs.xml", "xxe.xml", "bomb.xml.gz")),
            "text/plain"),
        "/": Resource(article_page("Startseite", ["Willkommen."]).replace(
            "</body>", f'<a href="{b}/calendar?m=0">Kalender</a></body>')),
        "/laughs.xml": Resource(ENTITY_BOMB.format(root="urlset") + urlset.format(
            b=b, page="a1.html", ent="lol9"), "application/xml"),
        "/xxe.xml": Resource(EXTERNAL.format(root="urlset", base=b) + urlset.format(
            b=b, page="a2.html", ent="xxe"), "application/xml"),
        "/bomb.xml.gz": Resource(gzip_bomb().body, "application/x-gzip"),
        "/a1.html": Resource(article_page("Erste Meldung", STORY)),
        "/a2.html": Resource(article_page("Zweite Meldung", STORY)),
        "/secret.txt": Resource("TOP-SECRET-TOKEN", "text/plain"),
        "/evil.dtd": Resource('<!ENTITY stolen "STOLEN">', "application/xml-dtd"),
        "/calendar": calendar(),
    })


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """`crawler scrape` of a site whose sitemaps carry entity tricks and a gzip bomb, and
    whose pages lead into an endless calendar."""
    with LocalWeb([Site("s", "127.0.0.23")]) as w:
        site = w["s"]
        add_sitemap_traps(site)
        db_path = tmp_path_factory.mktemp("scraped") / "scraped.db"
        result = run_cli("scrape", site.url("/"), "--follow-links", "--db", db_path, *FAST,
                         *LOOPBACK_ONLY, timeout=180)
        db = store.open_db(db_path)
        yield {"result": result, "db": db, "web": w}
        db.close()


def test_scrape_survives_hostile_sitemaps(scraped):
    result, web = scraped["result"], scraped["web"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert web.hits("s", "/secret.txt") == 0 and web.hits("s", "/evil.dtd") == 0
    paths = [p for _, p, _ in web.log]
    assert any(p.startswith("/a2.html") for p in paths), paths  # read, entity left out
    assert not any("lol" in p or "SECRET" in p or "STOLEN" in p for p in paths), paths
    reasons = {(r["url"].rsplit("/", 1)[1], r["reason"]) for r in scraped["db"]["failures"].rows}
    assert ("bomb.xml.gz", "too_large") in reasons


def test_scrape_stops_in_an_endless_calendar(scraped):
    months = [p for _, p, _ in scraped["web"].log if p.startswith("/calendar")]
    assert 1 <= len(months) <= 10, months  # --max-depth (3) ends the trap
