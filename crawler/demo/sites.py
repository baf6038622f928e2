"""The demo's five news sites: their look, and who republishes which story how.

Everything a test needs to know about the demo is data here: the sites (``STYLES``), every page
that exists (``COPIES``: which story, on which site, changed how), which pages are copies of one
story (``expected_stories``) and which stories must never merge (``MUST_STAY_APART``).

The sites:

- ``rheinblick`` (127.0.0.11): a German regional daily, RSS 2.0 (two feeds), sitemap index with a
  Google News sitemap. Takes wire copy and updates it.
- ``harbourherald`` (127.0.0.12): an English local paper, Atom, gzipped sitemap; its automated
  markets desk writes market-close reports from one template.
- ``lindenpresse`` (127.0.0.13): a German news agency (wire), RDF/RSS 1.0, plain sitemap; writes
  automated earthquake reports from one template.
- ``klartext`` (127.0.0.14): a German content farm on a blog engine, RSS 2.0 with utm-tagged links;
  pastes a channel promo under every headline, re-dates, edits sloppily, has comment forms.
- ``netzschau`` (127.0.0.15): a bilingual aggregator, Atom; full copies with a "Read more" link,
  teasers holding the first paragraphs only, a comment form.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .texts import Story, load_stories


@dataclass(frozen=True)
class SiteStyle:
    """How one site looks and what it serves besides articles."""

    name: str
    title: str
    host: str
    lang: str
    domain: str                          # the site's pretend domain, for guids and e-mail
    tagline: str
    feed_format: str                     # "rss2", "atom" or "rdf"
    feeds: dict[str, tuple[str, str]]    # feed key -> (path, title)
    sitemap: str                         # "plain", "index+news" or "gzip"
    nav_home: str
    category_path: str                   # format with {slug}
    about: tuple[str, str, str]          # (path, link label, page text)
    cookie: tuple[str, str]              # (banner text, button label)
    sidebar_title: str
    footer: str
    byline: str                          # format with {author}
    date_style: str                      # a key of render.DATE_STYLES
    css: str                             # class prefix, so every template looks different
    more_label: str | None = None        # the "read more" link text, if not the usual one
    jsonld: bool = True                  # JSON-LD NewsArticle in the head
    house_author: str | None = None      # content farms credit themselves
    robots_extra: str = "Disallow:\n"     # rules for every crawler (a group needs one)
    extra_pages: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (title, text)


STYLES: dict[str, SiteStyle] = {s.name: s for s in [
    SiteStyle(
        name="rheinblick", title="Rheinblick", host="127.0.0.11", lang="de",
        domain="rheinblick.example", tagline="Nachrichten von Rhein, Mosel und Eifel",
        feed_format="rss2",
        feeds={"main": ("/feed/alle.xml", "Rheinblick – Alle Nachrichten"),
               "politik": ("/feed/politik.xml", "Rheinblick – Politik")},
        sitemap="index+news", nav_home="Startseite", category_path="/{slug}/",
        about=("/impressum", "Impressum",
               "Rheinblick Medien GmbH, Uferstraße 12, Koblenz. Verantwortlich für den Inhalt: "
               "die Chefredaktion."),
        cookie=("Wir verwenden Cookies und ähnliche Technologien, um Inhalte zu personalisieren "
                "und Zugriffe zu analysieren. Mit „Alle akzeptieren“ stimmen Sie dem zu.",
                "Alle akzeptieren"),
        sidebar_title="Mehr zum Thema",
        footer="© 2024 Rheinblick Medien GmbH · Alle Rechte vorbehalten",
        byline="Von {author}", date_style="de-numeric", css="rb",
        robots_extra="Disallow: /suche\nDisallow: /intern/\n",
    ),
    SiteStyle(
        name="harbourherald", title="The Harbour Herald", host="127.0.0.12", lang="en",
        domain="harbourherald.example", tagline="News for Port Elsmere and the islands",
        feed_format="atom",
        feeds={"main": ("/feeds/latest.atom", "The Harbour Herald: latest")},
        sitemap="gzip", nav_home="Home", category_path="/{slug}/",
        about=("/about-us/", "About us",
               "The Harbour Herald has reported on Port Elsmere and the islands since 1887."),
        cookie=("We use cookies to give you the best experience on our website. You can change "
                "your preferences at any time.", "Accept all"),
        sidebar_title="Most read",
        footer="© The Harbour Herald Ltd. Registered in England and Wales.",
        byline="By {author}", date_style="en-long", css="hh",
        robots_extra="Disallow: /search\n",
    ),
    SiteStyle(
        name="lindenpresse", title="Lindenpresse", host="127.0.0.13", lang="de",
        domain="lindenpresse.example", tagline="Nachrichtenagentur – Meldungen im Überblick",
        feed_format="rdf",
        feeds={"main": ("/rdf/meldungen.rdf", "Lindenpresse Meldungen")},
        sitemap="plain", nav_home="Meldungen", category_path="/ressort/{slug}/",
        about=("/impressum", "Impressum",
               "Lindenpresse Agentur GmbH. Die Meldungen sind für Abonnenten bestimmt."),
        cookie=("Diese Website nutzt nur technisch notwendige Cookies.", "Verstanden"),
        sidebar_title="Weitere Meldungen",
        footer="Lindenpresse Agentur GmbH · Nutzung nur im Rahmen eines Abonnements",
        byline="{author}, lp", date_style="wire", css="lp", jsonld=False,
        robots_extra="Disallow: /intern/\n",
    ),
    SiteStyle(
        name="klartext", title="Klartext Kompass", host="127.0.0.14", lang="de",
        domain="klartext-kompass.example", tagline="Nachrichten. Meinungen. Krypto.",
        feed_format="rss2",
        feeds={"main": ("/feed/", "Klartext Kompass")},
        sitemap="plain", nav_home="Start", category_path="/category/{slug}/",
        about=("/impressum/", "Impressum", "Klartext Kompass ist ein privates Nachrichtenblog."),
        cookie=("Wir nutzen Cookies 🍪 für ein besseres Surferlebnis.", "Ok, passt!"),
        sidebar_title="Neueste Beiträge",
        footer="© 2025 Klartext Kompass | Mit Liebe gebloggt",
        byline="Veröffentlicht von {author}", date_style="de-farm", css="wp",
        house_author="Kompass-Redaktion", more_label="Weiterlesen",
        robots_extra="Disallow: /wp-admin/\nAllow: /wp-admin/admin-ajax.php\n",
        extra_pages={"/kanal/": ("Unser Kanal", "Tritt unserem Kanal bei und verpasse nichts mehr!")},
    ),
    SiteStyle(
        name="netzschau", title="Netzschau", host="127.0.0.15", lang="de",
        domain="netzschau.example", tagline="Das Beste aus dem Netz · The best of the web",
        feed_format="atom",
        feeds={"main": ("/atom.xml", "Netzschau")},
        sitemap="plain", nav_home="Start", category_path="/thema/{slug}/",
        about=("/ueber-uns", "Über uns",
               "Netzschau sammelt Nachrichten aus vielen Quellen. Rechte bei den Quellen."),
        cookie=("Netzschau verwendet Cookies für Statistik. Netzschau uses cookies for statistics.",
                "OK"),
        sidebar_title="Auch interessant",
        footer="Netzschau ist ein Nachrichtenaggregator. Alle Rechte bei den jeweiligen Quellen.",
        byline="{author}", date_style="iso-date", css="ns", jsonld=False,
        robots_extra="Disallow: /suche\nDisallow: /konto/\n",
    ),
]}

#: The channel promo the content farm pastes under every headline (written for this demo).
PROMO = (
    "Keine Lust mehr auf Nachrichten, die nach Amtsstube klingen? 😴📰 Dann ist unser Kanal "
    "„Klartext Kompass“ genau dein Ding! Hier gibt's jeden Tag das Wichtigste aus Politik, Geld "
    "und Technik – und eine ordentliche Prise Ironie obendrauf! 🔥😉",
    "👉 Jetzt dem Kanal beitreten",
)

#: A comment left under a copy (comments are part of real pages, and extractors may keep them).
COMMENTS = {
    "en": ("Sandra K.", "Great to see some good news about the sound for once! 🌱"),
    "de": ("Werner", "Wieder nur Ankündigungen. Mal sehen, was davon übrig bleibt."),
}


@dataclass(frozen=True)
class Copy:
    """One article page: a story as one site publishes it.

    An original has no changes; a republished copy says what the republisher did to the text.
    """

    site: str
    story: str
    kind: str = "original"
    hours_later: float = 0.0                 # published this long after the story
    published: str | None = None             # a date of its own (re-dated copies)
    title: str | None = None                 # a headline of its own
    drop: tuple[int, ...] = ()               # paragraphs left out (indexes into the story)
    replace: tuple[tuple[str, str], ...] = ()  # edits: figures, typos, person changes
    add: tuple[tuple[int, str], ...] = ()    # (before paragraph index, extra name)
    first: int | None = None                 # a teaser keeps only the first paragraphs
    promo: bool = False                      # channel promo under the headline
    more_from: str | None = None             # a "read more" link to this site's copy
    comments: bool = False                   # a comment form (and a comment) below the text
    feeds: tuple[str, ...] = ("main",)
    utm: str = ""                            # tracking query the feed puts on the link

    @property
    def id(self) -> str:
        return f"{self.site}/{self.story}"


_UTM = "?utm_source=rss&utm_medium=rss&utm_campaign=feed"

#: Every article page of the demo. Originals first, then the copies, site by site.
COPIES: tuple[Copy, ...] = (
    # the wire
    Copy("lindenpresse", "oder-gespraeche-wien"),
    Copy("lindenpresse", "windpark-nordlicht"),
    Copy("lindenpresse", "hochwasser-mosel"),
    Copy("lindenpresse", "erdbeben-albstadt"),
    Copy("lindenpresse", "erdbeben-landau"),
    Copy("lindenpresse", "barockorgel-heiligenbrunn"),
    # the regional daily: own stories, wire copies, an update
    Copy("rheinblick", "oder-abkommen-goerlitz", feeds=("main", "politik")),
    Copy("rheinblick", "baecker-nachwuchs"),
    Copy("rheinblick", "vier-tage-woche"),
    Copy("rheinblick", "oder-gespraeche-wien", kind="wire copy", hours_later=0.6,
         feeds=("main", "politik")),
    Copy("rheinblick", "erdbeben-albstadt", kind="wire copy", hours_later=1.5),
    Copy("rheinblick", "hochwasser-mosel", kind="updated", hours_later=31,
         title="Hochwasser an der Mosel: Zahl der Evakuierten steigt auf 1.400",
         replace=(("rund 800 Menschen", "rund 1.400 Menschen"), ("8,40 Meter", "8,95 Meter"),
                  ("bis Freitagmorgen", "bis Samstagmorgen")),
         add=((2, "update"),)),
    # the English paper
    Copy("harbourherald", "ferry-terminal"),
    Copy("harbourherald", "library-of-things"),
    Copy("harbourherald", "market-close-rally"),
    Copy("harbourherald", "seagrass-drones"),
    Copy("harbourherald", "market-close-slide"),
    Copy("harbourherald", "lighthouse-gull-point", utm="?utm_source=atom&utm_medium=feed"),
    # the content farm
    Copy("klartext", "oder-gespraeche-wien", kind="promo + read more", hours_later=20,
         promo=True, more_from="lindenpresse", replace=(("bemerkte er", "bemerkte ich"),),
         utm=_UTM),
    Copy("klartext", "oder-abkommen-goerlitz", kind="re-dated + comment form",
         published="2025-12-24T09:14:00+01:00", promo=True, comments=True, utm=_UTM),
    Copy("klartext", "vier-tage-woche", kind="lightly edited", hours_later=40, promo=True,
         title="Vier Tage arbeiten, voll bezahlt: Bad Lindenau wagt das Experiment",
         drop=(4,), replace=(("Bürgermeister Stefan Kehl", "Bürgermeiser Stefan Kehl"),
                             ("in der Verwaltung", "in der Verwaltnug")),
         utm=_UTM),
    # the aggregator
    Copy("netzschau", "windpark-nordlicht", kind="teaser", hours_later=3, first=2,
         more_from="lindenpresse"),
    Copy("netzschau", "ferry-terminal", kind="read more", hours_later=2,
         more_from="harbourherald"),
    Copy("netzschau", "library-of-things", kind="teaser", hours_later=1, first=2,
         more_from="harbourherald"),
    Copy("netzschau", "seagrass-drones", kind="comment form", hours_later=5, comments=True),
)

#: Stories that share a topic or a template but are different news: they must never merge.
MUST_STAY_APART: tuple[tuple[str, str, str], ...] = (
    ("oder-gespraeche-wien", "oder-abkommen-goerlitz",
     "same ministers, same river, two different meetings (no shared five-word phrase)"),
    ("erdbeben-albstadt", "erdbeben-landau", "one template, two different earthquakes"),
    ("market-close-rally", "market-close-slide", "one template, two different trading days"),
)

#: The article that two feeds of one site list: it must be stored once, linked to both feeds.
IN_TWO_FEEDS = "rheinblick/oder-abkommen-goerlitz"


@dataclass(frozen=True)
class Page:
    """An article page's content, as its site shows it (no URLs: those need the ports)."""

    copy: Copy
    style: SiteStyle
    path: str
    title: str
    summary: str
    author: str
    published: datetime
    modified: datetime
    lang: str
    category: str
    tags: tuple[str, ...]
    paragraphs: tuple[str, ...]
    story_paragraphs: int                    # how many the full story has (teasers show fewer)


def slugify(text: str, words: int = 8) -> str:
    """``Görlitzer Erklärung: …`` -> ``goerlitzer-erklaerung-…`` the way CMSs make URL slugs."""
    text = text.lower()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(a, b)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join(re.findall(r"[a-z0-9]+", text)[:words])


def _edit(text: str, copy: Copy) -> str:
    for old, new in copy.replace:
        text = text.replace(old, new)
    return text


def _paragraphs(story: Story, copy: Copy) -> tuple[str, ...]:
    extras = dict(copy.add)
    out: list[str] = []
    for i, para in enumerate(story.paragraphs):
        if i in extras:
            out.extend(story.extras[extras[i]])
        if i not in copy.drop:
            out.append(_edit(para, copy))
    return tuple(out[: copy.first] if copy.first else out)


def _path(style: SiteStyle, title: str, category: str, when: datetime, number: int) -> str:
    slug = slugify(title)
    if style.name == "rheinblick":
        return f"/{slugify(category)}/{when:%Y/%m}/{slug}-{1048200 + number}.html"
    if style.name == "harbourherald":
        return f"/{slugify(category)}/{when:%Y/%m/%d}/{slug}/"
    if style.name == "lindenpresse":
        return f"/meldung/{when:%Y%m%d}-{number:04d}-{slug}"
    if style.name == "klartext":
        return f"/{when:%Y/%m/%d}/{slug}/"
    return f"/digest/{slug}-{number + 301}"


def make_page(copy: Copy, number: int, stories: dict[str, Story] | None = None) -> Page:
    """Apply a copy's changes to its story."""
    story = (stories or load_stories())[copy.story]
    style = STYLES[copy.site]
    published = (datetime.fromisoformat(copy.published) if copy.published
                 else story.published + timedelta(hours=copy.hours_later))
    title = copy.title or story.title
    return Page(
        copy=copy, style=style,
        path=_path(style, title, story.category, published, number),
        title=title, summary=_edit(story.summary, copy),
        author=style.house_author or story.author,
        published=published,
        modified=published + timedelta(hours=2) if copy.kind == "updated" else published,
        lang=story.lang, category=story.category, tags=story.tags,
        paragraphs=_paragraphs(story, copy),
        story_paragraphs=len(story.paragraphs),
    )


def all_pages() -> list[Page]:
    """Every article page of the demo, in ``COPIES`` order."""
    stories = load_stories()
    return [make_page(copy, i, stories) for i, copy in enumerate(COPIES)]


def expected_stories() -> dict[str, list[str]]:
    """Story key -> ids (``site/story``) of its copies: the grouping dedup must find."""
    groups: dict[str, list[str]] = {}
    for copy in COPIES:
        groups.setdefault(copy.story, []).append(copy.id)
    return groups

