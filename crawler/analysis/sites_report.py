"""All sites as one self-contained HTML page: the copy network drawn as inline SVG, and the
sites table.

The page has no scripts and loads nothing. The drawing is laid out here, on the server: a
force-directed layout (Fruchterman-Reingold, numpy) starting from a circle, so it is the same
for the same data. Circles are sites (area by articles, colour from originator to copier),
arrows run from first publisher to copier, as thick as the stories they share. Past
``LABELLED_SITES`` sites only the largest are labelled and past ``DRAWN_EDGES`` edges only the
strongest are drawn (the caption says so): 200 sites stay legible.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from html import escape

import numpy as np

from crawler.analysis.report import _STYLE
from crawler.analysis.sites import CopyNetwork, SiteStats
from crawler.analysis.times import show_duration, show_time

WIDTH, HEIGHT, MARGIN = 960, 720, 70
LABELLED_SITES = 40
DRAWN_EDGES = 400
MIN_RADIUS, MAX_RADIUS = 4.0, 26.0

_MORE_STYLE = """
main { max-width: 1200px; }
svg .node circle { stroke: #0b2e66; stroke-width: 1; }
svg .label { font-size: 12px; paint-order: stroke; stroke: #fff; stroke-width: 3px;
             stroke-linejoin: round; }
svg .edge { fill: none; stroke: #5b6b85; }
td.site { white-space: nowrap; }
td.name { color: #4a5263; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
          vertical-align: -1px; margin-right: 4px; border: 1px solid #0b2e66; }
"""


def render_sites_report(sites: list[SiteStats], network: CopyNetwork, *,
                        generated: datetime | None = None, source: str | None = None) -> str:
    """The whole HTML page: facts, the copy network drawing, the sites table."""
    generated = generated or datetime.now(timezone.utc)
    shared = sum(e.stories for e in network.edges)
    facts = (f"<b>{len(sites)}</b> sites · <b>{sum(s.articles for s in sites)}</b> articles · "
             f"<b>{len(network.edges)}</b> copy relations carrying <b>{shared}</b> copies")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sites and who copies whom</title>
<style>{_STYLE}{_MORE_STYLE}</style></head>
<body><main>
<h1>Sites and who copies whom</h1>
<p class="facts">{facts}</p>
<figure>{render_network(network)}
<figcaption>{escape(_caption(network))}</figcaption></figure>
{render_sites_table(sites)}
<footer>First publisher of a story: its earliest copy by published date (first seen where a page
gave none); re-dated copies are never first; ties go to the copy seen first. A copy published
before the crawl saw it and without a date, or a source the crawl does not cover, can make a
copier look first. Generated {escape(show_time(generated))} UTC by news-crawler
{('from ' + escape(source)) if source else ''}.</footer>
</main></body></html>
"""


def _caption(network: CopyNetwork) -> str:
    text = ("Copy network: each circle is a site (area: articles; colour: blue publishes "
            "first, orange copies); each arrow runs from a story's first publisher to a site "
            "that carries it, as thick as the stories they share.")
    if len(network.edges) > DRAWN_EDGES:
        text += f" The {DRAWN_EDGES} strongest of {len(network.edges)} relations are drawn."
    if len(network.nodes) > LABELLED_SITES:
        text += (f" Only the largest sites are labelled where labels fit; every circle names "
                 f"its site on hover.")
    return text


# ---------------------------------------------------------------- layout


def layout(n: int, edges: list[tuple[int, int, float]], iterations: int = 300,
           seed_angle: float = 0.0) -> np.ndarray:
    """Fruchterman-Reingold positions in the unit square for ``n`` nodes, deterministic: it
    starts from a circle (``edges``: (i, j, weight), weight pulling harder)."""
    if n == 0:
        return np.zeros((0, 2))
    if n == 1:
        return np.array([[0.5, 0.5]])
    angles = seed_angle + 2 * math.pi * np.arange(n) / n
    pos = np.c_[np.cos(angles), np.sin(angles)] * 0.4 + 0.5
    k = 1.0 / math.sqrt(n)
    src = np.array([e[0] for e in edges], dtype=int)
    dst = np.array([e[1] for e in edges], dtype=int)
    weight = np.array([e[2] for e in edges], dtype=float)
    if len(weight):
        weight = 1 + np.log1p(weight) / max(np.log1p(weight).max(), 1e-9)
    temperature = 0.1
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        distance = np.maximum(np.linalg.norm(delta, axis=2), 1e-3)
        force = (delta / distance[..., None] * (k * k / distance)[..., None]).sum(axis=1)
        if len(src):
            d = pos[src] - pos[dst]
            length = np.maximum(np.linalg.norm(d, axis=1), 1e-3)
            pull = d / length[:, None] * (length * length / k * weight)[:, None]
            np.add.at(force, src, -pull)
            np.add.at(force, dst, pull)
        force += (0.5 - pos) * 0.05 * n * k  # gravity: unconnected sites stay near
        norm = np.maximum(np.linalg.norm(force, axis=1), 1e-9)
        pos += force / norm[:, None] * np.minimum(norm, temperature)[:, None]
        temperature = max(temperature * 0.985, 0.002)
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    return (pos - lo) / np.maximum(hi - lo, 1e-9)


def _colour(stats: SiteStats) -> str:
    """Blue for a site that publishes first, orange for one that copies, grey between."""
    share = stats.copy_share if stats.copy_share is not None else 0.0
    blue, orange = np.array([31, 95, 191]), np.array([232, 131, 30])
    r, g, b = (blue + (orange - blue) * share).round().astype(int)
    return f"#{r:02x}{g:02x}{b:02x}"


def _label(stats: SiteStats) -> str:
    label = stats.name or stats.site
    return label if len(label) <= 24 else label[:23] + "…"


def render_network(network: CopyNetwork) -> str:
    """The copy network as an inline SVG element."""
    nodes = network.nodes
    if not nodes:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} 80" role="img" '
                f'aria-label="No copy network"><text x="{WIDTH / 2}" y="45" '
                f'text-anchor="middle">No story is on two sites yet: no copies to draw.</text>'
                f'</svg>')
    index = {s.site: i for i, s in enumerate(nodes)}
    edges = network.edges[:DRAWN_EDGES]
    pos = layout(len(nodes), [(index[e.source], index[e.target], e.stories) for e in edges])
    xy = MARGIN + pos * np.array([WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN])
    most = max(s.articles for s in nodes)
    # area by articles, shrunk where many sites share the page
    scale = MAX_RADIUS * min(1.0, 3.2 / math.sqrt(len(nodes)) + 0.35)
    radius = [max(MIN_RADIUS, scale * math.sqrt(s.articles / most)) for s in nodes]
    strongest = max((e.stories for e in edges), default=1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'role="img" aria-label="Copy network of {len(nodes)} sites">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
             'markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6b85"/>'
             '</marker></defs>']
    opacity = 0.75 if len(edges) <= 30 else 0.45 if len(edges) <= 150 else 0.3
    for e in edges:
        a, b = index[e.source], index[e.target]
        parts.append(_edge(e, xy[a], xy[b], radius[a], radius[b], strongest, opacity))
    labelled = _labelled(nodes, xy, radius)
    for i, s in enumerate(nodes):
        x, y = xy[i]
        tip = (f"{s.site}" + (f" ({s.name})" if s.name else "") + f" · {s.articles} articles"
               f" · first on {s.first_stories} of {s.shared_stories} shared stories"
               f" · {s.copied_stories} copies")
        parts.append(f'<g class="node" data-site="{escape(s.site)}"><title>{escape(tip)}</title>'
                     f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius[i]:.1f}" '
                     f'fill="{_colour(s)}"/></g>')
    for i, (x0, y0, _, _) in sorted(labelled.items()):
        parts.append(f'<text class="label" x="{x0 + 2:.1f}" y="{y0 + 13:.1f}">'
                     f'{escape(_label(nodes[i]))}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _labelled(nodes: list[SiteStats], xy: np.ndarray, radius: list[float]
              ) -> dict[int, tuple[float, float, float, float]]:
    """Label boxes (x0, y0, x1, y1) of the sites to label: the largest first, at most
    LABELLED_SITES, each beside its circle, skipped where it would cover another label."""
    boxes: dict[int, tuple[float, float, float, float]] = {}
    for i in sorted(range(len(nodes)), key=lambda i: (-nodes[i].articles, nodes[i].site)):
        if len(boxes) == LABELLED_SITES:
            break
        x, y = xy[i]
        width = 7.6 * len(_label(nodes[i]))  # 12px system-ui: at most ~7.5px a character
        x0 = x + radius[i] + 4 if x < WIDTH / 2 else x - radius[i] - 4 - width
        box = (x0 - 2, y - 9, x0 + width + 2, y + 9)
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                   for b in boxes.values()):
            boxes[i] = box
    return boxes


def _edge(e, start: np.ndarray, end: np.ndarray, r0: float, r1: float, strongest: int,
          opacity: float) -> str:
    """A slightly curved arrow between the circles' rims (curved so that A->B and B->A part)."""
    d = end - start
    length = max(float(np.hypot(*d)), 1e-6)
    unit = d / length
    normal = np.array([-unit[1], unit[0]])
    a = start + unit * r0
    b = end - unit * (r1 + 2)
    control = (a + b) / 2 + normal * length * 0.12
    width = 1 + 5 * math.sqrt(e.stories / strongest)
    tip = (f"{e.source} → {e.target}: {e.stories} "
           f"{'story' if e.stories == 1 else 'stories'}"
           + (f", median lag {show_duration(e.median_lag_seconds)}"
              if e.median_lag_seconds is not None else ""))
    return (f'<path class="edge" data-source="{escape(e.source)}" '
            f'data-target="{escape(e.target)}" d="M{a[0]:.1f},{a[1]:.1f} '
            f'Q{control[0]:.1f},{control[1]:.1f} {b[0]:.1f},{b[1]:.1f}" '
            f'stroke-width="{width:.1f}" stroke-opacity="{opacity}" marker-end="url(#arrow)">'
            f'<title>{escape(tip)}</title></path>')


# ---------------------------------------------------------------- table


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def render_sites_table(sites: list[SiteStats]) -> str:
    rows = []
    for s in sites:
        languages = " ".join(f"{k or '?'}:{v}" for k, v in s.languages.items())
        rows.append(
            f'<tr class="site" data-site="{escape(s.site)}">'
            f'<td class="site"><span class="swatch" style="background:{_colour(s)}"></span>'
            f'{escape(s.site)}</td><td class="name">{escape(s.name or "")}</td>'
            f'<td class="num">{s.articles}</td><td class="num">{s.stories}</td>'
            f'<td class="num">{s.shared_stories}</td><td class="num">{_share(s.first_share)}</td>'
            f'<td class="num">{_share(s.copy_share)}</td>'
            f'<td class="num">{escape(show_duration(s.median_lag_seconds))}</td>'
            f'<td class="num">{escape(show_duration(s.p90_lag_seconds))}</td>'
            f'<td class="num">{s.redated}</td><td class="num">{s.teasers}</td>'
            f'<td class="num">{s.updates}</td><td>{escape(languages)}</td></tr>')
    return ('<table class="sites"><thead><tr><th>Site</th><th>Name</th><th>Articles</th>'
            '<th>Stories</th><th title="stories also on another site">Shared</th>'
            '<th title="of its shared stories, published first">First</th>'
            '<th title="of its stories, copies of another site\'s">Copies</th>'
            '<th title="behind the first copy">Lag median</th><th>Lag p90</th>'
            '<th>Re-dated</th><th>Teasers</th><th title="extra copies of one story">Updates</th>'
            f'<th>Languages</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
