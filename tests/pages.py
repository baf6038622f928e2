"""Pages and feeds the tests write themselves (the corpus supplies the real ones)."""
from __future__ import annotations

from html import escape

LOREM_DE = [
    "Die Stadtwerke Görlitz haben am Montag angekündigt, die Fernwärmepreise zum Jahreswechsel "
    "um elf Prozent zu senken, nachdem die Einkaufspreise für Erdgas deutlich gefallen sind.",
    "„Wir geben die Entlastung vollständig an unsere Kundinnen und Kunden weiter“, sagte "
    "Geschäftsführerin Jana Köhler bei einer Pressekonferenz im Rathaus. 🔥",
    "Betroffen sind rund 14.000 Haushalte in der Innenstadt und in Königshufen. Die neuen "
    "Abschläge sollen Anfang Dezember per Post verschickt werden, teilte das Unternehmen mit.",
    "Die Verbraucherzentrale Sachsen begrüßte den Schritt, mahnte aber zugleich mehr "
    "Transparenz bei der Preisbildung an. Viele Mieter wüssten nicht, wie sich ihre Kosten "
    "zusammensetzen, sagte eine Sprecherin.",
]


def article_page(title: str, paragraphs: list[str], *, author: str = "Anna Beispiel",
                 published: str | None = "2025-03-04T08:15:00+01:00", lang: str = "de",
                 canonical: str | None = None, chrome: str = "site", charset: str = "utf-8") -> str:
    """A news article page with metadata, navigation and footer, like a CMS renders it."""
    meta = [f'<meta charset="{charset}">' if charset else "",
            f"<title>{escape(title)} | Testzeitung</title>",
            f'<meta name="author" content="{escape(author)}">',
            '<meta property="og:type" content="article">',
            f'<meta property="og:site_name" content="Testzeitung {chrome}">']
    if published:
        meta.append(f'<meta property="article:published_time" content="{published}">')
    if canonical:
        meta.append(f'<link rel="canonical" href="{canonical}">')
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html lang="{lang}"><head>{''.join(meta)}</head><body>
<header><nav><a href="/">Start</a> <a href="/politik">Politik</a> <a href="/sport">Sport</a></nav></header>
<main><article><h1>{escape(title)}</h1><p class="byline">Von {escape(author)}</p>{body}</article></main>
<aside><h3>Mehr zum Thema</h3><ul><li><a href="/a">Andere Meldung</a></li></ul></aside>
<footer><p>© Testzeitung {chrome} · Impressum · Datenschutz</p></footer></body></html>"""


def rss(title: str, items: list[dict]) -> str:
    """RSS 2.0 with the usual item fields."""
    xml_items = "".join(
        f"<item><title>{escape(i['title'])}</title><link>{escape(i['link'])}</link>"
        f"<guid>{escape(i.get('guid', i['link']))}</guid>"
        f"<pubDate>{i.get('date', 'Tue, 04 Mar 2025 07:15:00 GMT')}</pubDate>"
        f"<author>{escape(i.get('author', 'redaktion@example.org (Redaktion)'))}</author>"
        f"<description>{escape(i.get('summary', 'Kurzfassung'))}</description>"
        + "".join(f"<category>{escape(c)}</category>" for c in i.get("tags", []))
        + "</item>" for i in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>http://example.org/</link>"
            f"<description>Test</description>{xml_items}</channel></rss>")


def atom(title: str, items: list[dict]) -> str:
    entries = "".join(
        f"<entry><title>{escape(i['title'])}</title><link href=\"{escape(i['link'])}\"/>"
        f"<id>{escape(i.get('guid', i['link']))}</id>"
        f"<updated>{i.get('date', '2025-03-04T07:15:00Z')}</updated>"
        f"<author><name>{escape(i.get('author', 'Redaktion'))}</name></author>"
        f"<summary>{escape(i.get('summary', 'Kurzfassung'))}</summary></entry>" for i in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(title)}</title><id>urn:test</id>"
            f"<updated>2025-03-04T07:15:00Z</updated>{entries}</feed>")


def rdf(title: str, items: list[dict]) -> str:
    entries = "".join(
        f'<item rdf:about="{escape(i["link"])}"><title>{escape(i["title"])}</title>'
        f"<link>{escape(i['link'])}</link><dc:date>{i.get('date', '2025-03-04T07:15:00Z')}</dc:date>"
        f"<description>{escape(i.get('summary', 'Kurzfassung'))}</description></item>"
        for i in items)
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<channel rdf:about="urn:test"><title>{escape(title)}</title>'
            f"<link>http://example.org/</link><description>Test</description></channel>"
            f"{entries}</rdf:RDF>")
