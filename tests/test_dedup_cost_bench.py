"""bench/dedup_cost.py runs both sides on the same input and says clearly what it cannot compare.

Nothing is timed here: the figures come from the benchmark itself (docs/performance.md)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "dedup_cost.py"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_both_sides_replay_the_same_articles_and_print_their_ratio():
    done = run("--baseline-tree", str(ROOT), "--workloads", "synthetic", "--synthetic", "30",
               "--rounds", "1")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()
            if line.strip().startswith("synthetic") and ("baseline" in line or "this" in line)]
    # workload, articles, side, sketch, assign, total, stories, links
    assert [(r[1], r[2], r[6]) for r in rows] == [("30", "baseline", "30"), ("30", "this", "30")]
    assert "synthetic    total  median" in done.stdout


def test_a_baseline_that_is_no_commit_or_no_checkout_is_refused_in_one_line(tmp_path):
    for args in (["--baseline-rev", "no-such-revision"], ["--baseline-tree", str(tmp_path)], []):
        done = run(*args, "--workloads", "synthetic")
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
