"""Imported once by the extraction workers' fork server (its preload, ``crawler.runtime.workers``).

Importing trafilatura and running a first extraction (lazy imports, date parsers, the language
model) costs ~2 s of CPU. Done here, in the server, it is paid once per crawl instead of once
per worker, and every worker forked from the server starts warm, sharing those memory pages.
"""
from __future__ import annotations

from crawler.dedup import DedupParams
from crawler.runtime.pipelines import analyse_page

_PAGE = b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Warm-up | Example</title>
<meta property="og:site_name" content="Example"><meta name="author" content="Ann Example">
</head><body><nav><a href="/">Home</a></nav><article><h1>Warm-up</h1>
<time datetime="2024-05-06T07:08:09+02:00">6 May 2024</time>
<p>The council met on Monday, 6 May 2024, and agreed to rebuild the old bridge over the river
before the winter, at a cost of 4.2 million euros, the mayor said after the vote.</p>
<p>Work starts in June; the road stays open to cyclists and pedestrians during the works.</p>
</article><footer>Contact | Imprint</footer></body></html>"""


def warm_up() -> None:
    """One extraction and sketch of a small page, without a declared language."""
    analyse_page(_PAGE, "http://127.0.0.1/warm-up.html", None, DedupParams())


try:
    warm_up()
except Exception:  # a warm-up that fails must not stop the server; the workers warm up alone
    pass
