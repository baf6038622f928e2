"""`crawler scrape SITE_URL` over real HTTP on loopback: sitemaps of every kind (the demo's and
the real ones of the shared corpus), feeds from the home page, link following, limits, listing
pages not stored, the same schema and dedup as a feed crawl, a second scrape fetching nothing
known again."""
from __future__ import annotations

import gzip
import html
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from crawler import store
from crawler.demo import build_sites, expected_urls
from crawler.demo.sites import all_pages
from crawler.demo.server import LocalWeb, Resource, Site
from crawler.fetch.pagekind import url_hint
from crawler.fetch.urls import canonicalize
from tests.conftest import run_cli
from tests.pages import LOREM_DE, article_page

FAST = ["-s", "DOWNLOAD_TIMEOUT=30", "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_DELAY=0",
        "-s", "AUTOTHROTTLE_ENABLED=False", "--workers", "0", "-q"]
#: The middle of netzschau's modification dates: half its articles are older.
NETZSCHAU_SINCE = sorted(p.modified for p in all_pages()
                         if p.style.name == "netzschau")[2].isoformat()
CORPUS_HOSTS = re.compile(r"https?://(?:www\.)?(?:example\.org|example\.com|sitemaps\.org|"
                          r"domain\.com)")


def _page(title: str, published: str | None = "2025-03-04T08:15:00+01:00") -> Resource:
    return Resource(article_page(title, [f"{title}: ein eigener erster Absatz.", *LOREM_DE],
                                 published=published))


def _listing(title: str, links: list[str]) -> Resource:
    items = "".join(f'<li><h2><a href="{href}">Überschrift {i}</a></h2><p>Kurz.</p></li>'
                    for i, href in enumerate(links))
    return Resource(f'<!DOCTYPE html><html><head><title>{title}</title>'
                    f'<meta property="og:type" content="website"></head><body><nav>'
                    f'<a href="/">Start</a></nav><main><h1>{title}</h1><ul>{items}</ul></main>'
                    f'</body></html>')


def _link_site(site: Site, other: Site) -> None:
    """No sitemap, no feed: articles are found through the home page and section pages."""
    site.routes.update({
        "/robots.txt": Resource("User-agent: *\nDisallow: /intern/\n", "text/plain"),
        "/": _listing("Startseite", ["/politik/", "/sport/", "/tag/wahl/", "/intern/geheim.html",
                                     "/bilder/foto.jpg", other.url("/2025/fremde-meldung.html")]),
        "/politik/": _listing("Politik", ["/2025/03/landtag-beschliesst-haushalt.html",
                                          "/2025/03/buergermeister-tritt-zurueck.html",
                                          "/politik/seite-2/"]),
        "/politik/seite-2/": _listing("Politik, Seite 2", ["/2025/02/tief-im-archiv-versteckt.html"]),
        "/sport/": _listing("Sport", ["/2025/03/aufstieg-in-die-regionalliga.html"]),
        "/tag/wahl/": _listing("Wahl", ["/2025/03/landtag-beschliesst-haushalt.html"]),
        "/intern/geheim.html": _page("Geheim"),
        "/bilder/foto.jpg": Resource(b"\xff\xd8\xff", "image/jpeg"),
        "/2025/03/landtag-beschliesst-haushalt.html": _page("Landtag beschließt Haushalt"),
        "/2025/03/buergermeister-tritt-zurueck.html": _page("Bürgermeister tritt zurück"),
        "/2025/03/aufstieg-in-die-regionalliga.html": _page("Aufstieg in die Regionalliga"),
        "/2025/02/tief-im-archiv-versteckt.html": _page("Tief im Archiv versteckt"),
    })
    other.routes["/2025/fremde-meldung.html"] = _page("Fremde Meldung")


def _corpus_site(site: Site, corpus) -> list[str]:
    """Real sitemaps from the corpus, their URLs moved onto ``site``; returns every page URL
    they list."""
    maps = corpus / "sitemaps"
    base = site.base

    def moved(path, binary=False) -> str:
        raw = gzip.decompress((maps / path).read_bytes()) if binary else (maps / path).read_bytes()
        return CORPUS_HOSTS.sub(base, raw.decode("utf-8"))

    robots = moved("ultimate-sitemap-parser/robots.txt") + f"\nSitemap: {base}/sitemap.txt\n"
    files = {
        "/robots.txt": (robots, "text/plain"),
        "/sitemap.xml": (moved("ultimate-sitemap-parser/simple-index.xml"), "application/xml"),
        "/sitemap1.xml": (moved("ultimate-sitemap-parser/google-news.xml"), "application/xml"),
        "/weirdly-named-sitemap.xml": (moved("news-crawl/sitemap-news.xml"), "application/xml"),
        "/sitemap.txt": (moved("crawler-commons/sitemaps/sitemap.txt"), "text/plain"),
    }
    for path, (text, kind) in files.items():
        site.routes[path] = Resource(text, kind)
    zipped = moved("crawler-commons/sitemaps/xmlSitemap.gz", binary=True)
    site.routes["/sitemap2.xml"] = Resource(gzip.compress(zipped.encode()),
                                            "application/octet-stream")
    pages = []
    for text in (files["/sitemap1.xml"][0], files["/weirdly-named-sitemap.xml"][0], zipped):
        pages += [html.unescape(u) for u in re.findall(r"<loc>\s*([^<\s]+)\s*</loc>", text)]
    pages += [line.strip() for line in files["/sitemap.txt"][0].splitlines()
              if line.strip().startswith("http")]
    pages = sorted({p for p in pages if p.startswith(base)})
    for url in pages:
        dated = url.endswith(("/page1", "/page2"))  # their date is in the news sitemap only
        site.routes[url[len(base):]] = _page(f"Seite {url[len(base):]}",
                                             published=None if dated else "2025-03-04T08:15:00Z")
    return pages


@pytest.fixture(scope="module")
def web(corpus):
    demo = build_sites()
    link, other, korpus = Site("links", "127.0.0.71"), Site("fremd", "127.0.0.72"), \
        Site("korpus", "127.0.0.73")
    with LocalWeb([*demo, link, other, korpus]) as w:
        _link_site(link, other)
        w.corpus_pages = _corpus_site(korpus, corpus)
        w.expected = expected_urls(demo)
        yield w


@pytest.fixture(scope="module")
def scrapes(web, tmp_path_factory):
    """Every scrape of this module, in four independent groups run side by side."""
    tmp = tmp_path_factory.mktemp("scrape")

    def scrape(site_url, db, *extra):
        return run_cli("scrape", site_url, "--db", tmp / db, *FAST, *extra, timeout=180)

    def demo_sites():
        out = {name: scrape(web[name].base, "demo.db") for name in ("rheinblick", "lindenpresse")}
        out["rheinblick_again"] = scrape(web["rheinblick"].base, "demo.db")
        return out

    def corpus_sites():
        whole = scrape(web["korpus"].base, "korpus.db")
        hits_after_whole = {p: web.hits("korpus", p) for _, p, _ in web.log}
        since = scrape(web["korpus"].base, "korpus-since.db", "--since", "2024-01-02")
        return {"whole": whole, "hits": hits_after_whole, "since": since}

    def link_sites():
        shallow = scrape(web["links"].base, "links.db", "--max-depth", "2")
        shallow_hits = {p: web.hits("links", p) for _, p, _ in web.log}
        deep = scrape(web["links"].base, "links.db", "--max-depth", "3", "--exclude", "/sport/")
        return {"shallow": shallow, "shallow_hits": shallow_hits, "deep": deep}

    def limits():
        return {"max_pages": scrape(web["harbourherald"].base, "harbour.db", "--max-pages", "2",
                                    "--include", "/20[0-9][0-9]/"),
                "since": scrape(web["netzschau"].base, "since.db", "--since", NETZSCHAU_SINCE)}

    with ThreadPoolExecutor(4) as pool:
        jobs = {name: pool.submit(fn) for name, fn in (("demo", demo_sites),
                                                       ("corpus", corpus_sites),
                                                       ("links", link_sites),
                                                       ("limits", limits))}
        results = {name: job.result() for name, job in jobs.items()}
    results["tmp"] = tmp
    return results


def _urls(db_path) -> set[str]:
    db = store.open_db(db_path)
    try:
        return {r["url"] for r in db["articles"].rows}
    finally:
        db.close()


def _ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_demo_sites_from_their_sitemaps(scrapes, web):
    """robots.txt -> sitemap index with a Google News sitemap (rheinblick), a plain
    /sitemap.xml (lindenpresse): every article, no listing page."""
    demo = scrapes["demo"]
    for name in ("rheinblick", "lindenpresse"):
        out = _ok(demo[name])
        assert "sitemaps:" in out and " 0 read" not in out
    stored = _urls(scrapes["tmp"] / "demo.db")
    hosts = {web[n].base for n in ("rheinblick", "lindenpresse")}
    expected = {u for u in web.expected if any(u.startswith(h + "/") for h in hosts)}
    assert stored == expected
    assert "listing pages (not stored)" in demo["rheinblick"].stdout
    assert "4 were listing pages" in demo["rheinblick"].stdout  # its section sitemap


def test_scraped_copies_merge_into_stories_like_a_crawl(scrapes):
    db = store.open_db(scrapes["tmp"] / "demo.db")
    n_articles = db["articles"].count
    n_stories = db.execute("SELECT count(DISTINCT story_id) FROM articles").fetchone()[0]
    assert n_stories < n_articles  # wire copies on rheinblick and lindenpresse became one story
    assert all(r["story_id"] and r["site"] and r["text"] for r in db["articles"].rows)
    kinds = [r["kind"] for r in db["crawls"].rows]
    assert kinds == ["scrape"] * 3


def test_second_scrape_fetches_nothing_known(scrapes, web):
    again = _ok(scrapes["demo"]["rheinblick_again"])
    assert "articles: 0 new" in again
    for url in web.expected:
        if url.startswith(web["rheinblick"].base):
            assert web.hits("rheinblick", url[len(web["rheinblick"].base):]) == 1, url


def test_real_sitemaps_every_listed_page_fetched_once(scrapes, web):
    """USP's robots.txt (Sitemap: lines), a sitemap index, a Google News sitemap, a gzipped
    sitemap under an .xml name, news-crawl's news sitemap and a plain-text sitemap."""
    out = _ok(scrapes["corpus"]["whole"])
    hits = scrapes["corpus"]["hits"]
    base = web["korpus"].base
    # Every page but the site root; /page1 and /page2 look like listings by their URL, but a
    # Google News sitemap lists articles only.
    wanted = [u for u in web.corpus_pages if url_hint(u)[0] > -2
              or u.endswith(("/page1", "/page2"))]
    assert len(wanted) == len(web.corpus_pages) - 1 == 9
    for url in wanted:
        assert hits.get(url[len(base):]) == 1, url
    stored = _urls(scrapes["tmp"] / "korpus.db")
    assert {canonicalize(u) for u in wanted} <= stored
    assert base + "/" not in stored  # the site root listed in a sitemap is no article
    db = store.open_db(scrapes["tmp"] / "korpus.db")
    page1 = next(db["articles"].rows_where("url = ?", [base + "/page1"]))
    assert page1["published"].startswith("2024-01-01")  # from <news:publication_date>
    assert page1["date_source"] == "feed"
    assert "sitemaps: 5 read" in out


def test_since_skips_old_sitemaps_and_entries(scrapes, web):
    out = _ok(scrapes["corpus"]["since"])
    base = web["korpus"].base
    stored = _urls(scrapes["tmp"] / "korpus-since.db")
    # Kept: what has no date (the text sitemap's pages, one entry of xmlSitemap.gz). Skipped:
    # sitemap1.xml as a whole (the index dates it 2024-01-01), the 2004-2008 entries.
    assert stored == {canonicalize(base + p) for p in (
        "/page1.html", "/page2.html", "/catalog?item=12&desc=vacation_hawaii")}
    assert web.hits("korpus", "/sitemap1.xml") == 1  # the first scrape only
    assert "older than --since" in out
    base = web["netzschau"].base  # and on a demo site, by the dates of sitemap and feed
    newer = {base + p.path for p in all_pages() if p.style.name == "netzschau"
             and p.modified.isoformat() >= NETZSCHAU_SINCE}
    assert 0 < len(newer) < 4
    assert _urls(scrapes["tmp"] / "since.db") == newer


def test_links_followed_when_there_is_no_sitemap_or_feed(scrapes, web):
    out = _ok(scrapes["links"]["shallow"])
    assert "followed the site's links" in out
    hits = scrapes["links"]["shallow_hits"]
    for path in ("/2025/03/landtag-beschliesst-haushalt.html",
                 "/2025/03/buergermeister-tritt-zurueck.html",
                 "/2025/03/aufstieg-in-die-regionalliga.html", "/politik/seite-2/"):
        assert hits.get(path) == 1, path
    assert "/2025/02/tief-im-archiv-versteckt.html" not in hits  # depth 3 > --max-depth 2
    assert "/intern/geheim.html" not in hits                      # robots.txt
    assert "/bilder/foto.jpg" not in hits                         # not a page
    assert web.hits("fremd") == 0                                 # another host
    assert "robots_txt" in out
    assert "articles: 3 new" in out and "4 were listing pages" in out  # politik, 2, sport, tag
    stored = {u.rsplit("/", 1)[1] for u in _urls(scrapes["tmp"] / "links.db")}
    assert stored == {"landtag-beschliesst-haushalt.html", "buergermeister-tritt-zurueck.html",
                      "aufstieg-in-die-regionalliga.html",  # no section, tag or index page
                      "tief-im-archiv-versteckt.html"}      # (from the deeper scrape below)


def test_deeper_scrape_with_exclude_adds_only_the_new_page(scrapes, web):
    out = _ok(scrapes["links"]["deep"])
    assert "articles: 1 new" in out
    assert web.hits("links", "/2025/02/tief-im-archiv-versteckt.html") == 1
    assert web.hits("links", "/sport/") == 1                     # excluded the second time
    assert web.hits("links", "/2025/03/landtag-beschliesst-haushalt.html") == 1  # known


def test_max_pages_and_include_on_a_gzipped_sitemap(scrapes):
    out = _ok(scrapes["limits"]["max_pages"])
    assert "sitemaps: 1 read, 11 entries" in out  # /sitemap.xml.gz
    assert "2 fetched as article candidates" in out and "max_pages" in out
    assert "not_included" in out  # the section pages: their URLs have no year
    assert len(_urls(scrapes["tmp"] / "harbour.db")) == 2


def test_bad_arguments_are_user_errors(tmp_path):
    for args in (["ftp://example.org/"], ["http://127.0.0.71/", "--since", "gestern"],
                 ["http://127.0.0.71/", "--include", "("]):
        result = run_cli("scrape", *args, "--db", tmp_path / "x.db")
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_stays_on_the_site_host_and_subdomains_when_asked():
    from crawler.fetch.spiders.sites import SiteSpider

    only_host = SiteSpider(site="https://www.example.org/")
    with_subs = SiteSpider(site="https://www.example.org/", subdomains=True)
    assert only_host.on_site("https://www.example.org/a") and \
        not only_host.on_site("https://news.example.org/a")
    for url in ("https://news.example.org/a", "https://example.org/b",
                "https://www.example.org/c"):
        assert with_subs.on_site(url), url
    for url in ("https://example.org.evil.test/a", "https://notexample.org/a"):
        assert not with_subs.on_site(url), url
