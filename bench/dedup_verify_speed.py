"""Story assignment CPU per article on a labelled syndication set: this checkout against another.

Every article of the set has copies, so most of the time goes to verifying candidate pairs
(what the text comparison costs), unlike ``bench/dedup_speed.py``'s synthetic articles, which
have none. Each side replays the same set (sketched first, outside the timing) through
``StoryAssigner.add`` in a fresh process and reports CPU ms per article (``add`` only: index
look-ups, verification, links, stories); the sides alternate, and the ratio is against the
baseline measured in the same run.

    python bench/dedup_verify_speed.py --baseline /path/to/other/checkout [--rounds 3] [--seed N]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def replay(seed: int) -> dict:
    """CPU ms per article of ``StoryAssigner.add`` over the set (run inside one side)."""
    sys.path.insert(0, str(HERE))
    import syndication
    from crawler import store
    from crawler.dedup import DedupParams
    from crawler.dedup.sketch import fingerprint
    from crawler.dedup.stories import StoryAssigner

    docs = syndication.build(seed=seed).docs
    random.Random(1).shuffle(docs)
    params = DedupParams()
    prints = [fingerprint(d.text, title=d.title, params=params) for d in docs]
    cpu = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        db = store.open_db(Path(tmp) / "replay.db")
        assigner = StoryAssigner(db, params)
        for d, fp in zip(docs, prints):
            with store.transaction(db):
                article_id, _ = store.insert_article(db, {
                    "url": f"https://{d.site}/{d.id}", "site": d.site, "title": d.title,
                    "published": d.published, "text": d.text, "language": d.lang})
                start = time.process_time()
                assigner.add(article_id, fp)
                cpu += time.process_time() - start
        db.conn.close()
    return {"ms_per_article": 1000 * cpu / len(docs), "articles": len(docs)}


def run_side(checkout: Path, seed: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run([sys.executable, __file__, "--replay", str(seed)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, help="the other checkout (its project folder)")
    ap.add_argument("--rounds", type=int, default=3, help="alternations of the two sides")
    ap.add_argument("--seed", type=int, default=20240601, help="seed of the labelled set")
    ap.add_argument("--replay", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.replay is not None:
        print(json.dumps(replay(args.replay)))
        return 0
    if args.baseline is None or not (args.baseline / "crawler").is_dir():
        print("error: --baseline must name another checkout of the project", file=sys.stderr)
        return 2
    sides = {"baseline": args.baseline.resolve(), "this": HERE.parent}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(1, args.rounds + 1):
        for name, checkout in sides.items():
            figures = run_side(checkout, args.seed)
            times[name].append(figures["ms_per_article"])
            print(f"round {round_} {name:8} {figures['ms_per_article']:7.2f} ms/article "
                  f"({figures['articles']} articles)", flush=True)
    ratios = [t / b for t, b in zip(times["this"], times["baseline"])]
    print(f"this / baseline, per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"median {sorted(ratios)[len(ratios) // 2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
