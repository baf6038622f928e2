"""Canonical URLs: the spellings one article gets in feeds, share buttons and rel=canonical."""
from __future__ import annotations

import pytest

from crawler.fetch.urls import canonicalize, is_crawlable, is_tracking_param, site_of


@pytest.mark.parametrize("url, expected", [
    # case of scheme and host, default ports, fragments
    ("HTTP://WWW.Example.COM/Path/Story.html", "http://www.example.com/Path/Story.html"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("http://example.com:8080/a", "http://example.com:8080/a"),
    ("https://example.com:80/a", "https://example.com:80/a"),
    ("https://example.com/a#comments", "https://example.com/a"),
    ("https://example.com/a?x=1#!/hash/route", "https://example.com/a?x=1"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com.:443/a", "https://example.com/a"),
    ("https://user:secret@example.com/a", "https://example.com/a"),
    # tracking parameters removed, real ones kept and sorted
    ("https://www.spiegel.de/politik/artikel-a-123.html?utm_source=rss&utm_medium=feed"
     "&utm_campaign=x", "https://www.spiegel.de/politik/artikel-a-123.html"),
    ("https://example.com/a?fbclid=IwAR0abc", "https://example.com/a"),
    ("https://example.com/a?gclid=EAIa&b=2&a=1", "https://example.com/a?a=1&b=2"),
    ("https://example.com/a?mc_cid=1&mc_eid=2&id=7", "https://example.com/a?id=7"),
    ("https://example.com/a?igshid=MzRl&ref_src=twsrc%5Etfw", "https://example.com/a"),
    ("https://www.derstandard.at/story/3000000218734/titel?ref=rss",
     "https://www.derstandard.at/story/3000000218734/titel"),
    ("https://www.heise.de/news/Titel-123.html?wt_mc=rss.red.ho.ho.atom.beitrag.beitrag",
     "https://www.heise.de/news/Titel-123.html"),
    ("https://www.bbc.co.uk/news/x?at_medium=RSS&at_campaign=KARANGA",
     "https://www.bbc.co.uk/news/x"),
    ("https://www.lemonde.fr/a.html?xtor=RSS-3208", "https://www.lemonde.fr/a.html"),
    ("https://example.com/a?UTM_Source=x&Page=2", "https://example.com/a?Page=2"),
    ("https://example.com/a?pk_campaign=x&_ga=2.1&_gl=1*abc&msclkid=9", "https://example.com/a"),
    ("https://example.com/a?utm_source=x", "https://example.com/a"),
    # parameters that look like trackers to substring filters but are content
    ("https://example.com/match?game=42&gallery=3&keyword=wahl",
     "https://example.com/match?gallery=3&game=42&keyword=wahl"),
    ("https://example.com/artikel.php?id=17&seite=2", "https://example.com/artikel.php?id=17&seite=2"),
    ("https://example.com/a?b=&a=1", "https://example.com/a?a=1&b="),
    # percent-encoding and IDN
    ("https://example.com/%7euser/%e4", "https://example.com/~user/%E4"),
    ("https://example.com/straße/ü?q=ä ö", "https://example.com/stra%C3%9Fe/%C3%BC?q=%C3%A4+%C3%B6"),
    ("https://example.com/stra%C3%9Fe/%c3%bc", "https://example.com/stra%C3%9Fe/%C3%BC"),
    ("https://bücher.de/neu", "https://xn--bcher-kva.de/neu"),
    ("https://XN--BCHER-KVA.de/neu", "https://xn--bcher-kva.de/neu"),
    ("https://example.com/a/./b/../c", "https://example.com/a/c"),
    # feed-link clutter: surrounding whitespace, tabs and newlines inside
    ("  https://example.com/a\n", "https://example.com/a"),
    ("https://example.com/a\t/b", "https://example.com/a/b"),
])
def test_canonicalize(url, expected):
    assert canonicalize(url) == expected


def test_canonicalize_is_idempotent():
    for url in ["https://WWW.Example.com:443/a/../b?z=1&utm_source=x&a=%7e#f",
                "https://bücher.de/straße?q=ä", "http://example.com"]:
        once = canonicalize(url)
        assert canonicalize(once) == once


def test_same_article_same_key():
    spellings = [
        "https://www.zeit.de/politik/2024-05/wahl?utm_source=rss&utm_medium=feed",
        "https://WWW.ZEIT.DE/politik/2024-05/wahl#comments",
        "https://www.zeit.de:443/politik/2024-05/wahl?fbclid=abc",
        "https://www.zeit.de/politik/2024-05/./wahl",
    ]
    assert len({canonicalize(u) for u in spellings}) == 1


@pytest.mark.parametrize("url, base, expected", [
    ("/politik/a.html", "https://www.example.com/feed.xml", "https://www.example.com/politik/a.html"),
    ("a.html?utm_source=x", "https://example.com/news/", "https://example.com/news/a.html"),
    ("//cdn.example.com/a", "https://example.com/", "https://cdn.example.com/a"),
    ("https://other.example/x", "https://example.com/", "https://other.example/x"),
    ("../b", "https://example.com/news/a/", "https://example.com/news/b"),
])
def test_canonicalize_relative(url, base, expected):
    assert canonicalize(url, base=base) == expected


@pytest.mark.parametrize("url", [
    "http://example.com/", "https://example.com/a?b=1", "HTTPS://EXAMPLE.COM/", "http://127.0.0.1:8080/x",
    "http://[::1]/x", "https://bücher.de/",
])
def test_crawlable(url):
    assert is_crawlable(url)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://example.com/a", "javascript:alert(1)", "data:text/html,<p>x</p>",
    "mailto:redaktion@example.com", "tel:+49301234", "about:blank", "//example.com/a",
    "/relative/path", "", "https://", "http:///path", "http://[::1/x", "feed://example.com/rss",
])
def test_not_crawlable(url):
    assert not is_crawlable(url)


def test_non_http_urls_are_not_rewritten():
    assert canonicalize("mailto:Redaktion@Example.com?subject=Hi") == \
        "mailto:Redaktion@Example.com?subject=Hi"
    assert canonicalize("javascript:void(0)") == "javascript:void(0)"


@pytest.mark.parametrize("url, site", [
    ("https://www.tagesschau.de/inland/a.html", "tagesschau.de"),
    ("https://WWW.Spiegel.DE/", "spiegel.de"),
    ("https://rss.sueddeutsche.de/rss/Topthemen", "rss.sueddeutsche.de"),
    ("http://www.example.com:8080/a", "example.com"),
    ("https://www2.example.com/a", "www2.example.com"),
    ("https://bücher.de/", "xn--bcher-kva.de"),
    ("https://wwwexample.com/", "wwwexample.com"),
    ("http://127.0.0.1:5000/feed", "127.0.0.1"),
])
def test_site_of(url, site):
    assert site_of(url) == site


def test_tracking_param_list():
    for name in ["utm_source", "utm_content", "fbclid", "gclid", "mc_cid", "mc_eid", "igshid",
                 "ref_src", "wt_zmc", "ns_mchannel", "pk_kwd", "_hsenc"]:
        assert is_tracking_param(name), name
    for name in ["id", "page", "seite", "q", "game", "source_id", "article", "p", "v", "t"]:
        assert not is_tracking_param(name), name
