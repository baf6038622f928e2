"""Sites, the copy network and first publishers, on real crawls and on stories built through the
store and the dedup stage's story writers.

Every figure the site statistics keep (incrementally, by triggers on `stories`) is checked
against ``reference``: the definition computed from scratch, in Python, from the articles.
"""
from __future__ import annotations

import csv
import json
import os
import sqlite3
from collections import defaultdict
from datetime import datetime

import pytest

from crawler import store
from crawler.analysis.stories import REDATED_DAYS, parse_time
from crawler.demo.server import LocalWeb
from crawler.dedup.stories import write_single_stories, write_story
from tests.conftest import run_cli
from tests.test_analysis import FAST, HOSTS, PAGES, build_sites, serve_pages

# ---------------------------------------------------------------- the definition, from scratch


def _seconds(value: datetime) -> float:
    return value.timestamp()


def reference(path) -> dict:
    """site -> its counts and lags, and (source, target) -> (stories, lags), computed from the
    articles alone, as the README defines them."""
    db = sqlite3.connect(path)
    by_story = defaultdict(list)
    for row in db.execute("SELECT id, coalesce(site, ''), published, first_seen, story_id "
                          "FROM articles WHERE story_id IS NOT NULL"):
        by_story[row[4]].append(row)
    sites = defaultdict(lambda: {"articles": 0, "stories": 0, "shared": 0, "first": 0,
                                 "copied": 0, "redated": 0, "updates": 0, "lags": []})
    edges = defaultdict(list)
    for rows in by_story.values():
        dated = sorted(_seconds(parse_time(r[2])) for r in rows if parse_time(r[2]))
        median = dated[(len(dated) - 1) // 2] if dated else None

        def redated(r) -> bool:
            when = parse_time(r[2])
            return bool(when and median is not None and
                        abs(_seconds(when) - median) > REDATED_DAYS * 86400)

        def key(r):
            when = parse_time(r[2]) or parse_time(r[3])
            return (redated(r), when is None, _seconds(when) if when else 0, r[3] or "", r[0])

        ordered = sorted(rows, key=key)
        first = ordered[0]
        first_time = key(first)[2]
        carried = defaultdict(list)
        for r in ordered:
            carried[r[1]].append(r)
        for site, copies in carried.items():
            s = sites[site]
            s["articles"] += len(copies)
            s["stories"] += 1
            s["updates"] += len(copies) - 1
            s["redated"] += sum(redated(r) for r in copies)
            shared = len(carried) > 1
            s["shared"] += shared
            if site == first[1]:
                s["first"] += shared
                continue
            s["copied"] += 1
            lag = None if redated(copies[0]) else round(key(copies[0])[2] - first_time)
            if lag is not None:
                s["lags"].append(lag)
            edges[(first[1], site)].append(lag)
    return {"sites": dict(sites), "edges": dict(edges)}


def lower_median(values):
    values = sorted(v for v in values if v is not None)
    return values[(len(values) - 1) // 2] if values else None


def assert_matches_reference(path) -> dict:
    """The statistics `crawler sites` and the network export read equal the reference."""
    from crawler import open_db

    expected = reference(path)
    with open_db(path) as news:
        sites = {s.site: s for s in news.sites()}
        network = news.copy_network()
    assert set(sites) == set(expected["sites"])
    for name, want in expected["sites"].items():
        got = sites[name]
        assert (got.articles, got.stories, got.shared_stories, got.first_stories,
                got.copied_stories, got.redated, got.updates) == (
            want["articles"], want["stories"], want["shared"], want["first"], want["copied"],
            want["redated"], want["updates"]), name
        assert got.median_lag_seconds == lower_median(want["lags"]), name
    got_edges = {(e.source, e.target): (e.stories, e.median_lag_seconds) for e in network.edges}
    assert got_edges == {k: (len(v), lower_median(v)) for k, v in expected["edges"].items()}
    return expected


# ---------------------------------------------------------------- real crawls


def crawl(db_path, names: list[str]) -> None:
    """Crawl the feeds of the named sites of tests/test_analysis.py into ``db_path``."""
    with LocalWeb(build_sites()) as web:
        feeds = serve_pages(web)
        wanted = [f for f in feeds if any(web[n].url("/rss.xml") == f for n in names)]
        result = run_cli("crawl", *wanted, "--db", db_path, *FAST)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def two_crawls(tmp_path_factory) -> dict:
    """The originals first, the copies in a second crawl: stories merge as copies arrive."""
    path = tmp_path_factory.mktemp("sites") / "news.db"
    crawl(path, ["origin"])
    after_first = reference(path)
    crawl(path, ["mirror", "recycler", "digest"])
    return {"path": path, "after_first": after_first}


def test_statistics_follow_stories_as_a_second_crawl_merges_them(two_crawls):
    first = two_crawls["after_first"]
    assert set(first["sites"]) == {HOSTS["origin"]} and not first["edges"]
    expected = assert_matches_reference(two_crawls["path"])
    origin, mirror, recycler, digest = (HOSTS[n] for n in ("origin", "mirror", "recycler",
                                                            "digest"))
    # dedup merged the school story (4 sites) and the ferry story (2 sites)
    assert {k: len(v) for k, v in expected["edges"].items()} == {
        (origin, mirror): 2, (origin, recycler): 1, (origin, digest): 1}
    assert expected["sites"][recycler]["redated"] == 1
    assert expected["edges"][(origin, recycler)] == [None], "a re-dated copy has no lag"
    # published 2023-01-10T08:00+01:00, copied 2023-01-11T09:30+01:00: 25.5 hours
    assert sorted(expected["edges"][(origin, mirror)]) == [25.5 * 3600, 30 * 3600]


def test_sites_table_and_json(two_crawls):
    result = run_cli("sites", "--db", two_crawls["path"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["SITE", "NAME", "ARTICLES", "STORIES"]
    assert lines[1].split()[0] == HOSTS["origin"], "most articles first"
    data = json.loads(run_cli("sites", "--json", "--db", two_crawls["path"]).stdout)
    by_site = {s["site"]: s for s in data}
    origin = by_site[HOSTS["origin"]]
    assert origin["first_share"] == 1.0 and origin["copy_share"] == 0.0
    assert origin["languages"] == {"de": 2, "en": 1}
    mirror = by_site[HOSTS["mirror"]]
    assert mirror["copy_share"] == 1.0 and mirror["median_lag_seconds"] == 25.5 * 3600
    assert mirror["p90_lag_seconds"] == 30 * 3600
    assert by_site[HOSTS["digest"]]["teasers"] == 1


def test_sites_options(two_crawls):
    db = ["--db", two_crawls["path"]]
    by_lag = json.loads(run_cli("sites", "--sort", "lag", "--json", *db).stdout)
    lags = [s["median_lag_seconds"] for s in by_lag if s["median_lag_seconds"] is not None]
    assert lags == sorted(lags) and by_lag[-1]["median_lag_seconds"] is None
    english = json.loads(run_cli("sites", "--language", "en", "--json", *db).stdout)
    assert {s["site"] for s in english} == {HOSTS["origin"], HOSTS["mirror"]}
    assert all(s["articles"] == 1 for s in english)
    recent = json.loads(run_cli("sites", "--since", "2025-01-01", "--json", *db).stdout)
    # the school story was first published in 2023: only the gym and ferry stories count
    assert {s["site"]: s["stories"] for s in recent} == {HOSTS["origin"]: 2, HOSTS["mirror"]: 1}
    big = json.loads(run_cli("sites", "--min-articles", "3", "--json", *db).stdout)
    assert [s["site"] for s in big] == [HOSTS["origin"]]
    limited = json.loads(run_cli("sites", "--limit", "2", "--json", *db).stdout)
    assert len(limited) == 2


@pytest.mark.parametrize("args, message", [
    (["sites", "--sort", "fame"], "invalid choice"),
    (["sites", "--min-articles", "0"], "--min-articles must be 1 or more"),
    (["sites", "--since", "yesterday"], "--since 'yesterday'"),
    (["site", "nowhere.example"], "no site nowhere.example"),
    (["export", "--network", "--format", "jsonl"], "--network --format jsonl"),
    (["export", "--format", "graphml"], "add --network"),
    (["export", "--network", "--site", "x"], "--network takes --since and --language"),
    (["report"], "give a STORY_ID"),
    (["report", "1", "--sites"], "not both"),
])
def test_user_errors_are_one_line(two_crawls, args, message):
    result = run_cli(*args, "--db", two_crawls["path"])
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_site_shows_neighbours_and_examples(two_crawls):
    path = two_crawls["path"]
    data = json.loads(run_cli("site", HOSTS["mirror"], "--json", "--db", path).stdout)
    assert [n["site"] for n in data["copies_from"]] == [HOSTS["origin"]]
    source = data["copies_from"][0]
    assert source["stories"] == 2 and source["median_lag_seconds"] == 25.5 * 3600
    assert data["copied_by"] == []
    example = source["examples"][0]  # the newest shared story: the ferry
    assert example["source_url"].endswith("/en/ferry.html")
    assert example["copy_url"].endswith("/world/ferry.html")
    origin = json.loads(run_cli("site", HOSTS["origin"], "--json", "--db", path).stdout)
    assert [n["site"] for n in origin["copied_by"]][0] == HOSTS["mirror"]
    assert len(origin["copied_by"]) == 3
    table = run_cli("site", HOSTS["origin"], "--db", path).stdout
    assert "Copied by:" in table and "/kurz/schule.html" in table


def test_network_exports(two_crawls, tmp_path):
    networkx = pytest.importorskip("networkx")
    path = two_crawls["path"]
    expected = reference(path)["edges"]
    out = tmp_path / "net.csv"
    assert run_cli("export", "--network", "-o", out, "--db", path).returncode == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == ["source", "target", "stories", "median_lag_seconds"]
    assert {(r["source"], r["target"]): int(r["stories"]) for r in rows} == \
        {k: len(v) for k, v in expected.items()}
    graphml = tmp_path / "net.graphml"
    assert run_cli("export", "--network", "--format", "graphml", "-o", graphml,
                   "--db", path).returncode == 0
    graph = networkx.read_graphml(graphml)
    assert graph.is_directed()
    assert graph.edges[HOSTS["origin"], HOSTS["mirror"]]["stories"] == 2
    assert graph.edges[HOSTS["origin"], HOSTS["mirror"]]["median_lag_seconds"] == 25.5 * 3600
    node = graph.nodes[HOSTS["origin"]]
    assert node["articles"] == 3 and node["first_share"] == 1.0 and node["languages"]
    result = run_cli("export", "--network", "--format", "json", "--db", path)
    data = json.loads(result.stdout)
    graph = networkx.node_link_graph(data, edges="links")
    assert set(graph.edges) == set(expected)


def test_python_api_gives_networkx_its_edges(two_crawls):
    networkx = pytest.importorskip("networkx")
    from crawler import open_db

    with open_db(two_crawls["path"]) as news:
        network = news.copy_network()
        graph = networkx.DiGraph(network.edges)
        assert set(graph.edges) == {(e.source, e.target) for e in network.edges}
        assert graph.edges[HOSTS["origin"], HOSTS["mirror"]]["stories"] == 2
        assert {n.site for n in network.nodes} == set(graph.nodes)
        assert news.copy_network(min_stories=2).edges == [
            e for e in network.edges if e.stories >= 2]
        site = news.site(HOSTS["digest"])
        assert site.stats.teasers == 1 and site.copies_from[0].site == HOSTS["origin"]
        with pytest.raises(AttributeError):
            site.stats.articles = 0  # frozen


def test_rebuild_gives_the_same_statistics(two_crawls, tmp_path):
    path = tmp_path / "rebuilt.db"
    src, dst = sqlite3.connect(two_crawls["path"]), sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    before = json.loads(run_cli("sites", "--json", "--db", path).stdout)
    assert run_cli("dedup", "--rebuild", "--db", path).returncode == 0
    assert json.loads(run_cli("sites", "--json", "--db", path).stdout) == before
    assert_matches_reference(path)


def test_older_database_gets_statistics_once(two_crawls, tmp_path):
    """A database from before the site statistics: built on first use, then kept current."""
    path = tmp_path / "old.db"
    src, dst = sqlite3.connect(two_crawls["path"]), sqlite3.connect(path)
    src.backup(dst)
    src.close()
    for name in store.SITE_TRIGGERS:
        dst.execute(f"DROP TRIGGER {name}")
    for table in ("story_sites", "sites", "site_languages"):
        dst.execute(f"DROP TABLE {table}")
    dst.execute("DELETE FROM meta WHERE key = 'site_stats'")
    dst.commit()
    dst.close()
    if os.geteuid() != 0:  # root writes read-only files
        path.chmod(0o444)
        result = run_cli("sites", "--db", path)
        assert result.returncode == 2 and "read-only here" in result.stderr
        path.chmod(0o644)
    result = run_cli("sites", "--db", path)
    assert result.returncode == 0 and "building the site statistics" in result.stderr
    assert_matches_reference(path)
    assert "building" not in run_cli("sites", "--db", path).stderr


# ---------------------------------------------------------------- stories built through the store


def add(db, site: str, path: str, published: str | None, first_seen: str,
        words: int = 300) -> int:
    article_id, _ = store.insert_article(db, {
        "url": f"https://{site}/{path}", "site": site, "published": published,
        "first_seen": first_seen, "word_count": words, "title": path, "language": "de",
        "sitename": site.split(".")[0].title()})
    write_single_stories(db, [article_id])
    return article_id


def merge(db, ids: list[int]) -> int:
    """One story of ``ids`` as dedup writes it (story id: the smallest)."""
    story = min(ids)
    old = {r[0] for r in db.execute(f"SELECT story_id FROM articles WHERE id IN "
                                    f"({','.join('?' * len(ids))})", ids)}
    db.conn.executemany("UPDATE articles SET story_id = ? WHERE id = ?", [(story, i) for i in ids])
    gone = old - {story}
    db.execute(f"DELETE FROM stories WHERE id IN ({','.join('?' * len(gone))})", list(gone))
    write_story(db, story, ids)
    return story


def first_site(db, story: int) -> str:
    return db.execute("SELECT site FROM story_sites WHERE story_id = ? AND is_first",
                      [story]).fetchone()[0]


def test_first_publisher_rules(tmp_path):
    path = tmp_path / "rules.db"
    db = store.open_db(path)
    with store.transaction(db):
        # the earliest published copy is first
        a = add(db, "agency.example", "a", "2025-03-01T08:00:00+00:00", "2025-03-01T09:00:00")
        b = add(db, "paper.example", "a", "2025-03-01T10:00:00+00:00", "2025-03-01T10:05:00")
        # an old date on a copy of a story most copies date now: re-dated, never first
        c = add(db, "farm.example", "a", "2019-05-01T00:00:00+00:00", "2025-03-02T00:00:00")
        story = merge(db, [a, b, c])
        assert first_site(db, story) == "agency.example"
        # equal dates: the copy seen first
        d = add(db, "late.example", "t", "2025-04-01T08:00:00+00:00", "2025-04-01T08:30:00")
        e = add(db, "early.example", "t", "2025-04-01T08:00:00+00:00", "2025-04-01T08:10:00")
        tie = merge(db, [d, e])
        assert first_site(db, tie) == "early.example"
        # no date on the page: first seen stands in (and can make a copier look first)
        f = add(db, "nodate.example", "n", None, "2025-05-01T06:00:00+00:00")
        g = add(db, "dated.example", "n", "2025-05-01T07:00:00+00:00", "2025-05-01T07:30:00")
        undated = merge(db, [f, g])
        assert first_site(db, undated) == "nodate.example"
        # two copies far apart: the later date is the re-dated one
        h = add(db, "orig.example", "r", "2023-01-10T08:00:00+00:00", "2023-01-10T09:00:00")
        i = add(db, "recycler.example", "r", "2025-01-10T08:00:00+00:00", "2025-01-10T09:00:00")
        pair = merge(db, [h, i])
        assert first_site(db, pair) == "orig.example"
        row = db.execute("SELECT lag_seconds, n_redated FROM story_sites WHERE story_id = ? "
                         "AND site = 'recycler.example'", [pair]).fetchone()
        assert row == (None, 1)
        # 30 days is not yet re-dated; a bit past it is
        j = add(db, "x.example", "edge", "2025-06-01T00:00:00+00:00", "2025-06-01T00:00:00")
        k = add(db, "y.example", "edge", "2025-07-01T00:00:00+00:00", "2025-07-01T00:00:00")
        m = add(db, "z.example", "edge", "2025-07-01T00:00:01+00:00", "2025-07-01T00:00:01")
        edge = merge(db, [j, k, m])
    rows = dict(db.execute("SELECT site, n_redated FROM story_sites WHERE story_id = ?", [edge]))
    assert rows == {"x.example": 0, "y.example": 0, "z.example": 0}, "30 days: not re-dated"
    with store.transaction(db):
        db.execute("UPDATE articles SET published = '2025-05-31T23:59:58+00:00' WHERE id = ?",
                   [j])
        write_story(db, edge, [j, k, m])
    rows = dict(db.execute("SELECT site, n_redated FROM story_sites WHERE story_id = ?", [edge]))
    assert rows == {"x.example": 1, "y.example": 0, "z.example": 0}
    assert first_site(db, edge) == "y.example"
    db.close()
    assert_matches_reference(path)


def test_split_and_deleted_stories_leave_no_counts(tmp_path):
    path = tmp_path / "split.db"
    db = store.open_db(path)
    with store.transaction(db):
        ids = [add(db, f"s{n}.example", "x", f"2025-03-0{n + 1}T08:00:00+00:00",
                   f"2025-03-0{n + 1}T09:00:00") for n in range(4)]
        story = merge(db, ids)
    assert db.execute("SELECT sum(copied_stories) FROM sites").fetchone()[0] == 3
    with store.transaction(db):  # dedup splits it: two stories of two
        db.conn.executemany("UPDATE articles SET story_id = ? WHERE id = ?",
                            [(ids[0], ids[0]), (ids[0], ids[1]), (ids[2], ids[2]),
                             (ids[2], ids[3])])
        write_story(db, story, ids[:2])
        write_story(db, ids[2], ids[2:])
    assert db.execute("SELECT count(*) FROM story_sites").fetchone()[0] == 4
    assert db.execute("SELECT sum(copied_stories), sum(stories) FROM sites").fetchone() == (2, 4)
    db.close()
    assert_matches_reference(path)
    db = store.open_db(path)
    with store.transaction(db):
        db.execute("DELETE FROM stories")
    assert db.execute("SELECT count(*) FROM sites").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM site_languages").fetchone()[0] == 0
    db.close()


def test_sites_at_a_realistic_size_match_the_reference(tmp_path):
    """200 sites, 3,000 stories merged and re-split at random through the store."""
    import random

    rng = random.Random(5)
    path = tmp_path / "many.db"
    db = store.open_db(path)
    with store.transaction(db):
        ids = []
        for n in range(6000):
            day = rng.randrange(1, 28)
            published = None if rng.random() < 0.1 else \
                f"2025-03-{day:02d}T{rng.randrange(24):02d}:00:00+00:00"
            ids.append(add(db, f"site{rng.randrange(200)}.example", f"a{n}", published,
                           f"2025-03-{day:02d}T{rng.randrange(24):02d}:30:00+00:00"))
        groups, start = [], 0
        while start < len(ids):
            size = rng.choice([1, 1, 1, 2, 3, 5])
            groups.append(ids[start:start + size])
            start += size
        for group in groups:
            if len(group) > 1:
                merge(db, group)
        for group in rng.sample([g for g in groups if len(g) > 2], 100):  # dedup splits some
            head, tail = group[:1], group[1:]
            db.conn.executemany("UPDATE articles SET story_id = ? WHERE id = ?",
                                [(head[0], head[0])] + [(tail[0], i) for i in tail])
            write_story(db, head[0], head)
            write_story(db, tail[0], tail)
    db.close()
    expected = assert_matches_reference(path)
    assert len(expected["sites"]) == 200 and len(expected["edges"]) > 500


def test_a_story_past_the_eager_limit_is_refreshed_when_the_crawl_ends(tmp_path):
    """A story of SITE_STATS_EAGER_MAX + 1 articles is only marked stale as copies join it (its
    recomputation reads the whole story); finishing the crawl recomputes it, and then every
    figure equals the reference. One article fewer is recomputed at once."""
    path = tmp_path / "big.db"
    db = store.open_db(path)
    crawl_id = store.start_crawl(db, "crawl", {})
    limit = store.SITE_STATS_EAGER_MAX
    with store.transaction(db):
        small = [add(db, f"s{i % 20}.example", f"small{i}", f"2025-03-{1 + i % 9:02d}T08:00:00+00:00",
                     "2025-03-10T00:00:00+00:00") for i in range(limit)]
        merge(db, small)
        big = [add(db, f"b{i % 30}.example", f"big{i}", f"2025-03-{1 + i % 9:02d}T09:00:00+00:00",
                   "2025-03-10T00:00:00+00:00") for i in range(limit + 1)]
        merge(db, big)
    stale = [r[0] for r in db.execute("SELECT story_id FROM story_sites_stale")]
    assert stale == [min(big)]
    assert db.execute("SELECT count(*) FROM story_sites WHERE story_id = ?",
                      [min(small)]).fetchone()[0] == 20
    store.finish_crawl(db, crawl_id, "finished", {})
    assert db.execute("SELECT count(*) FROM story_sites_stale").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM story_sites WHERE story_id = ?",
                      [min(big)]).fetchone()[0] == 30
    db.close()
    assert_matches_reference(path)


def build_syndication(path, n_sites: int, seed: int = 3, stories: int = 1500) -> None:
    """A crawl-like database built through the store: a few agencies whose stories the other
    sites copy (each from one or two agencies, after minutes to days), plus own stories."""
    import random

    rng = random.Random(seed)
    agencies = [f"agency{i}.example" for i in range(max(2, n_sites // 25))]
    others = [f"news{i}.example" for i in range(n_sites - len(agencies))]
    sources = {site: rng.sample(agencies, rng.choice([1, 1, 2])) for site in others}
    subscribers = defaultdict(list)
    for site, chosen in sources.items():
        for agency in chosen:
            subscribers[agency].append(site)
    db = store.open_db(path)
    with store.transaction(db):
        for n in range(stories):
            day, hour = rng.randrange(1, 28), rng.randrange(24)
            when = f"2025-03-{day:02d}T{hour:02d}:00:00+00:00"
            if rng.random() < 0.3:  # a site's own story
                add(db, rng.choice(others), f"own{n}", when, when)
                continue
            agency = rng.choice(agencies)
            ids = [add(db, agency, f"s{n}", when, when)]
            for site in rng.sample(subscribers[agency],
                                   min(len(subscribers[agency]), rng.randrange(1, 12))):
                minutes = rng.randrange(5, 3000)
                copy_day = day + (hour * 60 + minutes) // 1440
                copy = f"2025-03-{copy_day:02d}T{(hour + minutes // 60) % 24:02d}:" \
                       f"{minutes % 60:02d}:00+00:00"
                ids.append(add(db, site, f"s{n}", copy, copy))
            merge(db, ids)
    db.close()


def test_site_examples_stop_at_their_limit(tmp_path):
    from crawler import open_db
    from crawler.analysis.sites import EXAMPLES

    path = tmp_path / "agencies.db"
    build_syndication(path, 30, stories=300)
    with open_db(path) as news:
        agency = news.site("agency0.example")
    counts = {n.stories: len(n.examples) for n in agency.copied_by}
    assert max(counts) > EXAMPLES and counts[max(counts)] == EXAMPLES
    assert all(len(n.examples) == min(n.stories, EXAMPLES) for n in agency.copied_by)
    assert agency.copies_from == [] and agency.stats.first_share == 1.0
    for example in agency.copied_by[0].examples:
        assert example.source_url.startswith("https://agency0.example/")
        assert example.copy_url.startswith(f"https://{agency.copied_by[0].site}/")
