"""One story as a self-contained HTML page: a propagation chart (inline SVG) and its copies.

The page has no scripts and loads nothing: open the file in any browser, mail it, archive it.
The chart puts one row per site (in the order the story reached them) against time; when a
story spread over more than ``LINEAR_MAX_DAYS`` (a re-dated copy years later, say) the time
axis becomes logarithmic in the time since the first copy, so hours and years both stay legible.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from html import escape

from crawler.analysis.stories import Copy, StoryTimeline
from crawler.analysis.times import show_duration, show_time

LINEAR_MAX_DAYS = 3.0

WIDTH = 960
LEFT = 190
RIGHT = 40
TOP = 34
ROW = 30
BOTTOM = 56

_LINEAR_STEPS = [timedelta(minutes=m) for m in (1, 5, 10, 15, 30, 60, 120, 180, 360, 720)] + \
    [timedelta(days=d) for d in (1, 2, 7, 14, 30, 61, 91, 182, 365)]
_LOG_TICKS = [(0, "first"), (10, "+10 min"), (60, "+1 h"), (360, "+6 h"), (1440, "+1 day"),
              (10080, "+1 week"), (43200, "+30 days"), (525600, "+1 year"),
              (3 * 525600, "+3 years"), (10 * 525600, "+10 years")]

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330;
       margin: 0; background: #f6f7f9; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.55em; margin: 0 0 4px; line-height: 1.25; }
.facts { color: #4a5263; margin: 0 0 18px; }
.facts b { color: #1d2330; }
figure { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; margin: 0 0 22px;
         padding: 12px 8px 4px; }
figcaption { font-size: .9em; color: #4a5263; padding: 0 12px 8px; }
svg { display: block; width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #333b4a; }
svg .site { font-size: 13px; }
svg .tick { fill: #6b7385; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: .92em; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e3e6ec; vertical-align: top; }
th { background: #eef0f4; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.when { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.url { word-break: break-all; font-size: .88em; }
.flag { display: inline-block; border-radius: 4px; padding: 0 5px; margin: 0 3px 2px 0;
        font-size: .85em; white-space: nowrap; }
.flag.first { background: #1f5fbf; color: #fff; }
.flag.redated { background: #f2a33a; color: #2b1a00; }
.flag.teaser { background: #e4e8ef; color: #333b4a; border: 1px dashed #7d8596; }
.flag.updated { background: #d9f0dd; color: #1d4a25; border: 1px solid #4f9a5c; }
tr.canonical td { background: #f3f8ff; }
footer { color: #6b7385; font-size: .85em; margin-top: 20px; }
"""


def render_report(story: StoryTimeline, *, generated: datetime | None = None,
                  source: str | None = None) -> str:
    """The whole HTML page for ``story``."""
    generated = generated or datetime.now(timezone.utc)
    title = story.title or f"Story {story.id}"
    first = story.copies[0] if story.copies else None
    facts = [f"<b>{len(story.copies)}</b> {'copy' if len(story.copies) == 1 else 'copies'} on "
             f"<b>{len(story.sites)}</b> {'site' if len(story.sites) == 1 else 'sites'}"]
    if first:
        facts.append(f"first: <b>{escape(first.article.site or '?')}</b> "
                     f"{escape(show_time(first.time))} UTC")
    if story.spread is not None:
        facts.append(f"spread <b>{escape(show_duration(story.spread))}</b>")
    flagged = [c for c in story.copies if c.redated or c.teaser or c.updated]
    if flagged:
        facts.append(f"{sum(c.redated for c in story.copies)} re-dated, "
                     f"{sum(c.teaser for c in story.copies)} teaser, "
                     f"{sum(c.updated for c in story.copies)} updated")
    undated = [c for c in story.copies if c.time is None]
    caption = ("Propagation: each row is a site, each mark a copy, placed by its published date "
               "(first seen when the page gave none); the line joins each site's first copy.")
    if undated:
        caption += f" {len(undated)} copies without any date are only listed below."
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · story {story.id}</title>
<style>{_STYLE}</style></head>
<body><main>
<h1>{escape(title)}</h1>
<p class="facts">Story {story.id} · {' · '.join(facts)}</p>
<figure>{render_chart(story)}
<figcaption>{escape(caption)}</figcaption></figure>
{render_copies(story)}
<footer>Generated {escape(show_time(generated))} UTC by news-crawler
{('from ' + escape(source)) if source else ''}.</footer>
</main></body></html>
"""


# ---------------------------------------------------------------- chart


class _TimeAxis:
    """Maps times to x and picks ticks: linear for short spreads, log of elapsed otherwise."""

    def __init__(self, times: list[datetime], x0: float, x1: float):
        self.start, self.end = min(times), max(times)
        self.x0, self.x1 = x0, x1
        span = self.end - self.start
        self.log = span > timedelta(days=LINEAR_MAX_DAYS)
        if self.log:
            self.max_minutes = span.total_seconds() / 60
        else:
            pad = max(span * 0.06, timedelta(minutes=30))
            self.lo, self.hi = self.start - pad, self.end + pad

    def x(self, when: datetime) -> float:
        if self.log:
            minutes = max((when - self.start).total_seconds() / 60, 0)
            share = math.log1p(minutes) / math.log1p(self.max_minutes)
        else:
            share = (when - self.lo) / (self.hi - self.lo)
        return self.x0 + share * (self.x1 - self.x0)

    def ticks(self) -> list[tuple[float, str]]:
        if self.log:
            ticks = [(self.x(self.start + timedelta(minutes=m)), label)
                     for m, label in _LOG_TICKS if m <= self.max_minutes * 1.001]
            last = ticks[-1][0] if ticks else self.x0
            if self.x1 - last > 60:
                ticks.append((self.x1, "+" + show_duration(self.end - self.start)))
            return ticks
        span = self.hi - self.lo
        step = next((s for s in _LINEAR_STEPS if span / s <= 7), _LINEAR_STEPS[-1])
        epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
        tick = epoch + math.ceil((self.lo - epoch) / step) * step
        out, last_day = [], None
        while tick <= self.hi:
            day = tick.strftime("%Y-%m-%d")
            label = tick.strftime("%H:%M") if step < timedelta(days=1) else day
            if step < timedelta(days=1) and day != last_day:
                label = f"{day} {label}"
            last_day = day
            out.append((self.x(tick), label))
            tick += step
        return out


def _mark(copy: Copy, x: float, y: float) -> str:
    art = copy.article
    tip = escape(f"{art.site} · {show_time(copy.time)} UTC · {art.title or ''}"
                 + (f" · {', '.join(copy.flags)}" if copy.flags else ""))
    if copy.redated:
        shape = (f'<rect x="{x - 6:.1f}" y="{y - 6:.1f}" width="12" height="12" '
                 f'transform="rotate(45 {x:.1f} {y:.1f})" fill="#f2a33a" stroke="#8a5200"/>')
    elif copy.teaser:
        shape = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6.5" fill="#fff" stroke="#1f5fbf" '
                 f'stroke-width="2" stroke-dasharray="3 2"/>')
    elif copy.updated:
        shape = (f'<rect x="{x - 5.5:.1f}" y="{y - 5.5:.1f}" width="11" height="11" '
                 f'fill="#7cc488" stroke="#1d4a25" stroke-width="1.5"/>')
    elif copy.first:
        shape = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8" fill="#1f5fbf" stroke="#0b2e66" '
                 f'stroke-width="1.5"/>')
    else:
        shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="#5b8fd9" stroke="#1f5fbf"/>'
    return f'<g class="copy"><title>{tip}</title>{shape}</g>'


_LEGEND = f"""<g class="legend" transform="translate({LEFT}, 12)">
<circle cx="6" cy="0" r="6" fill="#1f5fbf" stroke="#0b2e66"/><text x="17" y="4">first source</text>
<circle cx="116" cy="0" r="5" fill="#5b8fd9" stroke="#1f5fbf"/><text x="126" y="4">copy</text>
<circle cx="186" cy="0" r="5" fill="#fff" stroke="#1f5fbf" stroke-width="2"
 stroke-dasharray="3 2"/><text x="197" y="4">teaser</text>
<rect x="258" y="-5" width="10" height="10" transform="rotate(45 263 0)" fill="#f2a33a"
 stroke="#8a5200"/><text x="275" y="4">re-dated</text>
<rect x="348" y="-5" width="10" height="10" fill="#7cc488" stroke="#1d4a25"/><text x="363"
 y="4">updated</text></g>"""


def render_chart(story: StoryTimeline) -> str:
    """Sites (rows, in order of arrival) against time, as an inline SVG element."""
    dated = [c for c in story.copies if c.time]
    sites = story.sites or ["?"]
    height = TOP + ROW * len(sites) + BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
             f'role="img" aria-label="Propagation of story {story.id} across '
             f'{len(sites)} sites">']
    row_y = {site: TOP + ROW * i + ROW / 2 for i, site in enumerate(sites)}
    for i, site in enumerate(sites):
        y = row_y[site]
        if i % 2 == 0:
            parts.append(f'<rect x="{LEFT}" y="{y - ROW / 2}" width="{WIDTH - LEFT - RIGHT}" '
                         f'height="{ROW}" fill="#f3f5f8"/>')
        label = site if len(site) <= 26 else site[:25] + "…"
        parts.append(f'<text class="site" x="{LEFT - 10}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{escape(label)}</text>')
    parts.append(_LEGEND)
    axis_y = TOP + ROW * len(sites)
    parts.append(f'<line x1="{LEFT}" y1="{axis_y}" x2="{WIDTH - RIGHT}" y2="{axis_y}" '
                 f'stroke="#8a92a3"/>')
    if dated:
        axis = _TimeAxis([c.time for c in dated], LEFT + 14, WIDTH - RIGHT - 14)
        for x, label in axis.ticks():
            parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{axis_y + 5}" '
                         f'stroke="#d5d9e1" stroke-dasharray="2 3"/>')
            parts.append(f'<text class="tick" x="{x:.1f}" y="{axis_y + 20}" '
                         f'text-anchor="middle">{escape(label)}</text>')
        caption = ("time since the first copy (log scale)" if axis.log
                   else "time (UTC)")
        parts.append(f'<text class="tick" x="{(LEFT + WIDTH - RIGHT) / 2}" y="{axis_y + 42}" '
                     f'text-anchor="middle">{caption}</text>')
        arrivals: dict[str, Copy] = {}
        for copy in dated:
            arrivals.setdefault(copy.article.site or "?", copy)
        points = " ".join(f"{axis.x(c.time):.1f},{row_y[c.article.site or '?']:.1f}"
                          for c in sorted(arrivals.values(), key=lambda c: c.time))
        parts.append(f'<polyline points="{points}" fill="none" stroke="#1f5fbf" '
                     f'stroke-opacity=".35" stroke-width="2"/>')
        for copy in dated:
            parts.append(_mark(copy, axis.x(copy.time), row_y[copy.article.site or "?"]))
    else:
        parts.append(f'<text x="{(LEFT + WIDTH) / 2}" y="{TOP + 16}" text-anchor="middle">'
                     f'no copy has a date</text>')
    parts.append("</svg>")
    return "\n".join(parts)


# ---------------------------------------------------------------- copies


def _flag_html(copy: Copy) -> str:
    out = []
    if copy.first:
        out.append('<span class="flag first">first source</span>')
    if copy.redated:
        out.append(f'<span class="flag redated">re-dated {copy.redated_days:+.0f} days</span>')
    if copy.teaser:
        out.append(f'<span class="flag teaser">teaser · {copy.teaser_ratio:.0%} of the words'
                   f'</span>')
    if copy.updated:
        out.append(f'<span class="flag updated">updated · {escape(copy.changes)}</span>')
    if copy.is_canonical:
        out.append('<span class="flag teaser">canonical</span>')
    return "".join(out)


def _similarity(copy: Copy) -> str:
    if copy.similarity is None:
        return ""
    return f"{copy.similarity:.2f}" if copy.similarity_direct else f"≈{copy.similarity:.2f}"


def render_copies(story: StoryTimeline) -> str:
    rows = []
    for i, copy in enumerate(story.copies, 1):
        art = copy.article
        rows.append(
            f'<tr class="copy{" canonical" if copy.is_canonical else ""}" '
            f'data-article-id="{art.id}">'
            f'<td class="num">{i}</td><td>{escape(art.site or "")}</td>'
            f'<td class="when">{escape(show_time(art.published))}</td>'
            f'<td class="when">{escape(show_time(art.first_seen))}</td>'
            f'<td class="num">{escape(_similarity(copy))}</td>'
            f'<td class="num">{art.word_count or ""}</td>'
            f'<td>{_flag_html(copy)}</td>'
            f'<td>{escape(art.title or "")}<br>'
            f'<span class="url"><a href="{escape(art.url)}">{escape(art.url)}</a></span></td>'
            f'</tr>')
    return ('<table class="copies"><thead><tr><th>#</th><th>Site</th><th>Published</th>'
            '<th>First seen</th><th title="to the canonical article; ≈ via other copies">'
            'Similarity</th><th>Words</th><th>Flags</th><th>Title and URL</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')
