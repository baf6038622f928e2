"""Dedup CPU per article of a crawl: this checkout against a baseline revision, in one run.

What a crawl spends on near-duplicate detection for each article is the fingerprint (computed
in the extraction workers) plus ``StoryAssigner.add`` (index look-ups, verification, links and
the story row, in the writer). Both are replayed on the same input by each side in a fresh
process, with that side's ``crawler`` package on ``PYTHONPATH``; the CPU time of the process
(``resource.getrusage``, user + system) is summed around the two calls only, so storing the
article and the transaction commits (every 50 articles, as the store pipeline does) are not
counted. Where the side has deferred site statistics (``store.refresh_site_stats``), their
refresh at the end of the crawl is counted in the writer's share.

The input, made once by this checkout before the rounds and read by both sides:

- ``crawl``: the pages of ``bench/crawl_speed.py`` (corpus pages, re-lettered to distinct
  stories, 20% near-identical copies, 20 sites), extracted by this checkout's
  ``extract_article`` (cached in bench/out/dedup_cost/);
- ``synthetic``: ``bench/dedup_speed.py``'s synthetic 400-800-word articles, no copies (the
  index alone);
- ``syndication`` (only with ``--workloads``; per round ~45 s of CPU for this code, ~2 min
  for 7113bd4, which verified every copy against every earlier one): the labelled
  test part of ``bench/dedup_quality.py`` (seed 1: copies of every kind, template reports,
  updates, heavy stories of 60 and 160 copies), where verification dominates.

The sides alternate (the one that goes first changes every round, so drift of the machine's
speed falls on both alike); each round's ratio is this / baseline, and the summary gives the
median and the worst round per workload.

    python bench/dedup_cost.py --baseline-rev 7113bd4       # main before issue 24
    python bench/dedup_cost.py --baseline-tree /path/to/other/checkout --rounds 4 \
        --workloads crawl,synthetic,syndication
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "dedup_cost"
WORKLOADS = ("crawl", "synthetic", "syndication")
DEFAULT_WORKLOADS = "crawl,synthetic"
TARGET = 1.20  # issue 24: the crawl's dedup CPU per article grows by at most 20%
STORE_BATCH = 50  # CRAWLER_STORE_BATCH_SIZE: articles per transaction


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- one side (a fresh process)


def replay(articles: list[dict], warm_up: int = 20) -> dict:
    """Fingerprint and assign every article into a fresh database with the ``crawler`` package
    on this process's path; CPU seconds of each part.

    The first ``warm_up`` articles go through a scratch database first, untimed: the first
    fingerprint of a process costs ~0.8 s of one-off set-up (imports, tables), which a crawl's
    long-lived workers pay once."""
    from crawler import store
    from crawler.dedup import DedupParams
    from crawler.dedup.sketch import fingerprint
    from crawler.dedup.stories import StoryAssigner

    params = DedupParams()
    sketch = assign = finish = 0.0
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        scratch = store.open_db(Path(tmp) / "warm-up.db")
        scratch_assigner = StoryAssigner(scratch, params)
        with store.transaction(scratch):
            for article in articles[:warm_up]:
                article_id, _ = store.insert_article(scratch, article)
                scratch_assigner.add(article_id, fingerprint(article["text"], title=article["title"],
                                                             params=params))
        scratch.conn.close()
        db = store.open_db(Path(tmp) / "replay.db")
        assigner = StoryAssigner(db, params)
        for start in range(0, len(articles), STORE_BATCH):
            with store.transaction(db):
                for article in articles[start:start + STORE_BATCH]:
                    t0 = cpu_seconds()
                    fp = fingerprint(article["text"], title=article["title"], params=params)
                    sketch += cpu_seconds() - t0
                    article_id, _ = store.insert_article(db, article)
                    t0 = cpu_seconds()
                    assigner.add(article_id, fp)
                    assign += cpu_seconds() - t0
        if hasattr(store, "refresh_site_stats"):  # deferred site rows of big stories
            t0 = cpu_seconds()
            store.refresh_site_stats(db)
            finish = cpu_seconds() - t0
        stories = db.execute("SELECT count(DISTINCT story_id) FROM articles").fetchone()[0]
        links = db.execute("SELECT count(*) FROM article_links").fetchone()[0]
        db.conn.close()
    n = len(articles)
    return {"articles": n, "sketch_ms": 1000 * sketch / n,
            "assign_ms": 1000 * (assign + finish) / n, "finish_ms": 1000 * finish / n,
            "total_ms": 1000 * (sketch + assign + finish) / n, "stories": stories, "links": links}


def replay_main(input_path: Path, workloads: list[str]) -> None:
    import crawler

    data = json.loads(gzip.decompress(input_path.read_bytes()))
    out = {"crawler": str(Path(crawler.__file__).parent)}
    for name in workloads:
        out[name] = replay(data[name])
    print(json.dumps(out))


def run_side(tree: Path, input_path: Path, workloads: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, __file__, "--replay", str(input_path),
                           "--workloads", ",".join(workloads)],
                          env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"dedup_cost: the replay with {tree} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(result["crawler"]).resolve() != (tree / "crawler").resolve():
        sys.exit(f"dedup_cost: the replay for {tree} imported {result['crawler']}")
    return result


# ---------------------------------------------------------------- the input (this checkout)


def crawl_articles(pages: int, dup_share: float, n_sites: int = 20) -> list[dict]:
    """The articles a crawl of ``bench/crawl_speed.py``'s first ``pages`` pages stores, in page
    order, extracted once by this checkout (cached: extraction costs ~50 ms of CPU a page)."""
    cache = OUT / f"crawl-{pages}-{dup_share}.json.gz"
    if cache.exists():
        return json.loads(gzip.decompress(cache.read_bytes()))
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    from multiprocessing import get_context

    import crawl_speed
    from crawler.runtime.workers import usable_cores
    from crawler.settings import CRAWLER_MIN_WORDS

    page_set = crawl_speed.PageSet([crawl_speed.Template(p) for p in
                                    crawl_speed.corpus_pages(crawl_speed.CORPUS)], dup_share)
    jobs = [(page_set.body(i), f"http://127.0.0.{20 + i % n_sites}/news/{i}.html")
            for i in range(pages)]
    print(f"extracting the {pages} crawl pages once (cached in {cache.parent})...", flush=True)
    with get_context("forkserver").Pool(len(usable_cores())) as pool:
        extracted = pool.map(_extract, jobs, chunksize=4)
    articles = []
    for (_, url), article in zip(jobs, extracted):
        text = article.get("text") or ""
        if len(text.split()) < CRAWLER_MIN_WORDS:  # stored as a failure, never sketched
            continue
        articles.append({"url": url, "site": url.split("/")[2], "title": article.get("title"),
                         "published": article.get("published"), "text": text,
                         "language": article.get("language")})
    OUT.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(gzip.compress(json.dumps(articles).encode()))
    return articles


def _extract(job: tuple[bytes, str]) -> dict:
    from crawler.extract.article import extract_article
    body, url = job
    return extract_article(body, url)


def syndication_articles(seed: int) -> list[dict]:
    """The labelled test part of ``bench/dedup_quality.py`` in one shuffled arrival order."""
    import random
    sys.path.insert(0, str(ROOT / "bench"))
    import syndication

    docs = syndication.build_part("test", seed=seed).docs
    random.Random(seed).shuffle(docs)
    return [{"url": f"https://{d.site}/{d.id}", "site": d.site, "title": d.title,
             "published": d.published, "text": d.text, "language": d.lang} for d in docs]


def synthetic_articles(n: int) -> list[dict]:
    """``bench/dedup_speed.py``'s synthetic articles (unrelated: no copies) on 500 sites."""
    sys.path.insert(0, str(ROOT / "bench"))
    from dedup_speed import Synthetic

    return [{"url": f"https://s{i % 500}.example/{i}", "site": f"s{i % 500}.example",
             "title": None, "published": "2024-01-01", "text": text, "language": None}
            for i, text in enumerate(Synthetic(11).articles(n))]


# ---------------------------------------------------------------- the baseline's code


def baseline_tree(args: argparse.Namespace, tmp: Path) -> Path:
    """The folder whose ``crawler`` package is the baseline: ``--baseline-tree`` itself, or
    ``--baseline-rev``'s crawler package exported from this repository by ``git archive``."""
    if args.baseline_tree:
        tree = args.baseline_tree.resolve()
        if not (tree / "crawler" / "__init__.py").is_file():
            raise SystemExit(f"dedup_cost: {tree} has no crawler package (--baseline-tree)")
        return tree
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet",
                          f"{args.baseline_rev}^{{commit}}"], capture_output=True, text=True)
    if rev.returncode:
        raise SystemExit(f"dedup_cost: {args.baseline_rev!r} is no commit of {ROOT}")
    tree = tmp / f"baseline-{rev.stdout.strip()[:10]}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev.stdout.strip(), "crawler"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


# ---------------------------------------------------------------- the run


def summarise(runs: dict[str, list[dict]], workloads: list[str], base_name: str) -> None:
    print(f"\ndedup CPU per article (ms, median of {len(runs['this'])} rounds; sketch = "
          f"fingerprint in the extraction workers, assign = StoryAssigner.add in the writer):")
    print(f"  {'workload':12} {'articles':>8}  {'side':8} {'sketch':>7} {'assign':>7} "
          f"{'total':>7}  {'stories':>7} {'links':>6}")
    for name in workloads:
        for side in ("baseline", "this"):
            rows = [r[name] for r in runs[side]]
            med = {k: statistics.median(r[k] for r in rows)
                   for k in ("sketch_ms", "assign_ms", "total_ms")}
            print(f"  {name:12} {rows[0]['articles']:8d}  {side:8} {med['sketch_ms']:7.2f} "
                  f"{med['assign_ms']:7.2f} {med['total_ms']:7.2f}  {rows[0]['stories']:7d} "
                  f"{rows[0]['links']:6d}")
    print(f"\nthis / baseline ({base_name}), per round:")
    for name in workloads:
        for part in ("total", "assign"):
            ratios = [t[name][f"{part}_ms"] / b[name][f"{part}_ms"]
                      for t, b in zip(runs["this"], runs["baseline"])]
            worst = max(ratios)
            verdict = ""
            if name == "crawl" and part == "total":
                ok = statistics.median(ratios) <= TARGET
                verdict = (f"   target <= {TARGET:.2f}: {'met' if ok else 'NOT met'}"
                           f"{'' if worst <= TARGET else ' (not in every round)'}")
            print(f"  {name:12} {part:6} median {statistics.median(ratios):.3f}  worst "
                  f"{worst:.3f}  rounds {' '.join(f'{r:.3f}' for r in ratios)}{verdict}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The crawl workload's total (sketch + assign) is the issue-24 target: at most "
               f"{TARGET:.2f}x the baseline's.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    base = ap.add_mutually_exclusive_group()
    base.add_argument("--baseline-rev", metavar="REV",
                      help="a commit of this repository; its crawler package is the baseline")
    base.add_argument("--baseline-tree", type=Path, metavar="PATH",
                      help="another checkout (its project folder) as the baseline")
    ap.add_argument("--rounds", type=int, default=6,
                    help="rounds; each runs both sides once, in fresh processes")
    ap.add_argument("--workloads", default=DEFAULT_WORKLOADS,
                    help=f"comma-separated, of {', '.join(WORKLOADS)} (syndication: per round "
                         "~45 s of CPU for this code, ~2 min for 7113bd4)")
    ap.add_argument("--pages", type=int, default=1000, help="crawl workload: pages")
    ap.add_argument("--dup-share", type=float, default=0.2,
                    help="crawl workload: share of near-identical copies")
    ap.add_argument("--seed", type=int, default=1, help="syndication workload: seed of the set")
    ap.add_argument("--synthetic", type=int, default=2000, help="synthetic workload: articles")
    ap.add_argument("--replay", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(workloads) - set(WORKLOADS)
    if unknown or not workloads:
        ap.exit(2, f"dedup_cost: --workloads takes {', '.join(WORKLOADS)}, not "
                   f"{', '.join(sorted(unknown)) or 'nothing'}\n")
    if args.replay:
        replay_main(args.replay, workloads)
        return 0
    if not (args.baseline_rev or args.baseline_tree):
        ap.exit(2, "dedup_cost: say what to compare with: --baseline-rev REV or "
                   "--baseline-tree PATH\n")
    if args.rounds < 1:
        ap.exit(2, "dedup_cost: --rounds must be at least 1\n")
    corpus = Path(os.environ.get("CRAWLER_CORPUS", ROOT.parent / "shared" / "corpus"))
    if {"crawl", "syndication"} & set(workloads) and not corpus.is_dir():
        ap.exit(2, f"dedup_cost: no corpus at {corpus} (set CRAWLER_CORPUS)\n")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dedup_cost-") as tmp:
        try:
            base_tree = baseline_tree(args, Path(tmp))
        except SystemExit as exc:
            ap.exit(2, f"{exc}\n")
        base_name = args.baseline_rev or str(base_tree)
        make = {"crawl": lambda: crawl_articles(args.pages, args.dup_share),
                "syndication": lambda: syndication_articles(args.seed),
                "synthetic": lambda: synthetic_articles(args.synthetic)}
        data = {name: make[name]() for name in workloads}
        input_path = Path(tmp) / "input.json.gz"
        input_path.write_bytes(gzip.compress(json.dumps(data).encode()))
        print("input: " + ", ".join(f"{name} {len(data[name])} articles" for name in workloads)
              + f"; baseline {base_name}, this {ROOT}; load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        sides = {"baseline": base_tree, "this": ROOT}
        runs: dict[str, list[dict]] = {"baseline": [], "this": []}
        for round_ in range(args.rounds):
            order = ["baseline", "this"] if round_ % 2 == 0 else ["this", "baseline"]
            for side in order:
                result = run_side(sides[side], input_path, workloads)
                runs[side].append(result)
                print(f"  round {round_ + 1} {side:8} " + "  ".join(
                    f"{name} {result[name]['total_ms']:.2f} ms" for name in workloads)
                    + f"  ({time.monotonic() - started:.0f} s)", flush=True)
    summarise(runs, workloads, base_name)
    print(f"\n{time.monotonic() - started:.0f} s; load average {os.getloadavg()[0]:.1f} "
          f"(CPU time: other processes slow both sides alike)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
