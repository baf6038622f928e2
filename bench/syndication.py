"""A labelled syndication set built from the real article bodies of the shared corpus.

Every real ground-truth body (``news-pages/*/*.json`` and the extraction benchmark's
``ground-truth/*.json``) is one story; copies are made from it with the transformations of
issue 3 (other page chrome, pasted promo, "read more" tail, comment form, edits, person
changes, teasers, truncation, re-dating, spinning, updates), all driven by one seeded
``random.Random``, and placed on sites whose chrome recurs on all their pages. Added are the
must-stay-apart cases: the two seeds (with copies of each), template stories about different
events (with copies of each event), different stories sharing background paragraphs,
articles quoting one sentence of another, and one site's short briefs.

Nothing of the corpus is stored in the repository: the set is rebuilt from it at every run.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
# as tests/conftest.py: the env overrides; a worktree two levels down also finds /work/shared
_SHARED = next((p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()),
               ROOT.parent / "shared")
CORPUS = Path(os.environ.get("CRAWLER_CORPUS", _SHARED / "corpus"))
SEEDS = Path(os.environ.get("CRAWLER_SEEDS", _SHARED / "seeds"))

WORD = re.compile(r"[^\W\d_]{3,}")
NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


@dataclass
class Doc:
    id: int
    story: str
    kind: str            # original, chrome, promo, teaser, spun20, ...
    site: str
    lang: str
    title: str
    text: str
    published: str
    #: which part of the set: real (corpus stories), template, heavy, seed, background, quoting, brief
    group: str = "real"
    #: figures an updated version changed
    figures_changed: int = 0


@dataclass
class LabelledSet:
    docs: list[Doc] = field(default_factory=list)
    #: groups of story ids that must stay apart from each other, by case
    apart: dict[str, list[list[str]]] = field(default_factory=dict)

    def add(self, **kw) -> Doc:
        doc = Doc(id=len(self.docs) + 1, **kw)
        self.docs.append(doc)
        return doc


# ---------------------------------------------------------------- page chrome per site

CHROME = {
    "de": {
        "header": ["Startseite › Nachrichten › Politik", "Lesezeit: 3 Minuten", "Teilen auf Facebook Twitter WhatsApp",
                   "Anzeige", "Menü Suche Abo Login"],
        "footer": ["© {site} 2024 – Alle Rechte vorbehalten. Impressum Datenschutz Kontakt",
                   "Mehr zum Thema: Politik, Wirtschaft, Ausland",
                   "Diese Meldung wurde automatisch aus dem Agenturfeed übernommen.",
                   "Folgen Sie uns auf Facebook und Instagram, um keine Nachricht zu verpassen."],
        "promo": ["Hast du genug von Bürokratie und Politik? Dann ist unser Kanal genau das Richtige für dich! "
                  "Hier gibt es nicht nur die heißesten News, sondern auch eine Prise Humor! 🚀😎\n👉 Beitreten zu Telegram",
                  "Jetzt unseren Newsletter abonnieren und jeden Morgen die wichtigsten Nachrichten des Tages "
                  "kostenlos ins Postfach bekommen. Hier anmelden!"],
        "tail": ["Weiterlesen", "Mehr lesen …", "Den ganzen Artikel lesen"],
        "comments": "Schreibe einen Kommentar\nDeine E-Mail-Adresse wird nicht veröffentlicht. "
                    "Erforderliche Felder sind mit * markiert\nKommentar\nName * E-Mail * Website\nKommentar abschicken",
        "months": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
                   "Oktober", "November", "Dezember"],
        "person": [(" er ", " ich "), ("sagte er", "sagte ich"), (" sein ", " mein "), (" seine ", " meine ")],
    },
    "en": {
        "header": ["Home › News › World", "3 min read", "Share on Facebook Twitter Email", "Advertisement",
                   "Menu Search Subscribe Sign in"],
        "footer": ["© {site} 2024. All rights reserved. Privacy policy Terms of use Contact us",
                   "More on this story: politics, business, world",
                   "This story was published from a wire agency feed.",
                   "Follow us on Facebook and Instagram so you never miss a story."],
        "promo": ["Tired of the same old news? Join our channel for the hottest stories with a pinch of sarcasm "
                  "and fun! 🚀😎\n👉 Join on Telegram",
                  "Sign up for our newsletter and get the most important news of the day in your inbox every "
                  "morning, free of charge. Subscribe now!"],
        "tail": ["Read more", "Continue reading …", "Read the full story"],
        "comments": "Leave a Reply\nYour email address will not be published. Required fields are marked *\n"
                    "Comment\nName * Email * Website\nPost Comment",
        "months": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                   "October", "November", "December"],
        "person": [(" he ", " I "), ("he said", "I said"), (" his ", " my "), (" him ", " me ")],
    },
}


def chrome(lang: str) -> dict:
    return CHROME["de" if lang == "de" else "en"]


@dataclass
class Site:
    name: str
    lang: str
    header: list[str]
    footer: list[str]
    promo: str | None
    comments: bool

    def dress(self, text: str) -> str:
        """The text as this site's extracted article shows it: its chrome around the body."""
        parts = list(self.header)
        if self.promo:
            parts.append(self.promo)
        parts.append(text)
        if self.comments:
            parts.append(chrome(self.lang)["comments"])
        parts.extend(self.footer)
        return "\n\n".join(parts)


def make_sites(rng: random.Random, n: int) -> list[Site]:
    sites = []
    for i in range(n):
        lang = "de" if i % 2 == 0 else "en"
        c = chrome(lang)
        name = f"site{i:02d}.example"
        sites.append(Site(
            name, lang,
            rng.sample(c["header"], rng.randint(0, 2)),
            [f.format(site=name) for f in rng.sample(c["footer"], rng.randint(1, 2))],
            rng.choice(c["promo"]) if rng.random() < 0.4 else None,
            rng.random() < 0.3))
    return sites


# ---------------------------------------------------------------- sources


def load_bodies(corpus: Path = CORPUS, min_words: int = 80) -> list[dict]:
    """Real article bodies with at least ``min_words`` words, in a stable order (a new list of
    the bodies read once a process: callers shuffle it, none changes a body)."""
    return list(_load_bodies(Path(corpus), min_words))


@functools.lru_cache(maxsize=4)
def _load_bodies(corpus: Path, min_words: int) -> tuple[dict, ...]:
    paths = sorted(corpus.glob("news-pages/*/*.json")) + \
        sorted(corpus.glob("extraction-benchmark/ground-truth/*.json"))
    bodies = []
    seen: dict[str, int] = {}  # 5-word shingle -> index of the body that has it
    for path in paths:
        d = json.loads(path.read_text(encoding="utf-8"))
        body = (d.get("body") or "").strip()
        words = body.lower().split()
        if len(words) < min_words:
            continue
        # The corpus holds a few pages of one story (republished texts): keep the first only,
        # so that every source body is a story of its own (plain shingle sets, not the project).
        shingles = {" ".join(words[i:i + 5]) for i in range(len(words) - 4)}
        overlap = sum(1 for sh in shingles if sh in seen)
        if overlap > 0.2 * len(shingles):
            continue
        for sh in shingles:
            seen.setdefault(sh, len(bodies))
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n|\n", body) if p.strip()]
        if len(paragraphs) < 3:
            continue
        bodies.append({"id": d["id"], "lang": d.get("lang") or "en", "title": d.get("title") or "",
                       "paragraphs": paragraphs, "published": d.get("published") or "2024-01-01",
                       "source": source_of(d)})
    return tuple(bodies)


def source_of(page: dict) -> str:
    """The publisher a corpus page comes from: its host without ``www.``."""
    host = urlsplit(page.get("url") or "").hostname or page.get("publisher") or page["id"]
    return host.removeprefix("www.")


def part_of(source: str) -> str:
    """``dev`` or ``test``, from a stable hash of the source: all pages of a publisher on one side."""
    return "dev" if hashlib.sha1(source.encode("utf-8")).digest()[0] % 2 == 0 else "test"


def vocabulary(bodies: list[dict]) -> dict[str, list[str]]:
    vocab: dict[str, set[str]] = {}
    for b in bodies:
        vocab.setdefault(b["lang"], set()).update(WORD.findall(" ".join(b["paragraphs"])))
    return {lang: sorted(words) for lang, words in vocab.items()}


# ---------------------------------------------------------------- transformations


def spin(text: str, rate: float, rng: random.Random, words: list[str]) -> str:
    """An article spinner: replace ``rate`` of the words (not numbers) by other words."""
    def swap(m: re.Match) -> str:
        if rng.random() >= rate:
            return m.group(0)
        new = rng.choice(words)
        return new.capitalize() if m.group(0)[0].isupper() else new.lower()
    return WORD.sub(swap, text)


def typos(text: str, rate: float, rng: random.Random) -> str:
    def typo(m: re.Match) -> str:
        w = m.group(0)
        if rng.random() >= rate or len(w) < 4:
            return w
        i = rng.randrange(1, len(w) - 2)
        return w[:i] + w[i + 1] + w[i] + w[i + 2:]
    return WORD.sub(typo, text)


def filler(rng: random.Random, words: list[str], n: int) -> str:
    return " ".join(rng.choice(words) for _ in range(n)).capitalize() + "."


def change_numbers(text: str, rng: random.Random, how_many: int) -> str:
    numbers = list(NUMBER.finditer(text))
    chosen = set(rng.sample(range(len(numbers)), min(how_many, len(numbers))))
    out, last = [], 0
    for i, m in enumerate(numbers):
        out.append(text[last:m.start()])
        out.append(str(int(re.sub(r"\D", "", m.group(0))[:6] or 0) + rng.randint(2, 40))
                   if i in chosen else m.group(0))
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def date_line(rng: random.Random, lang: str) -> tuple[str, str]:
    year, month, day = rng.randint(2019, 2025), rng.randint(1, 12), rng.randint(1, 28)
    name = chrome(lang)["months"][month - 1]
    line = f"{name} {day}, {year}" if lang != "de" else f"{day}. {name} {year}"
    return line, f"{year}-{month:02d}-{day:02d}"


def transform(kind: str, paragraphs: list[str], lang: str, rng: random.Random,
              words: list[str]) -> tuple[str, str | None]:
    """The body of a copy of kind ``kind`` and, for re-dated copies, its new date."""
    c = chrome(lang)
    text = "\n\n".join(paragraphs)
    if kind in ("chrome", "original"):
        return text, None
    if kind == "promo":
        return rng.choice(c["promo"]) + "\n\n" + text, None
    if kind == "tail":
        return text + "\n\n" + rng.choice(c["tail"]), None
    if kind == "comments":
        return text + "\n\n" + c["comments"], None
    if kind == "edited":
        ps = list(paragraphs)
        if len(ps) > 3:
            del ps[rng.randrange(1, len(ps))]
        ps.insert(rng.randrange(1, len(ps) + 1), filler(rng, words, rng.randint(15, 30)))
        if len(ps) > 3:
            i = rng.randrange(1, len(ps) - 1)
            ps[i], ps[i + 1] = ps[i + 1], ps[i]
        return typos("\n\n".join(ps), 0.03, rng), None
    if kind == "person":
        for old, new in c["person"]:
            text = text.replace(old, new)
        return typos(text, 0.02, rng), None
    if kind == "teaser":
        total = sum(len(p.split()) for p in paragraphs)
        keep, count = [], 0
        for p in paragraphs:
            keep.append(p)
            count += len(p.split())
            if count >= max(40, 0.2 * total) and len(keep) >= 1:
                break
        return "\n\n".join(keep) + "\n\n" + rng.choice(c["tail"]), None
    if kind == "truncated":
        tokens = text.split(" ")
        cut = max(40, int(len(tokens) * rng.uniform(0.25, 0.5)))
        return " ".join(tokens[:cut]) + " …", None
    if kind == "redated":
        line, date = date_line(rng, lang)
        return line + "\n\n" + text, date
    if kind.startswith("spun"):
        return spin(text, int(kind[4:]) / 100, rng, words), None
    if kind == "updated":
        body = change_numbers(text, rng, 2)
        ps = body.split("\n\n")
        ps.insert(rng.randrange(1, len(ps) + 1),
                  filler(rng, words, 20) + f" {rng.randint(10, 99)} " + filler(rng, words, 8))
        return "\n\n".join(ps), None
    raise ValueError(kind)


COPY_KINDS = ["promo", "tail", "comments", "edited", "person", "truncated", "redated", "spun10",
              "spun20", "spun30", "updated"]


# ---------------------------------------------------------------- template stories

TEMPLATES = {
    ("quake", "de"): "Ein Erdbeben der Stärke {mag} hat am {day}. {month} um {hour}:{minute} Uhr Ortszeit die Region "
                     "um {place} erschüttert. Das Epizentrum lag nach Angaben der Erdbebenwarte in {depth} Kilometern "
                     "Tiefe, etwa {dist} Kilometer von {place} entfernt.\n\nBerichte über Schäden oder Verletzte lagen "
                     "zunächst nicht vor. Die Behörden kündigten an, die Lage weiter zu beobachten.",
    ("quake", "en"): "A magnitude {mag} earthquake struck the {place} region at {hour}:{minute} local time on {month} "
                     "{day}. The epicentre was at a depth of {depth} kilometres, about {dist} kilometres from {place}, "
                     "the seismological service said.\n\nThere were no immediate reports of damage or injuries. "
                     "Authorities said they were monitoring the situation.",
    ("market", "de"): "Der DAX hat den Handel am {day}. {month} mit einem {trend} von {pct} Prozent bei {index} Punkten "
                      "beendet. Der MDAX schloss bei {index2} Punkten, der Euro kostete zuletzt {fx} Dollar.\n\n"
                      "Größter Gewinner im DAX war {place} mit einem Plus von {pct2} Prozent. Der Umsatz lag bei "
                      "{volume} Millionen Euro.",
    ("market", "en"): "The FTSE 100 closed {trend} {pct} per cent at {index} points on {month} {day}. The FTSE 250 "
                      "ended at {index2} points, while the pound bought {fx} dollars.\n\n{place} was the biggest "
                      "riser, up {pct2} per cent. Turnover was {volume} million pounds.",
    ("football", "de"): "{place} hat am {day}. Spieltag mit {goals}:{goals2} gegen {team} gewonnen. Vor {volume} "
                        "Zuschauern brachte {player} die Gastgeber in der {minute}. Minute in Führung.\n\nIn der "
                        "Tabelle steht {place} damit auf Platz {dist} mit {depth} Punkten.",
    ("football", "en"): "{place} beat {team} {goals}-{goals2} on matchday {day}. In front of {volume} spectators "
                        "{player} gave the hosts the lead in the {minute}th minute.\n\nThe win lifts {place} to "
                        "{dist}th place in the table with {depth} points.",
    ("weather", "de"): "Der Deutsche Wetterdienst warnt für den Landkreis {place} vor {trend} mit Böen bis {depth} "
                       "Kilometer pro Stunde. Die Warnung gilt vom {day}. {month} {hour}:00 Uhr bis {dist}:00 Uhr.\n\n"
                       "Die Behörden raten, Aufenthalte im Freien zu vermeiden und lose Gegenstände zu sichern.",
}
PLACES = ["Tokio", "Lima", "Izmir", "Neapel", "Reykjavik", "Manila", "Anchorage", "Santiago", "Kreta", "Bali",
          "Bremen", "Kassel", "Siemens", "Bayer", "Allianz", "Lyon", "Porto", "Leeds"]
TEAMS = ["Hannover 96", "FC Augsburg", "Hertha BSC", "VfL Bochum", "Union Berlin", "SC Freiburg"]
PLAYERS = ["Müller", "Schmidt", "Kane", "Walker", "Ortega", "Nakamura"]


def template_event(template: str, rng: random.Random, lang: str) -> str:
    months = chrome(lang)["months"]
    return template.format(
        mag=f"{rng.randint(40, 79) / 10}".replace(".", "," if lang == "de" else "."),
        day=rng.randint(1, 28), month=rng.choice(months), hour=rng.randint(0, 23),
        minute=f"{rng.randint(0, 59):02d}", place=rng.choice(PLACES), depth=rng.randint(5, 120),
        dist=rng.randint(2, 18), trend=rng.choice(["Sturmböen", "Gewitter", "Minus", "Plus", "up", "down"]),
        pct=f"{rng.randint(1, 350) / 100}", pct2=f"{rng.randint(100, 900) / 100}",
        index=f"{rng.randint(14000, 19000)}", index2=f"{rng.randint(24000, 28000)}",
        fx=f"{rng.randint(100, 120) / 100}", volume=rng.randint(1000, 90000), goals=rng.randint(0, 4),
        goals2=rng.randint(0, 4), team=rng.choice(TEAMS), player=rng.choice(PLAYERS))


# ---------------------------------------------------------------- the set


def build(seed: int = 20240601, n_sites: int = 24, n_stories: int | None = None,
          corpus: Path = CORPUS, seeds: Path = SEEDS) -> LabelledSet:
    """Build the labelled set (deterministic for a given ``seed`` and corpus)."""
    rng = random.Random(seed)
    bodies = load_bodies(corpus)
    rng.shuffle(bodies)
    vocab = vocabulary(bodies)
    sites = make_sites(rng, n_sites)
    out = LabelledSet()
    held_out, bodies = bodies[:40], bodies[40:]
    if n_stories is not None:
        bodies = bodies[:n_stories]

    def place(story: str, kind: str, lang: str, title: str, body: str, published: str,
              group: str = "real", site: Site | None = None) -> Doc:
        site = site or rng.choice(sites)
        return out.add(story=story, kind=kind, site=site.name, lang=lang, title=title,
                       text=site.dress(body), published=published, group=group)

    # 1. real stories and their copies
    for b in bodies:
        story, lang, words = b["id"], b["lang"], vocab[b["lang"]]
        kinds = ["original", "chrome", "teaser"] + rng.sample(COPY_KINDS, 3)
        if not any(k.startswith("spun") for k in kinds):
            kinds.append(rng.choice(["spun10", "spun20", "spun30"]))
        for kind in kinds:
            body, date = transform(kind, b["paragraphs"], lang, rng, words)
            title = b["title"] if kind != "updated" else "UPDATE: " + b["title"]
            place(story, kind, lang, title, body, date or b["published"])

    # 2. the seeds: different stories on one topic, each with copies
    out.apart["seeds"] = [add_seeds(place, seeds, rng, vocab["de"])]

    # 3. template stories: different events apart, copies of one event together
    groups = []
    for (family, lang), template in TEMPLATES.items():
        group = []
        for event in range(6):
            story = f"template-{family}-{lang}-{event}"
            group.append(story)
            text = template_event(template, rng, lang)
            for kind in ("original", "chrome", "chrome"):
                place(story, kind, lang, f"{family} {event}", text, "2024-03-01", group="template")
        groups.append(group)
    out.apart["templates"] = groups

    add_apart_cases(out, place, held_out, bodies, "briefs.example")
    return out


Place = Callable[..., Doc]


def add_seeds(place: Place, seeds: Path, rng: random.Random, words: list[str]) -> list[str]:
    """The two seed articles (different stories on one topic) with copies; their story ids."""
    seed_stories = []
    for path in sorted(seeds.glob("*.txt")):
        story = "seed-" + path.stem
        seed_stories.append(story)
        paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").split("\n") if p.strip()]
        for kind in ["original", "chrome", "teaser", "redated", "spun20", "person", "edited"]:
            body, date = transform(kind, paragraphs, "de", rng, words)
            place(story, kind, "de", paragraphs[0], body, date or "2025-02-06", group="seed")
    return seed_stories


def add_apart_cases(out: LabelledSet, place: Place, held_out: list[dict], bodies: list[dict],
                    brief_site_name: str) -> None:
    """Must-stay-apart cases from real bodies: shared background (``held_out[:24]``), quoting
    (among ``bodies``), one site's briefs (``held_out[24:36]``)."""
    # different stories from one wire sharing background paragraphs
    groups = []
    for i in range(8):
        a, b, bg = held_out[3 * i], held_out[3 * i + 1], held_out[3 * i + 2]
        background = bg["paragraphs"][-3:]
        pair = []
        for j, own in enumerate((a, b)):
            story = f"background-{i}-{j}"
            pair.append(story)
            text = "\n\n".join(own["paragraphs"][:4] + background)
            for kind in ("original", "chrome"):
                place(story, kind, own["lang"], own["title"], text, own["published"], group="background")
        groups.append(pair)
    out.apart["shared background"] = groups

    # an article quoting one sentence of another story
    groups = []
    real = [b for b in bodies if len(b["paragraphs"]) >= 4]
    for i in range(10):
        quoted, quoting = real[2 * i], real[2 * i + 1]
        sentence = re.split(r"(?<=[.!?])\s+", quoted["paragraphs"][1])[0]
        ps = list(quoting["paragraphs"])
        ps.insert(2, f"„{sentence}“" if quoting["lang"] == "de" else f"“{sentence}”")
        place(quoting["id"], "quoting", quoting["lang"], quoting["title"], "\n\n".join(ps),
              quoting["published"], group="quoting")
        groups.append([quoted["id"], quoting["id"]])
    out.apart["quoting"] = groups

    # one site's short briefs: only the template and boilerplate in common
    brief_site = Site(brief_site_name, "de", ["Kurz gemeldet"],
                      [f"© {brief_site_name} – Alle Rechte vorbehalten. Impressum Datenschutz"],
                      chrome("de")["promo"][1], False)
    group = []
    for i, b in enumerate(held_out[24:36]):
        story = f"brief-{i}"
        group.append(story)
        place(story, "brief", b["lang"], f"Kurz: {i}", brief_of(b["paragraphs"][2:]), b["published"],
              group="brief", site=brief_site)
    # and a page of the site's chrome around a photo caption: a few words of its own
    caption = held_out[35]["paragraphs"][1].split()[:6]
    place("brief-caption", "caption", held_out[35]["lang"], "Bild des Tages", " ".join(caption),
          held_out[35]["published"], group="brief", site=brief_site)
    out.apart["one site's briefs"] = [group + ["brief-caption"]]


#: a sentence ends at . ! or ? and a space, not after an initial or one-letter abbreviation
#: ("Xuejun C. und Hua S.", "U.S.", "z. B.")
SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\b\w[.!?])\s+")


def brief_of(paragraphs: list[str], min_words: int = 20, max_chars: int = 300) -> str:
    """A news brief from a body: its first whole sentences, two at least and as many as make
    ``min_words`` words, cut after ``max_chars`` characters at the end of a word."""
    brief: list[str] = []
    for sentence in SENTENCE_END.split(" ".join(paragraphs)):
        brief.append(sentence)
        if len(brief) >= 2 and len(" ".join(brief).split()) >= min_words:
            break
    text = " ".join(brief)
    return text if len(text) <= max_chars else text[:max_chars + 1].rsplit(" ", 1)[0]


# ---------------------------------------------------------------- dev and test parts

PARTS = ("dev", "test")
#: copies of one story unchanged on many sites: below and past the lead-key cap (50) and
#: the LSH bucket cap (100) of the defaults
HEAVY_COPIES = (60, 160)
HEAVY_SITES = 36
TEMPLATE_EVENTS = 30


def updated_copy(paragraphs: list[str], added: str, rng: random.Random) -> tuple[str, int]:
    """A later version of a story: 1-4 figures changed, ``added`` as a new last paragraph."""
    text = change_numbers("\n\n".join(paragraphs), rng, rng.randint(1, 4))
    changed = sum(a != b for a, b in zip(NUMBER.findall(text), NUMBER.findall("\n\n".join(paragraphs))))
    return text + "\n\n" + added, changed


def split_bodies(corpus: Path = CORPUS) -> dict[str, list[dict]]:
    """The corpus's bodies by part: every publisher's pages on one side (``part_of``), and no
    body (or near copy of one, see ``load_bodies``) on both."""
    out: dict[str, list[dict]] = {p: [] for p in PARTS}
    for b in load_bodies(corpus):
        out[part_of(b["source"])].append(b)
    return out


def build_part(part: str, seed: int = 1, n_sites: int = 24, heavy: tuple[int, ...] = HEAVY_COPIES,
               template_events: int = TEMPLATE_EVENTS, corpus: Path = CORPUS,
               seeds: Path = SEEDS) -> LabelledSet:
    """The labelled set of one part (``dev`` or ``test``), deterministic for ``seed``.

    Both parts have every category of ``build``; their real bodies come from different
    publishers (``split_bodies``) and their template stories from different kinds
    (``robot_news.DEV_KINDS`` / ``TEST_KINDS``). The seed chooses the copies, sites, slot
    values and which bodies play which role, never the split."""
    import robot_news

    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    rng = random.Random(f"{part}-{seed}")
    bodies = split_bodies(corpus)[part]
    if len(bodies) < 100:
        raise ValueError(f"only {len(bodies)} corpus bodies in the {part} part (is the corpus at {corpus}?)")
    rng.shuffle(bodies)
    vocab = vocabulary(bodies)
    sites = make_sites(rng, max(n_sites, 2))
    wire_sites = make_sites(rng, HEAVY_SITES) if heavy else []
    for i, site in enumerate(wire_sites):
        site.name = f"{part}-wire{i:02d}.example"
    for site in sites:
        site.name = f"{part}-{site.name}"
    out = LabelledSet()
    held_out, reserve, heavy_bodies = bodies[:36], bodies[36:56], bodies[56:56 + len(heavy)]
    stories = bodies[56 + len(heavy):]
    # added paragraphs of updated versions: each used once, so updates share no text
    added = {}
    for b in reserve:
        added.setdefault(b["lang"], []).extend(p for p in b["paragraphs"] if len(p.split()) >= 15)
    for ps in added.values():
        rng.shuffle(ps)

    def added_paragraph(lang: str) -> str:
        pool = added.get(lang) or max(added.values(), key=len)
        return pool.pop()

    def place(story: str, kind: str, lang: str, title: str, body: str, published: str, group: str,
              site: Site | None = None) -> Doc:
        site = site or rng.choice(sites)
        return out.add(story=story, kind=kind, site=site.name, lang=lang, title=title,
                       text=site.dress(body), published=published, group=group)

    # 1. real stories and their copies; about half get an updated version
    copy_kinds = [k for k in COPY_KINDS if k != "updated"]
    for b in stories:
        story, lang, words = b["id"], b["lang"], vocab[b["lang"]]
        kinds = ["original", "chrome", "teaser"] + rng.sample(copy_kinds, 3)
        if not any(k.startswith("spun") for k in kinds):
            kinds.append(rng.choice(["spun10", "spun20", "spun30"]))
        for kind in kinds:
            body, date = transform(kind, b["paragraphs"], lang, rng, words)
            place(story, kind, lang, b["title"], body, date or b["published"], "real")
        if rng.random() < 0.5:
            extra = added_paragraph(lang)
            body, changed = updated_copy(b["paragraphs"], extra, rng)
            title = rng.choice([f"UPDATE: {b['title']}", " ".join(extra.split()[:9]).rstrip(",.;:")])
            place(story, "updated", lang, title, body, b["published"], "real").figures_changed = changed

    # 2. the seeds (the same two in both parts: the project's fixed must-stay-apart case)
    out.apart["seeds"] = [add_seeds(place, seeds, rng, vocab["de"])]

    # 3. robot-written template stories: different events apart, copies and updates together
    groups = []
    for kind_name in (robot_news.DEV_KINDS if part == "dev" else robot_news.TEST_KINDS):
        kind = robot_news.KINDS[kind_name]
        for lang in ("de", "en"):
            robot_site = Site(f"{part}-{kind_name}-{lang}.example", lang, [], [], None, False)
            group = []
            for event, slots in enumerate(robot_news.events(kind_name, lang, template_events, rng)):
                story = f"template-{kind_name}-{lang}-{event}"
                group.append(story)
                title, ps = kind.write(slots, lang)
                date = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                place(story, "original", lang, title, "\n\n".join(ps), date, "template", robot_site)
                for _ in range(rng.randint(1, 2)):  # other chrome, promo, re-dated, read-more tail
                    body, new_date = transform(rng.choice(["chrome", "chrome", "promo", "redated", "tail"]),
                                               ps, lang, rng, vocab.get(lang, []))
                    place(story, "template copy", lang, title, body, new_date or date, "template")
                if kind.update and rng.random() < 0.4:
                    new_title, new_ps, changed = kind.updated(slots, rng, lang)
                    place(story, "updated", lang, new_title, "\n\n".join(new_ps), date, "template",
                          rng.choice([robot_site, rng.choice(sites)])).figures_changed = changed
            groups.append(group)
    out.apart["templates"] = groups

    # 4. heavy syndication: one text unchanged under many URLs on many sites
    for b, copies in zip(heavy_bodies, heavy):
        story = f"heavy-{copies}-{b['id']}"
        text = "\n\n".join(b["paragraphs"])
        for i in range(copies):
            place(story, "original" if i == 0 else "syndicated", b["lang"], b["title"], text,
                  b["published"], "heavy", wire_sites[i % len(wire_sites)])

    # 5. shared background, quoting, one site's briefs
    add_apart_cases(out, place, held_out, stories, f"{part}-briefs.example")
    return out
