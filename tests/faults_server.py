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
from tests.pages import article_page

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
