"""Story merging quality on labelled syndication sets: a dev part to tune on, a test part to report.

The sets (bench/syndication.py ``build_part``) are built from the corpus's real article bodies,
split by publisher so that no body is in both parts, plus robot-written template stories of
kinds that differ between the parts (bench/robot_news.py) and heavily syndicated stories.
For each seed: pairwise precision / recall / F1 of the project (and, in the same run, of exact
text-hash dedup and datasketch MinHashLSH with its defaults), recall, precision and false
merges per category of copy, merges among the cases that must stay apart, how many stories
each heavily syndicated story became; then the targets of issue 24 on every seed and the
worst seed, PASS/FAIL. With --order-check it also checks that another arrival order and
``rebuild`` give the same stories. Seeds run in parallel processes (--jobs).

    python bench/dedup_quality.py --part dev|test [--seeds 1,2,3] [--heavy 60,160]
        [--order-check first|all|none] [--set DEDUP_X=value ...]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import io
import os
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
    t0 = time.process_time()
    for doc in order:
        fp = fingerprint(doc.text, title=doc.title, params=params)
        with store.transaction(db):
            article_id, _ = store.insert_article(db, {
                "url": f"https://{doc.site}/{doc.id}", "site": doc.site, "title": doc.title,
                "published": doc.published, "text": doc.text, "language": doc.lang})
            assigner.add(article_id, fp)
        doc_of_article[article_id] = doc.id
    seconds = time.process_time() - t0
    stories = {doc_of_article[a]: s for a, s in db.execute("SELECT id, story_id FROM articles")}
    info = {"cpu": seconds}
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


def apart_merges(labelled: syndication.LabelledSet, predicted: dict[int, int],
                 detail: dict[str, int] | None = None) -> dict[str, tuple[int, int]]:
    """Per must-stay-apart case: (story pairs merged, story pairs checked). Merged template
    pairs are counted by template kind and language into ``detail``."""
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
                if detail is not None and case == "templates" and clusters_of_story[a] & clusters_of_story[b]:
                    label = " ".join(a.split("-")[1:3])
                    detail[label] = detail.get(label, 0) + 1
        out[case] = (merged, checked)
    return out


# ---------------------------------------------------------------- categories


#: (category, test on a doc) for the per-category table; a doc may be in several
CATEGORIES: list[tuple[str, object]] = [
    ("other chrome", lambda d: d.kind == "chrome" and d.group in ("real", "seed")),
    ("promo", lambda d: d.kind == "promo"),
    ("read-more tail", lambda d: d.kind == "tail"),
    ("comment form", lambda d: d.kind == "comments"),
    ("edited", lambda d: d.kind == "edited"),
    ("person change", lambda d: d.kind == "person"),
    ("re-dated", lambda d: d.kind == "redated"),
    ("truncated", lambda d: d.kind == "truncated"),
    ("teaser", lambda d: d.kind == "teaser"),
    ("spun 10-30%", lambda d: d.kind.startswith("spun")),
    ("spun 30%", lambda d: d.kind == "spun30"),
    ("updated", lambda d: d.kind == "updated"),
    ("updated, real text", lambda d: d.kind == "updated" and d.group != "template"),
    ("updated, template", lambda d: d.kind == "updated" and d.group == "template"),
    ("template copies", lambda d: d.group == "template" and d.kind != "updated"),
    ("heavy syndication", lambda d: d.group == "heavy"),
]


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def category_scores(docs, predicted: dict[int, int], member) -> dict:
    """Pairs with at least one doc of the category: recall over true pairs, precision and
    false merges over predicted pairs."""
    in_cat = {d.id: bool(member(d)) for d in docs}
    story_of = {d.id: d.story for d in docs}
    story_n, story_c = defaultdict(int), defaultdict(int)
    cluster_n, cluster_c = defaultdict(int), defaultdict(int)
    cell_n, cell_c = defaultdict(int), defaultdict(int)
    for d in docs:
        c, cell = predicted[d.id], (story_of[d.id], predicted[d.id])
        story_n[d.story] += 1
        cluster_n[c] += 1
        cell_n[cell] += 1
        if in_cat[d.id]:
            story_c[d.story] += 1
            cluster_c[c] += 1
            cell_c[cell] += 1
    true = sum(_pairs(n) - _pairs(n - story_c[s]) for s, n in story_n.items())
    found = sum(_pairs(n) - _pairs(n - cluster_c[c]) for c, n in cluster_n.items())
    hit = sum(_pairs(n) - _pairs(n - cell_c[k]) for k, n in cell_n.items())
    return {"R": hit / true if true else None, "P": hit / found if found else None,
            "true": true, "false": found - hit, "docs": sum(in_cat.values())}


def heavy_stories(docs, predicted: dict[int, int]) -> list[tuple[str, int, int]]:
    """Each heavily syndicated story: (story, copies, stories it became)."""
    clusters = defaultdict(set)
    for d in docs:
        if d.group == "heavy":
            clusters[d.story].add(predicted[d.id])
    copies = defaultdict(int)
    for d in docs:
        copies[d.story] += d.group == "heavy"
    return [(s, copies[s], len(c)) for s, c in sorted(clusters.items(), key=lambda x: copies[x[0]])]


# ---------------------------------------------------------------- one seed, targets, summary

#: the targets of issue 24 on every seed: (figure, comparison, bound)
TARGETS = [("precision", ">=", 0.995), ("recall", ">=", 0.98), ("updated", ">=", 0.95),
           ("teaser", ">=", 0.95), ("spun 10-30%", ">=", 0.95), ("must-stay-apart merges", "<=", 0),
           ("heavy stories split", "<=", 0)]


def passes(value, op: str, bound) -> bool:
    return value is not None and (value >= bound if op == ">=" else value <= bound)


def fmt(x, digits: int = 3) -> str:
    return "   -  " if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def evaluate(labelled: syndication.LabelledSet, predicted: dict[int, int]) -> dict:
    """Every figure of one run: overall, per category, must-stay-apart, heavy stories."""
    docs = labelled.docs
    light = [d for d in docs if d.group != "heavy"]
    overall = pair_scores(light, {d.id: predicted[d.id] for d in light})
    template_merges: dict[str, int] = {}
    merges = apart_merges(labelled, predicted, template_merges)
    heavy = heavy_stories(docs, predicted)
    figures = {"precision": overall["P"], "recall": overall["R"], "F1": overall["F1"],
               "with heavy": pair_scores(docs, predicted),
               "categories": {name: category_scores(docs, predicted, member) for name, member in CATEGORIES},
               "apart": merges, "template merges": template_merges, "heavy": heavy,
               "must-stay-apart merges": sum(m for m, _ in merges.values()),
               "heavy stories split": sum(n > 1 for _, _, n in heavy)}
    for name in ("updated", "teaser", "spun 10-30%"):
        figures[name] = figures["categories"][name]["R"]
    return figures


def print_seed(figures: dict, baselines: dict[str, dict]) -> None:
    o = figures["with heavy"]
    print(f"  overall pairwise (without heavy syndication): P {figures['precision']:.4f}  "
          f"R {figures['recall']:.4f}  F1 {figures['F1']:.4f}   (with it: P {o['P']:.4f} R {o['R']:.4f})")
    for name, s in baselines.items():
        print(f"  {name:44} P {s['P']:.4f}  R {s['R']:.4f}  F1 {s['F1']:.4f}")
    print(f"  {'category':22} {'recall':>7} {'precision':>9} {'false merges':>12} {'true pairs':>10} {'docs':>5}")
    for name, c in figures["categories"].items():
        if c["docs"]:
            print(f"  {name:22} {fmt(c['R']):>7} {fmt(c['P']):>9} {c['false']:>12} {c['true']:>10} {c['docs']:>5}")
    print("  must stay apart (story pairs merged / checked): " +
          ", ".join(f"{case} {m}/{n}" for case, (m, n) in figures["apart"].items()))
    if figures["template merges"]:
        print("  template story pairs merged by kind: " +
              ", ".join(f"{k} {n}" for k, n in sorted(figures["template merges"].items())))
    if figures["heavy"]:
        print("  heavy syndication (copies -> stories): " +
              ", ".join(f"{copies} -> {n}" for _, copies, n in figures["heavy"]))


def print_targets(per_seed: dict[int, dict]) -> bool:
    """Each target's figure per seed and the worst seed's, PASS/FAIL on the worst."""
    seeds = list(per_seed)
    print(f"\n{'target (issue 24)':30} " + " ".join(f"{'seed ' + str(s):>9}" for s in seeds) +
          f" {'worst':>9}")
    ok = True
    for name, op, bound in TARGETS:
        values = [per_seed[s][name] for s in seeds]
        worst = (min if op == ">=" else max)((v for v in values if v is not None), default=None)
        good = passes(worst, op, bound)
        ok &= good
        print(f"{name + ' ' + op + ' ' + str(bound):30} " + " ".join(f"{fmt(v):>9}" for v in values) +
              f" {fmt(worst):>9}  {'PASS' if good else 'FAIL'}")
    others = ["F1"] + [n for n, _ in CATEGORIES if n not in {t[0] for t in TARGETS}]
    for name in others:
        values = [per_seed[s][name] if name == "F1" else per_seed[s]["categories"][name]["R"] for s in seeds]
        if all(v is None for v in values):
            continue
        label = name if name == "F1" else f"{name} recall"
        print(f"{label:30} " + " ".join(f"{fmt(v):>9}" for v in values) +
              f" {fmt(min(v for v in values if v is not None)):>9}")
    return ok


def build_set(part: str, seed: int, args) -> syndication.LabelledSet:
    if part == "legacy":
        return syndication.build(seed=seed)
    return syndication.build_part(part, seed=seed, heavy=args.heavy, n_sites=args.sites,
                                  template_events=args.template_events)


def describe(labelled: syndication.LabelledSet) -> str:
    docs = labelled.docs
    langs = defaultdict(int)
    for d in docs:
        langs[d.lang] += 1
    groups = defaultdict(int)
    for d in docs:
        groups[d.group] += 1
    return (f"{len(docs)} articles, {len({d.story for d in docs})} stories "
            f"({', '.join(f'{k} {v}' for k, v in groups.items())}); languages "
            f"{', '.join(f'{k} {v}' for k, v in sorted(langs.items(), key=lambda x: -x[1])[:4])}, ...")


def order_check(labelled, params, project, info, tmp: Path) -> bool:
    docs = labelled.docs
    other, _ = run_project(docs, params, 2, tmp)
    same = partition(other) == partition(project)
    moved = {d for group in partition(other) ^ partition(project) for d in group}
    print(f"  another arrival order gives the same stories: {same} ({len(moved)} of {len(docs)} "
          f"articles in differing groups)")
    by_id = {d.id: d for d in docs}
    for group in sorted(partition(other) - partition(project), key=min)[:5]:
        print("   ", sorted((by_id[i].story[:24], by_id[i].kind) for i in group))
    print(f"  rebuild gives the same stories as incremental: {info['rebuild_equal']}")
    return same and info["rebuild_equal"]


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, not {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Targets (issue 24, every seed): " + ", ".join(f"{n} {o} {b}" for n, o, b in TARGETS)
        + ". Choose thresholds on --part dev; report --part test.")
    ap.add_argument("--part", choices=["dev", "test", "legacy"], default="dev",
                    help="dev (tune here), test (report here) or legacy (the former single set, "
                         "all bodies, seed 20240601 by default)")
    ap.add_argument("--seeds", type=int_list, default=None,
                    help="comma-separated seeds of the set's random choices (default 1,2,3; legacy: 20240601)")
    ap.add_argument("--seed", type=int, help="one seed (same as --seeds N)")
    ap.add_argument("--heavy", type=int_list, default=syndication.HEAVY_COPIES, metavar="N,N,...",
                    help="copies of each heavily syndicated story, on %d wire sites (default %s; '' for none)"
                         % (syndication.HEAVY_SITES, ",".join(map(str, syndication.HEAVY_COPIES))))
    ap.add_argument("--template-events", type=int, default=syndication.TEMPLATE_EVENTS,
                    help="events (stories) per template kind and language (default %(default)s)")
    ap.add_argument("--sites", type=int, default=24, help="sites carrying the copies (default %(default)s)")
    ap.add_argument("--order-check", choices=["first", "all", "none"], default="none",
                    help="also check that another arrival order and a rebuild give the same stories, on "
                         "the first seed or every seed (two more runs each; default none)")
    ap.add_argument("--no-order-check", action="store_const", const="none", dest="order_check",
                    help="same as --order-check none")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="seeds run in this many processes at once (default: the CPUs, %(default)s)")
    ap.add_argument("--no-baselines", action="store_true", help="skip exact hash and plain MinHashLSH")
    ap.add_argument("--set", action="append", default=[], metavar="DEDUP_X=V",
                    help="override a dedup setting")
    args = ap.parse_args(argv)
    seeds = (args.seed,) if args.seed is not None else args.seeds or \
        ((20240601,) if args.part == "legacy" else (1, 2, 3))
    try:
        settings = dict(s.split("=", 1) for s in args.set)
        params = DedupParams.from_settings(settings)
    except ValueError as e:
        ap.exit(2, f"dedup_quality: bad --set: {e}\n")
    if not syndication.CORPUS.is_dir():
        ap.exit(2, f"dedup_quality: no corpus at {syndication.CORPUS} (set CRAWLER_CORPUS)\n")
    jobs = max(1, min(args.jobs, len(seeds)))
    print(f"part {args.part}, seeds {','.join(map(str, seeds))}, {jobs} process(es); params: {params}",
          flush=True)
    checks = [args.order_check == "all" or args.order_check == "first" and i == 0 for i in range(len(seeds))]
    per_seed, orders_ok, cpu = {}, True, 0.0
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        futures = [pool.submit(run_seed, args, params, seed, check) for seed, check in zip(seeds, checks)]
        for future in concurrent.futures.as_completed(futures):  # each seed's report when done
            seed, text, figures, seconds = future.result()
            print(text + f"  ({seconds:.0f} s CPU)", flush=True)
            per_seed[seed] = figures
            orders_ok &= figures["order and rebuild"] is not False
            cpu += seconds
    per_seed = {seed: per_seed[seed] for seed in seeds}
    ok = print_targets(per_seed)
    print(f"\n{'all targets met' if ok else 'targets not met'} on part {args.part} "
          f"(worst of {len(seeds)} seed{'s' * (len(seeds) > 1)}); order and rebuild checks: "
          + ("not run (--order-check first|all)" if not any(checks) else "passed" if orders_ok else "FAILED")
          + f"; CPU {cpu:.0f} s")
    return 0


def run_seed(args: argparse.Namespace, params: DedupParams, seed: int, check: bool) -> tuple:
    """Build, run and score one seed (in a worker process): (seed, report text, figures, CPU s)."""
    cpu0 = time.process_time()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), tempfile.TemporaryDirectory() as tmp:
        labelled = build_set(args.part, seed, args)
        print(f"\nseed {seed}: {describe(labelled)}")
        project, info = run_project(labelled.docs, params, 1, Path(tmp), check_rebuild=check)
        print(f"  project: {len(labelled.docs) / info['cpu']:.0f} articles per CPU second "
              f"(sketch + store + verify)")
        baselines = {} if args.no_baselines else {
            "exact text hash": pair_scores(labelled.docs, run_exact_hash(labelled.docs)),
            "datasketch MinHashLSH defaults, whole text":
                pair_scores(labelled.docs, run_datasketch_default(labelled.docs))}
        figures = evaluate(labelled, project)
        print_seed(figures, baselines)
        figures["order and rebuild"] = order_check(labelled, params, project, info, Path(tmp)) if check else None
    return seed, out.getvalue(), figures, time.process_time() - cpu0

if __name__ == "__main__":
    sys.exit(main())
