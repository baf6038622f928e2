"""How the analysis commands scale: stories, story, search (and building its index), export.

Builds a synthetic crawl database (N articles of 400 words in stories of 1-5 copies on up to 40
sites), then times each reader on it. Usage: python bench/analysis_speed.py [N] (default 100000).
"""
from __future__ import annotations

import io
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler import store  # noqa: E402
from crawler.analysis.access import open_readonly  # noqa: E402
from crawler.analysis.export import export_columns, iter_rows, write_rows  # noqa: E402
from crawler.analysis.search import search  # noqa: E402
from crawler.store.fts import ensure_fts  # noqa: E402
from crawler.analysis.stories import list_stories, load_story  # noqa: E402

WORDS = ("Schüler Prüfung Straße Bürgermeisterin Stadtrat Haushalt Brücke Verkehr Wetter "
         "Regierung Minister Gericht Polizei Feuerwehr Hochwasser Energie Preise Mieten "
         "harbour ferry council election market shares weather police court school").split()


def build(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = store.open_db(path)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    article_id = 0
    stories, articles = [], []
    while article_id < n:
        copies = min(rng.choice([1, 1, 1, 2, 3, 5]), n - article_id)
        base = start + timedelta(minutes=rng.randrange(600_000))
        text = " ".join(rng.choice(WORDS) for _ in range(400))
        story_id = article_id + 1
        sites = rng.sample(range(40), copies)
        for i in range(copies):
            article_id += 1
            when = base + timedelta(minutes=rng.randrange(0, 3000) * (i > 0))
            articles.append({"id": article_id, "url": f"http://site{sites[i]}.test/{article_id}",
                             "site": f"site{sites[i]}.test", "title": f"Story {story_id}",
                             "published": when.isoformat(), "first_seen": when.isoformat(),
                             "language": "de", "text": text, "word_count": 400,
                             "story_id": story_id})
        stories.append({"id": story_id, "title": f"Story {story_id}",
                        "canonical_article_id": story_id, "first_seen": base.isoformat(),
                        "first_published": base.isoformat(), "n_articles": copies,
                        "n_sites": copies})
    with store.transaction(db):
        db["articles"].insert_all(articles, batch_size=2000)
        db["stories"].insert_all(stories, batch_size=2000)
    db.close()


def timed(label: str, func, *args, **kwargs):
    started = time.perf_counter()
    result = func(*args, **kwargs)
    print(f"  {label:<42} {time.perf_counter() - started:8.3f} s")
    return result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    path = Path(__file__).resolve().parent / "out" / "analysis_speed.db"
    path.parent.mkdir(exist_ok=True)
    print(f"building {n:,} articles ...")
    build(path, n)
    writable = store.open_db(path)
    timed("build the FTS index (once per database)", ensure_fts, writable)
    writable.close()
    db = open_readonly(path)
    print(f"{n:,} articles, {db['stories'].count:,} stories")
    timed("stories (newest 50)", list_stories, db)
    timed("stories --min-sites 3 (50)", list_stories, db, min_sites=3)
    timed("stories --site site7.test (50)", list_stories, db, site="site7.test")
    timed("stories --search Hochwasser (50)", list_stories, db, search="Hochwasser Brücke")
    timed("story ID (5 copies)", load_story, db, 1)
    timed("search Schüler (20 hits)", search, db, "Schüler Prüfung")
    out = io.StringIO()
    rows = timed("export --format jsonl (all articles)", write_rows,
                 iter_rows(db, "articles"), out, "jsonl", export_columns(db, "articles"))
    print(f"  -> {rows:,} rows, {len(out.getvalue()) / 1e6:,.0f} MB")


if __name__ == "__main__":
    main()
