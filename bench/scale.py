"""What grows with the database: size and per-article costs at 10k, 100k and 1M articles.

Fills one crawl database in stages with synthetic articles written the way a crawl writes them,
minus the crawling: ``articles`` rows with 400-800-word texts (bench/dedup_speed.py's Zipf
pseudo-language; the full-text triggers of a crawl stay on), stories of 1-5 copies on up to
500 sites, and the dedup index through ``dedup.index.Index.add`` with random signatures (the
signatures of unrelated articles are independent uniform values; bench/dedup_speed.py measures
the index alone). At each size it measures, on the grown file:

- disk: the whole file, and what takes it (article rows and their indexes, full-text index,
  dedup index, stories);
- a known-URL lookup (``store.known_urls``, what the spider asks for every feed entry);
- storing one new article and giving it its story (``pipelines.store_page``: insert, full-text
  index, feed link, ``StoryAssigner.add`` with candidates, verification and the story rows), for
  new articles half of which are copies of the other half (rolled back afterwards);
- ``crawler stories`` (``analysis.stories.list_stories``: newest 50, --min-sites 3, --search)
  and ``crawler story ID``.

Usage: python bench/scale.py [--sizes 10000,100000,1000000] [--db PATH] [--keep]
A 1M-article database takes about 8 GB of disk and tens of minutes to fill.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from dedup_speed import Synthetic, random_fingerprints  # noqa: E402

from crawler import store  # noqa: E402
from crawler.analysis.stories import list_stories, load_story  # noqa: E402
from crawler.dedup import DedupParams  # noqa: E402
from crawler.dedup.index import Index, site_paragraph_key  # noqa: E402
from crawler.dedup.sketch import fingerprint  # noqa: E402
from crawler.dedup.stories import StoryAssigner  # noqa: E402
from crawler.items import Page  # noqa: E402
from crawler.runtime.pipelines import store_page  # noqa: E402

PARAMS = DedupParams()
N_SITES = 500
TEXT_POOL = 3000     # distinct synthetic texts, reused: only sizes matter for the fill
CHUNK = 10_000       # articles per fill transaction
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
#: Costs are CPU time of this process: the machine is shared, and reads come from the page
#: cache (a cold cache adds disk reads; the file sizes say how much cache a size needs).
CLOCK = time.process_time


# ---------------------------------------------------------------- fill


class Filler:
    """Appends synthetic articles, stories and index rows to a database, chunk by chunk."""

    def __init__(self, db, seed: int = 11):
        self.db = db
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.texts = Synthetic(seed).articles(TEXT_POOL)
        self.index = Index(db, PARAMS)
        self.n = db.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]

    def fill_to(self, target: int) -> float:
        """Append articles up to `target`; the full-text index is filled in one statement per
        stage (as fast as FTS5 goes) instead of a trigger per row, then the trigger is back."""
        started = time.perf_counter()
        first = self.n
        trigger = self.db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND "
                                  "name = 'articles_ai'").fetchone()
        if trigger:
            self.db.execute("DROP TRIGGER articles_ai")
        try:
            while self.n < target:
                self._chunk(min(CHUNK, target - self.n))
            if trigger:
                with store.transaction(self.db):
                    self.db.execute("INSERT INTO articles_fts (rowid, title, text) SELECT id, "
                                    "title, text FROM articles WHERE id > ?", [first])
        finally:
            if trigger:
                self.db.execute(trigger[0])
        return time.perf_counter() - started

    def _chunk(self, count: int) -> None:
        articles, stories = [], []
        article_id = self.n
        while article_id < self.n + count:
            copies = min(self.rng.choice([1, 1, 1, 1, 2, 3, 5]), self.n + count - article_id)
            base = START + timedelta(minutes=self.rng.randrange(1_000_000))
            story_id = article_id + 1
            text = self.texts[self.rng.randrange(TEXT_POOL)]
            sites = self.rng.sample(range(N_SITES), copies)
            for i in range(copies):
                article_id += 1
                when = (base + timedelta(minutes=self.rng.randrange(3000) * (i > 0))).isoformat()
                site = f"site{sites[i]}.example"
                url = f"https://{site}/{when[:10]}/story-{article_id}.html"
                articles.append((article_id, url, url, site, f"Story {story_id}", when, when,
                                 "de", text, len(text.split()), story_id))
            stories.append((story_id, f"Story {story_id}", story_id, base.isoformat(),
                            base.isoformat(), base.isoformat(), copies, copies))
        fingerprints = random_fingerprints(count, self.n, self.np_rng)
        with store.transaction(self.db):
            self.db.conn.executemany(
                "INSERT INTO articles (id, url, fetched_url, site, title, published, first_seen, "
                "language, text, word_count, story_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)", articles)
            self.db.conn.executemany(
                "INSERT INTO stories (id, title, canonical_article_id, first_seen, "
                "first_published, last_published, n_articles, n_sites) VALUES (?,?,?,?,?,?,?,?)",
                stories)
            for row, fp in zip(articles, fingerprints):
                self.index.add(row[0], fp, [site_paragraph_key(row[3], k)
                                            for k in fp.short_paragraphs.tolist()])
        self.n = article_id


def truncate(db, n: int) -> None:
    """Cut a left-over database back to its first `n` articles: a run killed while filling
    leaves articles past its last finished size, whose full-text rows were not written yet
    (they are, per stage, after the fill), so only the rows and the dedup index are cut."""
    trigger = db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND "
                         "name = 'articles_ad'").fetchone()
    with store.transaction(db):
        if trigger:
            db.execute("DROP TRIGGER articles_ad")
        db.execute("DELETE FROM articles WHERE id > ?", [n])
        db.execute("DELETE FROM stories WHERE id > ?", [n])
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                   "name LIKE 'dedup_%'").fetchall():
            columns = {c[1] for c in db.execute(f"PRAGMA table_info([{table}])")}
            if "article_id" in columns:
                db.execute(f"DELETE FROM [{table}] WHERE article_id > ?", [n])
        if trigger:
            db.execute(trigger[0])


# ---------------------------------------------------------------- measures


def disk_usage(db, path: Path) -> dict:
    """MB of the file and of its parts (tables with their indexes), from SQLite's dbstat."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    owner = {name: table for name, table in db.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")}
    parts: dict[str, float] = {}
    for name, size in db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
        table = owner.get(name, name)
        group = ("fts_mb" if table.startswith("articles_fts") else
                 "dedup_mb" if table.startswith("dedup_") else
                 "articles_mb" if table == "articles" else
                 "stories_mb" if table == "stories" else "other_mb")
        parts[group] = parts.get(group, 0) + size / 2**20
    return {"file_mb": path.stat().st_size / 2**20, **{k: round(v, 1) for k, v in parts.items()}}


def known_url_lookup(db, n_articles: int, rounds: int = 200) -> float:
    """µs per URL of store.known_urls for a feed's worth of URLs (half stored, half new)."""
    rng = random.Random(5)
    ids = [rng.randrange(1, n_articles + 1) for _ in range(rounds * 25)]
    stored = dict(db.execute(f"SELECT id, url FROM articles WHERE id IN "
                             f"({','.join(map(str, set(ids)))})").fetchall())
    batches = [[stored[i] for i in ids[r * 25:(r + 1) * 25]]
               + [f"https://site{r % N_SITES}.example/new/{r}-{j}.html" for j in range(25)]
               for r in range(rounds)]
    started = CLOCK()
    for urls in batches:
        found = store.known_urls(db, urls)
        assert len(found) == len(set(urls[:25])), len(found)
    return 1e6 * (CLOCK() - started) / (rounds * 50)


def store_new_articles(db, n_new: int = 100) -> dict:
    """ms per article of pipelines.store_page for new articles (half copies), rolled back."""
    synth = Synthetic(99)
    originals = synth.articles(n_new // 2)
    texts = originals + [t + "\n\nMit Material von dpa." for t in originals]
    pages = []
    for i, text in enumerate(texts):
        site = f"new{i % 7}.example"
        article = {"text": text, "title": f"New {i % len(originals)}", "language": "de",
                   "published": "2025-03-04T08:00:00+00:00",
                   "fingerprint": fingerprint(text, params=PARAMS)}
        url = f"https://{site}/new/{i}.html"
        pages.append((Page(url=url, fetched_url=url, body=b"", feed_url=f"https://{site}/rss"),
                      article))
    assigner = StoryAssigner(db, PARAMS)
    db.execute("BEGIN IMMEDIATE")
    try:
        started = CLOCK()
        for page, article in pages:
            store_page(db, assigner, page, article, feeds=())
        seconds = CLOCK() - started
        merged = db.execute("SELECT count(DISTINCT story_id) FROM articles WHERE url LIKE "
                            "'https://new%'").fetchone()[0]
    finally:
        db.execute("ROLLBACK")
    return {"store_ms": 1000 * seconds / len(pages), "new_stories": merged,
            "new_articles": len(pages)}


def story_queries(db) -> dict:
    def timed(func, *args, **kwargs) -> float:
        started = CLOCK()
        func(*args, **kwargs)
        return 1000 * (CLOCK() - started)

    newest = list_stories(db, limit=1)[0].id
    return {"stories_ms": timed(list_stories, db),
            "stories_min_sites_ms": timed(list_stories, db, min_sites=3),
            "stories_search_ms": timed(list_stories, db, search="kaber"),
            "story_ms": timed(load_story, db, newest)}


def measure(db, path: Path, n: int) -> dict:
    result = {"articles": n, **disk_usage(db, path)}
    result["known_url_us"] = known_url_lookup(db, n)
    store_new_articles(db, 20)  # warm-up: first calls, caches
    result.update(store_new_articles(db))
    result.update(story_queries(db))
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


# ---------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--db", type=Path, default=BENCH / "out" / "scale.db")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="continue the database left by an earlier run (cut to the smallest "
                             "size first) instead of starting empty")
    parser.add_argument("--json", type=Path, default=BENCH / "out" / "scale.json")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    db = store.open_db(args.db)
    if args.reuse:
        truncate(db, sizes[0])
    filler = Filler(db)
    rows = []
    print("sizes in MB: the file, article rows + indexes, full-text index, dedup index, stories")
    print(f"{'articles':>9} {'fill s':>7} {'file MB':>8} {'articles':>9} {'fts':>7} "
          f"{'dedup':>7} {'stories':>8} {'url µs':>7} {'store ms':>9} {'stories ms':>11} "
          f"{'--min-sites':>12} {'--search':>9} {'story ms':>9} {'RSS MB':>7}", flush=True)
    for n in sizes:
        fill = filler.fill_to(n)
        r = {"fill_s": fill, **measure(db, args.db, n)}
        rows.append(r)
        print(f"{n:>9} {fill:>7.0f} {r['file_mb']:>8.0f} {r.get('articles_mb', 0):>9.0f} "
              f"{r.get('fts_mb', 0):>7.0f} {r.get('dedup_mb', 0):>7.0f} {r.get('stories_mb', 0):>8.0f} "
              f"{r['known_url_us']:>7.1f} {r['store_ms']:>9.2f} {r['stories_ms']:>11.1f} "
              f"{r['stories_min_sites_ms']:>12.1f} {r['stories_search_ms']:>9.1f} "
              f"{r['story_ms']:>9.1f} {r['rss_mb']:>7.0f}", flush=True)
        args.json.write_text(json.dumps(rows, indent=1))
    db.close()
    if not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
