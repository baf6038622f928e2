"""The sites report and Datasette's sites pages in a real headless browser (Debian's chromium).

Screenshots go to test-artifacts/ (git-ignored) for a human to look at. Readability of the
drawing is measured in the browser: a copy of the page gets a script that asks chromium for
every label's and circle's box and writes the overlaps into the DOM that --dump-dom returns.
"""
from __future__ import annotations

import re

import pytest

from tests.conftest import run_cli
from tests.test_analysis import HOSTS, merged  # noqa: F401
from tests.test_analysis_browser import chromium, crawled, served  # noqa: F401
from tests.test_sites import build_syndication

_MEASURE = """<script>
const svg = document.querySelector("figure svg");
const view = svg.viewBox.baseVal;
const boxes = [...svg.querySelectorAll("text.label")].map(t => t.getBBox());
let overlaps = 0;
for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
  const a = boxes[i], b = boxes[j];
  if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height)
    overlaps++;
}
const outside = [...svg.querySelectorAll("text.label, g.node circle")].map(e => e.getBBox())
  .filter(b => b.x < 0 || b.y < 0 || b.x + b.width > view.width || b.y + b.height > view.height)
  .length;
const out = document.createElement("pre");
out.id = "measured";
out.textContent = `labels=${boxes.length} overlaps=${overlaps} outside=${outside}`;
document.body.append(out);
</script>"""


def measured(chromium, html_path, tmp_path) -> dict:  # noqa: F811
    probe = tmp_path / "measure.html"
    probe.write_text(html_path.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"),
                     encoding="utf-8")
    dom = chromium(probe.as_uri())
    found = re.search(r'id="measured">labels=(\d+) overlaps=(\d+) outside=(\d+)<', dom)
    assert found, "the measuring script ran"
    return dict(zip(("labels", "overlaps", "outside"), map(int, found.groups())))


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo-sites") / "demo.db"
    result = run_cli("demo", "--db", path)
    assert result.returncode == 0, result.stdout + result.stderr
    return path


def test_sites_report_of_the_demo_draws_every_site_and_relation(demo_db, chromium, tmp_path):  # noqa: F811
    from crawler import open_db

    out = tmp_path / "sites.html"
    result = run_cli("report", "--sites", "-o", out, "--db", demo_db)
    assert result.returncode == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html and "http" not in html.split("<table")[0].replace(
        "http://www.w3.org/2000/svg", ""), "self-contained: nothing loaded from elsewhere"
    dom = chromium(out.as_uri())
    with open_db(demo_db) as news:
        sites, network = news.sites(), news.copy_network()
    assert len(sites) == 5
    for site in sites:
        assert f'<tr class="site" data-site="{site.site}">' in dom
        assert site.name and site.name in dom, "the name the site gives itself"
    for node in network.nodes:
        assert f'<g class="node" data-site="{node.site}">' in dom
    for edge in network.edges:
        assert f'data-source="{edge.source}" data-target="{edge.target}"' in dom
    assert dom.count('<path class="edge"') == len(network.edges) >= 4
    sizes = measured(chromium, out, tmp_path)
    assert sizes == {"labels": len(network.nodes), "overlaps": 0, "outside": 0}
    chromium(out.as_uri(), screenshot="sites-report-5.png", size="1280,1300")


def test_sites_report_stays_readable_with_200_sites(chromium, tmp_path):  # noqa: F811
    from crawler import open_db
    from crawler.analysis.sites_report import DRAWN_EDGES, LABELLED_SITES

    path = tmp_path / "many.db"
    build_syndication(path, 200)
    out = tmp_path / "sites.html"
    assert run_cli("report", "--sites", "-o", out, "--db", path).returncode == 0
    dom = chromium(out.as_uri())
    with open_db(path) as news:
        network = news.copy_network()
    assert len(network.nodes) == 200
    assert dom.count('<g class="node"') == 200
    assert dom.count('<path class="edge"') == min(len(network.edges), DRAWN_EDGES)
    assert dom.count('<tr class="site"') == 200
    sizes = measured(chromium, out, tmp_path)
    assert 10 <= sizes["labels"] <= LABELLED_SITES
    assert sizes["overlaps"] == 0 and sizes["outside"] == 0
    chromium(out.as_uri(), screenshot="sites-report-200.png", size="1280,1000")


def test_sites_report_past_the_edge_limit_says_what_it_leaves_out(tmp_path):
    from crawler.analysis.sites import CopyEdge, CopyNetwork, SiteStats
    from crawler.analysis.sites_report import DRAWN_EDGES, render_network, _caption

    def stats(name: str) -> SiteStats:
        return SiteStats(name, None, 10, 10, 10, 5, 5, 0.5, 0.5, 60.0, 120.0, 0, 0, 0)

    names = [f"s{i}.example" for i in range(40)]
    edges = [CopyEdge(a, b, 1 + (i % 7), 60.0) for i, (a, b) in
             enumerate((a, b) for a in names for b in names if a != b)][:DRAWN_EDGES + 1]
    network = CopyNetwork([stats(n) for n in names], edges)
    assert render_network(network).count('<path class="edge"') == DRAWN_EDGES
    assert f"The {DRAWN_EDGES} strongest of {DRAWN_EDGES + 1} relations" in _caption(network)
    at_limit = CopyNetwork(network.nodes, edges[:DRAWN_EDGES])
    assert "strongest" not in _caption(at_limit)


def test_served_database_hides_internal_tables_and_leads_with_stories(served, chromium):  # noqa: F811
    base, name = served["base"], served["db"]
    dom = chromium(f"{base}/{name}")
    tables = re.findall(r'<h3><a href="/[^"]+/([a-z_]+)">', dom)
    assert {"stories", "articles", "sites", "story_sites"} <= set(tables)
    assert not [t for t in tables if t.startswith("dedup_")], "internal tables hidden"
    assert "hidden tables" in dom, "still reachable under show hidden"
    lead = dom.index("Start with")
    assert dom.index(">stories<", lead) < dom.index(">articles<", lead) < \
        dom.index(">sites<", lead) < dom.index("<h3>")
    assert "Who copies whom" in dom and "Sites: who publishes first" in dom
    chromium(f"{base}/{name}", screenshot="serve-database-sites.png", size="1280,1600")
    home = chromium(f"{base}/")
    assert "dedup_" not in home and "Start with" in home


def test_served_sites_queries_answer(served, chromium):  # noqa: F811
    base, name = served["base"], served["db"]
    dom = chromium(f"{base}/{name}/copy_network")
    assert "median_lag_seconds" in dom
    assert re.search(rf"{re.escape(HOSTS['origin'])}</td>\s*<td[^>]*>{re.escape(HOSTS['mirror'])}",
                     dom)
    dom = chromium(f"{base}/{name}/site_copies?site={HOSTS['mirror']}")
    assert "copies from" in dom and HOSTS["origin"] in dom
    url = f"{base}/{name}/sites"
    dom = chromium(url)
    assert "Shared stories it published first" in dom
    for host in HOSTS.values():
        assert host in dom
    chromium(url, screenshot="serve-sites.png")
