"""Turn the demo's sites and pages into what a web server sends: HTML, feeds, sitemaps, robots.txt.

Links must be absolute (feeds, canonical URLs, links between sites), and a site's port is only
known once LocalWeb has bound it, so every route renders at request time (``Rendered``).
"""
from __future__ import annotations

import gzip
import hashlib
import json
from datetime import datetime, timezone
from email.utils import format_datetime
from html import escape
from typing import Callable

from .server import Resource, Site
from .sites import COMMENTS, PROMO, STYLES, Page, SiteStyle, slugify

MONATE = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
          "Oktober", "November", "Dezember")

#: How each site writes a date on the page (the machine-readable ISO date is in the metadata).
DATE_STYLES: dict[str, Callable[[datetime], str]] = {
    "de-numeric": lambda d: f"{d:%d.%m.%Y, %H:%M} Uhr",
    "wire": lambda d: f"{d:%d.%m.%Y %H:%M}",
    "en-long": lambda d: f"{d:%A} {d.day} {d:%B %Y}, {d:%H:%M}",
    "de-farm": lambda d: f"{MONATE[d.month - 1]} {d.day}, {d.year}",
    "iso-date": lambda d: f"{d:%Y-%m-%d}",
}
MORE = {"de": "Weiterlesen bei {source} →", "en": "Read more at {source} »"}
COMMENT_FORM = {
    "de": ("Schreibe einen Kommentar", "Deine E-Mail-Adresse wird nicht veröffentlicht. "
           "Erforderliche Felder sind mit * markiert.", "Kommentar", "E-Mail", "Kommentar abschicken"),
    "en": ("Leave a Reply", "Your email address will not be published. Required fields are "
           "marked *", "Comment", "Email", "Post Comment"),
}
FEED_TYPES = {"rss2": "application/rss+xml", "atom": "application/atom+xml",
              "rdf": "application/rdf+xml"}
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


class Rendered:
    """A route whose response is made when requested, once every site's port is known."""

    def __init__(self, make: Callable[[], Resource]):
        self.make = make

    def __call__(self, handler) -> Resource:
        return self.make()


class DemoWeb:
    """The demo's pages and the running sites that serve them: answers 'what is the URL of'."""

    def __init__(self, pages: list[Page], sites: dict[str, Site]):
        self.pages = pages
        self.sites = sites

    def url(self, site: str, path: str) -> str:
        return self.sites[site].url(path)

    def page_url(self, page: Page) -> str:
        return self.url(page.style.name, page.path)

    def pages_of(self, site: str) -> list[Page]:
        """A site's articles, newest first."""
        return sorted((p for p in self.pages if p.style.name == site),
                      key=lambda p: p.published, reverse=True)

    def copy_on(self, story: str, site: str) -> Page:
        return next(p for p in self.pages if p.copy.story == story and p.style.name == site)

    def original(self, page: Page) -> Page:
        return next(p for p in self.pages if p.copy.story == page.copy.story)

    def categories(self, site: str) -> list[str]:
        return sorted({p.category for p in self.pages if p.style.name == site})

    def feed_url(self, style: SiteStyle, key: str = "main") -> str:
        return self.url(style.name, style.feeds[key][0])


def _iso(d: datetime) -> str:
    return d.isoformat()


def _utc(d: datetime) -> str:
    return d.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- HTML


def _layout(web: DemoWeb, style: SiteStyle, title: str, main: str, *, head: str = "",
            lang: str | None = None, related: list[Page] | None = None) -> str:
    """The site's chrome around ``main``: cookie banner, header, nav, sidebar, footer."""
    c = style.css
    nav = "".join(f'<li><a href="{style.category_path.format(slug=slugify(cat))}">{escape(cat)}'
                  f"</a></li>" for cat in web.categories(style.name))
    related = related if related is not None else web.pages_of(style.name)[:4]
    side = "".join(f'<li><a href="{p.path}">{escape(p.title)}</a></li>' for p in related)
    about_path, about_label, _ = style.about
    feeds = "".join(
        f'<link rel="alternate" type="{FEED_TYPES[style.feed_format]}" title="{escape(t)}" '
        f'href="{web.url(style.name, path)}">\n' for path, t in style.feeds.values())
    return f"""<!DOCTYPE html>
<html lang="{lang or style.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} | {escape(style.title)}</title>
{head}{feeds}<style>.{c}-cookie{{position:fixed;bottom:0}} .{c}-main{{max-width:42em}}</style>
</head>
<body class="{c}-site">
<div class="{c}-cookie" id="cookie-consent" role="dialog" aria-label="Cookies">
<p>{escape(style.cookie[0])}</p><button type="button">{escape(style.cookie[1])}</button>
</div>
<header class="{c}-header">
<a class="{c}-logo" href="/">{escape(style.title)}</a>
<p class="{c}-tagline">{escape(style.tagline)}</p>
</header>
<nav class="{c}-nav"><ul><li><a href="/">{escape(style.nav_home)}</a></li>{nav}</ul></nav>
<main class="{c}-main">
{main}
</main>
<aside class="{c}-sidebar">
<h2>{escape(style.sidebar_title)}</h2>
<ul>{side}</ul>
</aside>
<footer class="{c}-footer">
<p>{escape(style.footer)}</p>
<p><a href="{about_path}">{escape(about_label)}</a> · <a href="{style.feeds['main'][0]}">Feed</a></p>
</footer>
</body>
</html>
"""


def _meta(web: DemoWeb, page: Page) -> str:
    """The metadata a news CMS writes: description, author, canonical, Open Graph, JSON-LD."""
    url = web.page_url(page)
    style = page.style
    tags = "".join(f'<meta property="article:tag" content="{escape(t)}">\n' for t in page.tags)
    locale = "de_DE" if page.lang == "de" else "en_GB"
    head = f"""<meta name="description" content="{escape(page.summary)}">
<meta name="author" content="{escape(page.author)}">
<link rel="canonical" href="{url}">
<meta property="og:type" content="article">
<meta property="og:title" content="{escape(page.title)}">
<meta property="og:description" content="{escape(page.summary)}">
<meta property="og:url" content="{url}">
<meta property="og:site_name" content="{escape(style.title)}">
<meta property="og:locale" content="{locale}">
<meta property="article:published_time" content="{_iso(page.published)}">
<meta property="article:modified_time" content="{_iso(page.modified)}">
<meta property="article:section" content="{escape(page.category)}">
{tags}"""
    if style.jsonld:
        data = {
            "@context": "https://schema.org", "@type": "NewsArticle",
            "headline": page.title, "description": page.summary, "inLanguage": page.lang,
            "datePublished": _iso(page.published), "dateModified": _iso(page.modified),
            "author": {"@type": "Person", "name": page.author},
            "publisher": {"@type": "Organization", "name": style.title},
            "mainEntityOfPage": {"@type": "WebPage", "@id": url},
            "articleSection": page.category, "keywords": list(page.tags),
        }
        head += ('<script type="application/ld+json">'
                 f"{json.dumps(data, ensure_ascii=False)}</script>\n")
    return head


def _comments(page: Page) -> str:
    heading, note, label, email, submit = COMMENT_FORM[page.lang]
    who, said = COMMENTS[page.lang]
    return f"""<section id="comments" class="comments-area">
<ol class="comment-list"><li class="comment"><p class="comment-author">{escape(who)}</p>
<div class="comment-content"><p>{escape(said)}</p></div></li></ol>
<div id="respond"><h3 class="comment-reply-title">{escape(heading)}</h3>
<form action="/wp-comments-post.php" method="post" id="commentform">
<p class="comment-notes">{escape(note)}</p>
<p><label for="comment">{escape(label)}</label><textarea id="comment" name="comment"></textarea></p>
<p><label for="author">Name *</label><input id="author" name="author" type="text"></p>
<p><label for="email">{escape(email)} *</label><input id="email" name="email" type="email"></p>
<p><label for="url">Website</label><input id="url" name="url" type="url"></p>
<p><input name="submit" type="submit" value="{escape(submit)}"></p>
</form></div>
</section>"""


def article_html(web: DemoWeb, page: Page) -> str:
    style, copy, c = page.style, page.copy, page.style.css
    body = []
    if copy.promo:
        body += [f"<p>{escape(PROMO[0])}</p>", f'<p><a href="/kanal/">{escape(PROMO[1])}</a></p>']
    body += [f"<p>{escape(p)}</p>" for p in page.paragraphs]
    if copy.more_from:
        source = web.copy_on(copy.story, copy.more_from)
        label = style.more_label or MORE[page.lang].format(source=source.style.title)
        body.append(f'<p class="read-more"><a href="{web.page_url(source)}">{escape(label)}</a></p>')
    original = web.original(page)
    credit = ""
    if style.name == "netzschau" and original.style.name != "netzschau":
        credit = (f'<p class="{c}-source">Quelle / Source: <a href="{web.page_url(original)}">'
                  f"{escape(original.style.title)}</a></p>\n")
    shown = page.published
    main = f"""<article class="{c}-article">
<p class="{c}-kicker">{escape(page.category)}</p>
<h1 class="{c}-headline">{escape(page.title)}</h1>
<p class="{c}-byline"><span class="author">{escape(style.byline.format(author=page.author))}</span>
· <time datetime="{_iso(shown)}">{DATE_STYLES[style.date_style](shown)}</time></p>
{credit}<div class="{c}-body entry-content">
{chr(10).join(body)}
</div>
{_comments(page) if copy.comments else ""}
</article>"""
    related = [p for p in web.pages_of(style.name) if p is not page][:4]
    return _layout(web, style, page.title, main, head=_meta(web, page), lang=page.lang,
                   related=related)


def listing_html(web: DemoWeb, style: SiteStyle, heading: str, pages: list[Page]) -> str:
    """A home or section page: the articles, newest first, with their teasers."""
    fmt = DATE_STYLES[style.date_style]
    items = "\n".join(
        f'<li class="{style.css}-teaser"><h2><a href="{p.path}">{escape(p.title)}</a></h2>'
        f'<time datetime="{_iso(p.published)}">{fmt(p.published)}</time>'
        f"<p>{escape(p.summary)}</p></li>" for p in pages)
    main = f'<section class="{style.css}-list"><h1>{escape(heading)}</h1>\n<ul>\n{items}\n</ul></section>'
    return _layout(web, style, heading, main)


def text_html(web: DemoWeb, style: SiteStyle, heading: str, text: str) -> str:
    main = f"<section><h1>{escape(heading)}</h1><p>{escape(text)}</p></section>"
    return _layout(web, style, heading, main)


# ---------------------------------------------------------------- feeds


def _feed_link(web: DemoWeb, page: Page) -> str:
    return web.page_url(page) + page.copy.utm


def _rss2(web: DemoWeb, style: SiteStyle, key: str, pages: list[Page]) -> str:
    items = []
    for p in pages:
        url = web.page_url(p)
        if style.house_author:  # blog engines: dc:creator and a non-permalink guid
            guid = f'<guid isPermaLink="false">https://{style.domain}/?p={4700 + web.pages.index(p)}</guid>'
            author = f"<dc:creator><![CDATA[{p.author}]]></dc:creator>"
        else:
            guid = f'<guid isPermaLink="true">{url}</guid>'
            author = f"<author>redaktion@{style.domain} ({escape(p.author)})</author>"
        cats = "".join(f"<category>{escape(t)}</category>" for t in (p.category, *p.tags))
        items.append(f"""<item>
<title>{escape(p.title)}</title>
<link>{escape(_feed_link(web, p))}</link>
{guid}
<pubDate>{format_datetime(p.published)}</pubDate>
{author}
<description>{escape(p.summary)}</description>
{cats}
</item>""")
    newest = max(p.published for p in pages)
    return XML_HEAD + f"""<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
<title>{escape(style.feeds[key][1])}</title>
<link>{web.url(style.name, "/")}</link>
<description>{escape(style.tagline)}</description>
<language>{style.lang}</language>
<atom:link href="{web.feed_url(style, key)}" rel="self" type="application/rss+xml"/>
<lastBuildDate>{format_datetime(newest)}</lastBuildDate>
{chr(10).join(items)}
</channel>
</rss>
"""


def _atom(web: DemoWeb, style: SiteStyle, key: str, pages: list[Page]) -> str:
    entries = []
    for p in pages:
        cats = "".join(f'<category term="{escape(t)}"/>' for t in (p.category, *p.tags))
        entries.append(f"""<entry xml:lang="{p.lang}">
<title>{escape(p.title)}</title>
<link rel="alternate" type="text/html" href="{escape(_feed_link(web, p))}"/>
<id>tag:{style.domain},{p.published:%Y-%m-%d}:/{p.copy.story}</id>
<published>{_iso(p.published)}</published>
<updated>{_iso(p.modified)}</updated>
<author><name>{escape(p.author)}</name></author>
<summary type="text">{escape(p.summary)}</summary>
{cats}
</entry>""")
    newest = max(p.modified for p in pages)
    return XML_HEAD + f"""<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{style.lang}">
<title>{escape(style.feeds[key][1])}</title>
<subtitle>{escape(style.tagline)}</subtitle>
<link rel="alternate" type="text/html" href="{web.url(style.name, "/")}"/>
<link rel="self" type="application/atom+xml" href="{web.feed_url(style, key)}"/>
<id>tag:{style.domain},2024:/feed/{key}</id>
<updated>{_iso(newest)}</updated>
{chr(10).join(entries)}
</feed>
"""


def _rdf(web: DemoWeb, style: SiteStyle, key: str, pages: list[Page]) -> str:
    seq = "".join(f'<rdf:li rdf:resource="{web.page_url(p)}"/>' for p in pages)
    items = []
    for p in pages:
        subjects = "".join(f"<dc:subject>{escape(t)}</dc:subject>" for t in (p.category, *p.tags))
        items.append(f"""<item rdf:about="{web.page_url(p)}">
<title>{escape(p.title)}</title>
<link>{escape(_feed_link(web, p))}</link>
<description>{escape(p.summary)}</description>
<dc:date>{_iso(p.published)}</dc:date>
<dc:creator>{escape(p.author)}</dc:creator>
<dc:language>{p.lang}</dc:language>
{subjects}
</item>""")
    newest = max(p.published for p in pages)
    return XML_HEAD + f"""<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="{web.feed_url(style, key)}">
<title>{escape(style.feeds[key][1])}</title>
<link>{web.url(style.name, "/")}</link>
<description>{escape(style.tagline)}</description>
<dc:language>{style.lang}</dc:language>
<dc:date>{_iso(newest)}</dc:date>
<items><rdf:Seq>{seq}</rdf:Seq></items>
</channel>
{chr(10).join(items)}
</rdf:RDF>
"""


FEED_WRITERS = {"rss2": _rss2, "atom": _atom, "rdf": _rdf}


def feed_pages(web: DemoWeb, style: SiteStyle, key: str) -> list[Page]:
    return [p for p in web.pages_of(style.name) if key in p.copy.feeds]


def feed_resource(web: DemoWeb, style: SiteStyle, key: str) -> Resource:
    """A feed, with ETag and Last-Modified so conditional GETs get 304."""
    pages = feed_pages(web, style, key)
    body = FEED_WRITERS[style.feed_format](web, style, key, pages).encode("utf-8")
    newest = max(p.modified for p in pages).timestamp()
    return Resource(body, f"{FEED_TYPES[style.feed_format]}; charset=utf-8",
                    etag='"' + hashlib.sha1(body).hexdigest()[:16] + '"', last_modified=newest)


# ---------------------------------------------------------------- sitemaps and robots.txt


def sitemap_paths(style: SiteStyle) -> dict[str, str]:
    """The sitemap files a site serves: path -> what it holds."""
    if style.sitemap == "index+news":
        return {"/sitemap_index.xml": "index", "/sitemaps/artikel.xml": "articles",
                "/sitemaps/seiten.xml": "sections", "/sitemaps/news.xml": "news"}
    if style.sitemap == "gzip":
        return {"/sitemap.xml.gz": "all"}
    return {"/sitemap.xml": "all"}


def _urlset(entries: list[tuple[str, datetime | None]]) -> str:
    rows = "\n".join(f"<url><loc>{escape(loc)}</loc>"
                     + (f"<lastmod>{_iso(when)}</lastmod>" if when else "") + "</url>"
                     for loc, when in entries)
    return XML_HEAD + f'<urlset xmlns="{SITEMAP_NS}">\n{rows}\n</urlset>\n'


def sitemap_text(web: DemoWeb, style: SiteStyle, kind: str) -> str:
    pages = web.pages_of(style.name)
    articles = [(web.page_url(p), p.modified) for p in pages]
    sections = [(web.url(style.name, "/"), pages[0].modified)] + [
        (web.url(style.name, style.category_path.format(slug=slugify(c))), None)
        for c in web.categories(style.name)]
    if kind == "articles":
        return _urlset(articles)
    if kind == "sections":
        return _urlset(sections)
    if kind == "all":
        return _urlset(sections + articles)
    if kind == "index":
        rows = "\n".join(f"<sitemap><loc>{web.url(style.name, path)}</loc>"
                         f"<lastmod>{_iso(pages[0].modified)}</lastmod></sitemap>"
                         for path, k in sitemap_paths(style).items() if k != "index")
        return XML_HEAD + f'<sitemapindex xmlns="{SITEMAP_NS}">\n{rows}\n</sitemapindex>\n'
    rows = "\n".join(f"""<url><loc>{web.page_url(p)}</loc><news:news>
<news:publication><news:name>{escape(style.title)}</news:name><news:language>{p.lang}</news:language></news:publication>
<news:publication_date>{_iso(p.published)}</news:publication_date>
<news:title>{escape(p.title)}</news:title>
</news:news></url>""" for p in pages)
    return XML_HEAD + f'<urlset xmlns="{SITEMAP_NS}" xmlns:news="{NEWS_NS}">\n{rows}\n</urlset>\n'


def sitemap_resource(web: DemoWeb, style: SiteStyle, path: str) -> Resource:
    text = sitemap_text(web, style, sitemap_paths(style)[path])
    if path.endswith(".gz"):
        return Resource(gzip.compress(text.encode("utf-8"), mtime=0), "application/x-gzip")
    return Resource(text, "application/xml; charset=utf-8")


def robots_txt(web: DemoWeb, style: SiteStyle) -> str:
    """Allows the crawler, names the site's (top) sitemap, as real sites do."""
    top = next(iter(sitemap_paths(style)))
    return (f"User-agent: *\n{style.robots_extra}\nUser-agent: GPTBot\nDisallow: /\n\n"
            f"Sitemap: {web.url(style.name, top)}\n")


# ---------------------------------------------------------------- routes


def routes(web: DemoWeb, style: SiteStyle) -> dict[str, Rendered]:
    """Every path a site serves."""
    def html(make: Callable[[], str]) -> Rendered:
        return Rendered(lambda: Resource(make()))

    out: dict[str, Rendered] = {}
    pages = [p for p in web.pages if p.style is style]
    for page in pages:
        out[page.path] = html(lambda page=page: article_html(web, page))
    out["/"] = html(lambda: listing_html(web, style, style.title, web.pages_of(style.name)))
    for cat in {p.category for p in pages}:
        out[style.category_path.format(slug=slugify(cat))] = html(
            lambda cat=cat: listing_html(
                web, style, cat, [p for p in web.pages_of(style.name) if p.category == cat]))
    about_path, about_label, about_text = style.about
    out[about_path] = html(lambda: text_html(web, style, about_label, about_text))
    for path, (title, text) in style.extra_pages.items():
        out[path] = html(lambda title=title, text=text: text_html(web, style, title, text))
    for key, (path, _) in style.feeds.items():
        out[path] = Rendered(lambda key=key: feed_resource(web, style, key))
    for path in sitemap_paths(style):
        out[path] = Rendered(lambda path=path: sitemap_resource(web, style, path))
    out["/robots.txt"] = Rendered(
        lambda: Resource(robots_txt(web, style), "text/plain; charset=utf-8"))
    return out


def make_sites(pages: list[Page], port: int = 0) -> list[Site]:
    """One Site per style, its routes rendering from ``pages`` with the ports bound at start."""
    sites = {name: Site(name, style.host, port=port) for name, style in STYLES.items()}
    web = DemoWeb(pages, sites)
    for name, style in STYLES.items():
        sites[name].routes.update(routes(web, style))
    return list(sites.values())
