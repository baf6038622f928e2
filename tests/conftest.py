"""Shared fixtures: where the corpus and seeds are, and a local web on loopback."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("CRAWLER_CORPUS", ROOT.parent / "shared" / "corpus"))
SEEDS = Path(os.environ.get("CRAWLER_SEEDS", ROOT.parent / "shared" / "seeds"))


def _need(path: Path, what: str) -> Path:
    """Skip when shared material is absent; under CI=true it is always there, so fail."""
    if not path.exists():
        message = f"{what} not found at {path} (set CRAWLER_CORPUS / CRAWLER_SEEDS)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def corpus() -> Path:
    return _need(CORPUS, "the shared corpus")


@pytest.fixture(scope="session")
def seeds() -> Path:
    return _need(SEEDS, "the shared seeds")


def run_cli(*args: str, timeout: float = 180, env: dict | None = None):
    """Run `python -m crawler ARGS` in a fresh process (Twisted's reactor runs once a process)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "crawler", *map(str, args)], cwd=ROOT, capture_output=True,
        text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def demo_web():
    """The demo's five news sites, served on 127.0.0.11-15 (crawler.demo)."""
    from crawler.demo import build_sites
    from crawler.demo.server import LocalWeb

    with LocalWeb(build_sites()) as running:
        yield running
