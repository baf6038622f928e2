"""A small multi-site web server on loopback addresses, serving pages from memory.

The offline demo, the tests and the benchmarks all need "the web" without the internet: several
news sites, each on its own 127.0.0.x address, with feeds, pages, sitemaps and robots.txt. Every
request is logged so tests can check what was fetched and how often.
"""
from __future__ import annotations

import email.utils
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Union
from urllib.parse import urlsplit


@dataclass
class Resource:
    """One response. ``etag``/``last_modified`` make the server answer conditional GETs with 304."""

    body: bytes | str = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: float | None = None  # epoch seconds

    def payload(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


#: A route answers with a Resource, or is a function that writes the answer itself
#: (slow or broken servers); it gets the request handler.
Handler = Callable[[BaseHTTPRequestHandler], Union[Resource, None]]


@dataclass
class Site:
    """A site: its loopback address and its routes, keyed by path (with query string)."""

    name: str
    host: str = "127.0.0.1"
    routes: dict[str, Resource | Handler] = field(default_factory=dict)
    port: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + path


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site: Site
    web: "LocalWeb"

    def log_message(self, format, *args):  # quiet: requests are kept in LocalWeb.log
        pass

    def finish(self):
        super().finish()
        self.web._closed(self.site)

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head: bool = False):
        path = self.path
        route = self.site.routes.get(path)
        if route is None:
            route = self.site.routes.get(urlsplit(path).path)
        self.web._log(self.site, path, self.headers)
        if route is None:
            route = Resource("not found", "text/plain", status=404)
        if callable(route):
            route = route(self)
            if route is None:  # the handler wrote its own answer
                return
        self.send(route, head)

    def send(self, res: Resource, head: bool = False) -> None:
        body = res.payload()
        status = res.status
        if res.etag and self.headers.get("If-None-Match") == res.etag:
            status, body = 304, b""
        elif res.last_modified and self.headers.get("If-Modified-Since"):
            since = email.utils.parsedate_to_datetime(self.headers["If-Modified-Since"])
            if since.timestamp() >= int(res.last_modified):
                status, body = 304, b""
        self.send_response(status)
        if status != 304:
            self.send_header("Content-Type", res.content_type)
        self.send_header("Content-Length", str(len(body)))
        if res.etag:
            self.send_header("ETag", res.etag)
        if res.last_modified:
            self.send_header("Last-Modified", email.utils.formatdate(res.last_modified, usegmt=True))
        for k, v in res.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    """A client hanging up mid-answer (a timeout test, a killed crawl) is not an error here."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class LocalWeb:
    """Start sites on loopback, each on its own address and a free port.

    >>> with LocalWeb([Site("a", "127.0.0.2", {"/": Resource("hi")})]) as web:
    ...     url = web["a"].url("/")
    """

    def __init__(self, sites: list[Site]):
        self.sites = {s.name: s for s in sites}
        self.log: list[tuple[str, str, float]] = []  # (site name, path, time)
        self.request_headers: list[tuple[str, str, dict]] = []
        self.closed: list[tuple[str, float]] = []  # (site name, time a connection ended)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def __getitem__(self, name: str) -> Site:
        return self.sites[name]

    def _log(self, site: Site, path: str, headers) -> None:
        with self._lock:
            self.log.append((site.name, path, time.time()))
            self.request_headers.append((site.name, path, dict(headers.items())))

    def _closed(self, site: Site) -> None:
        with self._lock:
            self.closed.append((site.name, time.time()))

    def hits(self, name: str | None = None, path: str | None = None) -> int:
        """How many requests a site (or one path of it) got."""
        return sum(1 for s, p, _ in self.log
                   if (name is None or s == name) and (path is None or p == path))

    def start(self) -> "LocalWeb":
        for site in self.sites.values():
            handler = type("Handler", (_RequestHandler,), {"site": site, "web": self})
            server = _QuietServer((site.host, site.port), handler)
            site.server, site.port = server, server.server_address[1]
            thread = threading.Thread(target=server.serve_forever, daemon=True,
                                      name=f"localweb-{site.name}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for site in self.sites.values():
            if site.server:
                site.server.shutdown()
                site.server.server_close()
                site.server = None

    def __enter__(self) -> "LocalWeb":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
