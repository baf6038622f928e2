"""Robot-written news: fixed phrasing with slots, as agencies and sites generate them from data.

Each template kind writes, in German and English, the report of one event (a match result,
a weather warning, an earthquake, ...) from slot values drawn by a seeded ``random.Random``:
places, teams, people, magnitudes, scores, times. Two events of one kind share most of their
words (65-85%, as measured on real robot news in issue 24) and differ in their slots; they
are different stories. ``update`` writes the later version of one event: a few figures
revised, a paragraph added at the end, a new headline; it is the same story.

The kinds are split between the benchmark's dev part and its test part (``DEV_KINDS``,
``TEST_KINDS``), so that a method tuned on dev meets template kinds it has not seen.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

MONTHS = {
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
           "Oktober", "November", "Dezember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"],
}
WEEKDAYS = {"de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
            "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]}

DE_TOWNS = ["Bielefeld", "Kassel", "Göttingen", "Paderborn", "Osnabrück", "Würzburg", "Regensburg",
            "Ingolstadt", "Heilbronn", "Pforzheim", "Ulm", "Koblenz", "Trier", "Erfurt", "Jena", "Gera",
            "Cottbus", "Rostock", "Schwerin", "Lübeck", "Kiel", "Flensburg", "Oldenburg", "Emden",
            "Hildesheim", "Wolfsburg", "Salzgitter", "Magdeburg", "Halle", "Dessau", "Zwickau", "Plauen",
            "Bamberg", "Bayreuth", "Passau", "Landshut", "Rosenheim", "Kempten", "Konstanz", "Freiburg"]
DE_DISTRICTS = ["Rhein-Sieg-Kreis", "Landkreis Harz", "Landkreis Emsland", "Kreis Lippe", "Vogelsbergkreis",
                "Landkreis Görlitz", "Ostalbkreis", "Landkreis Cham", "Kreis Steinfurt", "Landkreis Rostock",
                "Erzgebirgskreis", "Landkreis Oberallgäu", "Hochsauerlandkreis", "Landkreis Diepholz",
                "Main-Kinzig-Kreis", "Landkreis Vorpommern-Greifswald", "Eifelkreis Bitburg-Prüm",
                "Landkreis Uckermark", "Schwarzwald-Baar-Kreis", "Landkreis Stendal", "Kreis Nordfriesland",
                "Landkreis Garmisch-Partenkirchen", "Wartburgkreis", "Landkreis Cuxhaven", "Ortenaukreis",
                "Landkreis Ludwigslust-Parchim", "Kreis Soest", "Landkreis Rhön-Grabfeld", "Landkreis Bautzen",
                "Saale-Orla-Kreis", "Landkreis Osterholz", "Enzkreis", "Landkreis Kelheim", "Kreis Olpe"]
EN_TOWNS = ["Leeds", "Bristol", "Norwich", "Exeter", "Swansea", "Derby", "Preston", "Carlisle", "Dundee",
            "Inverness", "Plymouth", "Ipswich", "Reading", "Luton", "Hull", "York", "Lincoln", "Bath",
            "Wrexham", "Stirling", "Perth", "Oxford", "Cambridge", "Chester", "Durham", "Gloucester",
            "Worcester", "Hereford", "Truro", "Aberdeen", "Coventry", "Leicester", "Sunderland", "Bolton",
            "Wigan", "Blackpool", "Barnsley", "Doncaster", "Salford", "Stockport"]
EN_COUNTIES = ["Cumbria", "Devon", "Cornwall", "Norfolk", "Suffolk", "Kent", "Essex", "Dorset", "Somerset",
               "Lancashire", "North Yorkshire", "Lincolnshire", "Shropshire", "Herefordshire", "Highland",
               "Fife", "Gwynedd", "Powys", "Argyll and Bute", "Northumberland", "Durham", "Wiltshire",
               "Hampshire", "Surrey", "West Sussex", "East Sussex", "Derbyshire", "Staffordshire",
               "Aberdeenshire", "Dumfries and Galloway", "Pembrokeshire", "Oxfordshire", "Cheshire",
               "Leicestershire"]
QUAKE_PLACES = ["Izmir", "Tokio", "Lima", "Santiago", "Manila", "Anchorage", "Reykjavik", "Kreta", "Bali",
                "Neapel", "Kathmandu", "Quito", "Taipeh", "Sumatra", "Mindanao", "Hokkaido", "Kamtschatka",
                "Tonga", "Vanuatu", "Valparaíso", "Arequipa", "Oaxaca", "Guerrero", "Malatya", "Van",
                "Herat", "Kermanshah", "Tabriz", "Christchurch", "Wellington", "Sendai", "Fukushima",
                "Mexicali", "Antofagasta", "Iquique", "Ambon", "Lombok", "Sulawesi", "Papua", "Samar"]
QUAKE_PLACES_EN = [p.replace("Tokio", "Tokyo").replace("Neapel", "Naples").replace("Kreta", "Crete")
                   .replace("Taipeh", "Taipei").replace("Kamtschatka", "Kamchatka") for p in QUAKE_PLACES]
DE_CLUBS = ["Hannover 96", "FC Augsburg", "Hertha BSC", "VfL Bochum", "Union Berlin", "SC Freiburg",
            "1. FC Köln", "Werder Bremen", "FC Schalke 04", "Fortuna Düsseldorf", "Hamburger SV", "1. FC Nürnberg",
            "Karlsruher SC", "SC Paderborn", "Holstein Kiel", "Eintracht Braunschweig", "Hansa Rostock",
            "SV Darmstadt 98", "1. FC Magdeburg", "SpVgg Greuther Fürth", "1. FC Kaiserslautern",
            "FC St. Pauli", "Arminia Bielefeld", "VfL Osnabrück"]
EN_CLUBS = ["Leeds United", "Norwich City", "Bristol City", "Derby County", "Preston North End",
            "Sunderland", "Coventry City", "Hull City", "Ipswich Town", "Swansea City", "Cardiff City",
            "Stoke City", "Middlesbrough", "Blackburn Rovers", "Millwall", "Watford", "Queens Park Rangers",
            "Plymouth Argyle", "Sheffield Wednesday", "West Bromwich Albion", "Luton Town", "Reading",
            "Birmingham City", "Huddersfield Town"]
DE_BASKET = ["Alba Berlin", "Bayern München Basketball", "Telekom Baskets Bonn", "ratiopharm Ulm",
             "Brose Bamberg", "Niners Chemnitz", "MHP Riesen Ludwigsburg", "EWE Baskets Oldenburg",
             "Skyliners Frankfurt", "Würzburg Baskets", "Rostock Seawolves", "Hamburg Towers",
             "Basketball Löwen Braunschweig", "Mitteldeutscher BC", "Medi Bayreuth", "Syntainics MBC",
             "Veolia Towers", "Bayer Giants Leverkusen"]
EN_BASKET = ["London Lions", "Leicester Riders", "Sheffield Sharks", "Newcastle Eagles", "Bristol Flyers",
             "Cheshire Phoenix", "Manchester Giants", "Surrey Scorchers", "Plymouth City Patriots",
             "Caledonia Gladiators", "Worcester Wolves", "Glasgow Rocks", "Derby Trailblazers",
             "Reading Rockets", "Solent Kestrels", "Essex Rebels", "Hemel Storm", "Loughborough Riders"]
DE_FIRST = ["Lukas", "Jonas", "Leon", "Felix", "Maximilian", "Paul", "Niklas", "Tim", "Jan", "Moritz",
            "Anna", "Laura", "Julia", "Lea", "Sarah", "Katharina", "Lisa", "Miriam", "Sophie", "Johanna"]
DE_LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
           "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
           "Braun", "Krüger", "Hartmann", "Lange", "Werner", "Krause"]
EN_FIRST = ["James", "Oliver", "Harry", "Jack", "George", "Thomas", "Daniel", "Samuel", "Ryan", "Liam",
            "Emily", "Sophie", "Charlotte", "Grace", "Hannah", "Lucy", "Megan", "Chloe", "Rachel", "Amy"]
EN_LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
           "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson",
           "Clarke", "Hughes", "Edwards", "Turner", "Hill"]
DE_PARTIES = ["CDU", "SPD", "Grüne", "FDP", "AfD", "Linke", "Freie Wähler", "BSW"]
EN_PARTIES = ["Labour", "Conservatives", "Liberal Democrats", "Reform UK", "Greens", "SNP", "Plaid Cymru",
              "Independents"]
DE_COMPANIES = ["Bergmann Maschinenbau", "Nordlicht Energie", "Hansa Logistik", "Alpenblick Versicherung",
                "Rheintal Chemie", "Elbe Software", "Südwerk Automotive", "Weserstahl", "Brandt Pharma",
                "Spree Medien", "Isar Solar", "Taunus Bank", "Harzer Bau", "Ostsee Reederei", "Donau Textil",
                "Mosel Getränke", "Schwarzwald Uhren", "Lausitz Kraftwerke", "Ruhr Immobilien", "Saale Optik"]
EN_COMPANIES = ["Thornbury Holdings", "Redfern Mining", "Ashgrove Foods", "Calder Energy", "Pennine Software",
                "Marlow Insurance", "Severn Utilities", "Brackley Engineering", "Kestrel Airlines",
                "Harcourt Retail", "Linton Pharma", "Whitmore Bank", "Fenwick Logistics", "Hollis Media",
                "Ormond Telecom", "Greystone Property", "Avon Chemicals", "Tamar Shipping", "Wexford Steel",
                "Caxton Publishing"]


def _person(rng: random.Random, lang: str) -> str:
    first, last = (DE_FIRST, DE_LAST) if lang == "de" else (EN_FIRST, EN_LAST)
    return f"{rng.choice(first)} {rng.choice(last)}"


def _num(x: float, lang: str, digits: int = 1) -> str:
    s = f"{x:.{digits}f}"
    return s.replace(".", ",") if lang == "de" else s


def _date(rng: random.Random, lang: str) -> tuple[int, str, str]:
    day, month = rng.randint(1, 28), rng.randrange(12)
    weekday = rng.choice(WEEKDAYS[lang])
    return day, MONTHS[lang][month], weekday


# ---------------------------------------------------------------- the kinds
# Each writer returns (title, paragraphs) from a dict of slot values; ``slots`` draws them.


@dataclass(frozen=True)
class Update:
    """How an event's report is updated: revised slot values, a paragraph added at the end
    (``str.format`` over the slots), a headline prefix, and how many figures change."""
    revise: Callable[[dict, random.Random], dict]
    added: dict[str, str]
    headline: dict[str, str]
    figures: int


def _football_slots(rng, lang):
    home, away = rng.sample(DE_CLUBS if lang == "de" else EN_CLUBS, 2)
    g1, g2 = rng.randint(0, 4), rng.randint(0, 4)
    return {"home": home, "away": away, "g1": g1, "g2": g2, "matchday": rng.randint(1, 34),
            "crowd": rng.randint(8000, 52000), "scorer": _person(rng, lang), "scorer2": _person(rng, lang),
            "min1": rng.randint(3, 44), "min2": rng.randint(46, 90), "rank": rng.randint(1, 18),
            "points": rng.randint(3, 70), "coach": _person(rng, lang), "weekday": rng.choice(WEEKDAYS[lang])}


def _football(s, lang):
    g1, g2 = s["g1"], s["g2"]
    if lang == "de":
        result = (f"{s['home']} hat am {s['matchday']}. Spieltag mit {g1}:{g2} gegen {s['away']} gewonnen." if g1 > g2
                  else f"{s['home']} hat am {s['matchday']}. Spieltag mit {g1}:{g2} gegen {s['away']} verloren."
                  if g1 < g2 else f"{s['home']} und {s['away']} haben sich am {s['matchday']}. Spieltag "
                                  f"{g1}:{g2} unentschieden getrennt.")
        title = f"{s['home']} – {s['away']} {g1}:{g2}"
        ps = [f"{result} Vor {s['crowd']} Zuschauern im heimischen Stadion brachte {s['scorer']} die Gastgeber "
              f"in der {s['min1']}. Minute in Führung. {s['scorer2']} sorgte in der {s['min2']}. Minute für den "
              f"Endstand.",
              f"In der Tabelle steht {s['home']} damit auf Platz {s['rank']} mit {s['points']} Punkten. "
              f"Trainer {s['coach']} zeigte sich nach dem Spiel am {s['weekday']} zufrieden mit der Leistung "
              f"seiner Mannschaft.",
              f"Das nächste Spiel bestreitet {s['home']} am kommenden Wochenende auswärts."]
    else:
        result = (f"{s['home']} beat {s['away']} {g1}-{g2} on matchday {s['matchday']}." if g1 > g2
                  else f"{s['home']} lost {g1}-{g2} to {s['away']} on matchday {s['matchday']}." if g1 < g2
                  else f"{s['home']} and {s['away']} drew {g1}-{g2} on matchday {s['matchday']}.")
        title = f"{s['home']} {g1}-{g2} {s['away']}"
        ps = [f"{result} In front of {s['crowd']} spectators {s['scorer']} gave the hosts the lead in the "
              f"{s['min1']}th minute before {s['scorer2']} settled it in the {s['min2']}th minute.",
              f"The result leaves {s['home']} in {s['rank']}th place in the table with {s['points']} points. "
              f"Manager {s['coach']} said after {s['weekday']}'s game that he was pleased with his side's "
              f"performance.",
              f"{s['home']} play their next match away from home next weekend."]
    return title, ps


_FOOTBALL_UPDATE = Update(
    lambda s, rng: dict(s, crowd=s["crowd"] + rng.randint(-900, 900) or 1),
    {"de": "„Wir haben heute verdient gewonnen“, sagte {scorer} nach dem Abpfiff. Der Verein teilte später "
           "mit, dass {scorer2} wegen einer Oberschenkelverletzung mehrere Wochen ausfällt.",
     "en": "\"We deserved that today,\" {scorer} said after the final whistle. The club later said {scorer2} "
           "would miss several weeks with a thigh injury."},
    {"de": "Nach dem Spiel: ", "en": "Reaction: "}, 1)


def _basketball_slots(rng, lang):
    home, away = rng.sample(DE_BASKET if lang == "de" else EN_BASKET, 2)
    p1, p2 = rng.randint(62, 108), rng.randint(62, 108)
    if p1 == p2:
        p1 += 3
    return {"home": home, "away": away, "p1": p1, "p2": p2, "q": rng.randint(12, 34),
            "top": _person(rng, lang), "top_pts": rng.randint(14, 38), "reb": _person(rng, lang),
            "reb_n": rng.randint(8, 17), "crowd": rng.randint(2500, 14000), "wins": rng.randint(1, 25),
            "losses": rng.randint(1, 25), "weekday": rng.choice(WEEKDAYS[lang])}


def _basketball(s, lang):
    won = s["p1"] > s["p2"]
    if lang == "de":
        title = f"{s['home']} {'schlägt' if won else 'verliert gegen'} {s['away']} {s['p1']}:{s['p2']}"
        ps = [f"Die {s['home']} haben am {s['weekday']} ihr Heimspiel gegen die {s['away']} mit {s['p1']}:{s['p2']} "
              f"{'gewonnen' if won else 'verloren'}. Vor {s['crowd']} Zuschauern lagen die Gastgeber nach dem "
              f"ersten Viertel mit {s['q']} Punkten {'vorn' if won else 'zurück'}.",
              f"Bester Werfer war {s['top']} mit {s['top_pts']} Punkten, {s['reb']} holte {s['reb_n']} Rebounds. "
              f"Mit nun {s['wins']} Siegen und {s['losses']} Niederlagen bleiben die {s['home']} im Rennen um die "
              f"Playoff-Plätze.",
              "Das nächste Spiel findet am kommenden Wochenende statt."]
    else:
        title = f"{s['home']} {'beat' if won else 'lose to'} {s['away']} {s['p1']}-{s['p2']}"
        ps = [f"The {s['home']} {'beat' if won else 'lost to'} the {s['away']} {s['p1']}-{s['p2']} at home on "
              f"{s['weekday']}. In front of {s['crowd']} fans the hosts were {s['q']} points "
              f"{'ahead' if won else 'behind'} after the first quarter.",
              f"{s['top']} led all scorers with {s['top_pts']} points and {s['reb']} pulled down {s['reb_n']} "
              f"rebounds. At {s['wins']} wins and {s['losses']} losses the {s['home']} remain in the race for the "
              f"play-off places.",
              "The next game is scheduled for next weekend."]
    return title, ps


_BASKETBALL_UPDATE = Update(
    lambda s, rng: dict(s, top_pts=s["top_pts"] + 1, reb_n=s["reb_n"] + 1),
    {"de": "Die Liga korrigierte am Abend die Statistik. {top} kündigte an, nach der Saison über seine "
           "Zukunft zu entscheiden.",
     "en": "The league corrected the box score in the evening. {top} said he would decide on his future "
           "after the season."},
    {"de": "Korrigiert: ", "en": "Corrected: "}, 2)


def _weather_slots(rng, lang):
    area = rng.choice(DE_DISTRICTS if lang == "de" else EN_COUNTIES)
    kind = rng.randrange(3)
    day, month, weekday = _date(rng, lang)
    start = rng.randint(0, 20)
    return {"area": area, "kind": kind, "day": day, "month": month, "weekday": weekday, "start": start,
            "end": min(23, start + rng.randint(2, 12)), "gust": rng.randint(60, 130),
            "rain": rng.randint(15, 80), "level": rng.randint(2, 4),
            "towns": rng.sample(DE_TOWNS if lang == "de" else EN_TOWNS, 3)}


def _weather(s, lang):
    if lang == "de":
        what = ["Sturmböen", "Unwetter mit Starkregen", "schweren Gewittern"][s["kind"]]
        title = f"Unwetterwarnung für {s['area']}: {what}"
        ps = [f"Der Deutsche Wetterdienst (DWD) warnt für den {s['area']} vor {what}. Die Warnung der Stufe "
              f"{s['level']} gilt am {s['weekday']}, {s['day']}. {s['month']}, von {s['start']} Uhr bis "
              f"{s['end']} Uhr.",
              f"Es werden Böen bis {s['gust']} Kilometer pro Stunde erwartet, örtlich fallen bis zu {s['rain']} "
              f"Liter Regen pro Quadratmeter. Betroffen sind vor allem {s['towns'][0]}, {s['towns'][1]} und "
              f"{s['towns'][2]}.",
              "Die Behörden raten, Aufenthalte im Freien zu vermeiden, Abstand zu Bäumen und Gebäuden zu halten "
              "und lose Gegenstände zu sichern."]
    else:
        what = ["wind", "heavy rain", "thunderstorms"][s["kind"]]
        title = f"Weather warning for {what} issued for {s['area']}"
        ps = [f"The Met Office has issued a level {s['level']} warning for {what} covering {s['area']}. The "
              f"warning is in force on {s['weekday']} {s['day']} {s['month']} from {s['start']}:00 until "
              f"{s['end']}:00.",
              f"Gusts of up to {s['gust']} km/h are expected and up to {s['rain']} mm of rain could fall in "
              f"places, with {s['towns'][0]}, {s['towns'][1]} and {s['towns'][2]} most at risk.",
              "People are advised to avoid unnecessary travel, keep away from trees and buildings and secure "
              "loose objects."]
    return title, ps


_WEATHER_UPDATE = Update(
    lambda s, rng: dict(s, end=min(23, s["end"] + rng.randint(1, 3)) if s["end"] < 23 else 22,
                        gust=s["gust"] + rng.randint(5, 20)),
    {"de": "Die Feuerwehr im {area} meldete am Abend mehrere umgestürzte Bäume. Verletzt wurde nach ersten "
           "Angaben niemand.",
     "en": "Fire crews in {area} reported several fallen trees in the evening. Nobody was hurt, according to "
           "first reports."},
    {"de": "Warnung verlängert: ", "en": "Warning extended: "}, 2)


def _quake_slots(rng, lang):
    i = rng.randrange(len(QUAKE_PLACES))
    day, month, weekday = _date(rng, lang)
    return {"place": (QUAKE_PLACES if lang == "de" else QUAKE_PLACES_EN)[i], "mag": rng.randint(41, 78) / 10,
            "day": day, "month": month, "hour": rng.randint(0, 23), "minute": rng.randint(0, 59),
            "depth": rng.randint(5, 160), "dist": rng.randint(8, 140), "dead": rng.choice([0, 0, 0, 2, 5, 11]),
            "injured": rng.randint(0, 60), "agency": rng.choice(["USGS", "GFZ", "EMSC"])}


def _quake(s, lang):
    if lang == "de":
        title = f"Erdbeben der Stärke {_num(s['mag'], lang)} erschüttert {s['place']}"
        toll = (f"Nach Angaben der Behörden kamen {s['dead']} Menschen ums Leben, {s['injured']} wurden verletzt."
                if s["dead"] else f"Berichte über Tote lagen zunächst nicht vor, {s['injured']} Menschen wurden "
                                  f"leicht verletzt.")
        ps = [f"Ein Erdbeben der Stärke {_num(s['mag'], lang)} hat am {s['day']}. {s['month']} um "
              f"{s['hour']}:{s['minute']:02d} Uhr Ortszeit die Region um {s['place']} erschüttert. Das Epizentrum "
              f"lag nach Angaben des {s['agency']} in {s['depth']} Kilometern Tiefe, etwa {s['dist']} Kilometer "
              f"von {s['place']} entfernt.",
              f"{toll} Die Erschütterungen waren auch in weiter entfernten Orten zu spüren.",
              "Die Behörden kündigten an, die Lage weiter zu beobachten. Nachbeben seien möglich."]
    else:
        title = f"Magnitude {_num(s['mag'], lang)} earthquake strikes {s['place']}"
        toll = (f"Authorities said {s['dead']} people were killed and {s['injured']} injured." if s["dead"]
                else f"There were no immediate reports of deaths; {s['injured']} people suffered minor injuries.")
        ps = [f"A magnitude {_num(s['mag'], lang)} earthquake struck the {s['place']} region at "
              f"{s['hour']}:{s['minute']:02d} local time on {s['month']} {s['day']}. The epicentre was at a depth "
              f"of {s['depth']} kilometres, about {s['dist']} kilometres from {s['place']}, the {s['agency']} said.",
              f"{toll} The tremor was also felt in places further away.",
              "Authorities said they were monitoring the situation. Aftershocks were possible."]
    return title, ps


_QUAKE_UPDATE = Update(
    lambda s, rng: dict(s, dead=s["dead"] + rng.randint(3, 30), injured=s["injured"] + rng.randint(10, 90),
                        mag=round(s["mag"] + 0.1, 1)),
    {"de": "Rettungskräfte suchten am Abend in den Trümmern mehrerer eingestürzter Häuser nach Verschütteten. "
           "Die Regierung schickte Helfer in die Region um {place}.",
     "en": "Rescue workers were searching the rubble of several collapsed houses in the evening. The "
           "government sent aid teams to the {place} region."},
    {"de": "Zahl der Toten steigt: ", "en": "Death toll rises: "}, 3)


def _market_slots(rng, lang):
    day, month, weekday = _date(rng, lang)
    return {"day": day, "month": month, "weekday": weekday, "up": rng.random() < 0.5,
            "pct": rng.randint(1, 250) / 100, "index": rng.randint(14000, 19500) + rng.randint(0, 99) / 100,
            "index2": rng.randint(24000, 28000), "fx": rng.randint(1020, 1190) / 1000,
            "winner": rng.choice(DE_COMPANIES if lang == "de" else EN_COMPANIES),
            "loser": rng.choice(DE_COMPANIES if lang == "de" else EN_COMPANIES),
            "wpct": rng.randint(100, 900) / 100, "lpct": rng.randint(100, 700) / 100,
            "volume": rng.randint(2500, 9000), "oil": rng.randint(6500, 9500) / 100}


def _market(s, lang):
    if lang == "de":
        trend = "Plus" if s["up"] else "Minus"
        title = f"DAX schließt mit {trend} bei {_num(s['index'], lang, 2)} Punkten"
        ps = [f"Der DAX hat den Handel am {s['weekday']}, {s['day']}. {s['month']}, mit einem {trend} von "
              f"{_num(s['pct'], lang, 2)} Prozent bei {_num(s['index'], lang, 2)} Punkten beendet. Der MDAX schloss "
              f"bei {s['index2']} Punkten, der Euro kostete zuletzt {_num(s['fx'], lang, 3)} Dollar.",
              f"Größter Gewinner im DAX war {s['winner']} mit einem Plus von {_num(s['wpct'], lang, 2)} Prozent, "
              f"am Ende der Liste stand {s['loser']} mit einem Minus von {_num(s['lpct'], lang, 2)} Prozent.",
              f"Der Umsatz lag bei {s['volume']} Millionen Euro. Ein Barrel der Nordseesorte Brent kostete "
              f"{_num(s['oil'], lang, 2)} Dollar."]
    else:
        trend = "up" if s["up"] else "down"
        title = f"FTSE 100 closes {trend} at {s['index']:.2f}"
        ps = [f"The FTSE 100 closed {trend} {s['pct']:.2f} per cent at {s['index']:.2f} points on {s['weekday']} "
              f"{s['day']} {s['month']}. The FTSE 250 ended at {s['index2']} points, while the pound bought "
              f"{s['fx']:.3f} dollars.",
              f"{s['winner']} was the biggest riser, up {s['wpct']:.2f} per cent, while {s['loser']} fell "
              f"{s['lpct']:.2f} per cent to the bottom of the index.",
              f"Turnover was {s['volume']} million pounds. A barrel of Brent crude cost {s['oil']:.2f} dollars."]
    return title, ps


def _police_slots(rng, lang):
    day, month, weekday = _date(rng, lang)
    return {"town": rng.choice(DE_TOWNS if lang == "de" else EN_TOWNS), "road": rng.choice(
        ["B 27", "A 7", "L 1140", "B 96", "A 4", "K 12", "B 10", "A 38"] if lang == "de"
        else ["A38", "M6", "A1", "A303", "M4", "A30", "B1234", "A66"]),
        "weekday": weekday, "day": day, "month": month, "hour": rng.randint(0, 23),
        "minute": rng.randint(0, 59), "age": rng.randint(18, 84), "age2": rng.randint(18, 84),
        "car": rng.choice(["VW Golf", "BMW", "Opel Corsa", "Ford Fiesta", "Audi A4", "Skoda Octavia",
                           "Toyota Yaris", "Mercedes"]),
        "injured": rng.randint(1, 4), "damage": rng.randint(3, 60) * 1000, "closed": rng.randint(1, 5),
        "phone": f"0{rng.randint(100, 999)} {rng.randint(10000, 99999)}"}


def _police(s, lang):
    if lang == "de":
        title = f"{s['town']}: {s['injured']} Verletzte bei Unfall auf der {s['road']}"
        ps = [f"Bei einem Verkehrsunfall auf der {s['road']} bei {s['town']} sind am {s['weekday']}, {s['day']}. "
              f"{s['month']}, {s['injured']} Menschen verletzt worden. Nach Angaben der Polizei war ein "
              f"{s['age']}-jähriger Fahrer eines {s['car']} gegen {s['hour']}:{s['minute']:02d} Uhr aus bisher "
              f"ungeklärter Ursache in den Gegenverkehr geraten und mit dem Wagen einer {s['age2']}-Jährigen "
              f"zusammengestoßen.",
              f"Die Verletzten wurden in umliegende Krankenhäuser gebracht. Den Sachschaden schätzt die Polizei auf "
              f"rund {s['damage']} Euro. Die {s['road']} war für {s['closed']} Stunden voll gesperrt.",
              f"Zeugen werden gebeten, sich unter der Telefonnummer {s['phone']} bei der Polizei zu melden."]
    else:
        title = f"{s['injured']} injured in crash on the {s['road']} near {s['town']}"
        ps = [f"{s['injured']} people were injured in a crash on the {s['road']} near {s['town']} on "
              f"{s['weekday']} {s['day']} {s['month']}. Police said a {s['age']}-year-old man driving a {s['car']} "
              f"crossed into oncoming traffic at about {s['hour']}:{s['minute']:02d} and collided with a car "
              f"driven by a {s['age2']}-year-old woman.",
              f"The injured were taken to nearby hospitals. Police estimate the damage at around {s['damage']} "
              f"pounds. The {s['road']} was closed in both directions for {s['closed']} hours.",
              f"Witnesses are asked to contact police on {s['phone']}."]
    return title, ps


_POLICE_UPDATE = Update(
    lambda s, rng: dict(s, injured=s["injured"] + 1, damage=s["damage"] + rng.randint(2, 9) * 1000),
    {"de": "Wie die Polizei am Folgetag mitteilte, schwebt die {age2}-Jährige nicht mehr in Lebensgefahr. "
           "Gegen den Fahrer wird wegen fahrlässiger Körperverletzung ermittelt.",
     "en": "Police said the following day that the {age2}-year-old woman was no longer in a critical "
           "condition. The driver is being investigated for dangerous driving."},
    {"de": "Nachtrag: ", "en": "Update: "}, 2)


def _election_slots(rng, lang):
    parties = rng.sample(DE_PARTIES if lang == "de" else EN_PARTIES, 4)
    shares = sorted((rng.randint(50, 400) / 10 for _ in range(4)), reverse=True)
    return {"town": rng.choice(DE_TOWNS if lang == "de" else EN_TOWNS), "parties": parties,
            "shares": shares, "turnout": rng.randint(320, 780) / 10, "winner": _person(rng, lang),
            "runner": _person(rng, lang), "wvotes": rng.randint(8000, 60000), "seats": rng.randint(30, 70),
            "counted": rng.randint(90, 100), "weekday": rng.choice(WEEKDAYS[lang])}


def _election(s, lang):
    p, sh = s["parties"], s["shares"]
    if lang == "de":
        title = f"Wahl in {s['town']}: {p[0]} vorn, {s['winner']} neuer Oberbürgermeister"
        ps = [f"Bei der Kommunalwahl in {s['town']} ist die {p[0]} mit {_num(sh[0], lang)} Prozent stärkste Kraft "
              f"geworden. Dahinter folgen {p[1]} mit {_num(sh[1], lang)} Prozent und {p[2]} mit "
              f"{_num(sh[2], lang)} Prozent; {p[3]} kommt auf {_num(sh[3], lang)} Prozent. Das teilte die Stadt am "
              f"{s['weekday']} nach Auszählung von {s['counted']} Prozent der Stimmbezirke mit.",
              f"Die Wahlbeteiligung lag bei {_num(s['turnout'], lang)} Prozent. Zum Oberbürgermeister wurde "
              f"{s['winner']} mit {s['wvotes']} Stimmen gewählt, {s['runner']} unterlag.",
              f"Der neue Stadtrat hat {s['seats']} Sitze. Das amtliche Endergebnis soll in der kommenden Woche "
              f"vorliegen."]
    else:
        title = f"{s['town']} council election: {p[0]} ahead, {s['winner']} elected mayor"
        ps = [f"{p[0]} won the most votes in the {s['town']} council election with {sh[0]:.1f} per cent, ahead "
              f"of {p[1]} on {sh[1]:.1f} per cent and {p[2]} on {sh[2]:.1f} per cent; {p[3]} took {sh[3]:.1f} "
              f"per cent. The council announced the figures on {s['weekday']} with {s['counted']} per cent of "
              f"wards counted.",
              f"Turnout was {s['turnout']:.1f} per cent. {s['winner']} was elected mayor with {s['wvotes']} votes, "
              f"defeating {s['runner']}.",
              f"The new council has {s['seats']} seats. The official final result is expected next week."]
    return title, ps


_ELECTION_UPDATE = Update(
    lambda s, rng: dict(s, shares=[s["shares"][0] + 0.3, s["shares"][1] - 0.2, *s["shares"][2:]], counted=100,
                        wvotes=s["wvotes"] + rng.randint(100, 900)),
    {"de": "{winner} kündigte an, noch in diesem Monat Gespräche mit allen Fraktionen zu führen. {runner} "
           "gratulierte am Abend.",
     "en": "{winner} said talks with all groups on the council would begin this month. {runner} conceded in "
           "the evening."},
    {"de": "Endergebnis: ", "en": "Final result: "}, 3)


def _earnings_slots(rng, lang):
    return {"company": rng.choice(DE_COMPANIES if lang == "de" else EN_COMPANIES), "q": rng.randint(1, 4),
            "year": rng.randint(2019, 2025), "revenue": rng.randint(120, 9000), "growth": rng.randint(-90, 250) / 10,
            "profit": rng.randint(5, 900), "eps": rng.randint(5, 480) / 100, "ceo": _person(rng, lang),
            "staff": rng.randint(800, 40000), "outlook": rng.randint(2, 9),
            "share": rng.randint(-80, 120) / 10}


def _earnings(s, lang):
    if lang == "de":
        title = f"{s['company']}: Umsatz im {s['q']}. Quartal bei {s['revenue']} Millionen Euro"
        ps = [f"{s['company']} hat im {s['q']}. Quartal {s['year']} einen Umsatz von {s['revenue']} Millionen Euro "
              f"erzielt, {_num(abs(s['growth']), lang)} Prozent {'mehr' if s['growth'] >= 0 else 'weniger'} als "
              f"im Vorjahreszeitraum. Der Gewinn nach Steuern lag bei {s['profit']} Millionen Euro, das Ergebnis "
              f"je Aktie bei {_num(s['eps'], lang, 2)} Euro.",
              f"Vorstandschef {s['ceo']} bestätigte die Prognose eines Umsatzwachstums von {s['outlook']} Prozent "
              f"für das Gesamtjahr. Das Unternehmen beschäftigt {s['staff']} Mitarbeiter.",
              f"Die Aktie lag am Nachmittag {_num(abs(s['share']), lang)} Prozent "
              f"{'im Plus' if s['share'] >= 0 else 'im Minus'}."]
    else:
        title = f"{s['company']} reports Q{s['q']} revenue of {s['revenue']} million pounds"
        ps = [f"{s['company']} reported revenue of {s['revenue']} million pounds for the {s['q']}. quarter of "
              f"{s['year']}, {abs(s['growth']):.1f} per cent {'up' if s['growth'] >= 0 else 'down'} on the same "
              f"period a year earlier. Profit after tax was {s['profit']} million pounds, or {s['eps']:.2f} "
              f"pounds per share.",
              f"Chief executive {s['ceo']} confirmed the full-year forecast of {s['outlook']} per cent revenue "
              f"growth. The company employs {s['staff']} people.",
              f"The shares were {abs(s['share']):.1f} per cent {'higher' if s['share'] >= 0 else 'lower'} in "
              f"afternoon trading."]
    return title, ps


_EARNINGS_UPDATE = Update(
    lambda s, rng: dict(s, share=s["share"] + rng.randint(5, 30) / 10),
    {"de": "Analysten lobten vor allem die Entwicklung im Auslandsgeschäft. {ceo} kündigte zudem ein "
           "Aktienrückkaufprogramm an.",
     "en": "Analysts singled out the overseas business for praise. {ceo} also announced a share buyback "
           "programme."},
    {"de": "Aktie steigt: ", "en": "Shares rise: "}, 1)


@dataclass(frozen=True)
class Kind:
    """One template kind: draws slot values, writes an event's report and its later version."""
    name: str
    slots: Callable[[random.Random, str], dict]
    write: Callable[[dict, str], tuple[str, list[str]]]
    update: Update | None = field(default=None)

    def updated(self, slots: dict, rng: random.Random, lang: str) -> tuple[str, list[str], int]:
        """The later version of one event: (new headline, paragraphs, figures changed)."""
        revised = self.update.revise(slots, rng)
        title, paragraphs = self.write(revised, lang)
        return (self.update.headline[lang] + title, paragraphs + [self.update.added[lang].format(**revised)],
                self.update.figures)


KINDS = {k.name: k for k in [
    Kind("football", _football_slots, _football, _FOOTBALL_UPDATE),
    Kind("weather", _weather_slots, _weather, _WEATHER_UPDATE),
    Kind("earthquake", _quake_slots, _quake, _QUAKE_UPDATE),
    Kind("market", _market_slots, _market),
    Kind("basketball", _basketball_slots, _basketball, _BASKETBALL_UPDATE),
    Kind("police", _police_slots, _police, _POLICE_UPDATE),
    Kind("election", _election_slots, _election, _ELECTION_UPDATE),
    Kind("earnings", _earnings_slots, _earnings, _EARNINGS_UPDATE),
]}
DEV_KINDS = ("football", "weather", "earthquake", "market")
TEST_KINDS = ("basketball", "police", "election", "earnings")


def events(kind: str, lang: str, n: int, rng: random.Random) -> list[dict]:
    """``n`` events of one kind with pairwise different slot values (a different event each)."""
    out, seen = [], set()
    while len(out) < n:
        s = KINDS[kind].slots(rng, lang)
        title, _ = KINDS[kind].write(s, lang)
        if title in seen:
            continue
        seen.add(title)
        out.append(s)
    return out
