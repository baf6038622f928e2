"""Cost of a copy joining a story of 2, 100, 1,000 and 5,000 copies (issue 24).

A wire story is carried by hundreds of sites; what a new copy costs the single writer must not
grow with the copies already stored. For each size a crawl database is filled the way a crawl
fills it (``StoryAssigner.add`` one article at a time): ordinary articles of other stories on
50 sites with their chrome (so boilerplate is learnt), then the story's copies, dressed by
their sites, of the kinds a syndicated story has (plain, with a promo line, a tail line, a
comment form, a date line, a teaser, a truncated copy). Then new copies join the stories, the
sizes taking turns copy by copy (so load from other processes falls on all sizes alike), and
each one's CPU time in ``StoryAssigner.add`` is measured. The 2-copy case is many different
stories of 2 copies, each joined once, so every measured copy joins a 2-copy story.

Prints per size: stories the copies make (1 = one story), CPU per joining copy (median and
mean), its ratio to the 2-copy story's, links per joining copy and links per copy stored.

``--crawl DIR`` instead compares the ordinary crawl's dedup CPU per article with the code of
another checkout ``DIR`` (say the main branch before this change): both replay the labelled
syndication set of ``bench/dedup_quality.py`` (24 sites, copies of every kind, template
stories) through ``StoryAssigner.add`` in fresh processes, taking turns, and print the CPU per
article of each round and the ratio of the medians.

    python bench/story_scale.py                      # sizes 2,100,1000,5000 (a few minutes)
    python bench/story_scale.py --sizes 2,100 --joins 20
    python bench/story_scale.py --crawl /work/main   # this checkout against another
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the checkout whose crawler package is measured (``--code``, set by ``--crawl``'s runs)
CODE = Path(sys.argv[sys.argv.index("--code") + 1]) if "--code" in sys.argv else ROOT
sys.path.insert(0, str(CODE))
sys.path.insert(0, str(ROOT / "bench"))

import random  # noqa: E402

import syndication  # noqa: E402

from crawler import store  # noqa: E402
from crawler.dedup import DedupParams  # noqa: E402
from crawler.dedup.sketch import fingerprint  # noqa: E402
from crawler.dedup.stories import StoryAssigner  # noqa: E402

KINDS = ["chrome", "promo", "tail", "comments", "redated", "chrome", "teaser", "truncated",
         "chrome", "promo"]
N_SITES = 50
BACKGROUND = 300  # ordinary articles, one story each


class Crawl:
    """A crawl database with the assigner wired as the store pipeline wires it."""

    def __init__(self, path: Path, params: DedupParams):
        self.db = store.open_db(path)
        self.params = params
        self.assigner = StoryAssigner(self.db, params)
        self.n = 0

    def add(self, site: syndication.Site, body: str, title: str, published: str) -> tuple[int, float]:
        """Store one article; returns its id and the CPU seconds of ``StoryAssigner.add``."""
        self.n += 1
        text = site.dress(body)
        fp = fingerprint(text, title=title, params=self.params)  # (the extraction workers' part)
        with store.transaction(self.db):
            article_id, _ = store.insert_article(self.db, {
                "url": f"https://{site.name}/{self.n}", "site": site.name, "title": title,
                "published": published, "text": text})
            t0 = time.process_time()
            self.assigner.add(article_id, fp)
            cpu = time.process_time() - t0
        return article_id, cpu

    def stories_of(self, ids: list[int]) -> int:
        marks = ",".join("?" * len(ids))
        return self.db.execute(f"SELECT count(DISTINCT story_id) FROM articles WHERE id IN ({marks})",
                               ids).fetchone()[0]

    def links(self) -> int:
        return self.db.execute("SELECT count(*) FROM article_links").fetchone()[0]


def copy_of(body: dict, i: int, rng: random.Random, words: list[str]) -> tuple[str, str | None]:
    return syndication.transform(KINDS[i % len(KINDS)], body["paragraphs"], body["lang"], rng,
                                 words)


def replay_crawl(corpus: Path, seed: int) -> dict:
    """CPU seconds per article of ``StoryAssigner.add`` over the labelled syndication set,
    replayed once in a shuffled order (the code of ``--code``)."""
    docs = syndication.build(seed=seed, corpus=corpus).docs
    random.Random(seed).shuffle(docs)
    params = DedupParams()
    with tempfile.TemporaryDirectory() as tmp:
        db = store.open_db(Path(tmp) / "crawl.db")
        assigner = StoryAssigner(db, params)
        total = 0.0
        for d in docs:
            fp = fingerprint(d.text, title=d.title, params=params)
            with store.transaction(db):
                article_id, _ = store.insert_article(db, {
                    "url": f"https://{d.site}/{d.id}", "site": d.site, "title": d.title,
                    "published": d.published, "text": d.text})
                t0 = time.process_time()
                assigner.add(article_id, fp)
                total += time.process_time() - t0
        stories = db.execute("SELECT count(DISTINCT story_id) FROM articles").fetchone()[0]
    return {"articles": len(docs), "cpu_ms": total / len(docs) * 1000, "stories": stories}


def compare_crawl(other: Path, corpus: Path, seed: int, rounds: int) -> None:
    """This checkout against ``other`` on the ordinary crawl, in fresh processes taking turns."""
    runs: dict[str, list[float]] = {"this": [], "other": []}
    for round_ in range(rounds):
        for side, code in (("other", other), ("this", ROOT)):
            out = subprocess.run(
                [sys.executable, __file__, "--replay", "--code", str(code), "--corpus", str(corpus),
                 "--seed", str(seed)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            runs[side].append(r["cpu_ms"])
            print(f"  round {round_ + 1} {side:5} ({code}): {r['cpu_ms']:.2f} ms CPU an article, "
                  f"{r['articles']} articles, {r['stories']} stories", flush=True)
    this, base = statistics.median(runs["this"]), statistics.median(runs["other"])
    print(f"  median: this {this:.2f} ms, other {base:.2f} ms an article: {this / base:.2f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2,100,1000,5000",
                    help="comma-separated story sizes (copies); the first is the baseline")
    ap.add_argument("--joins", type=int, default=30, help="measured copies joining each size")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", type=Path,
                    default=Path(os.environ.get("CRAWLER_CORPUS", syndication.CORPUS)),
                    help="the shared test corpus (default: $CRAWLER_CORPUS or ../shared/corpus)")
    ap.add_argument("--crawl", type=Path, metavar="DIR",
                    help="compare the ordinary crawl's dedup CPU with the checkout DIR instead")
    ap.add_argument("--rounds", type=int, default=3, help="--crawl: rounds of each side")
    ap.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--replay", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.replay:
        print(json.dumps(replay_crawl(args.corpus, args.seed)))
        return 0
    if args.crawl:
        compare_crawl(args.crawl, args.corpus, args.seed, args.rounds)
        return 0
    sizes = [int(x) for x in args.sizes.split(",") if x]
    params = DedupParams()
    rng = random.Random(args.seed)
    bodies = [b for b in syndication.load_bodies(args.corpus) if 300 <= sum(len(p.split()) for p in b["paragraphs"]) <= 700]
    rng.shuffle(bodies)
    words = syndication.vocabulary(bodies)
    sites = syndication.make_sites(rng, N_SITES)
    story_bodies, background = bodies[:args.joins], bodies[args.joins:args.joins + BACKGROUND]
    print(f"params: story_representatives={params.story_representatives}, crowded_key_stories="
          f"{params.crowded_key_stories}, lsh_bucket_max={params.lsh_bucket_max}, "
          f"lead_key_max_postings={params.lead_key_max_postings}")
    print(f"{len(background)} background articles on {N_SITES} sites; stories of "
          f"{statistics.mean(len(' '.join(b['paragraphs']).split()) for b in story_bodies):.0f}"
          f" words on average; {args.joins} joining copies per size")
    with tempfile.TemporaryDirectory() as tmp:
        crawls, members = {}, {}
        for size in sizes:
            crawl = crawls[size] = Crawl(Path(tmp) / f"story-{size}.db", params)
            for i, body in enumerate(background):
                crawl.add(sites[i % N_SITES], "\n\n".join(body["paragraphs"]), body["title"],
                          body["published"])
            # the baseline size: one story per joining copy; the others: one story
            stories = story_bodies if size == sizes[0] else story_bodies[:1]
            members[size] = {j: [] for j in range(len(stories))}
            t0 = time.process_time()
            for j, body in enumerate(stories):
                for i in range(size):
                    text, date = copy_of(body, i, rng, words[body["lang"]])
                    article_id, _ = crawl.add(sites[(i + j) % N_SITES], text, body["title"],
                                              date or body["published"])
                    members[size][j].append(article_id)
            built = time.process_time() - t0
            print(f"  built {len(stories)} stor{'y' if len(stories) == 1 else 'ies'} of {size} "
                  f"copies: {built / (size * len(stories)) * 1000:.2f} ms CPU a copy, "
                  f"{crawl.links() / (size * len(stories)):.2f} links a copy", flush=True)
        cpu: dict[int, list[float]] = {size: [] for size in sizes}
        links_before = {size: crawls[size].links() for size in sizes}
        for k in range(args.joins):  # the sizes take turns
            for size in sizes:
                j = k if size == sizes[0] else 0
                body = story_bodies[j]
                # a plain copy (the common case) on a site that already carries the story
                article_id, seconds = crawls[size].add(
                    sites[(size + k) % N_SITES], "\n\n".join(body["paragraphs"]), body["title"],
                    body["published"])
                members[size][j].append(article_id)
                cpu[size].append(seconds)
        base = statistics.median(cpu[sizes[0]])
        print(f"\n  {'story size':>10} {'stories':>8} {'CPU ms/copy median':>19} {'mean':>7} "
              f"{'x 2-copy':>9} {'links/joining copy':>19} {'links/copy':>11}")
        for size in sizes:
            crawl = crawls[size]
            n_stories = max(crawl.stories_of(ids) for ids in members[size].values())
            stored = sum(len(ids) for ids in members[size].values())
            median = statistics.median(cpu[size])
            print(f"  {size:10d} {n_stories:8d} {median * 1000:19.2f} "
                  f"{statistics.mean(cpu[size]) * 1000:7.2f} {median / base:9.2f} "
                  f"{(crawl.links() - links_before[size]) / args.joins:19.2f} "
                  f"{crawl.links() / stored:11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
