"""The HTML report and `crawler serve` in a real headless browser (Debian's chromium).

Chromium is driven through its own command line (--dump-dom for what the page shows after
rendering, --screenshot for a picture), so no browser automation package is needed. Screenshots
are kept in test-artifacts/ (git-ignored) for a human to look at.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from crawler import store
from tests.conftest import ROOT, run_cli
from tests.test_analysis import HOSTS, article_by_path, crawl_into, merged  # noqa: F401

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def crawled(tmp_path_factory) -> dict:
    return crawl_into(tmp_path_factory, "browser")


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """A function (url, dump or screenshot) -> page DOM, running headless chromium."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        message = "chromium not installed (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    profile = tmp_path_factory.mktemp("chromium-profile")
    ARTIFACTS.mkdir(exist_ok=True)

    def run(url: str, screenshot: str | None = None, size: str = "1280,900") -> str:
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--hide-scrollbars",
                f"--user-data-dir={profile}", f"--window-size={size}"]
        if screenshot:
            path = ARTIFACTS / screenshot
            path.unlink(missing_ok=True)
            args.append(f"--screenshot={path}")
        else:
            args.append("--dump-dom")
        result = subprocess.run([*args, url], capture_output=True, text=True, timeout=90)
        assert result.returncode == 0, result.stderr[-2000:]
        if screenshot:
            assert path.exists() and path.stat().st_size > 10_000, "a blank screenshot"
        return result.stdout

    return run


def test_report_in_the_browser_shows_every_copy(merged, chromium, tmp_path):  # noqa: F811
    out = tmp_path / "story.html"
    assert run_cli("report", merged["school"], "-o", out, "--db", merged["path"]).returncode == 0
    dom = chromium(out.as_uri())
    db = store.open_db(merged["path"], readonly=True)
    copies = list(db.query("SELECT id, url, site FROM articles WHERE story_id = ?",
                           [merged["school"]]))
    assert len(copies) == 4
    for copy in copies:
        assert f'data-article-id="{copy["id"]}"' in dom
        assert copy["url"] in dom
        assert f'>{copy["site"]}</text>' in dom, "the site has a row in the chart"
    assert dom.count('<g class="copy">') == 4
    assert "time since the first copy (log scale)" in dom
    chromium(out.as_uri(), screenshot="story-report.png", size="1100,820")


def test_report_of_a_short_spread_uses_clock_times(merged, chromium, tmp_path):  # noqa: F811
    out = tmp_path / "ferry.html"
    assert run_cli("report", merged["ferry"], "-o", out, "--db", merged["path"]).returncode == 0
    dom = chromium(out.as_uri())
    assert "time (UTC)" in dom and "log scale" not in dom
    assert dom.count('<g class="copy">') == 2
    chromium(out.as_uri(), screenshot="story-report-short.png", size="1100,600")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(merged):  # noqa: F811
    """`crawler serve` on the merged database, on a free loopback port."""
    from crawler.analysis.serve import datasette_available

    if not datasette_available():
        if os.environ.get("CI") == "true":
            pytest.fail("datasette missing: the test extra installs it")
        pytest.skip("datasette not installed (pip install -e '.[serve]')")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler", "serve", "--db", str(merged["path"]),
         "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/-/versions.json", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"crawler serve did not start:\n{proc.stdout.read()}")
            time.sleep(0.2)
    yield {"base": base, "db": Path(merged["path"]).stem, **merged}
    proc.terminate()
    proc.wait(timeout=20)


def test_served_database_lists_canned_queries(served, chromium):
    url = f"{served['base']}/{served['db']}"
    dom = chromium(url)
    for title in ("Stories seen on most sites", "Re-dated copies", "Who published first"):
        assert title in dom
    assert "articles" in dom and "stories" in dom
    chromium(url, screenshot="serve-database.png")


def test_served_articles_have_descriptions_facets_and_search(served, chromium):
    url = f"{served['base']}/{served['db']}/articles?_search=Lessingstra%C3%9Fe"
    dom = chromium(url)
    assert "Canonical URL (tracking parameters removed" in dom, "column descriptions"
    for facet in ("site", "language", "story_id"):
        assert f'data-column="{facet}"' in dom, f"facet {facet}"
    assert "4 rows" in dom, "full-text search box finds every copy of the school story"
    chromium(url, screenshot="serve-articles.png", size="1280,1400")


def test_served_canned_queries_answer(served, chromium):
    dom = chromium(f"{served['base']}/{served['db']}/redated_copies")
    assert HOSTS["recycler"] in dom and "days_off" in dom
    dom = chromium(f"{served['base']}/{served['db']}/who_published_first")
    assert HOSTS["origin"] in dom and "stories_first" in dom
    url = f"{served['base']}/{served['db']}/stories_on_most_sites"
    dom = chromium(url)
    assert "Schüler protestieren" in dom
    chromium(url, screenshot="serve-most-sites.png")
