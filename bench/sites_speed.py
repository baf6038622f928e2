"""How `crawler sites` and the copy network scale, and what keeping them current costs.

Grows one database in stages (default 10k, 100k, 1M articles) of stories of 1-5 copies on 500
sites, written the way dedup writes them: article rows, then each story's row (the site
statistics' triggers fire on it). At each size, CPU time of this process:

- readers on the kept statistics: ``list_sites`` (``crawler sites``), with ``--since`` (last
  30 of 700 days) and ``--language``, ``copy_network`` + GraphML (``crawler export --network``),
  ``load_site`` (``crawler site``);
- the baseline they replace: per-site articles, stories and first publishers computed by
  reading every article (what a reader without the kept statistics must do at least: it
  leaves out lags, edges and re-dating), measured in the same run;
- the writers' cost, A/B alternating on the grown file: writing 2,000 new stories (their
  articles, the story rows, merges of copies) with the triggers and without, rolled back.

Usage: python bench/sites_speed.py [--sizes 10000,100000,1000000] [--db PATH] [--keep]
                                   [--reads-only]
"""
from __future__ import annotations

import argparse
import io
import random
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler import store  # noqa: E402
from crawler.analysis.access import open_readonly  # noqa: E402
from crawler.analysis.network import write_network  # noqa: E402
from crawler.analysis.sites import copy_network, list_sites, load_site  # noqa: E402
from crawler.analysis.times import parse_time  # noqa: E402
from crawler.dedup.stories import write_single_stories, write_story  # noqa: E402

N_SITES = 500
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
CLOCK = time.process_time
CHUNK = 20_000


class Filler:
    """Appends stories of 1-5 copies: articles first, then each story's row, as dedup does."""

    def __init__(self, db, seed: int = 13):
        self.db = db
        self.rng = random.Random(seed)
        self.n = db.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]

    def stories(self, count: int) -> tuple[list[tuple], list[list[int]]]:
        """(article rows, story member ids) of about ``count`` new articles."""
        rows, groups = [], []
        article_id, end = self.n, self.n + count
        while article_id < end:
            copies = min(self.rng.choice([1, 1, 1, 1, 2, 3, 5]), end - article_id)
            base = START + timedelta(minutes=self.rng.randrange(1_000_000))
            sites = self.rng.sample(range(N_SITES), copies)
            group = []
            for i in range(copies):
                article_id += 1
                when = base + timedelta(minutes=self.rng.randrange(3000) * (i > 0))
                if i and self.rng.random() < 0.03:  # a re-dated copy
                    when += timedelta(days=400)
                site = f"site{sites[i]}.example"
                language = "de" if self.rng.random() < 0.8 else "en"
                rows.append((article_id, f"https://{site}/{article_id}", site,
                             f"Story {article_id}", when.isoformat(), when.isoformat(), language,
                             "text", 300, f"Site {sites[i]}"))
                group.append(article_id)
            groups.append(group)
        return rows, groups

    def write(self, rows: list[tuple], groups: list[list[int]]) -> None:
        self.db.conn.executemany(
            "INSERT INTO articles (id, url, site, title, published, first_seen, language, "
            "text, word_count, sitename) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows)
        write_single_stories(self.db, [g[0] for g in groups if len(g) == 1])
        for group in groups:
            if len(group) > 1:
                self.db.conn.executemany("UPDATE articles SET story_id = ? WHERE id = ?",
                                         [(group[0], a) for a in group])
                write_story(self.db, group[0], group)

    def fill_to(self, target: int) -> None:
        while self.n < target:
            rows, groups = self.stories(min(CHUNK, target - self.n))
            with store.transaction(self.db):
                self.write(rows, groups)
            self.n = rows[-1][0]


def baseline_sites(db) -> dict:
    """Per-site articles, stories, first and copies by reading every article (no kept table)."""
    by_story = defaultdict(list)
    for story, site, published, seen, article in db.execute(
            "SELECT story_id, site, published, first_seen, id FROM articles"):
        by_story[story].append((parse_time(published) or parse_time(seen), seen, article, site))
    sites = defaultdict(lambda: [0, 0, 0, 0])
    for copies in by_story.values():
        copies.sort()
        first = copies[0][3]
        carried = {c[3] for c in copies}
        for c in copies:
            sites[c[3]][0] += 1
        for site in carried:
            sites[site][1] += 1
            sites[site][2 if site == first else 3] += 1
    return sites


def cpu(func, *args, repeat: int = 3, **kwargs) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = CLOCK()
        result = func(*args, **kwargs)
        best = min(best, CLOCK() - started)
    return best, result


def write_costs(db, filler: Filler, rounds: int = 3, count: int = 2000) -> tuple[float, float]:
    """CPU ms per story written, with the site triggers and without (A/B alternating)."""
    rows, groups = filler.stories(count)
    with_triggers, without = [], []
    for _ in range(rounds):
        for keep in (True, False):
            db.execute("BEGIN IMMEDIATE")
            try:
                if not keep:
                    for name in store.SITE_TRIGGERS:
                        db.execute(f"DROP TRIGGER {name}")
                started = CLOCK()
                filler.write(rows, groups)
                (with_triggers if keep else without).append(CLOCK() - started)
            finally:
                db.execute("ROLLBACK")
    return min(with_triggers) / len(groups) * 1000, min(without) / len(groups) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--db", default=str(Path(__file__).resolve().parent / "out" /
                                            "sites_speed.db"))
    parser.add_argument("--keep", action="store_true", help="grow a database left from before")
    parser.add_argument("--reads-only", action="store_true",
                        help="time the readers only (the file may be growing in another run)")
    args = parser.parse_args()
    path = Path(args.db)
    path.parent.mkdir(exist_ok=True)
    if not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    writer = None if args.reads_only else store.open_db(path)
    filler = Filler(writer) if writer else None
    for size in [int(s) for s in args.sizes.split(",")]:
        started = time.perf_counter()
        if filler:
            filler.fill_to(size)
            writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        fill = time.perf_counter() - started
        db = open_readonly(path)
        n_articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
        n_copies = db.execute("SELECT count(*) FROM story_sites WHERE NOT is_first"
                              ).fetchone()[0]
        print(f"\n{n_articles:,} articles, {db['stories'].count:,} stories, {n_copies:,} copy "
              f"rows (filled in {fill:.0f} s wall)")
        base, expected = cpu(baseline_sites, db, repeat=1)
        sites_s, sites = cpu(list_sites, db)
        since = (START + timedelta(minutes=1_000_000) - timedelta(days=30)).isoformat()
        since_s, _ = cpu(list_sites, db, since=since)
        lang_s, _ = cpu(list_sites, db, language="en")
        net_s, network = cpu(copy_network, db)
        graphml_s, _ = cpu(lambda: write_network(copy_network(db), io.StringIO(), "graphml"))
        site_s, _ = cpu(load_site, db, "site7.example")
        print(f"  baseline: per-site counts from every article    {base:8.2f} s CPU")
        for label, seconds in (("crawler sites", sites_s), ("crawler sites --since 30d", since_s),
                               ("crawler sites --language en", lang_s),
                               ("copy network", net_s), ("export --network graphml", graphml_s),
                               ("crawler site site7.example", site_s)):
            print(f"  {label:<46} {seconds:8.2f} s CPU  ({base / max(seconds, 1e-9):6.1f}x "
                  f"faster than the baseline)")
        print(f"  -> {len(sites)} sites, {len(network.edges):,} edges")
        if filler:
            with_ms, without_ms = write_costs(writer, filler)
            print(f"  writing a story: {with_ms:.3f} ms CPU with the site triggers, "
                  f"{without_ms:.3f} ms without ({with_ms / without_ms:.2f}x)")
        db.close()
        if filler:  # a growing file changes between the baseline's read and the readers'
            _check(expected, sites)
    if writer:
        writer.close()


def _check(expected: dict, sites) -> None:
    """The kept statistics agree with the baseline's counts (articles, stories)."""
    got = {s.site: (s.articles, s.stories) for s in sites}
    assert got == {site: (v[0], v[1]) for site, v in expected.items()}, "statistics disagree"


if __name__ == "__main__":
    main()
