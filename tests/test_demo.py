"""The bundled offline demo: its sites serve what crawlers need, and a demo run fills the DB.

The sites are fetched over real HTTP on 127.0.0.11-15; the demo run is a real crawl into a real
SQLite file, in a fresh process (Twisted's reactor runs once per process).
"""
from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.etree
import lxml.html
import pytest
import trafilatura

from crawler.demo import (COPIES, IN_TWO_FEEDS, MUST_STAY_APART, build_sites, expected_stories,
                          expected_urls, feed_urls)
from crawler.demo.render import sitemap_paths
from crawler.demo.server import LocalWeb
from crawler.demo.sites import PROMO, STYLES, all_pages
from crawler.demo.texts import load_stories
from tests.conftest import ROOT

SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
              "news": "http://www.google.com/schemas/sitemap-news/0.9"}


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def shingles(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def story_text(key: str) -> str:
    return "\n".join(load_stories()[key].paragraphs)


@pytest.fixture(scope="module")
def web():
    sites = build_sites()
    with LocalWeb(sites) as running:
        yield running


@pytest.fixture(scope="module")
def urls(web) -> dict[str, str]:
    return expected_urls(list(web.sites.values()))


@pytest.fixture(scope="module")
def feeds(web) -> dict[str, feedparser.FeedParserDict]:
    out = {}
    for url in feed_urls(list(web.sites.values())):
        status, _, body = fetch(url)
        assert status == 200, url
        out[url] = feedparser.parse(body)
    return out


# ---------------------------------------------------------------- the texts


def test_the_demo_has_the_stories_the_brief_asks_for():
    stories = load_stories()
    assert 12 <= len(expected_stories()) <= 16
    assert set(expected_stories()) == set(stories)
    for key, story in stories.items():
        assert 250 <= story.word_count <= 600, (key, story.word_count)
    german = sum(1 for p in all_pages() if p.lang == "de")
    assert 0.55 <= german / len(COPIES) <= 0.70
    assert len({c.site for c in COPIES}) == 5
    text = " ".join(story_text(k) for k in stories if stories[k].lang == "de")
    assert all(ch in text for ch in "äöüßÄÖÜ„“") and "🌊" in text


def test_two_stories_on_one_topic_share_no_five_word_phrase():
    a, b, _ = MUST_STAY_APART[0]
    assert {"Brandstätter", "Wiśniewski", "Oder"} <= set(re.findall(r"\w+", story_text(a)))
    assert {"Brandstätter", "Wiśniewski", "Oder"} <= set(re.findall(r"\w+", story_text(b)))
    assert not shingles(story_text(a), 5) & shingles(story_text(b), 5)


@pytest.mark.parametrize("pair", MUST_STAY_APART[1:], ids=lambda p: p[0])
def test_template_stories_share_the_template_but_not_the_facts(pair):
    a, b = story_text(pair[0]), story_text(pair[1])
    sa, sb = shingles(a, 5), shingles(b, 5)
    assert len(sa & sb) / len(sa | sb) > 0.4  # a hard case: most of the text is the template
    numbers = lambda t: set(re.findall(r"\d+(?:[.,]\d+)*", t))  # noqa: E731
    assert numbers(a) != numbers(b)


def test_demo_texts_are_not_taken_from_the_seeds(seeds):
    ours = set().union(*(shingles(story_text(k), 8) for k in load_stories()))
    for seed in seeds.glob("*.txt"):
        assert not ours & shingles(seed.read_text(encoding="utf-8"), 8), seed.name


def test_copies_are_changed_the_way_republishers_do():
    pages = {p.copy.id: p for p in all_pages()}
    stories = load_stories()
    kinds = {c.kind for c in COPIES}
    assert {"wire copy", "promo + read more", "re-dated + comment form", "lightly edited",
            "teaser", "updated", "read more", "comment form"} <= kinds
    teaser = pages["netzschau/windpark-nordlicht"]
    assert teaser.paragraphs == stories["windpark-nordlicht"].paragraphs[:2]
    redated = pages["klartext/oder-abkommen-goerlitz"]
    assert redated.published.year - stories["oder-abkommen-goerlitz"].published.year >= 2
    edited = pages["klartext/vier-tage-woche"]
    assert len(edited.paragraphs) == len(stories["vier-tage-woche"].paragraphs) - 1
    assert "Bürgermeiser" in " ".join(edited.paragraphs)
    assert edited.title != stories["vier-tage-woche"].title
    updated = pages["rheinblick/hochwasser-mosel"]
    assert "1.400" in " ".join(updated.paragraphs) and "800" not in " ".join(updated.paragraphs)
    assert len(updated.paragraphs) == len(stories["hochwasser-mosel"].paragraphs) + 1
    assert "bemerkte ich" in " ".join(pages["klartext/oder-gespraeche-wien"].paragraphs)


# ---------------------------------------------------------------- the sites serve


def test_every_feed_parses_with_its_fields(feeds):
    assert {"rss20", "atom10", "rss10"} <= {f.version for f in feeds.values()}
    for url, parsed in feeds.items():
        assert not parsed.bozo, (url, parsed.get("bozo_exception"))
        assert parsed.feed.title and parsed.entries, url
        for entry in parsed.entries:
            assert entry.title and entry.link and entry.id and entry.summary, entry
            assert entry.get("published_parsed") or entry.get("updated_parsed"), entry
            assert entry.get("author") and entry.get("tags"), entry


def test_every_article_is_in_a_feed_and_its_link_serves_the_page(feeds, urls):
    linked = {}
    for parsed in feeds.values():
        for entry in parsed.entries:
            canonical = entry.link.split("?")[0]
            linked.setdefault(canonical, []).append(entry.link)
    assert set(linked) == set(urls)
    tracked = [link for links in linked.values() for link in links if "utm_" in link]
    assert len(tracked) >= 3
    for link in tracked:
        status, headers, body = fetch(link)
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        doc = lxml.html.fromstring(body)
        assert doc.xpath("//link[@rel='canonical']/@href") == [link.split("?")[0]]


def test_an_article_is_listed_in_two_feeds(web, feeds):
    page = next(p for p in all_pages() if p.copy.id == IN_TWO_FEEDS)
    url = web[page.style.name].url(page.path)
    listing = [f for f, parsed in feeds.items() if url in {e.link for e in parsed.entries}]
    assert len(listing) == 2


def test_every_link_on_the_sites_leads_somewhere(web):
    hosts = {s.base for s in web.sites.values()}
    todo = [s.url("/") for s in web.sites.values()]
    seen: set[str] = set(todo)
    while todo:
        url = todo.pop()
        status, headers, body = fetch(url)
        assert status == 200, url
        if not headers["Content-Type"].startswith("text/html"):
            continue
        doc = lxml.html.fromstring(body)
        for href in doc.xpath("//a/@href | //link/@href"):
            target = urljoin(url, href).split("#")[0]
            if "{scheme}://{netloc}".format(**urlsplit(target)._asdict()) in hosts \
                    and target not in seen:
                seen.add(target)
                todo.append(target)
    assert len(seen) > len(COPIES) + 10


def test_robots_txt_names_a_sitemap_that_lists_every_article(web, urls):
    for site in web.sites.values():
        status, _, body = fetch(site.url("/robots.txt"))
        assert status == 200
        sitemaps = re.findall(r"^Sitemap: (\S+)$", body.decode(), flags=re.M)
        assert sitemaps
        locs, kinds = set(), set()
        todo = list(sitemaps)
        while todo:
            status, _, body = fetch(todo.pop())
            assert status == 200
            if body[:2] == b"\x1f\x8b":
                body, _ = gzip.decompress(body), kinds.add("gzip")
            root = lxml.etree.fromstring(body)
            todo += root.xpath("//sm:sitemap/sm:loc/text()", namespaces=SITEMAP_NS)
            locs |= set(root.xpath("//sm:url/sm:loc/text()", namespaces=SITEMAP_NS))
            if root.xpath("//news:publication_date", namespaces=SITEMAP_NS):
                kinds.add("news")
            if root.tag.endswith("sitemapindex"):
                kinds.add("index")
        ours = {u for u in urls if u.startswith(site.base)}
        assert ours <= locs, site.name
        if STYLES[site.name].sitemap == "index+news":
            assert kinds == {"index", "news"} and len(sitemap_paths(STYLES[site.name])) == 4
        if STYLES[site.name].sitemap == "gzip":
            assert kinds == {"gzip"}


def test_pages_carry_real_looking_metadata(web, urls):
    pages = {p.copy.id: p for p in all_pages()}
    by_url = {web[p.style.name].url(p.path): p for p in pages.values()}
    for url in urls:
        page = by_url[url]
        status, _, body = fetch(url)
        doc = lxml.html.fromstring(body)
        meta = lambda prop: doc.xpath(f"//meta[@property='{prop}' or @name='{prop}']/@content")  # noqa: E731
        assert doc.xpath("//link[@rel='canonical']/@href") == [url] == meta("og:url")
        assert meta("author") == [page.author]
        assert meta("article:published_time") == [page.published.isoformat()]
        for script in doc.xpath("//script[@type='application/ld+json']/text()"):
            assert json.loads(script)["datePublished"] == page.published.isoformat()
        found = trafilatura.extract_metadata(body.decode("utf-8"), default_url=url)
        assert found.date == page.published.date().isoformat(), url
        assert found.title == page.title
    wrong = pages["klartext/oder-abkommen-goerlitz"]
    assert "Dezember 24, 2025" in fetch(web["klartext"].url(wrong.path))[2].decode()


def test_promo_and_comment_form_are_in_the_page(web):
    pages = {p.copy.id: p for p in all_pages()}
    body = fetch(web["klartext"].url(pages["klartext/oder-abkommen-goerlitz"].path))[2].decode()
    headline, promo = body.index("<h1"), body.index(PROMO[0].split("?")[0])
    assert headline < promo < body.index("Görlitz. Mit einem Handschlag") < body.index("<form")


def test_feeds_answer_conditional_requests(web):
    url = feed_urls(list(web.sites.values()))[0]
    status, headers, _ = fetch(url)
    assert status == 200 and headers["ETag"] and headers["Last-Modified"]
    assert fetch(url, {"If-None-Match": headers["ETag"]})[0] == 304
    assert fetch(url, {"If-Modified-Since": headers["Last-Modified"]})[0] == 304


def test_demo_takes_free_ports_when_its_fixed_port_is_taken():
    import socket

    from crawler.demo import DEMO_PORT, _start
    with socket.socket() as taken:
        taken.bind((STYLES["lindenpresse"].host, DEMO_PORT))
        taken.listen()
        web, sites = _start(DEMO_PORT)
        try:
            assert all(s.port not in (0, DEMO_PORT) for s in sites)
            assert fetch(feed_urls(sites)[0])[0] == 200
        finally:
            web.stop()


# ---------------------------------------------------------------- a demo run


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    db_path = tmp_path_factory.mktemp("demo") / "demo.db"
    code = ("import json, sys\nfrom crawler.demo import run_demo\n"
            "print(json.dumps(run_demo(sys.argv[1], {'CRAWLER_EXTRACT_WORKERS': 1}, port=0)))")
    result = subprocess.run([sys.executable, "-c", code, str(db_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    from crawler import store
    return summary, store.open_db(db_path, readonly=True)


def _stored_urls(summary) -> dict[str, str]:
    bases = summary["demo"]["sites"]
    return {bases[p.style.name] + p.path: p.copy.id for p in all_pages()}


def test_demo_run_stores_every_article_once(demo_run):
    summary, db = demo_run
    assert summary["status"] == "finished"
    assert summary["counts"]["n_new"] == len(COPIES) and not summary["counts"]["n_failed"]
    stored = {row["url"] for row in db.query("select url from articles")}
    assert stored == set(_stored_urls(summary))


def test_demo_run_keeps_german_text_unchanged(demo_run):
    summary, db = demo_run
    ids = {copy_id: url for url, copy_id in _stored_urls(summary).items()}
    rows = {r["url"]: r for r in db.query("select url, title, text from articles")}
    flood = rows[ids["rheinblick/hochwasser-mosel"]]
    assert "„Bitte haltet Abstand vom Wasser und lasst die Einsatzwege frei! 🌊🚒“" in flood["text"]
    treaty = rows[ids["rheinblick/oder-abkommen-goerlitz"]]
    assert treaty["title"] == load_stories()["oder-abkommen-goerlitz"].title
    assert "grenzüberschreitendes Frühwarnsystem für Hochwasser besiegelt" in treaty["text"]
    assert "😴📰" in rows[ids["klartext/oder-gespraeche-wien"]]["text"]


def test_demo_run_links_the_article_in_two_feeds_to_both(demo_run):
    summary, db = demo_run
    url = next(u for u, copy_id in _stored_urls(summary).items() if copy_id == IN_TWO_FEEDS)
    rows = list(db.query("select feed_id from article_feeds join articles on id = article_id "
                         "where url = ?", [url]))
    assert len(rows) == 2


def test_demo_run_keeps_different_stories_apart(demo_run):
    summary, db = demo_run
    story_of = {_stored_urls(summary)[r["url"]]: r["story_id"]
                for r in db.query("select url, story_id from articles")}
    assert all(story_of.values())
    for a, b, why in MUST_STAY_APART:
        ids_a = {story_of[f"{c.site}/{c.story}"] for c in COPIES if c.story == a}
        ids_b = {story_of[f"{c.site}/{c.story}"] for c in COPIES if c.story == b}
        assert not ids_a & ids_b, why


def test_demo_run_merges_the_copies_of_each_story(demo_run):
    summary, db = demo_run
    story_of = {_stored_urls(summary)[r["url"]]: r["story_id"]
                for r in db.query("select url, story_id from articles")}
    for story, copies in expected_stories().items():
        assert len({story_of[c] for c in copies}) == 1, (story, copies)
    assert len(set(story_of.values())) == len(expected_stories())
