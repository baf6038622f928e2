"""Speed and memory of near-duplicate detection, against datasketch's default path.

Prints, in one run:
- signatures per second on one core for synthetic 600-word articles: the project's
  ``fingerprint`` vs datasketch's default ``MinHash.update`` per shingle (and ``update_batch``);
- LSH insert and query time and peak memory for 10k / 100k (and, with ``--full``, 1M) indexed
  articles: the project's SQLite band index vs datasketch's in-memory ``MinHashLSH`` with the
  same bands (each size runs in a fresh process, so peak RSS is that size's);
- ``rebuild`` time of N stored articles (2 worker processes).

    python bench/dedup_speed.py            # quick: 10k and 100k
    python bench/dedup_speed.py --full     # adds the 1M runs (tens of minutes, ~5 GB disk)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datasketch import MinHash, MinHashLSH  # noqa: E402

from crawler import store  # noqa: E402
from crawler.dedup import DedupParams  # noqa: E402
from crawler.dedup.index import Index  # noqa: E402
from crawler.dedup.normalize import hash_words  # noqa: E402
from crawler.dedup.sketch import Fingerprint, fingerprint, minhash_values, sketch_key  # noqa: E402

PARAMS = DedupParams()


class Synthetic:
    """Articles of Zipf-distributed pseudo-words (a 50k-word vocabulary), paragraphs of ~60."""

    def __init__(self, seed: int = 7, vocabulary: int = 50_000):
        self.rng = np.random.default_rng(seed)
        syllables = ["ka", "ber", "lin", "to", "mes", "sa", "gen", "ur", "pol", "di", "ne", "str",
                     "au", "ri", "vo", "chen", "el", "man", "tik", "or"]
        words = set()
        while len(words) < vocabulary:
            n = int(self.rng.integers(1, 5))
            words.add("".join(syllables[i] for i in self.rng.integers(0, len(syllables), n)))
        self.words = np.array(sorted(words))
        ranks = np.arange(1, vocabulary + 1)
        self.cdf = np.cumsum(1 / ranks) / (1 / ranks).sum()

    def article(self, n_words: int) -> str:
        ids = np.minimum(np.searchsorted(self.cdf, self.rng.random(n_words)), len(self.words) - 1)
        tokens = self.words[ids].tolist()
        paragraphs = [" ".join(tokens[i:i + 60]) + "." for i in range(0, n_words, 60)]
        return "\n\n".join(p.capitalize() for p in paragraphs)

    def articles(self, n: int, low: int = 400, high: int = 800) -> list[str]:
        return [self.article(int(self.rng.integers(low, high + 1))) for _ in range(n)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- signatures


def best_rate(items: list, work, rounds: int = 5) -> float:
    """Items per CPU-second of this process, best of ``rounds``: CPU time is fair on a shared
    machine, and the best round is the one least disturbed by other processes' cache traffic."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for item in items:
            work(item)
        best = min(best, time.process_time() - t0)
    return len(items) / best


def bench_signatures(n: int = 600) -> None:
    texts = Synthetic(1).articles(n, 600, 600)
    shingled = [text.lower().split() for text in texts]  # unigram shingles, as bytes below
    shingled_bytes = [[w.encode() for w in words] for words in shingled]
    num_perm, seed = PARAMS.num_perm, PARAMS.seed

    def project_signature(shingles: list[bytes]) -> None:
        distinct = set(shingles)
        minhash_values(hash_words(distinct, len(distinct)), num_perm, seed)

    def datasketch_update(shingles: list[bytes]) -> None:
        m = MinHash(num_perm=num_perm)
        for sh in shingles:
            m.update(sh)

    def datasketch_batch(shingles: list[bytes]) -> None:
        MinHash(num_perm=num_perm).update_batch(shingles)

    few = shingled_bytes[:150]  # the per-shingle path is slow: fewer articles, same length
    ours = best_rate(shingled_bytes, project_signature)
    default = best_rate(few, datasketch_update, rounds=3)
    batch = best_rate(shingled_bytes, datasketch_batch)
    print(f"signatures per CPU-second on one core, 600-word articles, {num_perm} permutations, "
          f"best of several rounds:")
    print("  MinHash signature of an article's shingles (the same bytes shingles for every row):")
    print(f"    project (xxh3 + numpy affine32)          {ours:8.0f}/s")
    print(f"    datasketch MinHash.update per shingle    {default:8.0f}/s   project is {ours / default:.1f}x")
    print(f"    datasketch MinHash.update_batch          {batch:8.0f}/s   project is {ours / batch:.1f}x")

    full = best_rate(texts, lambda text: fingerprint(text, params=PARAMS))
    split_default = best_rate(texts[:150], lambda text: datasketch_update(
        [w.encode() for w in text.lower().split()]), rounds=3)
    print("  whole fingerprint from raw text (normalising, tokenising, signature, lead and "
          "paragraph keys):")
    print(f"    project fingerprint(), synthetic text    {full:8.0f}/s   "
          f"datasketch str.split + update: {split_default:.0f}/s, project is {full / split_default:.1f}x")
    try:
        from syndication import load_bodies
        bodies = ["\n".join(b["paragraphs"]) for b in load_bodies()]
    except (OSError, ImportError):
        return
    real = [t for t in bodies if 400 <= len(t.split()) <= 800]
    rate = best_rate(real, lambda text: fingerprint(text, params=PARAMS), rounds=3)
    words = sum(len(t.split()) for t in real) / max(len(real), 1)
    print(f"    project fingerprint(), real corpus text  {rate:8.0f}/s   "
          f"({len(real)} article bodies of 400-800 words, mean {words:.0f}, many languages)")


# ---------------------------------------------------------------- index (one size per process)


def random_fingerprints(n: int, start: int, rng: np.random.Generator) -> list[Fingerprint]:
    """Signatures of unrelated articles are independent uniform values: draw them directly."""
    key = sketch_key(PARAMS)
    sigs = rng.integers(0, 2 ** 32, size=(n, PARAMS.num_perm), dtype=np.uint32)
    leads = rng.integers(-2 ** 63, 2 ** 63 - 1, size=(n, 4), dtype=np.int64)
    shorts = rng.integers(-2 ** 63, 2 ** 63 - 1, size=(n, 2), dtype=np.int64)
    return [Fingerprint(sigs[i], leads[i], shorts[i], 600, key) for i in range(n)]


def index_worker(kind: str, n: int) -> dict:
    rng = np.random.default_rng(n)
    chunk = 10_000
    queries = random_fingerprints(1000, 0, np.random.default_rng(1))
    out: dict = {"kind": kind, "n": n}
    if kind == "project":
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            db = store.open_db(Path(tmp) / "index.db")
            index = Index(db, PARAMS)
            inserted, insert_seconds = 0, 0.0
            while inserted < n:
                fps = random_fingerprints(min(chunk, n - inserted), inserted, rng)
                t0 = time.perf_counter()
                with store.transaction(db):
                    for i, fp in enumerate(fps):
                        index.add(inserted + i + 1, fp, fp.short_paragraphs.tolist())
                insert_seconds += time.perf_counter() - t0
                inserted += len(fps)
            t0 = time.perf_counter()
            for i, fp in enumerate(queries):
                index.candidates(-i, fp)
            out["query_ms"] = (time.perf_counter() - t0) / len(queries) * 1000
            out["disk_mb"] = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2 ** 20
    else:
        lsh = MinHashLSH(num_perm=PARAMS.num_perm, params=(PARAMS.lsh_bands, PARAMS.lsh_rows))
        inserted, insert_seconds = 0, 0.0
        template = MinHash(num_perm=PARAMS.num_perm)
        while inserted < n:
            fps = random_fingerprints(min(chunk, n - inserted), inserted, rng)
            mhs = []
            for fp in fps:
                m = template.copy()
                m.hashvalues = fp.signature.copy()
                mhs.append(m)
            t0 = time.perf_counter()
            for i, m in enumerate(mhs):
                lsh.insert(inserted + i, m, check_duplication=False)
            insert_seconds += time.perf_counter() - t0
            inserted += len(fps)
        qs = []
        for fp in queries:
            m = template.copy()
            m.hashvalues = fp.signature.copy()
            qs.append(m)
        t0 = time.perf_counter()
        for m in qs:
            lsh.query(m)
        out["query_ms"] = (time.perf_counter() - t0) / len(qs) * 1000
    out["insert_us"] = insert_seconds / n * 1e6
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def run_worker(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_index(sizes: list[int]) -> None:
    print(f"\nLSH index, {PARAMS.lsh_bands} bands x {PARAMS.lsh_rows} rows (+ lead keys and site "
          f"paragraphs for the project); each row a fresh process:")
    print(f"  {'index':28} {'articles':>9} {'insert µs/art':>14} {'query ms':>9} {'peak RSS MB':>12} {'disk MB':>8}")
    for n in sizes:
        for kind in ("project", "datasketch"):
            if kind == "datasketch" and n > 100_000:
                print(f"  {'datasketch MinHashLSH (dict)':28} {n:9d}   skipped (memory grows linearly, see 100k)")
                continue
            r = run_worker(kind, str(n))
            name = "project SQLite bands" if kind == "project" else "datasketch MinHashLSH (dict)"
            disk = f"{r['disk_mb']:8.0f}" if "disk_mb" in r else f"{'-':>8}"
            print(f"  {name:28} {n:9d} {r['insert_us']:14.1f} {r['query_ms']:9.3f} "
                  f"{r['peak_rss_mb']:12.0f} {disk}", flush=True)


# ---------------------------------------------------------------- rebuild


def rebuild_worker(n: int, keep_dir: str = "") -> dict:
    """Fill a database with ``n`` synthetic articles (or reuse the one kept in ``keep_dir``)
    and time ``rebuild`` on it."""
    from crawler.dedup.stories import rebuild
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        folder = Path(keep_dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db = store.open_db(folder / f"rebuild-{n}.db")
        t0 = time.perf_counter()
        fill_rebuild_db(db, n)
        fill = time.perf_counter() - t0
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = rebuild(db, PARAMS, workers=2, batch_size=2000)
        seconds, writer_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers_cpu = (children.ru_utime - children0.ru_utime) + (children.ru_stime - children0.ru_stime)
    return {"n": n, "fill_s": fill, "rebuild_s": seconds, "stories": result["stories"],
            "writer_cpu_s": writer_cpu, "workers_cpu_s": workers_cpu, "peak_rss_mb": peak_rss_mb()}


def fill_rebuild_db(db, n: int) -> None:
    """Store ``n`` synthetic articles on 500 sites as a crawl leaves them (full-text index
    included, each article in a story); a database already holding them is kept as it is."""
    if db.execute("SELECT count(*) FROM articles").fetchone()[0] >= n:
        return
    db.execute("DELETE FROM articles")
    synth = Synthetic(3)
    made = 0
    while made < n:
        count = min(5000, n - made)
        texts = synth.articles(count)
        with store.transaction(db):
            db.conn.executemany(
                "INSERT INTO articles (id, url, site, title, text, first_seen, story_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(made + i + 1, f"https://s{(made + i) % 500}.example/{made + i}",
                  f"s{(made + i) % 500}.example", "t", text, "2024-01-01", made + i + 1)
                 for i, text in enumerate(texts)])
        made += count


def bench_rebuild(sizes: list[int], keep_dir: Path | None) -> None:
    print("\nrebuild of N stored synthetic articles (400-800 words), 2 sketch workers:")
    for n in sizes:
        r = run_worker("rebuild", str(n), str(keep_dir or ""))
        # On two otherwise idle cores the writer and the two sketch workers overlap: the
        # rebuild takes the longer of the writer's CPU time and half of all CPU time.
        idle = max(r["writer_cpu_s"], (r["writer_cpu_s"] + r["workers_cpu_s"]) / 2)
        print(f"  {n:9d} articles: {r['rebuild_s']:8.1f} s wall ({n / r['rebuild_s']:.0f} articles/s, "
              f"1M would take {1e6 / (n / r['rebuild_s']) / 60:.1f} min); CPU: writer "
              f"{r['writer_cpu_s']:.1f} s ({r['writer_cpu_s'] / n * 1e6:.0f} µs/article), sketch "
              f"workers {r['workers_cpu_s']:.1f} s; on 2 idle cores {idle:.1f} s, 1M would take "
              f"{idle / n * 1e6 / 60:.1f} min; peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also run the 1M-article runs")
    ap.add_argument("--index-sizes", type=lambda s: [int(x) for x in s.split(",") if x],
                    help="comma-separated index sizes instead of the defaults (empty: none)")
    ap.add_argument("--rebuild-sizes", type=lambda s: [int(x) for x in s.split(",") if x],
                    help="comma-separated rebuild sizes instead of the defaults (empty: none)")
    ap.add_argument("--no-signatures", action="store_true", help="skip the signature rates")
    ap.add_argument("--keep-dbs", type=Path, metavar="DIR",
                    help="keep the rebuild databases in DIR and reuse them (filling 1M articles "
                         "takes ~20 minutes and 7 GB)")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        kind, n = args.worker[0], int(args.worker[1])
        print(json.dumps(rebuild_worker(n, *args.worker[2:]) if kind == "rebuild"
                         else index_worker(kind, n)))
        return 0
    print(f"params: {PARAMS}")
    if not args.no_signatures:
        bench_signatures()
    index_sizes = args.index_sizes if args.index_sizes is not None else \
        [10_000, 100_000] + ([1_000_000] if args.full else [])
    rebuild_sizes = args.rebuild_sizes if args.rebuild_sizes is not None else \
        [10_000] + ([100_000, 1_000_000] if args.full else [])
    if index_sizes:
        bench_index(index_sizes)
    if rebuild_sizes:
        bench_rebuild(rebuild_sizes, args.keep_dbs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
