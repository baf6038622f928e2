"""The labelled sets of bench/dedup_quality.py: dev and test share no source text, and each part
holds the categories the benchmark reports on."""
from __future__ import annotations

import re
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import robot_news  # noqa: E402
import syndication  # noqa: E402

WORD = re.compile(r"\w+")


@pytest.fixture(scope="module")
def parts(corpus, seeds):
    # one heavy story just past the LSH bucket cap (100) keeps the build fast
    return {part: syndication.build_part(part, seed=5, heavy=(101,), corpus=corpus, seeds=seeds)
            for part in syndication.PARTS}


def test_dev_and_test_share_no_source_body(corpus):
    split = syndication.split_bodies(corpus)
    assert all(len(bodies) >= 120 for bodies in split.values())
    dev, test = split["dev"], split["test"]
    assert not {b["id"] for b in dev} & {b["id"] for b in test}
    assert not {b["source"] for b in dev} & {b["source"] for b in test}
    dev_paragraphs = {p for b in dev for p in b["paragraphs"] if len(p.split()) >= 8}
    assert not dev_paragraphs & {p for b in test for p in b["paragraphs"] if len(p.split()) >= 8}


def test_parts_use_their_own_bodies_and_template_kinds(parts, corpus):
    split = syndication.split_bodies(corpus)
    for part, labelled in parts.items():
        own = {b["id"] for b in split[part]}
        real = {d.story for d in labelled.docs if d.group == "real"}
        assert real and real <= own
    assert not set(robot_news.DEV_KINDS) & set(robot_news.TEST_KINDS)
    assert len(robot_news.DEV_KINDS) + len(robot_news.TEST_KINDS) >= 6
    texts = {part: {d.text for d in labelled.docs if d.group != "seed"} for part, labelled in parts.items()}
    assert not texts["dev"] & texts["test"]


def test_each_part_builds_the_categories_it_reports(parts):
    for part, labelled in parts.items():
        docs = labelled.docs
        kinds = Counter((d.group, d.kind) for d in docs)
        for kind in syndication.COPY_KINDS + ["chrome", "teaser"]:
            assert kinds["real", kind] >= 10, (part, kind)
        assert kinds["template", "updated"] >= 20 and kinds["template", "template copy"] >= 240
        # template stories: every kind of the part in both languages, >= 30 events each, apart
        events = defaultdict(set)
        for d in docs:
            if d.group == "template":
                _, kind, lang, _ = d.story.split("-")
                events[kind, lang].add(d.story)
        expected = robot_news.DEV_KINDS if part == "dev" else robot_news.TEST_KINDS
        assert set(events) == {(k, lang) for k in expected for lang in ("de", "en")}
        assert all(len(stories) >= 30 for stories in events.values())
        assert sorted(map(sorted, labelled.apart["templates"])) == sorted(map(sorted, events.values()))
        # heavy syndication: unchanged text under > 100 URLs on >= 30 sites
        heavy = [d for d in docs if d.group == "heavy"]
        assert len(heavy) == 101 and len({d.site for d in heavy}) >= 30
        assert len({re.sub(r"\s+", " ", d.text.split("\n\n", 3)[-1])[:200] for d in heavy}) <= 36
        for case in ("seeds", "shared background", "quoting", "one site's briefs"):
            assert sum(len(g) for g in labelled.apart[case]) >= 2, case
        # briefs are whole sentences, not fragments cut at an initial; one page is a caption
        briefs = [d for d in docs if d.group == "brief"]
        own_words = sorted(len(d.text.split("\n\n", 2)[2].rsplit("\n\n", 1)[0].split()) for d in briefs)
        assert len({d.site for d in briefs}) == 1 and own_words[0] == 6 and own_words[1] >= 20, own_words


def test_updated_versions_change_figures_and_add_a_last_paragraph(parts):
    for labelled in parts.values():
        by_story = defaultdict(dict)
        for d in labelled.docs:
            if d.group == "real":
                by_story[d.story].setdefault(d.kind, d)
        updated = [(s["original"], s["updated"]) for s in by_story.values() if "updated" in s]
        assert len(updated) >= 30
        for original, update in updated:
            paragraphs = set(original.text.split("\n\n"))
            added = [p for p in update.text.split("\n\n") if p not in paragraphs]
            assert added and update.title != original.title
            assert 0 <= update.figures_changed <= 4
            assert update.figures_changed == 0 or len(added) >= 2  # the changed one and the new one
        changed = [d.figures_changed for d in labelled.docs if d.kind == "updated"]
        assert statistics.mean(changed) >= 1.5 and max(changed) >= 3


def test_two_events_of_a_template_share_most_words_but_not_their_slots():
    """As robot-written news measured in issue 24: 65-85% of the words in common."""
    import random

    for name in robot_news.KINDS:
        for lang in ("de", "en"):
            reports = [" ".join(robot_news.KINDS[name].write(s, lang)[1]).lower()
                       for s in robot_news.events(name, lang, 12, random.Random(3))]
            shares = []
            for i, a in enumerate(reports):
                for b in reports[i + 1:]:
                    words_a, words_b = WORD.findall(a), set(WORD.findall(b))
                    shares.append(sum(w in words_b for w in words_a) / len(words_a))
            assert 0.65 <= statistics.median(shares) <= 0.85, (name, lang, statistics.median(shares))
            assert max(shares) < 1
