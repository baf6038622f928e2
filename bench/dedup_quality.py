"""Quality of near-duplicate detection on a labelled syndication set (see bench/syndication.py).

Prints pairwise precision / recall / F1 of the project and, on the same set in the same run,
of (a) exact text-hash dedup and (b) datasketch MinHashLSH with its defaults on the whole page
text; recall per kind of copy (teasers, spun copies, ...), and merges among the cases that
must stay apart. Also checks that another arrival order and ``rebuild`` give the same stories.

    python bench/dedup_quality.py [--seed N] [--no-order-check] [--set DEDUP_X=value ...]
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasketch import MinHash, MinHashLSH  # noqa: E402

import syndication  # noqa: E402
from crawler import store  # noqa: E402
from crawler.dedup import DedupParams  # noqa: E402
from crawler.dedup.sketch import fingerprint  # noqa: E402
from crawler.dedup.stories import StoryAssigner, rebuild  # noqa: E402


# ---------------------------------------------------------------- systems under test


def run_project(docs: list[syndication.Doc], params: DedupParams, order_seed: int,
                workdir: Path, check_rebuild: bool = False) -> tuple[dict[int, int], dict]:
    """Store the docs in a fresh database in a shuffled order; return doc id -> story id."""
    order = list(docs)
    random.Random(order_seed).shuffle(order)
    db = store.open_db(workdir / f"quality-{order_seed}.db")
    assigner = StoryAssigner(db, params)
    doc_of_article = {}
    t0 = time.perf_counter()
    for doc in order:
        fp = fingerprint(doc.text, title=doc.title, params=params)
        with store.transaction(db):
            article_id, _ = store.insert_article(db, {
                "url": f"https://{doc.site}/{doc.id}", "site": doc.site, "title": doc.title,
                "published": doc.published, "text": doc.text, "language": doc.lang})
            assigner.add(article_id, fp)
        doc_of_article[article_id] = doc.id
    seconds = time.perf_counter() - t0
    stories = {doc_of_article[a]: s for a, s in db.execute("SELECT id, story_id FROM articles")}
    info = {"seconds": seconds}
    if check_rebuild:
        rebuild(db, params, workers=0)
        rebuilt = {doc_of_article[a]: s for a, s in db.execute("SELECT id, story_id FROM articles")}
        info["rebuild_equal"] = partition(rebuilt) == partition(stories)
    db.conn.close()
    return stories, info


def run_exact_hash(docs: list[syndication.Doc]) -> dict[int, int]:
    groups: dict[str, int] = {}
    return {d.id: groups.setdefault(hashlib.sha1(d.text.encode()).hexdigest(), d.id) for d in docs}


def run_datasketch_default(docs: list[syndication.Doc]) -> dict[int, int]:
    """MinHashLSH() with its defaults (threshold 0.9, 128 permutations) over the words of the
    whole page text; clusters are the connected components of the LSH answers."""
    lsh = MinHashLSH()
    parent = {d.id: d.id for d in docs}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for d in docs:
        m = MinHash()
        m.update_batch([w.encode("utf-8") for w in set(d.text.split())])
        for other in lsh.query(m):
            parent[find(other)] = find(d.id)
        lsh.insert(d.id, m)
    return {d.id: find(d.id) for d in docs}


# ---------------------------------------------------------------- scoring


def partition(assignment: dict[int, int]) -> set[frozenset[int]]:
    groups = defaultdict(set)
    for doc, cluster in assignment.items():
        groups[cluster].add(doc)
    return {frozenset(g) for g in groups.values()}


def pair_scores(docs, predicted: dict[int, int]) -> dict:
    truth = defaultdict(list)
    for d in docs:
        truth[d.story].append(d.id)
    clusters = defaultdict(list)
    for doc, c in predicted.items():
        clusters[c].append(doc)
    story_of = {d.id: d.story for d in docs}
    true_pairs = sum(len(v) * (len(v) - 1) // 2 for v in truth.values())
    predicted_pairs = sum(len(v) * (len(v) - 1) // 2 for v in clusters.values())
    correct = 0
    for members in clusters.values():
        counts = defaultdict(int)
        for m in members:
            counts[story_of[m]] += 1
        correct += sum(n * (n - 1) // 2 for n in counts.values())
    p = correct / predicted_pairs if predicted_pairs else 1.0
    r = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"P": p, "R": r, "F1": f1, "pairs": true_pairs}


def kind_recall(docs, predicted: dict[int, int], kinds: tuple[str, ...]) -> tuple[float, int]:
    """Recall over the pairs (copy of one of ``kinds``, any other article of its story)."""
    by_story = defaultdict(list)
    for d in docs:
        by_story[d.story].append(d)
    hit = total = 0
    for members in by_story.values():
        for a, b in itertools.combinations(members, 2):
            if a.kind in kinds or b.kind in kinds:
                total += 1
                hit += predicted[a.id] == predicted[b.id]
    return (hit / total if total else 1.0), total


def apart_merges(labelled: syndication.LabelledSet, predicted: dict[int, int]) -> dict[str, tuple[int, int]]:
    """Per must-stay-apart case: (story pairs merged, story pairs checked)."""
    clusters_of_story = defaultdict(set)
    for d in labelled.docs:
        clusters_of_story[d.story].add(predicted[d.id])
    out = {}
    for case, groups in labelled.apart.items():
        merged = checked = 0
        for group in groups:
            for a, b in itertools.combinations(group, 2):
                checked += 1
                merged += bool(clusters_of_story[a] & clusters_of_story[b])
        out[case] = (merged, checked)
    return out


KIND_GROUPS = [
    ("teaser", ("teaser",)), ("truncated", ("truncated",)), ("spun 10-30%", ("spun10", "spun20", "spun30")),
    ("spun 30%", ("spun30",)), ("edited", ("edited",)), ("person change", ("person",)),
    ("promo", ("promo",)), ("read-more tail", ("tail",)), ("comment form", ("comments",)),
    ("re-dated", ("redated",)), ("updated", ("updated",)), ("other chrome", ("chrome",)),
    ("template copies", ("template",)),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20240601, help="seed of the labelled set")
    ap.add_argument("--no-order-check", action="store_true", help="skip the order/rebuild check")
    ap.add_argument("--set", action="append", default=[], metavar="DEDUP_X=V",
                    help="override a dedup setting")
    args = ap.parse_args(argv)
    settings = dict(s.split("=", 1) for s in args.set)
    params = DedupParams.from_settings(settings)
    labelled = syndication.build(seed=args.seed)
    docs = labelled.docs
    for d in docs:  # template copies are reported as their own kind
        if d.story.startswith("template-") and d.kind == "chrome":
            d.kind = "template"
    langs = defaultdict(int)
    for d in docs:
        langs[d.lang] += 1
    n_stories = len({d.story for d in docs})
    print(f"labelled set: {len(docs)} articles, {n_stories} stories, {len(langs)} languages "
          f"({', '.join(f'{k} {v}' for k, v in sorted(langs.items(), key=lambda x: -x[1])[:6])}, ...), "
          f"seed {args.seed}")
    print(f"params: {params}")
    with tempfile.TemporaryDirectory() as tmp:
        project, info = run_project(docs, params, 1, Path(tmp), check_rebuild=not args.no_order_check)
        systems = {"project": project, "exact text hash": run_exact_hash(docs),
                   "datasketch MinHashLSH defaults": run_datasketch_default(docs)}
        print(f"\nproject: {len(docs) / info['seconds']:.0f} articles/s (sketch + store + verify)")
        print(f"\n{'system':34} {'P':>7} {'R':>7} {'F1':>7}  " +
              " ".join(f"{name[:10]:>10}" for name, _ in KIND_GROUPS[:4]) + "  apart merges")
        for name, predicted in systems.items():
            s = pair_scores(docs, predicted)
            recalls = [kind_recall(docs, predicted, kinds)[0] for _, kinds in KIND_GROUPS[:4]]
            merges = sum(m for m, _ in apart_merges(labelled, predicted).values())
            print(f"{name:34} {s['P']:7.4f} {s['R']:7.4f} {s['F1']:7.4f}  " +
                  " ".join(f"{r:10.3f}" for r in recalls) + f"  {merges}")
        print("\nproject recall by kind of copy (pairs of that copy with the rest of its story):")
        for name, kinds in KIND_GROUPS:
            r, n = kind_recall(docs, project, kinds)
            print(f"  {name:18} {r:6.3f}  ({n} pairs)")
        print("\nmust stay apart (story pairs merged / checked):")
        for case, (merged, checked) in apart_merges(labelled, project).items():
            print(f"  {case:20} {merged} / {checked}")
        if not args.no_order_check:
            other, _ = run_project(docs, params, 2, Path(tmp))
            same = partition(other) == partition(project)
            moved = {d for group in partition(other) ^ partition(project) for d in group}
            print(f"\nanother arrival order gives the same stories: {same} "
                  f"({len(moved)} of {len(docs)} articles in differing groups; pairwise F1 of the "
                  f"other order {pair_scores(docs, other)['F1']:.4f})")
            for group in sorted(partition(other) - partition(project), key=min)[:5]:
                print("   ", sorted((next(d.story for d in docs if d.id == i)[:24],
                                     next(d.kind for d in docs if d.id == i)) for i in group))
            print(f"rebuild gives the same stories as incremental: {info['rebuild_equal']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
