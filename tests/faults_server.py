"""Hostile and broken servers for the reliability tests and bench/faults.py, on loopback only.

Each function returns a route for ``crawler.demo.server.Site.routes``: a ``Resource`` or a
handler that writes its own (broken) answer. Nothing here talks to any address outside
127.0.0.0/8.
"""
from __future__ import annotations

import gzip
import re
import socket
import time
import zlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from crawler.demo.server import Resource
from tests.pages import article_page, rss

FEEDPARSER_TESTS = Path("feeds") / "feedparser-tests"
_HEADER = re.compile(rb"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.M)


def _gone(handler) -> None:
    """The client went away (it timed out or cancelled): stop writing quietly."""
    handler.close_connection = True


def trickle(total: int = 4000, every: float = 0.25, step: int = 1):
    """A server that sends ``step`` bytes every ``every`` seconds: a read timeout must end it."""
    def handle(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        try:
            for _ in range(0, total, step):
                h.wfile.write(b"<" * step)
                h.wfile.flush()
                time.sleep(every)
        except OSError:
            _gone(h)
    return handle


def close_mid_body(body: bytes, keep: float = 0.3):
    """Promise the whole body in Content-Length, send a part, then close the connection."""
    def handle(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        try:
            h.wfile.write(body[: int(len(body) * keep)])
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        _gone(h)
    return handle


def endless(declare: int | None = None, chunk: int = 256 * 1024, limit: int = 512 << 20):
    """A page that never ends (or declares ``declare`` bytes): the size cap must cut it."""
    def handle(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        if declare is not None:
            h.send_header("Content-Length", str(declare))
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        block = b"<p>" + b"x" * (chunk - 7) + b"</p>\n"
        sent = 0
        try:
            while sent < limit:
                h.wfile.write(block)
                sent += len(block)
        except OSError:
            pass
        _gone(h)
    return handle


_BOMBS: dict[int, bytes] = {}


def gzip_bomb(size: int = 64 << 20, content_type: str = "text/html; charset=utf-8") -> Resource:
    """A small gzip body that inflates to ``size`` bytes (Content-Encoding: gzip)."""
    if size not in _BOMBS:
        packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: gzip container
        zeros = b"\0" * (1 << 20)
        parts = [packer.compress(zeros) for _ in range(size >> 20)]
        _BOMBS[size] = b"".join(parts) + packer.flush()
    return Resource(_BOMBS[size], content_type, headers={"Content-Encoding": "gzip"})


def gzipped(body: bytes, content_type: str = "text/html; charset=utf-8") -> Resource:
    return Resource(gzip.compress(body), content_type, headers={"Content-Encoding": "gzip"})


def redirect(location: str, status: int = 302) -> Resource:
    return Resource(b"", "text/html", status=status, headers={"Location": location})


def redirect_chain(prefix: str):
    """``prefix?n=N`` redirects to ``prefix?n=N+1`` for ever: new URLs, never a loop."""
    def handle(h):
        n = int(parse_qs(urlsplit(h.path).query).get("n", ["0"])[0])
        return redirect(f"{prefix}?n={n + 1}")
    return handle


def calendar(prefix: str = "/calendar"):
    """An endless calendar: each month's page links the next and the previous month."""
    def handle(h):
        query = parse_qs(urlsplit(h.path).query)
        month = int(query.get("m", ["0"])[0])
        paras = [f"Veranstaltungen im Monat {month}: keine Termine eingetragen. " * 3]
        page = article_page(f"Kalender {month}", paras)
        links = (f'<a href="{prefix}?m={month + 1}">weiter</a> '
                 f'<a href="{prefix}?m={month - 1}">zurück</a>')
        return Resource(page.replace("</body>", links + "</body>"))
    return handle


def feedparser_routes(corpus: Path, prefix: str = "/fp/") -> dict[str, Resource]:
    """Every file of feedparser's test suite, with the HTTP headers its comment asks for."""
    root = corpus / FEEDPARSER_TESTS
    routes = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in (".xml", ".json"):
            continue
        body = path.read_bytes()
        headers = {name.decode(): value.decode("latin-1")
                   for name, value in _HEADER.findall(body[:4096])}
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"),
                            "application/json" if path.suffix == ".json" else "application/xml")
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type" and v}
        routes[prefix + path.relative_to(root).as_posix()] = Resource(body, content_type,
                                                                      headers=headers)
    return routes


# ---------------------------------------------------------------- a plain news site, and checks

VOCABULARY = ("Rathaus Brücke Schule Hafen Energie Bahnhof Klinik Museum Gewitter Polizei "
              "Wochenmarkt Theater Landgericht Sportverein Feuerwehr Ernte Flughafen Bibliothek "
              "Kita Haushalt Radweg Stadtwerke Tierheim Freibad Kläranlage Landtag Bürgermeister "
              "Baustelle Straßenbahn Wahlkreis Hochwasser Deich Ausschuss Gutachten Förderung "
              "Wohnungen Pflegeheim Kreistag Musikschule Apotheke").split()


def story_text(i: int, words: int = 90) -> list[str]:
    """Three paragraphs about a story of its own (seeded by ``i``): no two merge as copies."""
    import random

    rng = random.Random(i)
    paragraphs = []
    for p in range(3):
        picked = " ".join(rng.choice(VOCABULARY) for _ in range(words // 3))
        paragraphs.append(f"Meldung {i}-{p}: {picked} {rng.randint(1000, 99999)}.")
    return paragraphs


def news_site(site, n: int, delay: float = 0.0, words: int = 90) -> str:
    """Add a feed of ``n`` articles (each answered after ``delay`` s) to ``site``; its URL."""
    def slow(resource: Resource):
        def handle(h):
            time.sleep(delay)
            return resource
        return handle

    items = []
    for i in range(n):
        path = f"/n/{i}.html"
        page = Resource(article_page(f"Meldung {i}", story_text(i, words)))
        site.routes[path] = slow(page) if delay else page
        items.append({"title": f"Meldung {i}", "link": site.base + path})
    site.routes["/robots.txt"] = Resource("User-agent: *\nDisallow:\n", "text/plain")
    site.routes["/feed.xml"] = Resource(rss("Lokales", items), "application/rss+xml")
    return site.url("/feed.xml")


def hold(site, path: str):
    """Make ``path`` of ``site`` answer only once the returned event is set: a crawl that is
    certain to be still running while a test looks at it."""
    import threading

    release = threading.Event()
    route = site.routes[path]

    def handle(h):
        release.wait(300)
        return route(h) if callable(route) else route
    site.routes[path] = handle
    return release


def article_rows(db_path) -> dict[str, tuple]:
    """url -> (title, content_hash, story exists): what two crawls must agree on."""
    import sqlite3

    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone():
            return {}  # killed (or out of space) before the schema was written
        return {url: (title, digest, bool(story)) for url, title, digest, story in conn.execute(
            "SELECT a.url, a.title, a.content_hash, s.id FROM articles a "
            "LEFT JOIN stories s ON s.id = a.story_id")}


def check_db(db_path) -> list[str]:
    """What is wrong with a crawl database after a crash: [] when it opens and is whole."""
    import sqlite3

    problems = []
    try:
        conn = sqlite3.connect(str(db_path), timeout=30)
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            problems.append("integrity_check failed")
        if conn.execute("PRAGMA foreign_key_check").fetchall():
            problems.append("foreign keys broken")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "articles" in tables:
            half = conn.execute(
                "SELECT count(*) FROM articles WHERE text IS NULL OR text = '' OR title IS NULL "
                "OR content_hash IS NULL OR word_count IS NULL OR story_id IS NULL OR "
                "story_id NOT IN (SELECT id FROM stories)").fetchone()[0]
            if half:
                problems.append(f"{half} half-written article rows")
            if conn.execute("SELECT count(*) FROM stories s WHERE n_articles != (SELECT count(*) "
                            "FROM articles a WHERE a.story_id = s.id)").fetchone()[0]:
                problems.append("story counts disagree with articles")
        if "articles_fts" in tables:
            conn.execute("INSERT INTO articles_fts(articles_fts) VALUES ('integrity-check')")
        conn.close()
    except sqlite3.Error as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    return problems


def start_crawl(*args, cwd=None) -> "subprocess.Popen":
    """`python -m crawler ARGS` in its own process group (so a kill takes its workers too)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    return subprocess.Popen([sys.executable, "-m", "crawler", *map(str, args)], cwd=cwd or root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def kill_group(proc) -> None:
    """SIGKILL the crawl and everything it started (extraction workers), then reap it."""
    import os
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()
