"""Big stories: a wire story on a hundred sites and more stays one story, every copy verified
against a few representatives and linked once; keys crowded by many different texts still
propose nothing. Real SQLite files, the shared seeds and corpus."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from crawler import store
from crawler.dedup import DedupParams
from crawler.dedup.index import Index, band_keys
from crawler.dedup.sketch import Fingerprint, fingerprint, sketch_key
from crawler.dedup.stories import rebuild
from test_dedup import Crawl, copies, paragraphs

PARAMS = DedupParams()


def wire_copies(seeds: Path, n: int, n_sites: int) -> list[tuple[str, str]]:
    """``n`` copies of seed 000 on ``n_sites`` sites: each site's own chrome around the kinds
    of copy a syndicated story has (plain, promo line, tail, comment form, date line,
    teaser), as (site, text)."""
    kinds = copies(paragraphs(seeds / "000_8dba242a10348822.txt"))
    cycle = ["original", "chrome", "promo", "weiterlesen", "comments", "original", "redated",
             "teaser", "original", "chrome"]
    out = []
    for i in range(n):
        site = f"wire{i % n_sites:02d}.example"
        body = kinds[cycle[i % len(cycle)]]
        out.append((site, f"{site} – Nachrichten aus aller Welt\n\n{body}\n\n© {site} Impressum"))
    return out


def add_copies(crawl: Crawl, docs: list[tuple[str, str]], order: list[int]) -> dict[int, int]:
    return {crawl.add(f"https://{docs[i][0]}/{i}", docs[i][1], site=docs[i][0]): i for i in order}


def test_a_story_of_150_copies_on_30_sites_is_one_story_in_any_order_and_when_rebuilt(
        tmp_path, seeds):
    docs = wire_copies(seeds, 150, 30)
    other = "\n\n".join(paragraphs(seeds / "003_e0e85f0457a8e639.txt"))
    partitions = []
    for n, seed in enumerate((1, 2)):
        order = list(range(len(docs)))
        random.Random(seed).shuffle(order)
        crawl = Crawl(tmp_path / f"order{n}.db")
        key_of = add_copies(crawl, docs, order)
        key_of[crawl.add("https://wire00.example/other", other, site="wire00.example")] = -1
        partitions.append(crawl.partition(key_of))
        # links stay flat: one per copy beyond the first few (which are linked to each other)
        links = crawl.db.execute("SELECT count(*) FROM article_links").fetchone()[0]
        assert links <= len(docs) + PARAMS.story_representatives ** 2
        story = crawl.db["stories"].get(crawl.story(next(iter(key_of))))
        assert (story["n_articles"], story["n_sites"]) == (150, 30)
    assert partitions[0] == partitions[1] == {frozenset(range(150)), frozenset({-1})}
    rebuild(crawl.db, PARAMS, workers=0, batch_size=40)  # keys pass their limits mid-batch
    assert crawl.partition(key_of) == partitions[1]
    assert crawl.db["stories"].get(crawl.story(next(iter(key_of))))["n_articles"] == 150


def test_one_more_copy_than_the_bucket_limit_is_still_one_story(tmp_path, seeds):
    """lsh_bucket_max + 1 identical copies: every band bucket just past its limit, held by
    one text, keeps proposing the story (it was dropped as common words)."""
    text = "\n\n".join(paragraphs(seeds / "000_8dba242a10348822.txt"))
    crawl = Crawl(tmp_path / "news.db")
    ids = [crawl.add(f"https://site{i:03d}.example/a", text) for i in range(PARAMS.lsh_bucket_max + 1)]
    sizes = {n for (n,) in crawl.db.execute("SELECT count(*) FROM dedup_bands GROUP BY key")}
    assert sizes == {PARAMS.lsh_bucket_max + 1}
    assert {crawl.story(i) for i in ids} == {ids[0]}
    assert crawl.db.execute("SELECT count(*) FROM article_links").fetchone()[0] < 2 * len(ids)


def test_one_more_teaser_than_the_lead_key_limit_is_still_one_story(tmp_path, seeds):
    """lead_key_max_postings + 1 teasers and truncated copies of one story (three texts),
    which only their lead keys bring together (LSH asks near-identity here): the lead key
    just past its limit is one story's, not a site's chrome."""
    paras = paragraphs(seeds / "000_8dba242a10348822.txt")
    versions = ["\n\n".join(paras[:5]), "\n\n".join(paras[:9]), "\n\n".join(paras)]
    params = DedupParams(lsh_min_jaccard=0.99)
    crawl = Crawl(tmp_path / "news.db", params)
    ids = [crawl.add(f"https://site{i:03d}.example/a", versions[i % 3])
           for i in range(params.lead_key_max_postings + 1)]
    biggest = crawl.db.execute("SELECT max(n) FROM (SELECT count(*) AS n FROM dedup_leads "
                               "GROUP BY key)").fetchone()[0]
    assert biggest == params.lead_key_max_postings + 1
    assert len({crawl.story(i) for i in ids}) == 1


def test_a_lead_key_shared_by_many_different_stories_is_still_crowded_out(tmp_path, corpus, seeds):
    """lead_key_max_postings + 1 different stories opening with the same paragraph (a site's
    chrome): the key proposes nothing, and the teaser it alone linked to its story is
    dropped when the key passes its limit."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import syndication

    chrome = "Startseite › Nachrichten › Welt: alle Meldungen des Tages im Überblick"
    bodies = syndication.load_bodies(corpus)[:PARAMS.lead_key_max_postings + 1]
    full = "\n\n".join(paragraphs(seeds / "000_8dba242a10348822.txt"))
    params = DedupParams(lead_paragraphs=1, lsh_min_jaccard=0.95)
    crawl = Crawl(tmp_path / "news.db", params)
    first = crawl.add("https://a.example/full", f"{chrome}\n\n{full}")
    teaser = crawl.add("https://b.example/teaser", f"{chrome}\n\n{full[:600]}")
    assert crawl.story(teaser) == crawl.story(first)  # the lead key alone found it
    for i, body in enumerate(bodies[:PARAMS.lead_key_max_postings - 2]):
        crawl.add(f"https://c.example/{i}", chrome + "\n\n" + "\n\n".join(body["paragraphs"]))
    assert crawl.story(teaser) == crawl.story(first)  # at the limit: still live
    crawl.add("https://c.example/last", chrome + "\n\n" + "\n\n".join(bodies[-1]["paragraphs"]))
    assert crawl.story(teaser) != crawl.story(first)
    other = "\n\n".join(paragraphs(seeds / "003_e0e85f0457a8e639.txt"))
    probe = fingerprint(f"{chrome}\n\n{other}", params=params)  # shares only the chrome
    assert crawl.assigner.index.candidates(10 ** 6, probe) == set()


def synthetic(n: int, shared: np.ndarray | None, rng: np.random.Generator) -> list[Fingerprint]:
    """Fingerprints of ``n`` unrelated texts whose first LSH band is ``shared`` (identical
    texts when ``shared`` is None)."""
    values = rng.integers(0, 2 ** 32, size=(n, PARAMS.num_perm), dtype=np.uint32)
    if shared is None:
        values[:] = values[0]
    else:
        values[:, :PARAMS.lsh_rows] = shared
    empty = np.empty(0, dtype=np.int64)
    return [Fingerprint(v, empty, empty, 500, sketch_key(PARAMS)) for v in values]


@pytest.mark.parametrize("one_text", [True, False])
def test_a_band_just_past_its_limit_is_told_by_its_holders(tmp_path, one_text):
    """lsh_bucket_max + 1 holders of one band: copies of one text keep proposing it (the first
    holders of each text), different texts crowd it out."""
    rng = np.random.default_rng(5)
    shared = rng.integers(0, 2 ** 32, size=PARAMS.lsh_rows, dtype=np.uint32)
    fps = synthetic(PARAMS.lsh_bucket_max + 2, None if one_text else shared, rng)
    db = store.open_db(tmp_path / "index.db")
    index = Index(db, DedupParams(lsh_min_jaccard=0))
    with store.transaction(db):
        for i, fp in enumerate(fps[:-1], start=1):
            index.add(i, fp, [])
    key = int(band_keys(fps[0].signature, PARAMS.lsh_bands, PARAMS.lsh_rows)[0])
    assert len(index.members("dedup_bands", key)) == PARAMS.lsh_bucket_max + 1
    found = index.candidates(10 ** 6, fps[-1])
    if one_text:
        assert found == set(range(1, PARAMS.story_representatives + 1))
    else:
        assert found == set()
        # at its limit (the probing article counted), the bucket is live: all its holders
        db.execute("DELETE FROM dedup_bands WHERE article_id >= ?", [len(fps) - 2])
        assert Index(db, DedupParams(lsh_min_jaccard=0)).candidates(10 ** 6, fps[-1]) == \
            set(range(1, PARAMS.lsh_bucket_max))
